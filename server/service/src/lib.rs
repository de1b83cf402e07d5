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

/// Makes sure `dir` is the server's own: creates it (and its parents) with
/// mode 0700 when missing, and refuses one that other users can enter or
/// read (group or other permission bits set) unless `allow_shared` is
/// given. The data directory holds the database (staff password hashes,
/// the audit log, revealed visits) and the keys: a directory others can
/// read gives all of that away, whatever the files' own modes.
pub fn private_data_dir(dir: &Path, allow_shared: bool) -> Result<(), StartError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| StartError(format!("cannot create data directory {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir)
            .map_err(|e| StartError(format!("cannot read data directory {}: {e}", dir.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 && !allow_shared {
            return Err(StartError(format!(
                "data directory {} can be read by other users (mode {:o}): it holds the database and keys. \
                 Run `chmod 700 {}`, or pass --allow-shared-data-dir if that is intended",
                dir.display(),
                mode & 0o777,
                dir.display()
            )));
        }
    }
    Ok(())
}

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
