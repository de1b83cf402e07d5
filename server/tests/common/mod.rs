//! The key server's test harness: the test kit's [`TestServer`] (a fresh
//! database per test on SQLite or on the machine's real PostgreSQL, the
//! server running in-process on a free port with a clock the test moves)
//! with a fake health authority that issues real certificates, and helpers
//! to build uploads. The portal client is the kit's [`Portal`].
#![allow(dead_code, unreachable_pub, unused_macros, unused_imports)]

use greenlight_protocol::certificate::{Certificate, CertificateId, DayKind, UploadHmacKey, UploadedKey, upload_hmac};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::signing::{SigningKey, VerifyingKey};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_server::config::{AuthorityConfig, Config};
pub use greenlight_testkit::{
    Db, LoopbackConfig, Page, Portal, TempDir, TestClock, TestDatabase, between, postgres_admin_url,
};
use rand_core::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::ops::{Deref, DerefMut};

/// The first admin's password in servers started with an authority.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Noon UTC of 2026-05-10, where every test starts.
pub const T0: u64 = 20_583 * 86_400 + 12 * 3600;

/// The fake health authority: a real Ed25519 key that signs certificates.
pub struct Authority {
    pub key: SigningKey,
}

impl Authority {
    pub fn new(seed: u8) -> Self {
        Authority { key: SigningKey::from_bytes(&[seed; 32]) }
    }
    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

/// The kit's server, started at [`T0`] trusting [`Authority::new(7)`],
/// with that fake authority (or, when the data directory holds a real
/// authority, one signing with its certificate key) and a plain HTTP client; everything else of
/// the kit's [`greenlight_testkit::TestServer`] through `Deref`.
pub struct TestServer {
    server: greenlight_testkit::TestServer,
    pub authority: Authority,
    pub client: reqwest::Client,
}

impl Deref for TestServer {
    type Target = greenlight_testkit::TestServer;
    fn deref(&self) -> &Self::Target {
        &self.server
    }
}

impl DerefMut for TestServer {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.server
    }
}

impl TestServer {
    pub async fn start(db: Db) -> Self {
        Self::start_with(db, false).await
    }

    /// A server whose data directory holds an initialized health authority
    /// (admin `admin`, password [`ADMIN_PASSWORD`]).
    pub async fn start_with_authority(db: Db) -> Self {
        Self::start_with(db, true).await
    }

    async fn start_with(db: Db, with_authority: bool) -> Self {
        Self::start_custom(db, with_authority, |_, _| {}).await
    }

    /// A server whose configuration `tweak` changes before it starts.
    pub async fn start_custom(
        db: Db,
        with_authority: bool,
        tweak: impl FnOnce(&mut Config, &mut AuthorityConfig) + Send,
    ) -> Self {
        let authority = Authority::new(7);
        let mut builder = greenlight_testkit::TestServer::builder()
            .database(db)
            .clock(TestClock::at(T0))
            .loopback(LoopbackConfig::default().trust(authority.public()))
            .configure(tweak);
        if with_authority {
            builder = builder.authority("admin", ADMIN_PASSWORD);
        }
        let server = builder.start().await.unwrap_or_else(|e| panic!("{e}"));
        // With a real authority in the data directory, its key set decides
        // which key signs certificates (protocol §2.3): its certificate
        // key, not the configured one.
        let authority = match server.authority_state() {
            Some(state) => Authority { key: state.keys.certificate.clone() },
            None => authority,
        };
        TestServer { server, authority, client: reqwest::Client::new() }
    }

    pub fn state(&self) -> &greenlight_server::key_server::state::AppState {
        self.server.state()
    }

    /// The health authority running in this server.
    pub fn authority_state(&self) -> &greenlight_server::authority::AuthorityState {
        self.server.authority_state().expect("the authority runs")
    }

    /// Stops the server and starts it again on the same data and database.
    pub async fn restart(&mut self) {
        self.server.restart().await.expect("server restarts");
    }

