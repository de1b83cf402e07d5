//! The key server's test harness: a fresh database per test on SQLite or on
//! the machine's real PostgreSQL, the server running in-process on a free
//! port with a clock the test moves, a fake health authority that issues
//! real certificates, and helpers to build uploads.
#![allow(dead_code, unreachable_pub, unused_macros, unused_imports)]

pub mod portal;
pub use portal::{Portal, PortalPage, between, encode};

use greenlight_protocol::certificate::{Certificate, CertificateId, DayKind, UploadHmacKey, UploadedKey, upload_hmac};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::export::Region;
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::signing::{SigningKey, VerifyingKey};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_server::app::{self, Running};
use greenlight_server::config::Config;
use greenlight_server::state::Clock;
use rand_core::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The first admin's password in servers started with an authority.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Noon UTC of 2026-05-10, where every test starts.
pub const T0: u64 = 20_583 * 86_400 + 12 * 3600;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use: `GREENLIGHT_TEST_POSTGRES`, or the
/// machine's (trust auth, database `test`). `tests/run.sh` makes sure it runs.
pub fn postgres_admin_url() -> String {
    std::env::var("GREENLIGHT_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A private temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "greenlight-{label}-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            rand_core::UnwrapErr(getrandom::SysRng).next_u32()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty database; a PostgreSQL database is dropped on drop.
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<TempDir>,
}

impl TestDatabase {
    pub async fn new(db: Db) -> Self {
        match db {
            Db::Sqlite => {
                let dir = TempDir::new("db");
                let url = format!("sqlite://{}", dir.0.join("test.db").display());
                TestDatabase { url, postgres_name: None, _dir: Some(dir) }
            }
            Db::Postgres => {
                let admin = postgres_admin_url();
                let name =
                    format!("gl_test_{}_{}", std::process::id(), rand_core::UnwrapErr(getrandom::SysRng).next_u64());
                let mut conn = connect_admin(&admin).await;
                sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
                TestDatabase { url: format!("{base}/{name}"), postgres_name: Some(name), _dir: None }
            }
        }
    }
}

async fn connect_admin(admin: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    <sqlx::AnyConnection as sqlx::Connection>::connect(admin).await.unwrap_or_else(|e| {
        panic!(
            "cannot reach PostgreSQL at {admin}: {e}. The suite runs on PostgreSQL as well as SQLite; \
             `bash tests/run.sh` starts one, or set GREENLIGHT_TEST_POSTGRES"
        )
    })
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = self.postgres_name.take() {
            let admin = postgres_admin_url();
            // Drop cannot be async: use a private runtime on another thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    let mut conn = connect_admin(&admin).await;
                    let _ = sqlx::Executor::execute(
                        &mut conn,
                        sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                    )
                    .await;
                });
            })
            .join();
        }
    }
}

/// A clock the test moves.
#[derive(Clone)]
pub struct TestClock(pub Arc<AtomicU64>);

impl TestClock {
    pub fn new(t: u64) -> Self {
        TestClock(Arc::new(AtomicU64::new(t)))
    }
    pub fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
    pub fn set(&self, t: u64) {
        self.0.store(t, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    pub fn as_clock(&self) -> Clock {
        let inner = self.0.clone();
        Arc::new(move || UnixTime(inner.load(Ordering::SeqCst)))
    }
}

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

/// A server in-process with its database, data directory and clock.
pub struct TestServer {
    pub running: Option<Running>,
    pub base: String,
    pub clock: TestClock,
    pub authority: Authority,
    pub client: reqwest::Client,
    pub data_dir: TempDir,
    pub db: TestDatabase,
}

pub fn config(data_dir: &std::path::Path, database_url: &str, authority: &VerifyingKey) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: data_dir.to_owned(),
        database_url: database_url.to_owned(),
        region: Region::new("GL-TEST").expect("region"),
        authority_keys: vec![*authority],
        retention_days: 14,
        export_interval: 3600,
        embargo: 7200,
        min_batch_keys: 50,
        max_body: 65_536,
        request_timeout: 10,
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
        tweak: impl FnOnce(&mut Config, &mut greenlight_server::config::AuthorityConfig),
    ) -> Self {
        let db = TestDatabase::new(db).await;
        let data_dir = TempDir::new("server");
        let clock = TestClock::new(T0);
        let authority = Authority::new(7);
        if with_authority {
            greenlight_server::authority::keys::init(
                &data_dir.0,
                &db.url,
                "admin",
                Some(zeroize::Zeroizing::new(ADMIN_PASSWORD.to_owned())),
                i64::try_from(T0).expect("time"),
            )
            .await
            .expect("authority init");
        }
        let mut config = config(&data_dir.0, &db.url, &authority.public());
        let mut options = Default::default();
        tweak(&mut config, &mut options);
        let running = app::start_with(config, options, clock.as_clock()).await.expect("server starts");
        let base = format!("http://{}", running.addr);
        TestServer { running: Some(running), base, clock, authority, client: reqwest::Client::new(), data_dir, db }
    }

    pub fn state(&self) -> &greenlight_server::state::AppState {
        &self.running.as_ref().expect("running").state
    }

    /// The health authority running in this server.
    pub fn authority_state(&self) -> &greenlight_server::authority::AuthorityState {
        self.running.as_ref().expect("running").authority.as_deref().expect("the authority runs")
    }

    /// Stops the server and starts it again on the same data and database.
    pub async fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let running =
            app::start(config(&self.data_dir.0, &self.db.url, &self.authority.public()), self.clock.as_clock())
                .await
                .expect("server restarts");
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    pub fn export_key(&self) -> VerifyingKey {
        let text = std::fs::read_to_string(self.data_dir.0.join("export-key.pub")).expect("public export key");
        greenlight_server::config::parse_public_key(text.trim()).expect("valid key")
    }

    pub async fn post(&self, body: &Value) -> (u16, Value, usize) {
        self.post_raw(serde_json::to_vec(body).expect("json"), false).await
    }

    pub async fn post_raw(&self, body: Vec<u8>, chaff: bool) -> (u16, Value, usize) {
        let mut request = self.client.post(format!("{}/v1/publish", self.base)).body(body);
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
    pub async fn seal(&self) -> Option<greenlight_server::publisher::Sealed> {
        self.state().publisher.seal(self.clock.now()).await.expect("sealing works")
    }

    /// Every row of the database, as text.
    pub async fn dump(&self) -> Vec<String> {
        self.state().store.dump().await.expect("dump")
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
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(now.0 ^ u64::from(keys.first().map_or(0, |k| k.bytes[0])));
    let hmac_key = UploadHmacKey::generate(&mut rng);
    let uploaded: Vec<UploadedKey> = keys
        .iter()
        .map(|k| UploadedKey {
            key: PublishedKey(k.bytes),
            day: DayNumber(k.day),
            transmission_risk: TransmissionRisk::new(k.risk.min(8)).expect("risk"),
        })
        .collect();
    let refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
    let hmac = upload_hmac(&hmac_key, &uploaded, &refs).expect("hmac");
    let certificate = Certificate::new(
        ReportType::ConfirmedTest,
        DayKind::TestDate,
        now.day(),
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
        ("min_venue_overlap", "10"),
        ("lookback_days", "14"),
        ("yellow_days", "14"),
        ("red_days", "10"),
        ("stale_hours", "48"),
    ]
    .iter()
    .map(|(k, v)| (*k, (*v).to_owned()))
    .collect();
    for (k, v) in changes {
        form.iter_mut().find(|(name, _)| name == k).expect("field").1 = (*v).to_owned();
    }
    form
}
