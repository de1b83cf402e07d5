//! From matches to the color function's inputs: Bluetooth matches become
//! [`BleContact`]s and traced check-ins become [`VenueExposure`]s.
//!
//! The protocol leaves this aggregation to the client (spec §6.4). The
//! walkthrough's choice, which the real client may refine:
//!
//! - **Attenuation** is `tx_power − RSSI` in dB, clamped to `0..=255`, with
//!   `tx_power` from the sighting's authenticated metadata and no RSSI
//!   correction (every simulated phone is calibrated alike).
//! - **Duration**: each accepted sighting stands for one scan period
//!   ([`SCAN_PERIOD_SECS`], 300 s), because a phone scans every five
//!   minutes: an ID heard in two scans counts ten minutes. Sightings of one
//!   key with the same attenuation are added up into one contact.
//! - **Venues**: the overlap of the check-in with the trace entry's
//!   exposure window, one exposure per UTC day it touches.

use crate::radio::SCAN_PERIOD_SECS;
use greenlight_protocol::color::{BleContact, VenueExposure};
use greenlight_protocol::matcher::{KeyMatch, Sighting};
use greenlight_protocol::report::TransmissionRisk;
use greenlight_protocol::time::UnixTime;
use std::collections::BTreeMap;

/// `tx_power − rssi` in dB, clamped to `0..=255`: a phone louder than its
/// own transmit power is as close as can be, never "negatively" far.
pub(crate) fn attenuation_db(tx_power: i8, rssi: i8) -> u8 {
    let attenuation = i16::from(tx_power) - i16::from(rssi);
    u8::try_from(attenuation.clamp(0, 255)).expect("clamped to a byte")
}

/// The contacts one matched key gives: its accepted sightings (positions
/// into `sightings`), one scan period each, summed per attenuation.
pub(crate) fn ble_contacts(matched: &KeyMatch, sightings: &[Sighting], risk: TransmissionRisk) -> Vec<BleContact> {
    let mut seconds_by_attenuation: BTreeMap<u8, u32> = BTreeMap::new();
    let per_sighting = u32::try_from(SCAN_PERIOD_SECS).expect("a scan period fits u32");
    for accepted in &matched.sightings {
        let attenuation = attenuation_db(accepted.metadata.tx_power, sightings[accepted.sighting].rssi);
        let seconds = seconds_by_attenuation.entry(attenuation).or_default();
        *seconds = seconds.saturating_add(per_sighting);
    }
    seconds_by_attenuation
        .into_iter()
        .map(|(attenuation_db, seconds)| BleContact {
            day: matched.day,
            attenuation_db,
            seconds,
            transmission_risk: risk,
        })
        .collect()
}

/// The exposures of a visit `[arrival, departure)` against a traced window
/// `[window_start, window_end)`: their overlap, split at UTC midnight.
/// Empty when they do not overlap.
pub(crate) fn venue_exposures(
    arrival: UnixTime,
    departure: UnixTime,
    window_start: UnixTime,
    window_end: UnixTime,
) -> Vec<VenueExposure> {
    let (mut start, end) = (arrival.max(window_start), departure.min(window_end));
    let mut exposures = Vec::new();
    while start < end {
        let piece_end = end.min(start.day().end());
        let minutes = (piece_end.0 - start.0) / 60;
        exposures.push(VenueExposure {
            day: start.day(),
            start,
            end: piece_end,
            overlap_minutes: u16::try_from(minutes).unwrap_or(u16::MAX),
        });
        start = piece_end;
    }
    exposures
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_protocol::daily_key::{EncryptedMetadata, EphemeralId, Metadata};
    use greenlight_protocol::matcher::VerifiedSighting;
    use greenlight_protocol::time::DayNumber;

    const DAY: DayNumber = DayNumber(20_584);

    #[test]
    fn attenuation_is_tx_power_minus_rssi_clamped_to_a_byte() {
        assert_eq!(attenuation_db(-8, -60), 52);
        assert_eq!(attenuation_db(-8, -90), 82);
        assert_eq!(attenuation_db(-8, -8), 0);
        assert_eq!(attenuation_db(-20, -5), 0, "louder than the transmit power is not negative");
        assert_eq!(attenuation_db(i8::MIN, i8::MAX), 0);
        assert_eq!(attenuation_db(i8::MAX, i8::MIN), 255);
    }

    fn sighting(rssi: i8) -> Sighting {
        Sighting { id: EphemeralId([0; 16]), metadata: EncryptedMetadata([0; 4]), rssi, seen_at: DAY.start() }
    }

    fn accepted(sighting: usize, tx_power: i8) -> VerifiedSighting {
        VerifiedSighting { sighting, interval: DAY.interval(0), metadata: Metadata::v1(tx_power) }
    }

    #[test]
    fn each_accepted_sighting_counts_one_scan_period_per_attenuation() {
        let sightings = [sighting(-60), sighting(-60), sighting(-90), sighting(-60)];
        let matched = KeyMatch {
            key: 0,
            day: DAY,
            // Sighting 3 was rejected: it must not count.
            sightings: vec![accepted(0, -8), accepted(1, -8), accepted(2, -8)],
            rejected: vec![(3, greenlight_protocol::matcher::Rejection::OutsideInterval)],
        };
        let risk = TransmissionRisk::new(6).expect("valid");
        let contacts = ble_contacts(&matched, &sightings, risk);
        assert_eq!(
            contacts,
            vec![
                BleContact { day: DAY, attenuation_db: 52, seconds: 600, transmission_risk: risk },
                BleContact { day: DAY, attenuation_db: 82, seconds: 300, transmission_risk: risk },
            ]
        );
        // The attenuation uses the sender's authenticated TX power.
        let louder = KeyMatch { sightings: vec![accepted(0, 0)], rejected: vec![], ..matched };
        assert_eq!(ble_contacts(&louder, &sightings, risk)[0].attenuation_db, 60);
    }

    #[test]
    fn a_visit_overlaps_the_traced_window_per_utc_day() {
        let at = |h: u64, m: u64| DAY.start().plus(h * 3600 + m * 60);
        let one = venue_exposures(at(13, 0), at(14, 30), at(12, 30), at(13, 30));
        assert_eq!(one, vec![VenueExposure { day: DAY, start: at(13, 0), end: at(13, 30), overlap_minutes: 30 }]);
        assert!(venue_exposures(at(14, 0), at(15, 0), at(12, 30), at(13, 30)).is_empty(), "left before");
        let across = venue_exposures(at(23, 0), at(25, 0), at(22, 0), at(24, 30));
        assert_eq!(
            across,
            vec![
                VenueExposure { day: DAY, start: at(23, 0), end: at(24, 0), overlap_minutes: 60 },
                VenueExposure { day: DAY.plus(1), start: at(24, 0), end: at(24, 30), overlap_minutes: 30 },
            ]
        );
    }
}
