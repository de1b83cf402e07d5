//! The Greenlight resident client for Linux: drivers around the resident
//! core ([`greenlight_phone`]) — the sealed SQLite store, HTTP to the key
//! server and the health authority (reqwest), the Bluetooth radio (BlueZ
//! or the simulated one) — and the `greenlight` command line and daemon.
//!
//! Every rule (rotation, check-in, matching, color, what a report
//! uploads) is the core's; this crate moves bytes between the core and
//! the world.
#![forbid(unsafe_code)]

pub mod checkin;
pub mod daemon;
pub mod home;
pub mod report;
pub mod settings;
pub mod status;
pub mod store;
pub mod sync;
pub mod vault;

pub use greenlight_phone::{Exposure, StoreError};

use greenlight_protocol::calibration::Calibration;
use std::path::Path;

/// The resident core over the sealed SQLite store.
pub type Phone = greenlight_phone::Phone<store::SqliteStore>;

/// This device's calibration. A Linux computer's Bluetooth adapter has no
/// row in the phone-model table; it advertises −8 dBm, as the daemon always
/// has, and applies no RSSI correction to what it hears.
pub const DEVICE_CALIBRATION: Calibration = Calibration { tx_power_dbm: -8, rssi_correction_db: 0 };

/// Opens (creating) the phone in the data directory `dir`.
pub fn open(dir: &Path) -> Result<Phone, StoreError> {
    Ok(Phone::new(store::SqliteStore::open(dir)?, DEVICE_CALIBRATION))
}

/// Whether `dir` holds a store (`greenlight init` ran there and it was
/// not wiped since). Checked before opening, which would create one.
pub fn has_store(dir: &Path) -> bool {
    dir.join(store::DATABASE_FILE).is_file()
}

/// Deletes the store and the device key from `dir` (the venue tool's files
/// are kept), then `dir` itself if nothing else is left. Returns whether
/// anything was deleted.
pub fn erase(dir: &Path) -> Result<bool, String> {
    let mut erased = false;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(store::DATABASE_FILE) || name == vault::DEVICE_KEY_FILE {
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            erased = true;
        }
    }
    let _ = std::fs::remove_dir(dir);
    Ok(erased)
}

/// The operating system's cryptographic random number generator.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
