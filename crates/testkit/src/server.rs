//! The key server (and, when asked, its health authority) running
//! in-process on a free loopback port, on a fresh SQLite or PostgreSQL
//! database or a given one, with a clock the caller moves.

use crate::config::LoopbackConfig;
use crate::portal::{Portal, PortalError};
use greenlight_protocol::signing::VerifyingKey;
use greenlight_protocol::time::UnixTime;
use greenlight_server::app::{self, Running};
use greenlight_server::authority::AuthorityState;
use greenlight_server::config::{AuthorityConfig, AuthoritySettings, Config, Mode};
use greenlight_server::key_server::publisher::Sealed;
use greenlight_server::key_server::state::{AppState, Clock};
use rand_core::Rng as _;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use zeroize::Zeroizing;

/// Why a test server (or its database) could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError(pub String);

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServerError {}

/// Which database a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server of [`postgres_admin_url`],
    /// dropped when the server is.
    Postgres,
}

/// The PostgreSQL server the tests use: `GREENLIGHT_TEST_POSTGRES`, or the
/// machine's (trust authentication, database `test`). `tests/run.sh` makes
/// sure one runs.
pub fn postgres_admin_url() -> String {
    std::env::var("GREENLIGHT_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A private temporary directory, removed with everything in it on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory whose name says what it is for.
    ///
    /// # Panics
    ///
    /// When the directory cannot be created (use [`TempDir::try_new`] to
    /// handle that).
    pub fn new(label: &str) -> Self {
        Self::try_new(label).unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
    }

    /// A fresh, empty directory whose name says what it is for.
    pub fn try_new(label: &str) -> std::io::Result<Self> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "greenlight-{label}-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            rand_core::UnwrapErr(getrandom::SysRng).next_u32()
        ));
        // Owner only, as the server requires of its data directory.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        Ok(TempDir(dir))
    }

    /// The path of `name` in this directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty database; a PostgreSQL database is dropped on drop.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<TempDir>,
}

