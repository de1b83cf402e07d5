//! From matched sightings to contacts (spec §6.4): the one aggregation
//! every phone applies, so that two phones with the same sightings, the
//! same calibration and the same policy show the same color.
//!
//! ```text
//! window(s)      = floor(seen_at / 300)                 UTC-aligned 5-minute scan windows
//! attenuation(s) = max(0, tx_power − (rssi + rssi_correction)), capped at 255
//! contact        = (key day, floor(mean attenuation of the window's sightings), 300 s, risk)
//! ```
//!
//! `tx_power` is the sender's, from the authenticated metadata;
//! `rssi_correction` is the receiving phone's own calibration. A window
//! stands for the scan period it samples (GAEN's duty cycle), however many
//! advertisements were heard in it.

use crate::calibration::Calibration;
use crate::color::BleContact;
use crate::matcher::{KeyMatch, SightingIndex};
use crate::report::TransmissionRisk;
use crate::time::{DayNumber, UnixTime};
use std::collections::BTreeMap;

/// Length of a scan window, and the time one window with a sighting counts
/// for: 300 s, GAEN's scan period.
pub const SCAN_WINDOW_SECS: u64 = 300;

/// One accepted sighting of a published key, as the aggregation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeardSighting {
    /// When this phone heard it.
    pub seen_at: UnixTime,
    /// The sender's calibrated transmit power, from its authenticated
    /// metadata (dBm).
    pub sender_tx_power_dbm: i8,
    /// The RSSI this phone measured (dBm), before its own correction.
    pub rssi_dbm: i8,
}

/// The contacts of one published key of day `day` and transmission risk
/// `risk`: one per scan window with at least one of `heard`, in window
/// order, each with the floor of the mean attenuation of that window's
/// sightings as `receiver` computes them, and [`SCAN_WINDOW_SECS`] seconds.
pub fn contacts(
    day: DayNumber,
    risk: TransmissionRisk,
    heard: &[HeardSighting],
    receiver: Calibration,
) -> Vec<BleContact> {
    let mut windows: BTreeMap<u64, (u32, u32)> = BTreeMap::new();
    for s in heard {
        let attenuation = receiver.attenuation_db(s.sender_tx_power_dbm, s.rssi_dbm);
        let (sum, count) = windows.entry(s.seen_at.0 / SCAN_WINDOW_SECS).or_default();
        *sum += u32::from(attenuation);
        *count += 1;
    }
    windows
        .values()
        .map(|&(sum, count)| BleContact {
            day,
            // Each attenuation is at most 255, so their mean is too.
            attenuation_db: u8::try_from(sum / count).unwrap_or(u8::MAX),
            seconds: u32::try_from(SCAN_WINDOW_SECS).unwrap_or(u32::MAX),
            transmission_risk: risk,
        })
        .collect()
}

/// [`contacts`] of one key the matcher found in `index`.
pub fn key_contacts(
    index: &SightingIndex,
    m: &KeyMatch,
    risk: TransmissionRisk,
    receiver: Calibration,
) -> Vec<BleContact> {
    let heard: Vec<HeardSighting> = m
        .sightings
        .iter()
        .map(|v| {
            let s = &index.sightings()[v.sighting];
            HeardSighting { seen_at: s.seen_at, sender_tx_power_dbm: v.metadata.tx_power, rssi_dbm: s.rssi }
        })
        .collect();
    contacts(m.day, risk, &heard, receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(seen_at: u64, rssi: i8) -> HeardSighting {
        HeardSighting { seen_at: UnixTime(seen_at), sender_tx_power_dbm: -20, rssi_dbm: rssi }
    }

    #[test]
    fn one_contact_per_window_with_the_floor_of_the_mean() {
        let receiver = Calibration { tx_power_dbm: -25, rssi_correction_db: 0 };
        let risk = TransmissionRisk::new(5).expect("risk");
        // Window 0 hears 50, 51 dB (mean 50.5 → 50); window 1 (from 300 s) 60.
        let got = contacts(DayNumber(1), risk, &[heard(0, -70), heard(299, -71), heard(300, -80)], receiver);
        let attenuations: Vec<u8> = got.iter().map(|c| c.attenuation_db).collect();
        assert_eq!(attenuations, [50, 60]);
        assert!(got.iter().all(|c| c.seconds == 300 && c.day == DayNumber(1) && c.transmission_risk == risk));
    }

    #[test]
    fn attenuation_is_capped_at_255_and_floored_at_0() {
        let loud = HeardSighting { seen_at: UnixTime(0), sender_tx_power_dbm: 127, rssi_dbm: -128 };
        let quiet = HeardSighting { seen_at: UnixTime(600), sender_tx_power_dbm: -128, rssi_dbm: 127 };
        let receiver = Calibration { tx_power_dbm: 0, rssi_correction_db: -128 };
        let got = contacts(DayNumber(1), TransmissionRisk::new(1).expect("risk"), &[loud, quiet], receiver);
        assert_eq!(got.iter().map(|c| c.attenuation_db).collect::<Vec<_>>(), [255, 0]);
    }
}
