//! Command-line and environment configuration, parsed once into a
//! validated [`Config`].

use clap::Parser;
pub use greenlight_authority::AuthoritySettings;
pub use greenlight_key_server::config::{Config, TlsFiles, parse_public_key};
use greenlight_protocol::export::Region;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The serving flags of `greenlight-server` (key server and health
/// authority).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on, IP:PORT or HOST:PORT (localhost:8080; port 0
    /// picks a free port).
    #[arg(long, env = "GREENLIGHT_LISTEN", default_value = "127.0.0.1:8080", value_parser = greenlight_api::listen_addr)]
    pub listen: SocketAddr,

    /// Directory for the server's keys, files and (by default) its SQLite database.
    #[arg(long, env = "GREENLIGHT_DATA_DIR", default_value = "greenlight-data")]
    pub data_dir: PathBuf,

    /// Start even if other users can read the data directory (it is
    /// created 0700; one with group or other permissions is refused).
    #[arg(long, env = "GREENLIGHT_ALLOW_SHARED_DATA_DIR")]
    pub allow_shared_data_dir: bool,

    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST/DB`
    /// [default: an SQLite file in the data directory].
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Region code of the published files (1-16 of A-Z, 0-9, -).
    #[arg(long, env = "GREENLIGHT_REGION", default_value = "GL-DEMO")]
    pub region: String,

    /// Health-authority public key (64 hex digits) whose certificates are
    /// accepted; repeat for several, or give a comma-separated list in the
    /// environment.
    #[arg(long = "authority-key", env = "GREENLIGHT_AUTHORITY_KEYS", value_delimiter = ',')]
    pub authority_keys: Vec<String>,

    /// Days after which keys, files and check-ins are deleted.
    #[arg(long, env = "GREENLIGHT_RETENTION_DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub retention_days: u32,

    /// Seconds between export runs.
    #[arg(long, env = "GREENLIGHT_EXPORT_INTERVAL", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub export_interval: u64,

    /// Seconds after the end of its day before a key may be published.
    #[arg(long, env = "GREENLIGHT_EMBARGO", default_value_t = 7200, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub embargo: u64,

    /// Revealed visits are handed to the health authority in hourly
    /// batches, this many seconds after the start of the hour they were
    /// received in (spec/authority.md §5.1). Below 3600 a batch is handed
    /// over before its hour has ended: for tests and demonstrations only.
    #[arg(long, env = "GREENLIGHT_REVEAL_DELAY_SECS", default_value_t = greenlight_key_server::revealed::DEFAULT_DELAY_SECS, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub reveal_delay_secs: u64,

    /// Export batches are padded with fake keys to at least this many keys.
    #[arg(long, env = "GREENLIGHT_MIN_BATCH_KEYS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=500_000))]
    pub min_batch_keys: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "GREENLIGHT_MAX_BODY", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(1024..=1_048_576))]
    pub max_body: u64,

    /// Serve Prometheus `/metrics` on this address, apart from the public
    /// API [default: not served]. Metrics can tell a real upload from
    /// chaff: give a loopback or private-network address, never the public one.
    #[arg(long, env = "GREENLIGHT_METRICS_LISTEN", value_parser = greenlight_api::listen_addr)]
    pub metrics_listen: Option<SocketAddr>,

    /// Serve HTTPS with this certificate chain (PEM, the server's
    /// certificate first) [default: plain HTTP]. The staff portal's
    /// cookies are `Secure`: beyond this machine it works only over HTTPS.
    #[arg(long, env = "GREENLIGHT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "GREENLIGHT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Seconds after which a request is abandoned.
    #[arg(long, env = "GREENLIGHT_REQUEST_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub request_timeout: u64,

    /// Health authority: minutes a short (8-digit) upload code stays valid.
    #[arg(long, env = "GREENLIGHT_SHORT_CODE_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub short_code_minutes: u64,

    /// Health authority: hours a long (16-character) upload code stays valid.
    #[arg(long, env = "GREENLIGHT_LONG_CODE_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=72))]
    pub long_code_hours: u64,

    /// Health authority: most upload codes issued per UTC day (all staff together).
    #[arg(long, env = "GREENLIGHT_DAILY_CODE_QUOTA", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub daily_code_quota: u64,

    /// Health authority: failed short-code verifications allowed per hour
    /// (all phones together); then `/v1/verify` refuses short codes until
    /// the next hour.
    #[arg(long, env = "GREENLIGHT_VERIFY_FAILURES_PER_HOUR", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub verify_failures_per_hour: u64,

    /// Health authority: hours a verification token may be exchanged for a
    /// certificate.
    #[arg(long, env = "GREENLIGHT_TOKEN_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=72))]
    pub token_hours: u64,
}

/// The whole command line: serving (the default, flat flags) or a
/// subcommand.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "greenlight-server",
    version,
    about = "Greenlight key server and health-authority service",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A subcommand; without one, the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Serving flags.
    #[command(flatten)]
    pub serve: Args,
}

/// Subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// The health-authority side.
    Authority {
        /// What to do.
        #[command(subcommand)]
        command: AuthorityCommand,
    },
}

/// `greenlight-server authority …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuthorityCommand {
    /// Creates the authority's keys in the data directory and the first
    /// admin account (prints its one-time password).
    Init(InitArgs),
    /// Runs only the health-authority service (device API and staff
    /// portal), publishing trace batches and policies to a key server.
    Serve(Box<AuthorityServeArgs>),
    /// Replaces the key of one purpose (certificate, policy or tracing):
    /// the new key signs from now on, the old one stays trusted for the
    /// overlap and its secret is destroyed. Signs a new key set with the
    /// root key; restart the server to publish it (server/README.md,
    /// "Rotating keys").
    RotateKey(RotateKeyArgs),
}

/// `greenlight-server authority rotate-key`
#[derive(Debug, Clone, clap::Args)]
pub struct RotateKeyArgs {
    /// Directory holding the authority's keys.
    #[arg(long, env = "GREENLIGHT_DATA_DIR", default_value = "greenlight-data")]
    pub data_dir: PathBuf,
    /// Which key: certificate, policy or tracing.
    #[arg(long)]
    pub purpose: String,
    /// How long the old key stays trusted beside the new one, in hours: 0
    /// revokes it at once (a stolen key). Default: 48 hours, longer than
    /// any certificate lives and than a phone may go without syncing
    /// before it shows stale.
    #[arg(long, default_value_t = 48)]
    pub overlap_hours: u64,
}

/// `greenlight-server authority init`
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Directory for the keys (and, by default, the SQLite database).
    #[arg(long, env = "GREENLIGHT_DATA_DIR", default_value = "greenlight-data")]
    pub data_dir: PathBuf,
    /// Start even if other users can read the data directory (it is
    /// created 0700; one with group or other permissions is refused).
    #[arg(long, env = "GREENLIGHT_ALLOW_SHARED_DATA_DIR")]
    pub allow_shared_data_dir: bool,
    /// Database URL [default: an SQLite file in the data directory].
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Login name of the first admin.
    #[arg(long, default_value = "admin")]
    pub admin: String,
    /// Read the admin's password from the first line of standard input
    /// instead of printing a generated one-time password.
    #[arg(long)]
    pub password_stdin: bool,
}