impl TestDatabase {
    /// A fresh database on `db`.
    ///
    /// # Panics
    ///
    /// When it cannot be created, saying why (PostgreSQL not running, …).
    pub async fn new(db: Db) -> Self {
        Self::create(db).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A fresh database on `db`.
    pub async fn create(db: Db) -> Result<Self, ServerError> {
        match db {
            Db::Sqlite => {
                let dir = TempDir::try_new("db").map_err(|e| ServerError(format!("temporary directory: {e}")))?;
                let url = format!("sqlite://{}", dir.join("test.db").display());
                Ok(TestDatabase { url, postgres_name: None, _dir: Some(dir) })
            }
            Db::Postgres => {
                let admin = postgres_admin_url();
                let name =
                    format!("gl_test_{}_{}", std::process::id(), rand_core::UnwrapErr(getrandom::SysRng).next_u64());
                let mut conn = connect_admin(&admin).await?;
                sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .map_err(|e| ServerError(format!("creating test database {name}: {e}")))?;
                let _ = sqlx::Connection::close(conn).await;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
                Ok(TestDatabase { url: format!("{base}/{name}"), postgres_name: Some(name), _dir: None })
            }
        }
    }
}

async fn connect_admin(admin: &str) -> Result<sqlx::AnyConnection, ServerError> {
    sqlx::any::install_default_drivers();
    <sqlx::AnyConnection as sqlx::Connection>::connect(admin).await.map_err(|e| {
        ServerError(format!(
            "cannot reach PostgreSQL at {admin}: {e}. The suite runs on PostgreSQL as well as SQLite; \
             `bash tests/run.sh` starts one, or set GREENLIGHT_TEST_POSTGRES"
        ))
    })
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = self.postgres_name.take() {
            let admin = postgres_admin_url();
            // Drop cannot be async: use a private runtime on another thread.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                rt.block_on(async {
                    if let Ok(mut conn) = connect_admin(&admin).await {
                        let _ = sqlx::Executor::execute(
                            &mut conn,
                            sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                        )
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The server's clock, which the caller moves: frozen at a given time
/// ([`TestClock::at`]) or running with the wall clock
/// ([`TestClock::wall`]). [`set`](TestClock::set) and
/// [`advance`](TestClock::advance) move either kind; a running clock keeps
/// running from where it was put.
#[derive(Debug, Clone)]
pub struct TestClock(Arc<ClockState>);

#[derive(Debug)]
struct ClockState {
    running: bool,
    /// The frozen time, or the offset from the wall clock, in seconds.
    value: AtomicI64,
}

fn wall_secs() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

impl TestClock {
    /// A clock standing still at `t` (Unix seconds) until moved.
    pub fn at(t: u64) -> Self {
        TestClock(Arc::new(ClockState { running: false, value: AtomicI64::new(i64::try_from(t).unwrap_or(i64::MAX)) }))
    }

    /// The wall clock (for servers that share the time with processes
    /// reading the real clock).
    pub fn wall() -> Self {
        TestClock(Arc::new(ClockState { running: true, value: AtomicI64::new(0) }))
    }

    /// The time now.
    pub fn now(&self) -> UnixTime {
        let value = self.0.value.load(Ordering::SeqCst);
        let t = if self.0.running { wall_secs().saturating_add(value) } else { value };
        UnixTime(u64::try_from(t).unwrap_or(0))
    }

    /// Puts the clock at `t`.
    pub fn set(&self, t: u64) {
        let t = i64::try_from(t).unwrap_or(i64::MAX);
        let value = if self.0.running { t.saturating_sub(wall_secs()) } else { t };
        self.0.value.store(value, Ordering::SeqCst);
    }

    /// Moves the clock `secs` seconds forward.
    pub fn advance(&self, secs: u64) {
        self.0.value.fetch_add(i64::try_from(secs).unwrap_or(i64::MAX), Ordering::SeqCst);
    }

    /// The clock as the server reads it.
    pub fn as_clock(&self) -> Clock {
        let clock = self.clone();
        Arc::new(move || clock.now())
    }
}

/// The public keys of the health authority `authority init` created for a
/// [`TestServer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorityKeys {
    /// Its signing key (certificates, trace batches, the colour policy).
    pub signing: VerifyingKey,
    /// Its trace key (what venue owners seal their shares to).
    pub trace: [u8; 32],
}

/// The staff account `authority init` created.
#[derive(Clone)]
struct Staff {
    username: String,
    password: Zeroizing<String>,
}

/// The database a [`TestServerBuilder`] starts on.
#[derive(Debug, Clone)]
enum DatabaseChoice {
    Fresh(Db),
    Given(String),
}

/// How a [`TestServer`] starts: see [`TestServer::builder`].
#[must_use]
pub struct TestServerBuilder<'a> {
    database: DatabaseChoice,
    data_dir: Option<PathBuf>,
    clock: Option<TestClock>,
    staff: Option<Staff>,
    loopback: LoopbackConfig,
    settings: AuthoritySettings,
    tweak: Option<Tweak<'a>>,
}

/// A change to the configuration just before the server starts.
type Tweak<'a> = Box<dyn FnOnce(&mut Config, &mut AuthorityConfig) + Send + 'a>;

impl<'a> TestServerBuilder<'a> {
    /// A fresh database of this kind (the default: SQLite).
    pub fn database(mut self, db: Db) -> Self {
        self.database = DatabaseChoice::Fresh(db);
        self
    }

    /// This database (kept when the server is dropped).
    pub fn database_url(mut self, url: &str) -> Self {
        self.database = DatabaseChoice::Given(url.to_owned());
        self
    }

    /// This data directory (kept when the server is dropped) instead of a
    /// temporary one.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// The server's clock (default: the wall clock).
    pub fn clock(mut self, clock: TestClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Runs `authority init` first (at the clock's time): the health
    /// authority's keys and a first admin, `username` with `password`,
    /// holding every role. The server then runs the authority and trusts
    /// its signing key.
    pub fn authority(mut self, username: &str, password: &str) -> Self {
        self.staff = Some(Staff { username: username.to_owned(), password: Zeroizing::new(password.to_owned()) });
        self
    }

    /// The knobs of the loopback configuration.
    pub fn loopback(mut self, loopback: LoopbackConfig) -> Self {
        self.loopback = loopback;
        self
    }

    /// The health authority's settings (default: the production ones).
    pub fn authority_settings(mut self, settings: AuthoritySettings) -> Self {
        self.settings = settings;
        self
    }

    /// Changes the configuration just before the server starts (kept for
    /// restarts).
    pub fn configure(mut self, tweak: impl FnOnce(&mut Config, &mut AuthorityConfig) + Send + 'a) -> Self {
        self.tweak = Some(Box::new(tweak));
        self
    }

    /// Creates the database and the data directory, runs `authority init`
    /// if asked, and starts the server.
    pub async fn start(self) -> Result<TestServer, ServerError> {
        let (database_url, database) = match self.database {
            DatabaseChoice::Fresh(db) => {
                let database = TestDatabase::create(db).await?;
                (database.url.clone(), Some(database))
            }
            DatabaseChoice::Given(url) => (url, None),
        };
        let (data_dir, temp) = match self.data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = TempDir::try_new("server").map_err(|e| ServerError(format!("temporary directory: {e}")))?;
                (temp.0.clone(), Some(temp))
            }
        };
        let clock = self.clock.unwrap_or_else(TestClock::wall);
        let mut authority = None;
        if let Some(staff) = &self.staff {
            let t = i64::try_from(clock.now().0).map_err(|e| ServerError(e.to_string()))?;
            let db = greenlight_server::connect_database(&database_url)
                .await
                .map_err(|e| ServerError(format!("authority init: database: {e}")))?;
            let init = greenlight_server::authority::keys::init(
                &data_dir,
                &db,
                &staff.username,
                Some(staff.password.clone()),
                t,
            )
            .await;
            db.close().await;
            let init = init.map_err(|e| ServerError(format!("authority init: {e}")))?;
            authority = Some(AuthorityKeys { signing: init.signing_public, trace: init.trace_public });
        }
        let mut config = self.loopback.build(&data_dir, &database_url);
        let mut options = AuthorityConfig { mode: Mode::Combined, settings: self.settings };
        if let Some(tweak) = self.tweak {
            tweak(&mut config, &mut options);
        }
        let running = app::start_with(config.clone(), options.clone(), clock.as_clock())
            .await
            .map_err(|e| ServerError(format!("the server does not start: {e}")))?;
        Ok(TestServer {
            base: format!("http://{}", running.addr),
            clock,
            running: Some(running),
            config,
            options,
            authority,
            staff: self.staff,
            _temp: temp,
            _database: database,
        })
    }
}

/// The key server in-process on loopback, with its data directory, its
/// database and its clock.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    /// The server's clock.
    pub clock: TestClock,
    running: Option<Running>,
    config: Config,
    options: AuthorityConfig,
    authority: Option<AuthorityKeys>,
    staff: Option<Staff>,
    // Dropped after the server (fields drop in order).
    _temp: Option<TempDir>,
    _database: Option<TestDatabase>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer").field("base", &self.base).field("data_dir", &self.config.data_dir).finish()
    }
}

