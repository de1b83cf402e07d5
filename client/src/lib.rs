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
pub mod pass;
pub mod report;
pub mod settings;
pub mod status;
pub mod store;
pub mod sync;
pub mod vault;

pub use greenlight_phone::{Exposure, StoreError};

use greenlight_phone::Store;

use greenlight_protocol::calibration::Calibration;
use std::path::Path;

/// The resident core over the sealed SQLite store.
pub type Phone = greenlight_phone::Phone<store::SqliteStore>;

/// This device's calibration until one is set ([`set_device_calibration`],
/// `greenlight calibration`). A Linux computer's Bluetooth adapter has no
/// row in the phone-model table; it advertises −8 dBm, as the daemon always
/// has, and applies no RSSI correction to what it hears.
pub const DEVICE_CALIBRATION: Calibration = Calibration { tx_power_dbm: -8, rssi_correction_db: 0 };

/// The setting that holds a calibration set for this device.
const CALIBRATION_SETTING: &str = "calibration";

/// Advertised transmit powers a device may declare, dBm.
pub const TX_POWER_RANGE: core::ops::RangeInclusive<i8> = -100..=20;
/// RSSI corrections a device may apply, dB.
pub const RSSI_CORRECTION_RANGE: core::ops::RangeInclusive<i8> = -50..=50;

/// This device's calibration: the one set for it, else
/// [`DEVICE_CALIBRATION`].
pub fn device_calibration(store: &impl Store) -> Result<Calibration, StoreError> {
    let Some(text) = store.setting(CALIBRATION_SETTING)? else { return Ok(DEVICE_CALIBRATION) };
    let mut parts = text.split(' ').map(str::parse::<i8>);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(tx_power_dbm)), Some(Ok(rssi_correction_db)), None) => {
            Ok(Calibration { tx_power_dbm, rssi_correction_db })
        }
        _ => Err(StoreError::Corrupt(format!("the device calibration setting {text:?}"))),
    }
}

/// Sets this device's calibration: the transmit power it declares in its
/// advertisements and the correction it applies to the RSSI it hears
/// (spec §6.4), for the next time the phone is opened. Values outside
/// [`TX_POWER_RANGE`] and [`RSSI_CORRECTION_RANGE`] are refused and change
/// nothing.
pub fn set_device_calibration(store: &mut impl Store, calibration: Calibration) -> Result<(), String> {
    if !TX_POWER_RANGE.contains(&calibration.tx_power_dbm) {
        return Err(format!(
            "a transmit power of {} dBm is outside {}…{} dBm",
            calibration.tx_power_dbm,
            TX_POWER_RANGE.start(),
            TX_POWER_RANGE.end()
        ));
    }
    if !RSSI_CORRECTION_RANGE.contains(&calibration.rssi_correction_db) {
        return Err(format!(
            "an RSSI correction of {} dB is outside {}…{} dB",
            calibration.rssi_correction_db,
            RSSI_CORRECTION_RANGE.start(),
            RSSI_CORRECTION_RANGE.end()
        ));
    }
    let value = format!("{} {}", calibration.tx_power_dbm, calibration.rssi_correction_db);
    store.set_setting(CALIBRATION_SETTING, &value).map_err(|e| e.to_string())
}

/// Opens (creating) the phone in the data directory `dir`, with this
/// device's calibration.
pub fn open(dir: &Path) -> Result<Phone, StoreError> {
    let store = store::SqliteStore::open(dir)?;
    let calibration = device_calibration(&store)?;
    Ok(Phone::new(store, calibration))
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
