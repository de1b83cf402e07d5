//! The plain data the SDK hands to apps and takes from them: records and
//! enums that become data classes (Kotlin), structs (Swift) and dataclasses
//! (Python). Times are Unix seconds (UTC); days are UTC day numbers
//! (Unix seconds / 86 400).

use greenlight_protocol::color::{Color as CoreColor, ColorDecision, Evidence};
use greenlight_protocol::trace::RevealedCheckIn;

/// This device's radio calibration (the advertised transmit power and the
/// correction of the RSSI it reports), from the calibration table for its
/// model; `None` at open uses the Linux default (−8 dBm, no correction).
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct DeviceCalibration {
    /// Transmit power the OS advertiser uses, dBm.
    pub tx_power_dbm: i8,
    /// Added to the RSSI the OS scanner reports, dB.
    pub rssi_correction_db: i8,
}

/// Where the deployment's servers are and the keys that sign what they
/// publish, as the health authority announces them.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ServerConfig {
    /// The key server's base URL, e.g. `https://keys.example`.
    pub key_server_url: String,
    /// The health authority's device API, when it is not served by the key
    /// server.
    pub authority_url: Option<String>,
    /// The key server's export key, 64 hex digits.
    pub export_key_hex: String,
    /// The health authority's signing key, 64 hex digits.
    pub authority_key_hex: String,
}

/// What to hand the OS advertiser now.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Advertisement {
    /// The 16-bit service UUID in its 128-bit form, for the advertiser's
    /// service-UUID list and service data.
    pub service_uuid: String,
    /// The 20 bytes of service data for that UUID (Android
    /// `AdvertiseData.Builder.addServiceData`; iOS cannot set service data,
    /// see the README).
    pub service_data: Vec<u8>,
    /// The complete 31-byte legacy advertising payload, for advertisers
    /// that take raw bytes.
    pub packet: Vec<u8>,
    /// When this advertisement stops being valid (the next rotation); ask
    /// again then.
    pub valid_until: u64,
}

/// One advertisement the OS scanner heard.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ScannedAdvertisement {
    /// The service data for Greenlight's UUID (20 bytes), or the whole
    /// 31-byte (or 28-byte, flags left out) advertising payload.
    pub payload: Vec<u8>,
    /// Received signal strength, dBm, as the OS reported it.
    pub rssi: i8,
    /// When it was heard (Unix seconds, this phone's clock).
    pub seen_at: u64,
}

/// What [`crate::GreenlightPhone::record_sightings`] kept.
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct RecordedSightings {
    /// Sightings stored.
    pub stored: u32,
    /// Sightings refused because they are timed before the newest signed
    /// time the phone has seen (the clock was set back).
    pub behind_clock_floor: u32,
}

/// A check-in or check-out.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CheckIn {
    /// The venue's name.
    pub venue: String,
    /// Arrival.
    pub arrival: u64,
    /// Departure: the automatic check-out time unless checked out.
    pub departure: u64,
    /// Whether a rescan extended an earlier check-in.
    pub extended: bool,
}

/// A visit in the diary.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Visit {
    /// Identifies the visit for [`crate::GreenlightPhone::report`].
    pub id: String,
    /// The venue's name.
    pub venue: String,
    /// Its address or room (may be empty).
    pub address: String,
    /// What kind of place: `other`, `shop`, `restaurant`, `transit`,
    /// `workplace`, `event`, `leisure`, …
    pub kind: String,
    /// Arrival.
    pub arrival: u64,
    /// Departure.
    pub departure: u64,
}

impl Visit {
    pub(crate) fn of(visit: &RevealedCheckIn) -> Self {
        let info = visit.poster.info();
        Visit {
            // The poster and the arrival: a visit in progress is offered
            // as ending now, so its departure changes from minute to minute.
            id: hex::encode(
                [visit.poster.to_bytes().as_slice(), visit.arrival.minutes().to_le_bytes().as_slice()].concat(),
            ),
            venue: info.name.clone(),
            address: info.address.clone(),
            kind: info.kind.as_str().to_owned(),
            arrival: visit.arrival.0,
            departure: visit.departure.0,
        }
    }
}

/// The color to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Color {
    /// No qualifying exposure, and recently synced.
    Green,
    /// A qualifying exposure.
    Yellow,
    /// The owner's own diagnosis.
    Red,
    /// Would be green, but the phone has not synced recently enough.
    Stale,
}

impl From<CoreColor> for Color {
    fn from(c: CoreColor) -> Self {
        match c {
            CoreColor::Green => Color::Green,
            CoreColor::Yellow => Color::Yellow,
            CoreColor::Red => Color::Red,
            CoreColor::Stale => Color::Stale,
        }
    }
}