impl TestServer {
    /// A server on a fresh SQLite database in a temporary directory, on the
    /// wall clock, with the loopback configuration's defaults, no health
    /// authority and no trusted authority key; the builder changes each.
    pub fn builder<'a>() -> TestServerBuilder<'a> {
        TestServerBuilder {
            database: DatabaseChoice::Fresh(Db::Sqlite),
            data_dir: None,
            clock: None,
            staff: None,
            loopback: LoopbackConfig::default(),
            settings: AuthoritySettings::default(),
            tweak: None,
        }
    }

    /// The running server.
    ///
    /// # Panics
    ///
    /// After a [`restart`](TestServer::restart) that failed.
    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("the test server is running (a restart failed)")
    }

    /// The key server's state (store, publisher, …).
    ///
    /// # Panics
    ///
    /// After a [`restart`](TestServer::restart) that failed, or when the
    /// server runs only the health authority.
    pub fn state(&self) -> &AppState {
        self.running().state.as_deref().expect("this server runs the key server")
    }

    /// The private metrics listener's `/metrics` URL.
    ///
    /// # Panics
    ///
    /// When the server runs no key server (or a restart failed).
    pub fn metrics_url(&self) -> String {
        let addr = self.running().metrics_addr.expect("the key server serves metrics on its own port");
        format!("http://{addr}/metrics")
    }

    /// The health authority's state, when it runs in this server.
    pub fn authority_state(&self) -> Option<&AuthorityState> {
        self.running.as_ref()?.authority.as_deref()
    }

    /// The public keys of the authority `authority init` created, if the
    /// builder asked for one.
    pub fn authority_keys(&self) -> Option<AuthorityKeys> {
        self.authority
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The database URL.
    pub fn database_url(&self) -> &str {
        &self.config.database_url
    }

    /// The key server's export key (`export-key.pub`).
    pub fn export_key(&self) -> Result<VerifyingKey, ServerError> {
        let path = self.data_dir().join("export-key.pub");
        let text = std::fs::read_to_string(&path).map_err(|e| ServerError(format!("{}: {e}", path.display())))?;
        greenlight_server::config::parse_public_key(text.trim()).map_err(ServerError)
    }

    /// Seals an export batch at the clock's time, as the hourly job does.
    pub async fn seal(&self) -> Result<Option<Sealed>, ServerError> {
        let Some(running) = &self.running else { return Err(ServerError("the server is not running".into())) };
        let Some(state) = &running.state else { return Err(ServerError("this server runs no key server".into())) };
        state.publisher.seal(self.clock.now()).await.map_err(|e| ServerError(format!("export: {e}")))
    }

    /// A portal client for this server, signed in as the first admin when
    /// the builder created an authority (else not signed in).
    pub async fn portal(&self) -> Result<Portal, PortalError> {
        let portal = Portal::new(&self.base)?;
        if let Some(staff) = &self.staff {
            portal.sign_in(&staff.username, staff.password.as_str()).await?;
        }
        Ok(portal)
    }

    /// Stops the server and starts it again on the same data, database,
    /// configuration and clock (on another port: [`base`](Self::base)
    /// changes).
    pub async fn restart(&mut self) -> Result<(), ServerError> {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let running = app::start_with(self.config.clone(), self.options.clone(), self.clock.as_clock())
            .await
            .map_err(|e| ServerError(format!("the server does not restart: {e}")))?;
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
        Ok(())
    }

    /// Stops the server: running requests finish, the jobs stop, the
    /// database closes. Its directory and database go when `self` does.
    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}
