//! The real services the town runs against: `greenlight-server` (key server,
//! health authority and staff portal) started in-process on loopback with
//! the simulation's clock (the test kit's [`TestServer`]), a staff member
//! issuing upload codes and a tracer working venue cases through the
//! portal's pages (the test kit's [`Portal`]), and the feed of signed files
//! every phone syncs from.

use greenlight_client::settings::Settings;
use greenlight_phone::VerifiedFile;
use greenlight_protocol::export::Region;
use greenlight_protocol::index::{FileKind, Index, IndexEntry};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_server::authority::accounts::{SESSION_IDLE_SECS, SESSION_MAX_SECS};
use greenlight_server::config::AuthoritySettings;
use greenlight_testkit::{CodeKind, LoopbackConfig, Portal, TestClock, TestServer, between};
use greenlight_venue::AuthorityKeys;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The staff member (the first admin, holding every role) and her password
/// in the simulation's throw-away authority.
const STAFF: &str = "admin";
const STAFF_PASSWORD: &str = "town simulation staff password";

/// The running server and what phones need to talk to it.
pub(crate) struct Services {
    server: TestServer,
    /// What every phone is set up with.
    pub(crate) settings: Settings,
    /// HTTP client for the phones (connections are pooled).
    pub(crate) http: reqwest::Client,
    /// The authority's public keys, as venue owners set up their tool.
    pub(crate) authority: AuthorityKeys,
    /// The staff member's browser.
    portal: Portal,
    /// When (on the server's clock) the portal session began and was last
    /// used.
    session: Option<(UnixTime, UnixTime)>,
}

/// A venue case a tracer opened in the portal, waiting for the owner's
/// release.
pub(crate) struct OpenCase {
    /// The case's page in the portal.
    pub(crate) path: String,
    /// The venue's public key.
    pub(crate) venue: [u8; 32],
    /// The signed release request, as downloaded for the owner.
    pub(crate) request: Vec<u8>,
    /// The authority's key set, downloaded with it.
    pub(crate) key_set: Vec<u8>,
}

