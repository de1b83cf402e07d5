//! What the key server and the health authority are both built from, and
//! nothing of either's rules: the database connection and its migrations
//! runner ([`db`]), the clock ([`clock`]), the latency chaff imitates
//! ([`chaff`]), the fixed-size answers and `Retry-After` ([`answer`]), the
//! chaff header and content type every device request is checked for
//! ([`request`]), and start-up errors and private key files.
//!
//! The two services share only this, the HTTP contract (`greenlight-api`)
//! and the protocol (`greenlight-protocol`); neither depends on the other.
#![forbid(unsafe_code)]

pub mod answer;
pub mod chaff;
pub mod clock;
pub mod db;
pub mod request;

use std::path::Path;

/// A failure to start, with a message for the operator.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Writes a new file readable by its owner only (0600); refuses to replace one.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
