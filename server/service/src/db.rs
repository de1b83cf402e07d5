//! The database both services use: one code path for SQLite (the embedded
//! default) and PostgreSQL, through sqlx's `Any` driver, with migrations per
//! backend because their DDL differs.
//!
//! Every statement uses `$N` placeholders, which both backends accept, and
//! only `BIGINT`/`INTEGER`, `BLOB`/`BYTEA` and `TEXT` columns, which map to
//! `i64`, `Vec<u8>` and `String` on both.

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use std::time::Duration;

/// Longest wait for a database connection (and, on SQLite, for the write
/// lock) before a request fails with 503.
pub const ACQUIRE_TIMEOUT_SECS: u64 = 5;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend of `url`, from its scheme.
    pub fn of(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL {:?}: use sqlite://PATH or postgres://…",
                redact(url)
            )))
        }
    }
}

/// Creates the SQLite file of `url` readable by its owner only (0600), or
/// takes group and other permissions away from an existing one and its
/// `-wal` and `-shm` files. SQLite gives the WAL and shared-memory files
/// it creates the database file's mode, so they are 0600 too.
fn owner_only_sqlite_files(url: &str) -> Result<(), StoreError> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let fail = |what: &str, e: std::io::Error| StoreError::Config(format!("cannot {what} {path}: {e}"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false).mode(0o600);
        drop(options.open(path).map_err(|e| fail("create", e))?);
        for file in [path.to_owned(), format!("{path}-wal"), format!("{path}-shm")] {
            match std::fs::metadata(&file) {
                Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| fail("restrict the permissions of", e))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(fail("read", e)),
            }
        }
    }
    Ok(())
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Why a database operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// The configuration is unusable (bad URL).
    Config(String),
    /// The database refused or failed.
    Database(sqlx::Error),
    /// Migrations could not be applied.
    Migrate(sqlx::migrate::MigrateError),
    /// A stored value is not one this version wrote.
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Config(message) => f.write_str(message),
            StoreError::Database(e) => write!(f, "database error: {e}"),
            StoreError::Migrate(e) => write!(f, "database migration failed: {e}"),
            StoreError::Corrupt(what) => write!(f, "unexpected stored value: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

/// The migrations a database is brought up to, one set per backend (the
/// binary that runs the services embeds them).
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// For SQLite.
    pub sqlite: &'static Migrator,
    /// For PostgreSQL.
    pub postgres: &'static Migrator,
}

/// The database handle, cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects to `url`, creating an SQLite file if needed, and applies the
    /// backend's `migrations`.
    pub async fn connect(url: &str, migrations: &Migrations) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = Backend::of(url)?;
        // Give up on an unreachable database well inside the default request
        // timeout (10 s), so clients get a 503 with Retry-After, not a 408.
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(ACQUIRE_TIMEOUT_SECS));
        let url = match backend {
            Backend::Sqlite => {
                owner_only_sqlite_files(url)?;
                // WAL lets readers work while the one writer commits; the busy
                // timeout makes concurrent writers wait instead of failing.
                options = options.max_connections(8).after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        // ACQUIRE_TIMEOUT_SECS, in milliseconds.
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                });
                if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") }
            }
            Backend::Postgres => {
                options = options.max_connections(16);
                url.to_owned()
            }
        };
        // No statement in the logs, at any level: an `INSERT INTO
        // diagnosis_keys` logged only for real uploads would tell them from
        // chaff, with its time.
        let connect = sqlx::ConnectOptions::disable_statement_logging(
            <sqlx::any::AnyConnectOptions as std::str::FromStr>::from_str(&url)?,
        );
        let pool = options.connect_with(connect).await?;
        match backend {
            Backend::Sqlite => migrations.sqlite.run(&pool).await,
            Backend::Postgres => migrations.postgres.run(&pool).await,
        }
        .map_err(StoreError::Migrate)?;
        Ok(Db { pool, backend })
    }

    /// The connection pool, for the services' own queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`), so a concurrent writer waits for the
    /// busy timeout instead of failing when a deferred transaction tries to
    /// upgrade its read snapshot.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// The given columns of every row of the given tables, one line per row
    /// (`table: a | b | …`, blobs in hex): the privacy tests read these.
    pub async fn dump_tables(&self, tables: &[(&str, &str)]) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for (table, columns) in tables {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {columns} FROM {table}")))
                .fetch_all(&self.pool)
                .await?;
            for row in rows {
                let mut cells = Vec::new();
                for i in 0..row.len() {
                    let cell = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                        v.map_or("NULL".into(), |v| v.to_string())
                    } else if let Ok(v) = row.try_get::<Vec<u8>, _>(i) {
                        hex::encode(v)
                    } else {
                        row.try_get::<String, _>(i)?
                    };
                    cells.push(cell);
                }
                out.push(format!("{table}: {}", cells.join(" | ")));
            }
        }
        Ok(out)
    }
}
