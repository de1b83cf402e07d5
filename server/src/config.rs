//! Command-line and environment configuration, parsed once into a
//! validated [`Config`].

use clap::Parser;
use greenlight_protocol::export::Region;
use greenlight_protocol::signing::VerifyingKey;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `greenlight-server`: the key server.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "greenlight-server",
    version,
    about = "Greenlight key server: authorized uploads, signed export batches"
)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "GREENLIGHT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the server's keys, files and (by default) its SQLite database.
    #[arg(long, env = "GREENLIGHT_DATA_DIR", default_value = "greenlight-data")]
    pub data_dir: PathBuf,

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

    /// Export batches are padded with fake keys to at least this many keys.
    #[arg(long, env = "GREENLIGHT_MIN_BATCH_KEYS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=500_000))]
    pub min_batch_keys: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "GREENLIGHT_MAX_BODY", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(1024..=1_048_576))]
    pub max_body: u64,

    /// Seconds after which a request is abandoned.
    #[arg(long, env = "GREENLIGHT_REQUEST_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub request_timeout: u64,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL (never printed with its password).
    pub database_url: String,
    /// Region of the published files.
    pub region: Region,
    /// Authority keys whose certificates are accepted.
    pub authority_keys: Vec<VerifyingKey>,
    /// Retention in days.
    pub retention_days: u32,
    /// Seconds between export runs.
    pub export_interval: u64,
    /// Embargo after a key's day, in seconds.
    pub embargo: u64,
    /// Minimum keys per export batch (padding).
    pub min_batch_keys: usize,
    /// Body size limit.
    pub max_body: usize,
    /// Request timeout in seconds.
    pub request_timeout: u64,
}

impl Config {
    /// Validates parsed arguments.
    pub fn from_args(args: Args) -> Result<Self, String> {
        let region = Region::new(&args.region)
            .map_err(|_| format!("--region {:?}: use 1-16 characters of A-Z, 0-9 and -", args.region))?;
        let authority_keys = args
            .authority_keys
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| parse_public_key(k.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let database_url =
            args.database_url.unwrap_or_else(|| format!("sqlite://{}", args.data_dir.join("greenlight.db").display()));
        Ok(Config {
            listen: args.listen,
            data_dir: args.data_dir,
            database_url,
            region,
            authority_keys,
            retention_days: args.retention_days,
            export_interval: args.export_interval,
            embargo: args.embargo,
            min_batch_keys: usize::try_from(args.min_batch_keys).map_err(|e| e.to_string())?,
            max_body: usize::try_from(args.max_body).map_err(|e| e.to_string())?,
            request_timeout: args.request_timeout,
        })
    }
}

/// Parses an Ed25519 public key written as 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| format!("authority key {text:?} is not 64 hex digits"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| format!("authority key {text} is not a valid Ed25519 public key"))
}