impl Services {
    /// Initialises a health authority in `dir` (keys and an admin account)
    /// and starts the combined server on a free loopback port, on the
    /// database at `database_url`, with its clock at `now`.
    pub(crate) async fn start(dir: &Path, database_url: &str, now: UnixTime) -> Result<Self, String> {
        let loopback = LoopbackConfig::default()
            .region(Region::new("GL-TOWN").map_err(|e| e.to_string())?)
            .min_batch_keys(MIN_BATCH_KEYS)
            .request_timeout(30);
        let server = TestServer::builder()
            .data_dir(dir)
            .database_url(database_url)
            .clock(TestClock::at(now.0))
            .authority(STAFF, STAFF_PASSWORD)
            .authority_settings(AuthoritySettings { daily_code_quota: 100_000, ..AuthoritySettings::default() })
            .loopback(loopback)
            .start()
            .await
            .map_err(|e| e.to_string())?;
        let keys = server.authority_keys().ok_or("the server runs no health authority")?;
        let settings = Settings {
            server: server.base.clone(),
            authority: None,
            export_key: server.export_key().map_err(|e| format!("export key: {e}"))?,
            authority_key: keys.signing,
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let authority =
            AuthorityKeys::new(keys.signing.to_bytes(), keys.trace).map_err(|e| format!("authority keys: {e}"))?;
        let portal = Portal::new(&server.base).map_err(|e| e.to_string())?;
        Ok(Services { server, settings, http, authority, portal, session: None })
    }

    /// Sets the server's clock.
    pub(crate) fn set_now(&self, now: UnixTime) {
        self.server.clock.set(now.0);
    }

    /// The key server's export run (hourly in production), now.
    pub(crate) async fn seal(&self, now: UnixTime) -> Result<bool, String> {
        self.set_now(now);
        Ok(self.server.seal().await.map_err(|e| e.to_string())?.is_some())
    }

    /// Staff issue a short upload code for a positive test on `test_day`,
    /// through the portal as a person would: sign in, fill in the form,
    /// read the code off the page.
    pub(crate) async fn issue_codes(&mut self, test_days: &[DayNumber], now: UnixTime) -> Result<Vec<String>, String> {
        self.set_now(now);
        self.ensure_session(now).await?;
        let mut codes = Vec::new();
        for day in test_days {
            let date = day.iso_date().to_string();
            let issued = self.portal.issue_code(CodeKind::Short, &date).await.map_err(|e| e.to_string())?;
            codes.push(issued.code);
        }
        Ok(codes)
    }

    /// An admin signs `policy`'s values in the portal's policy form, now.
    pub(crate) async fn publish_policy(&mut self, policy: &ColorPolicy, now: UnixTime) -> Result<(), String> {
        self.set_now(now);
        self.ensure_session(now).await?;
        self.portal.publish_policy(policy.params()).await.map_err(|e| format!("publishing the policy: {e}"))
    }

    /// A tracer's round in the portal: signs in and, for every venue with
    /// revealed check-ins waiting, opens a case, signs its release request
    /// and downloads it for the owner.
    pub(crate) async fn open_cases(&mut self, now: UnixTime) -> Result<Vec<OpenCase>, String> {
        self.set_now(now);
        self.ensure_session(now).await?;
        let queue = self.portal.get("/portal/venues").await.map_err(|e| e.to_string())?;
        if queue.status != 200 {
            return Err(format!("the portal's venue queue: HTTP {}", queue.status));
        }
        let mut venues: Vec<String> = Vec::new();
        let mut rest = queue.body.as_str();
        while let Some(key) = between(rest, "name=\"venue\" value=\"", "\"") {
            if !venues.iter().any(|v| v == key) {
                venues.push(key.to_owned());
            }
            rest = &rest[rest.find(key).map_or(rest.len(), |i| i + key.len())..];
        }
        let mut cases = Vec::new();
        for hex_key in venues {
            let mut venue = [0u8; 32];
            hex::decode_to_slice(&hex_key, &mut venue).map_err(|e| format!("venue key on the queue page: {e}"))?;
            let path = self.portal.open_venue_case(&hex_key).await.map_err(|e| e.to_string())?;
            let request = self.portal.sign_release_request(&path).await.map_err(|e| e.to_string())?;
            let key_set = self.portal.key_set().await.map_err(|e| e.to_string())?;
            cases.push(OpenCase { path, venue, request, key_set });
        }
        Ok(cases)
    }

    /// The tracer publishes a case with the owner's release bundle and the
    /// message for its visitors; returns the trace batch's sequence.
    pub(crate) async fn publish_case(
        &mut self,
        case: &OpenCase,
        bundle: &[u8],
        message: &str,
        now: UnixTime,
    ) -> Result<u64, String> {
        self.set_now(now);
        self.ensure_session(now).await?;
        let text = greenlight_protocol::codec::to_base64url(bundle);
        self.portal.publish_case(&case.path, &text, message).await.map_err(|e| e.to_string())
    }

    /// Signs in unless the session is still alive at `now`: staff stay
    /// signed in while they use the portal at least every half hour, for
    /// at most 12 hours (the portal's limits, with a margin).
    async fn ensure_session(&mut self, now: UnixTime) -> Result<(), String> {
        let (max, idle) = (SESSION_MAX_SECS.unsigned_abs(), SESSION_IDLE_SECS.unsigned_abs());
        let alive =
            self.session.is_some_and(|(since, last)| now.0 < since.0 + (max - 600) && now.0 < last.0 + (idle - 120));
        if !alive {
            self.portal.sign_in(STAFF, STAFF_PASSWORD).await.map_err(|e| e.to_string())?;
            self.session = Some((now, now));
        }
        if let Some((_, last)) = &mut self.session {
            *last = now;
        }
        Ok(())
    }

    /// Stops the server.
    pub(crate) async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// Fake keys an export batch is padded to at least (the server's default
/// is 1,000; a town publishes far fewer keys a day than a country).
pub(crate) const MIN_BATCH_KEYS: usize = 100;

/// The signed index and every new file, fetched and verified as the
/// client's sync does: the index with the key server's export key, each
/// new file checked against its index entry and its own signature. Every
/// phone downloads the same bytes and reaches the same verdict, so the
/// town fetches and verifies them once; each phone then applies them at
/// its own sync.
pub(crate) struct Feed {
    etag: Option<String>,
    /// The last sequence fetched of each kind (0: none).
    fetched: HashMap<FileKind, u64>,
    /// What every phone trusts: the anchors and the newest key set (every
    /// phone applies the same files, so one keyring serves them all).
    keyring: Option<greenlight_protocol::trust::Keyring>,
}

/// What one poll of the index brought.
pub(crate) struct Polled {
    /// The verified index.
    pub(crate) index: Index,
    /// The files new since the last poll, verified.
    pub(crate) files: Vec<(IndexEntry, VerifiedFile)>,
}

impl Feed {
    /// A feed that has seen nothing yet.
    pub(crate) fn new() -> Self {
        Feed { etag: None, fetched: HashMap::new(), keyring: None }
    }

    async fn fetch(services: &Services, entry: &IndexEntry) -> Result<Vec<u8>, String> {
        let url = format!("{}/v1/files/{}", services.settings.server, hex::encode(entry.sha256));
        let response = services.http.get(&url).send().await.map_err(|e| format!("file: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{:?} #{}: HTTP {}", entry.kind, entry.sequence, response.status()));
        }
        let bytes = response.bytes().await.map_err(|e| format!("file: {e}"))?;
        Ok(bytes.to_vec())
    }

    /// Downloads the index and what is new since the last call; `None`
    /// when the index is unchanged (`304`) or there is none yet.
    pub(crate) async fn poll(&mut self, services: &Services, now: UnixTime) -> Result<Option<Polled>, String> {
        services.set_now(now);
        let settings = &services.settings;
        let mut request = services.http.get(format!("{}/v1/index", settings.server));
        if let Some(etag) = &self.etag {
            request = request.header("If-None-Match", etag);
        }
        let response = request.send().await.map_err(|e| format!("index: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED || response.status() == reqwest::StatusCode::NOT_FOUND
        {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(format!("index: HTTP {}", response.status()));
        }
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| format!("index: {e}"))?;
        let keyring = self.keyring.get_or_insert_with(|| settings.trust().keyring());
        let index = greenlight_phone::sync::verify_index(&bytes, keyring, now).map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        for kind in [FileKind::KeySet, FileKind::ColorPolicy, FileKind::TraceBatch, FileKind::ExportBatch] {
            let fetched = self.fetched.entry(kind).or_insert(0);
            for entry in index.entries_after(kind, *fetched) {
                let bytes = Self::fetch(services, entry).await?;
                let file = VerifiedFile::verify(entry, &bytes, keyring, now).map_err(|e| e.to_string())?;
                if let VerifiedFile::KeySet(..) = file {
                    keyring.accept(&bytes, index.region(), now).map_err(|e| format!("key set: {e}"))?;
                }
                files.push((*entry, file));
                *fetched = entry.sequence;
            }
        }
        self.etag = etag;
        Ok(Some(Polled { index, files }))
    }
}

/// A scratch directory for the server and the reporters' phones, removed
/// when dropped.
pub(crate) struct ScratchDir(pub(crate) PathBuf);

impl ScratchDir {
    /// A fresh directory under the system's temporary directory.
    pub(crate) fn new(seed: u64) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("greenlight-sim-{}-{seed}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        private_dir(&dir)?;
        Ok(ScratchDir(dir))
    }
}

/// Creates `dir` (and its parents) readable by this user alone, as the
/// server requires of its data directory.
pub(crate) fn private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
