//! The stand-in for Bluetooth radio: who hears whom, when, and how loud.
//!
//! This is a table, not a radio model (the simulated radio arrives with
//! the Bluetooth issue). Every phone scans every [`SCAN_PERIOD_SECS`] and
//! hears every other phone in the same place at that instant. Two people at
//! the same spot of a place (the same desk row, the same table) are about a
//! metre apart; two people elsewhere in the same place are across the room.
//! Each distance has one fixed RSSI, and every phone advertises the same
//! calibrated transmit power, so the attenuation of a contact follows from
//! the distance alone.

use greenlight_protocol::time::UnixTime;

/// Calibrated transmit power every simulated phone advertises, in dBm.
pub(crate) const TX_POWER_DBM: i8 = -8;
/// How often a phone scans. Each accepted sighting stands for this long.
pub(crate) const SCAN_PERIOD_SECS: u64 = 300;
/// Scans happen this far into each scan period, so a scan never sits on an
/// interval boundary (where "which ID was live" would be a coin toss).
const SCAN_OFFSET_SECS: u64 = 120;

/// How far apart two people in the same place are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Distance {
    /// The same spot of a place: about a metre.
    ArmsLength,
    /// Different spots of the same place: about eight metres.
    AcrossTheRoom,
}

impl Distance {
    /// The distance between two people at `a` and `b`, spots of one place.
    pub(crate) fn between(a: &str, b: &str) -> Distance {
        if a == b { Distance::ArmsLength } else { Distance::AcrossTheRoom }
    }

    /// The RSSI a phone records at this distance, in dBm.
    pub(crate) fn rssi_dbm(self) -> i8 {
        match self {
            Distance::ArmsLength => -60,
            Distance::AcrossTheRoom => -90,
        }
    }

    /// A few words for the narration.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Distance::ArmsLength => "same spot, ≈1 m",
            Distance::AcrossTheRoom => "same place, other spot, ≈8 m",
        }
    }
}

/// The scan instants in `[from, until)`.
pub(crate) fn scan_times(from: UnixTime, until: UnixTime) -> impl Iterator<Item = UnixTime> {
    let mut first = from.0 - from.0 % SCAN_PERIOD_SECS + SCAN_OFFSET_SECS;
    if first < from.0 {
        first += SCAN_PERIOD_SECS;
    }
    (first..until.0).step_by(usize::try_from(SCAN_PERIOD_SECS).expect("small")).map(UnixTime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_fall_inside_intervals_every_five_minutes() {
        let scans: Vec<u64> = scan_times(UnixTime(600), UnixTime(1800)).map(|t| t.0).collect();
        assert_eq!(scans, vec![720, 1020, 1320, 1620]);
        let scans: Vec<u64> = scan_times(UnixTime(721), UnixTime(1021)).map(|t| t.0).collect();
        assert_eq!(scans, vec![1020]);
    }

    #[test]
    fn the_distance_table_puts_close_contacts_in_the_closest_bucket() {
        use greenlight_protocol::policy::{AttenuationBucket, ColorPolicy};
        let policy = ColorPolicy::recommended(1, UnixTime(0));
        let bucket = |d: Distance| policy.bucket(crate::exposure::attenuation_db(TX_POWER_DBM, d.rssi_dbm()));
        assert_eq!(bucket(Distance::ArmsLength), AttenuationBucket::Immediate);
        assert_eq!(bucket(Distance::AcrossTheRoom), AttenuationBucket::Other);
    }
}