    /// Stops the server; its directory and database go with it.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    pub fn export_key(&self) -> VerifyingKey {
        self.server.export_key().expect("public export key")
    }

    pub async fn post(&self, body: &Value) -> (u16, Value, usize) {
        self.post_raw(serde_json::to_vec(body).expect("json"), false).await
    }

    pub async fn post_raw(&self, body: Vec<u8>, chaff: bool) -> (u16, Value, usize) {
        let mut request =
            self.client.post(format!("{}/v1/publish", self.base)).header("content-type", "application/json").body(body);
        if chaff {
            request = request.header("X-Chaff", "1");
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes.len())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request")
    }

    /// Seals an export batch now, as the hourly job does.
    pub async fn seal(&self) -> Option<greenlight_server::key_server::publisher::Sealed> {
        self.server.seal().await.expect("sealing works")
    }

    /// Every row of the database, as text.
    /// What the private metrics listener (`--metrics-listen`) answers.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.metrics_url()).send().await.expect("metrics answer");
        assert_eq!(response.status(), 200);
        response.text().await.expect("metrics text")
    }

    pub async fn dump(&self) -> Vec<String> {
        self.state().store.dump().await.expect("dump")
    }

    /// Every column of every row of every table the database holds (the
    /// migrations' bookkeeping aside), found by asking the database itself
    /// rather than from a hand-written list: what an attacker who copies it
    /// reads. One line per row, `table: a | b | …`, BLOBs in hex.
    pub async fn dump_everything(&self) -> Vec<String> {
        let db = self.state().store.db();
        let names: Vec<String> = match db.backend() {
            greenlight_server::Backend::Sqlite => {
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                    .fetch_all(db.pool())
                    .await
            }
            greenlight_server::Backend::Postgres => {
                sqlx::query_scalar(
                    "SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = 'public'",
                )
                .fetch_all(db.pool())
                .await
            }
        }
        .expect("table names");
        let tables: Vec<(&str, &str)> =
            names.iter().filter(|n| !n.starts_with("_sqlx")).map(|n| (n.as_str(), "*")).collect();
        assert!(tables.len() >= 4, "the database has its tables: {names:?}");
        db.dump_tables(&tables).await.expect("dump")
    }

    pub async fn stored_keys(&self) -> usize {
        self.dump().await.iter().filter(|r| r.starts_with("diagnosis_keys:")).count()
    }
}

/// One key of an upload.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub bytes: [u8; 16],
    pub day: u32,
    pub risk: u8,
}

impl Key {
    /// The key as the protocol's type: what a certificate's upload HMAC
    /// covers.
    pub fn uploaded(&self) -> UploadedKey {
        UploadedKey {
            key: PublishedKey(self.bytes),
            day: DayNumber(self.day),
            transmission_risk: TransmissionRisk::new(self.risk).expect("risk"),
        }
    }
}

/// `n` random keys for the days before `today`.
pub fn keys(seed: u64, n: usize, today: DayNumber) -> Vec<Key> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            Key { bytes, day: today.0 - 2 - u32::try_from(i).expect("small"), risk: 5 }
        })
        .collect()
}

/// An upload's JSON with a certificate from `authority` for exactly these
/// keys and check-ins, valid for 15 minutes from `now`.
pub fn upload(authority: &Authority, now: UnixTime, keys: &[Key], checkins: &[Vec<u8>]) -> Value {
    upload_for_day(authority, now, keys, checkins, now.day())
}

/// [`upload`] with a certificate for the test (or onset) day `day`.
pub fn upload_for_day(
    authority: &Authority,
    now: UnixTime,
    keys: &[Key],
    checkins: &[Vec<u8>],
    day: DayNumber,
) -> Value {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(now.0 ^ u64::from(keys.first().map_or(0, |k| k.bytes[0])));
    let hmac_key = UploadHmacKey::generate(&mut rng);
    // Risks above 8 are sent as they are (to be refused) but certified as 8.
    let uploaded: Vec<UploadedKey> = keys.iter().map(|k| Key { risk: k.risk.min(8), ..*k }.uploaded()).collect();
    let refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
    let hmac = upload_hmac(&hmac_key, &uploaded, &refs).expect("hmac");
    let certificate = Certificate::new(
        ReportType::ConfirmedTest,
        DayKind::TestDate,
        day,
        hmac,
        now,
        now.plus(900),
        CertificateId::generate(&mut rng),
    )
    .expect("certificate")
    .sign_text(&authority.key);
    json!({
        "keys": keys.iter().map(|k| json!({"key": to_base64url(&k.bytes), "day": k.day, "transmission_risk": k.risk})).collect::<Vec<_>>(),
        "revealed_checkins": checkins.iter().map(|c| to_base64url(c)).collect::<Vec<_>>(),
        "certificate": certificate,
        "hmac_key": to_base64url(hmac_key.expose_secret()),
        "padding": "",
    })
}

