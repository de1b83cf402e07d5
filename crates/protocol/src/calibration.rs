//! Per-device-model calibration and the attenuation a client computes from
//! a sighting (spec §6.4):
//!
//! ```text
//! attenuation = max(0, tx_power − (rssi + rssi_correction))      dB
//! ```
//!
//! `tx_power` is the *sender's* calibrated transmit power, read from the
//! authenticated metadata of its advertisement; `rssi_correction` belongs to
//! the *receiving* phone. Phones differ by tens of decibels in how loud they
//! transmit and how loud they hear (about 30 dB across models, Google's EN
//! FAQ), so without both corrections attenuation says more about the phone
//! models than about the distance.
//!
//! The values follow Google's Exposure Notifications calibration: per
//! Android model, an RSSI correction that makes the phone report what a
//! typical iPhone would, and a transmit power equivalent to what a typical
//! iPhone would report (developers.google.com/android/exposure-notifications/
//! ble-attenuation-computation). The table here is a handful of reference
//! rows, not a database; a deployment ships the full table as configuration.

use core::fmt;
use std::borrow::Cow;

/// How one phone model transmits and hears, on Google's calibrated scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Calibration {
    /// Calibrated transmit power, dBm: what this phone puts in its
    /// advertisement's metadata.
    pub tx_power_dbm: i8,
    /// Added to the RSSI this phone measures, dB.
    pub rssi_correction_db: i8,
}

impl Calibration {
    /// For a model with no entry: the mean of every row of Google's
    /// 2020-12-14 table (`en-calibration-2020-12-14.csv`, about 550 Android
    /// models), rounded — RSSI correction +3.6 → +4 dB, transmit power
    /// −24.7 → −25 dBm. Averaging all devices is also the last fallback of
    /// microG's reimplementation (`DeviceInfo.kt`, `averageDeviceInfo`).
    pub const DEFAULT: Calibration = Calibration { tx_power_dbm: -25, rssi_correction_db: 4 };

    /// The attenuation of a sighting heard by a phone with this calibration
    /// from a sender that advertised `tx_power_dbm`.
    pub fn attenuation_db(self, sender_tx_power_dbm: i8, rssi_dbm: i8) -> u8 {
        attenuation_db(sender_tx_power_dbm, rssi_dbm, self.rssi_correction_db)
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration::DEFAULT
    }
}

/// `max(0, tx_power − (rssi + rssi_correction))` in dB, saturating at 255.
pub fn attenuation_db(tx_power_dbm: i8, rssi_dbm: i8, rssi_correction_db: i8) -> u8 {
    let a = i16::from(tx_power_dbm) - (i16::from(rssi_dbm) + i16::from(rssi_correction_db));
    u8::try_from(a.clamp(0, 255)).expect("clamped to a byte")
}

/// One row of the calibration table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCalibration {
    /// Manufacturer, as Android reports it (`Build.MANUFACTURER`).
    pub manufacturer: Cow<'static, str>,
    /// Model, as Android reports it (`Build.MODEL`).
    pub model: Cow<'static, str>,
    /// Its calibration.
    pub calibration: Calibration,
}

const fn row(manufacturer: &'static str, model: &'static str, rssi: i8, tx: i8) -> ModelCalibration {
    ModelCalibration {
        manufacturer: Cow::Borrowed(manufacturer),
        model: Cow::Borrowed(model),
        calibration: Calibration { tx_power_dbm: tx, rssi_correction_db: rssi },
    }
}

/// Reference rows from Google's table of 2020-12-14, as copied with
/// attribution into microG (`play-services-nearby/.../DeviceInfo.kt`, "Derived
/// from en-calibration-2020-12-14.csv"); each `row(manufacturer, model, RSSI
/// correction, TX power)`. The Pixel 4 is the Android reference device of
/// Google's procedure (PRIOR-ART §1.3).
pub const REFERENCE_MODELS: &[ModelCalibration] = &[
    row("google", "Pixel 4", 8, -30),
    row("google", "Pixel 3", 5, -33),
    row("google", "Pixel 4a", 1, -30),
    row("google", "Pixel 5", 5, -25),
    row("samsung", "SM-G973F", 2, -29), // Galaxy S10
    row("samsung", "SM-G960F", 8, -28), // Galaxy S9
    row("samsung", "SM-A505F", 0, -20), // Galaxy A50
    row("oneplus", "GM1900", 3, -17),   // OnePlus 7
    row("motorola", "moto g(7)", 4, -23),
    row("xiaomi", "Redmi Note 8", 4, -19),
];

/// A calibration table: per-model rows and the value for any other model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalibrationTable {
    rows: Vec<ModelCalibration>,
    fallback: Calibration,
}

impl CalibrationTable {
    /// A table of `rows` (a deployment's full table, read from its
    /// configuration), with `fallback` for models it does not list.
    pub fn new(rows: Vec<ModelCalibration>, fallback: Calibration) -> Self {
        CalibrationTable { rows, fallback }
    }

    /// The reference rows with [`Calibration::DEFAULT`] as the fallback.
    pub fn reference() -> Self {
        CalibrationTable::new(REFERENCE_MODELS.to_vec(), Calibration::DEFAULT)
    }

    /// The calibration of `manufacturer` `model`, compared without regard
    /// to ASCII case; the fallback if the table has no such row.
    pub fn lookup(&self, manufacturer: &str, model: &str) -> Calibration {
        self.find(manufacturer, model).map_or(self.fallback, |row| row.calibration)
    }

    /// The row of `manufacturer` `model`, if the table has one.
    pub fn find(&self, manufacturer: &str, model: &str) -> Option<&ModelCalibration> {
        self.rows
            .iter()
            .find(|row| row.manufacturer.eq_ignore_ascii_case(manufacturer) && row.model.eq_ignore_ascii_case(model))
    }

    /// The calibration for models without a row.
    pub fn fallback(&self) -> Calibration {
        self.fallback
    }

    /// Every row.
    pub fn rows(&self) -> &[ModelCalibration] {
        &self.rows
    }
}

impl Default for CalibrationTable {
    fn default() -> Self {
        CalibrationTable::reference()
    }
}

impl fmt::Display for ModelCalibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: TX {} dBm, RSSI correction {:+} dB",
            self.manufacturer, self.model, self.calibration.tx_power_dbm, self.calibration.rssi_correction_db
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attenuation_is_tx_minus_corrected_rssi_clamped() {
        // A Pixel 4 hearing a Pixel 4 at −78 dBm: −30 − (−78 + 8) = 40 dB.
        let pixel4 = CalibrationTable::reference().lookup("Google", "pixel 4");
        assert_eq!(pixel4, Calibration { tx_power_dbm: -30, rssi_correction_db: 8 });
        assert_eq!(pixel4.attenuation_db(pixel4.tx_power_dbm, -78), 40);
        // Louder than the sender's calibrated power: never negative.
        assert_eq!(attenuation_db(-30, -10, 8), 0);
        // Extremes saturate instead of wrapping.
        assert_eq!(attenuation_db(127, -128, -128), 255);
        assert_eq!(attenuation_db(-128, 127, 127), 0);
    }

    #[test]
    fn unknown_models_get_the_table_average() {
        let table = CalibrationTable::reference();
        assert_eq!(table.lookup("acme", "phone 1"), Calibration::DEFAULT);
        assert!(table.find("acme", "phone 1").is_none());
        assert_eq!(table.rows().len(), REFERENCE_MODELS.len());
    }
}
