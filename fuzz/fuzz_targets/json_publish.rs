//! `POST /v1/publish` bodies: the server's own parsing and validation
//! ([`greenlight_server::key_server::api::validate`]), which runs before
//! any storage; the body is the contract's `greenlight_api` type.
//! The server trusts the authority of `spec/vectors/certificate.json` and
//! its clock stands at that certificate's issue time, so seeds built from
//! the vector get past the certificate to the HMAC check.
#![no_main]
use ed25519_dalek::SigningKey;
use greenlight_api::publish::PublishRequest;
use greenlight_protocol::export::Region;
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trust::Keyring;
use greenlight_server::key_server::api::validate;
use greenlight_server::key_server::files::FsStore;
use greenlight_server::key_server::metrics::Metrics;
use greenlight_server::key_server::publisher::Publisher;
use greenlight_server::key_server::state::{AppState, Attempts};
use greenlight_server::key_server::store::Store;
use greenlight_testkit::LoopbackConfig;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// `authority_seed` of spec/vectors/certificate.json.
const AUTHORITY_SEED: &str = "c8a9470b48b08ccf417da2f18f34598051b7a3d9bf00b2561a332778c96d632d";
/// `issued_at` of the same vector.
const NOW: u64 = 1_728_091_800;

fn hex32(text: &str) -> [u8; 32] {
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

fn state() -> &'static Mutex<AppState> {
    static STATE: OnceLock<Mutex<AppState>> = OnceLock::new();
    STATE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("greenlight-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let url = format!("sqlite://{}", dir.join("fuzz.db").display());
        let store = Store::new(runtime.block_on(greenlight_server::connect_database(&url)).expect("SQLite"));
        let authority = SigningKey::from_bytes(&hex32(AUTHORITY_SEED)).verifying_key();
        let region = Region::new("GL-FUZZ").expect("region");
        // The test kit's loopback configuration: the server is never
        // started, its state is built here around it.
        let config = LoopbackConfig::default().region(region.clone()).trust(authority).build(&dir, &url);
        let files = Arc::new(FsStore::new(dir.join("files")).expect("file store"));
        let publisher = Arc::new(Publisher::new(
            store.clone(),
            files,
            greenlight_fuzz::key(),
            region,
            config.min_batch_keys,
            config.export_interval,
        ));
        // The runtime must outlive the pool.
        std::mem::forget(runtime);
        // The configured authority key as the only anchor, no key set: it
        // signs certificates itself (protocol §2.3).
        let keyring =
            Keyring::new(TrustedKeys::from_keys([publisher.verifying_key()]), TrustedKeys::from_keys([authority]));
        Mutex::new(AppState {
            config,
            store,
            publisher,
            keyring: RwLock::new(keyring),
            key_set_file: RwLock::new(None),
            metrics: Metrics::new(),
            latency: Default::default(),
            attempts: Attempts::default(),
            clock: Arc::new(|| UnixTime(NOW)),
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<PublishRequest>(data) else { return };
    let mut state = state().lock().unwrap_or_else(|e| e.into_inner());
    // Each input on its own: no failure count carried over from the last.
    state.attempts = Attempts::default();
    if let Ok((upload, certificate)) = validate(&request, state.now(), &state) {
        assert_eq!(upload.keys.len(), request.keys.len());
        assert_eq!(upload.certificate_id, certificate.certificate_id().0);
    }
});