/// One fact behind the color, with its numbers, for the app to render in
/// the user's language. The variant is the code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Reason {
    /// The owner's own diagnosis (listed even after its red period).
    Diagnosis {
        /// The symptom-onset or test day.
        day: u32,
        /// 1: confirmed test; 2: clinical diagnosis.
        report_type: u8,
        /// The first second no longer red because of it.
        until: u64,
    },
    /// Bluetooth contacts of one day.
    BluetoothDay {
        /// The day.
        day: u32,
        /// Seconds of contact per attenuation bucket, nearest first
        /// (immediate, near, medium, other).
        seconds_per_bucket: Vec<u64>,
        /// The weighted minutes the policy counts.
        weighted_minutes: u64,
        /// The policy's threshold per day.
        threshold_minutes: u16,
        /// Whether this day makes the phone yellow.
        qualifies: bool,
    },
    /// A visit overlapping a traced visit.
    Venue {
        /// The day of the overlap.
        day: u32,
        /// Start of the overlap.
        start: u64,
        /// End of the overlap.
        end: u64,
        /// Minutes of overlap.
        overlap_minutes: u16,
        /// The venue's kind, from the poster the phone scanned (`shop`,
        /// `restaurant`, `transit`, …): the policy's minimum depends on it.
        venue_kind: String,
        /// The policy's minimum overlap for that kind; `None` when the
        /// policy says visits of that kind never turn a phone yellow.
        threshold_minutes: Option<u16>,
        /// Whether this visit makes the phone yellow.
        qualifies: bool,
    },
    /// Inputs left out, and why.
    Ignored {
        /// Dated after now.
        future: u32,
        /// Before the lookback window.
        too_old: u32,
        /// Below the policy's minimum transmission risk.
        low_risk: u32,
    },
    /// The phone has not synced recently enough.
    Stale {
        /// The last sync, if any.
        last_sync: Option<u64>,
        /// The policy's limit, hours.
        limit_hours: u16,
    },
}

impl From<&Evidence> for Reason {
    fn from(e: &Evidence) -> Self {
        match *e {
            Evidence::Diagnosis { day, report_type, until, .. } => {
                Reason::Diagnosis { day: day.0, report_type: report_type.to_byte(), until: until.0 }
            }
            Evidence::BleDay { day, seconds_per_bucket, weighted_minutes, threshold_minutes, qualifies } => {
                Reason::BluetoothDay {
                    day: day.0,
                    seconds_per_bucket: seconds_per_bucket.to_vec(),
                    weighted_minutes,
                    threshold_minutes,
                    qualifies,
                }
            }
            Evidence::Venue { day, start, end, overlap_minutes, kind, threshold_minutes, qualifies } => Reason::Venue {
                day: day.0,
                start: start.0,
                end: end.0,
                overlap_minutes,
                venue_kind: kind.as_str().to_owned(),
                threshold_minutes,
                qualifies,
            },
            Evidence::Ignored { future, too_old, low_risk } => Reason::Ignored { future, too_old, low_risk },
            Evidence::Stale { last_sync, limit_hours } => {
                Reason::Stale { last_sync: last_sync.map(|t| t.0), limit_hours }
            }
        }
    }
}

/// A venue alert: the authority's message to the visitors of a traced
/// visit.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VenueAlert {
    /// The venue's name.
    pub venue: String,
    /// Start of the overlap.
    pub start: u64,
    /// End of the overlap.
    pub end: u64,
    /// The authority's message.
    pub message: String,
}

/// The color now and why.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Status {
    /// The color.
    pub color: Color,
    /// When it ends by itself (`None` for stale, which ends with a sync).
    pub until: Option<u64>,
    /// Whether the last sync is too old, whatever the color.
    pub stale: bool,
    /// The facts behind the color, in a fixed order.
    pub reasons: Vec<Reason>,
    /// Venue alerts with the authority's messages.
    pub venue_alerts: Vec<VenueAlert>,
    /// The sequence number of the authority's policy that decided.
    pub policy_sequence: u32,
    /// The explanation in English, for logs and tests.
    pub explanation: String,
}

impl Status {
    pub(crate) fn of(decision: &ColorDecision, venue_alerts: Vec<VenueAlert>) -> Self {
        Status {
            color: decision.color.into(),
            until: decision.until.map(|t| t.0),
            stale: decision.stale,
            reasons: decision.evidence.iter().map(Reason::from).collect(),
            venue_alerts,
            policy_sequence: decision.policy_sequence,
            explanation: decision.to_string(),
        }
    }
}

/// The pass a resident shows at a door (issue 25): what a guard reads in
/// one second. It holds nothing that identifies the resident or the phone;
/// an app renders it live (the time with seconds and something moving),
/// so that a screenshot is obvious, and never shows a stale pass as green.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Pass {
    /// When it was computed (the SDK's clock).
    pub at: u64,
    /// The color, its end and its reasons: [`Color::Stale`] when the phone
    /// has not synced recently enough, never green.
    pub status: Status,
    /// The colour's word in capitals (`GREEN`, `YELLOW`, `RED`, `STALE`),
    /// to show beside the colour, never the colour alone.
    pub word: String,
    /// Whether the pass lets its holder through: green only.
    pub admits: bool,
    /// The region of the newest index applied; `None` before the first
    /// sync.
    pub region: Option<String>,
    /// The signed time of the newest index applied: what the colour is up
    /// to date with.
    pub fresh_as_of: Option<u64>,
    /// The visit in progress, for the guard to confirm a check-in.
    pub check_in: Option<Visit>,
}

/// What one sync did.
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct SyncSummary {
    /// Nothing new on the server.
    pub unchanged: bool,
    /// Files downloaded and applied.
    pub files: u32,
    /// Published keys checked.
    pub keys: u64,
    /// Exposures found.
    pub exposures: u32,
    /// Sightings of published keys refused (relayed, replayed, tampered).
    pub rejected_sightings: u32,
}

/// What a finished report did.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReportSummary {
    /// Days whose keys were published.
    pub days: Vec<u32>,
    /// Visits revealed.
    pub revealed_visits: u32,
    /// 1: confirmed test; 2: clinical diagnosis.
    pub report_type: u8,
}