impl InitArgs {
    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| default_database_url(&self.data_dir))
    }
}

/// `greenlight-server authority serve`
#[derive(Debug, Clone, clap::Args)]
pub struct AuthorityServeArgs {
    /// The key server that lists this authority's trace batches and
    /// policies (its `/v1/authority/files`), e.g. `http://10.0.0.5:8080`.
    #[arg(long, env = "GREENLIGHT_KEY_SERVER_URL")]
    pub key_server_url: String,
    /// Serving flags, as for the key server.
    #[command(flatten)]
    pub serve: Args,
}

fn default_database_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}", data_dir.join("greenlight.db").display())
}

/// Which services a process runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// The key server, plus the health authority if `authority init` was
    /// run in the data directory.
    #[default]
    Combined,
    /// Only the health authority, publishing to a key server over HTTP.
    AuthorityOnly {
        /// Base URL of the key server.
        key_server_url: String,
    },
}

/// What the process runs besides (or instead of) the key server, and the
/// health authority's settings. Kept apart from [`Config`] so that code
/// starting a bare key server needs to know nothing of the authority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorityConfig {
    /// Which services run.
    pub mode: Mode,
    /// The health authority's settings.
    pub settings: AuthoritySettings,
}

impl AuthorityConfig {
    /// The authority's settings from the serving flags (in [`Mode::Combined`]).
    pub fn from_args(args: &Args) -> Self {
        AuthorityConfig {
            mode: Mode::Combined,
            settings: AuthoritySettings {
                short_code_secs: args.short_code_minutes * 60,
                long_code_secs: args.long_code_hours * 3600,
                daily_code_quota: args.daily_code_quota,
                verify_failures_per_hour: args.verify_failures_per_hour,
                token_secs: args.token_hours * 3600,
            },
        }
    }
}

/// Validates parsed arguments into the key server's configuration.
pub fn config_from_args(args: Args) -> Result<Config, String> {
    {
        let region = Region::new(&args.region)
            .map_err(|_| format!("--region {:?}: use 1-16 characters of A-Z, 0-9 and -", args.region))?;
        let authority_keys = args
            .authority_keys
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| parse_public_key(k.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let database_url = args.database_url.unwrap_or_else(|| default_database_url(&args.data_dir));
        Ok(Config {
            listen: args.listen,
            data_dir: args.data_dir,
            allow_shared_data_dir: args.allow_shared_data_dir,
            database_url,
            region,
            authority_keys,
            retention_days: args.retention_days,
            export_interval: args.export_interval,
            embargo: args.embargo,
            min_batch_keys: usize::try_from(args.min_batch_keys).map_err(|e| e.to_string())?,
            reveal_delay_secs: args.reveal_delay_secs,
            max_body: usize::try_from(args.max_body).map_err(|e| e.to_string())?,
            request_timeout: args.request_timeout,
            metrics_listen: args.metrics_listen,
            tls: match (args.tls_cert, args.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                (None, None) => None,
                _ => return Err("--tls-cert and --tls-key go together".to_owned()),
            },
        })
    }
}
