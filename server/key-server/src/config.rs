//! The key server's validated configuration (the binary parses it from
//! flags and the environment).

use greenlight_protocol::export::Region;
use greenlight_protocol::signing::VerifyingKey;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Start even when other users can read the data directory
    /// (`--allow-shared-data-dir`); refused by default.
    pub allow_shared_data_dir: bool,
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
    /// Seconds after the start of the hour they were received in that
    /// revealed visits are handed to the authority.
    pub reveal_delay_secs: u64,
    /// Body size limit.
    pub max_body: usize,
    /// Request timeout in seconds.
    pub request_timeout: u64,
    /// Where `/metrics` is served, apart from the public API (`None`: not
    /// at all). Metrics can tell real uploads from chaff, so they belong on
    /// a private address.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate and key (`None`: plain HTTP).
    pub tls: Option<TlsFiles>,
}

/// A certificate chain and its private key, PEM files, for serving HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// The certificate's private key.
    pub key: PathBuf,
}

/// Parses an Ed25519 public key written as 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| format!("authority key {text:?} is not 64 hex digits"))?;
    greenlight_protocol::signing::decode_public_key(&bytes).map_err(|_| {
        format!(
            "authority key {text} is not a valid Ed25519 public key (small-order and non-canonical keys are refused)"
        )
    })
}