/// Runs each named `async fn NAME(db: Db)` as two tests, `sqlite::NAME`
/// and `postgres::NAME`: every behaviour holds on both databases.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::Postgres).await })*
        }
    };
}
pub(crate) use on_both_databases;

/// The portal's policy form filled with the recommended policy, with
/// `changes` applied.
pub fn policy_form(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut form: Vec<(&'static str, String)> = [
        ("t0", "63"),
        ("t1", "73"),
        ("t2", "79"),
        ("w0", "100"),
        ("w1", "100"),
        ("w2", "10"),
        ("w3", "0"),
        ("min_weighted_minutes", "15"),
        ("min_transmission_risk", "3"),
        ("lookback_days", "14"),
        ("yellow_days", "14"),
        ("red_days", "10"),
        ("stale_hours", "48"),
    ]
    .iter()
    .map(|(k, v)| (*k, (*v).to_owned()))
    .collect();
    // One minimum overlap per venue kind, the recommended policy's.
    const VENUE_FIELDS: [&str; 9] = [
        "min_venue_overlap_other",
        "min_venue_overlap_shop",
        "min_venue_overlap_restaurant",
        "min_venue_overlap_transit",
        "min_venue_overlap_workplace",
        "min_venue_overlap_event",
        "min_venue_overlap_leisure",
        "min_venue_overlap_education",
        "min_venue_overlap_care",
    ];
    let recommended = greenlight_protocol::policy::ColorPolicy::recommended(1, UnixTime(0));
    let overlaps = recommended.params().min_venue_overlap_minutes.to_wire_order();
    form.extend(VENUE_FIELDS.iter().zip(overlaps).map(|(name, minutes)| (*name, minutes.to_string())));
    for (k, v) in changes {
        form.iter_mut().find(|(name, _)| name == k).expect("field").1 = (*v).to_owned();
    }
    form
}

/// A self-signed certificate for `localhost`, 127.0.0.1 and `also` (an
/// IP address or name), written as PEM files in `dir`: (certificate file,
/// key file, the certificate's PEM).
pub fn self_signed(dir: &std::path::Path, also: &str) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), also.to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let pem = certified.cert.pem();
    std::fs::write(&cert, &pem).expect("certificate file");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key file");
    (cert, key, pem)
}

/// This machine's address on its network (not loopback): where another
/// computer would reach a server listening on 0.0.0.0. Found by asking
/// the kernel which source address a datagram to a documentation address
/// would leave from (nothing is sent), else from `hostname -I`.
pub fn network_address() -> std::net::IpAddr {
    let routed = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.connect("198.51.100.1:9").and_then(|()| socket.local_addr()))
        .map(|addr| addr.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    routed
        .or_else(|| {
            let out = std::process::Command::new("hostname").arg("-I").output().ok()?;
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|w| w.parse::<std::net::Ipv4Addr>().ok())
                .find(|ip| !ip.is_loopback())
                .map(std::net::IpAddr::V4)
        })
        .or_else(loopback_alias)
        .expect(
            "this test needs a network address other than loopback (an eth0 or similar), or root to give the \
             loopback interface one (ip addr add 198.51.100.77/32 dev lo)",
        )
}

/// On a machine with no network at all: a documentation address given to
/// the loopback interface (as root), which the server sees as another
/// computer's since it is not in 127.0.0.0/8.
fn loopback_alias() -> Option<std::net::IpAddr> {
    let alias = std::net::Ipv4Addr::new(198, 51, 100, 77);
    let added =
        std::process::Command::new("ip").args(["addr", "add", "198.51.100.77/32", "dev", "lo"]).output().ok()?;
    let present = std::process::Command::new("ip").args(["-4", "addr", "show", "dev", "lo"]).output().ok()?;
    let listed = String::from_utf8_lossy(&present.stdout).contains("198.51.100.77");
    (added.status.success() || listed).then_some(std::net::IpAddr::V4(alias))
}
