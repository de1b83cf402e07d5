//! What a phone keeps, behind one trait.
//!
//! The core decides *what* to keep and when to forget it; a [`Store`] only
//! keeps it. The in-memory [`crate::MemoryStore`] is here; the sealed SQLite
//! store of the `greenlight` CLI and daemon lives beside those drivers.
//! Every method is one atomic step: a store either does all of it or none.

use greenlight_protocol::checkin::{CheckInDay, CheckInDayKey, SealedCheckIn};
use greenlight_protocol::daily_key::DailyKey;
use greenlight_protocol::index::FileKind;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};
use serde::{Deserialize, Serialize};

/// Why a store operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// The storage underneath failed (a database, a file system).
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A sealed value does not open: the store was altered, or the device
    /// key is not the one it was sealed with.
    Tampered,
    /// A stored value does not parse.
    Corrupt(String),
    /// The store was written by a newer version of Greenlight, which this
    /// one does not know how to read.
    NewerVersion {
        /// The store's schema version.
        found: u32,
        /// The newest this version knows.
        known: u32,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Backend(e) => write!(f, "local database error: {e}"),
            StoreError::Tampered => f.write_str(
                "local store does not open with this device's key: it was altered or copied from another device",
            ),
            StoreError::Corrupt(what) => write!(f, "local store is damaged: {what}"),
            StoreError::NewerVersion { found, known } => write!(
                f,
                "local store was written by a newer Greenlight (schema {found}, this one knows up to {known}): update Greenlight"
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Backend(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// A match found by sync, kept until it leaves the lookback window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exposure {
    /// Time near a diagnosed person's phone: one scan window.
    Ble {
        /// Day of the published key.
        day: u32,
        /// Attenuation in dB (spec §6.4: the sender's power minus the
        /// receiver's calibrated RSSI), the mean over the scan window.
        attenuation_db: u8,
        /// Seconds this scan window stands for.
        seconds: u32,
        /// The key's transmission risk.
        transmission_risk: u8,
    },
    /// A visit overlapping a traced visit.
    Venue {
        /// UTC day of the overlap's last minute (spec §14.1: a stay across
        /// midnight is one exposure, on the later day).
        day: u32,
        /// Arrival (Unix seconds).
        start: u64,
        /// Departure (Unix seconds).
        end: u64,
        /// Minutes inside the traced window.
        overlap_minutes: u32,
        /// The venue's kind (`VenueKind` wire value), from the poster the
        /// phone scanned; the policy's minimum overlap depends on it. An
        /// exposure stored before kinds were kept reads as 0, "other".
        #[serde(default)]
        venue_kind: u8,
        /// The venue's name, from the opened check-in.
        venue: String,
        /// The authority's message to visitors.
        message: String,
    },
}

impl Exposure {
    /// The UTC day the exposure counts on.
    pub fn day(&self) -> u32 {
        match self {
            Exposure::Ble { day, .. } | Exposure::Venue { day, .. } => *day,
        }
    }
}

/// A change of color, kept in the color history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColorChange {
    /// When the phone computed it (Unix seconds).
    pub at: u64,
    /// `green`, `yellow`, `red` or `stale`.
    pub color: String,
    /// Until when it holds, if it ends by itself.
    pub until: Option<u64>,
}

impl ColorChange {
    /// The UTC day of the change, by which it is forgotten.
    pub fn day(&self) -> DayNumber {
        UnixTime(self.at).day()
    }
}

/// One visit in the diary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiaryEntry {
    /// The record's look-up tag (links the diary to its sealed check-in).
    pub tag: [u8; 16],
    /// The revealed-check-in encoding: poster, arrival, departure.
    pub revealed: Vec<u8>,
}

/// The check-in key of one day, as the store holds it.
#[derive(Debug)]
pub enum CheckInDayState {
    /// No key was drawn for the day.
    Absent,
    /// The key's secret was erased (spec §8.1); its public half remains
    /// for matching.
    Erased,
    /// The key, secret included.
    Live(CheckInDayKey),
}

/// Values kept confidential beyond the store's other state (a sealing store
/// seals them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The visit in progress while the diary is off, so that check-out can
    /// re-seal it.
    ActiveVisit,
    /// The owner's own diagnosis: day, report type and whether the day is
    /// the symptom onset.
    Diagnosis,
    /// What the owner reported: when the last report went through and the
    /// records of every visit revealed, so that the phone recognises its
    /// own visits when they are traced.
    Reported,
    /// The extra record of a visit continued at another poster of the same
    /// venue (its poster, from the scan to the planned departure), so that
    /// check-out re-seals it too.
    Continued,
}

impl Secret {
    /// Its name in a key–value table.
    pub fn name(self) -> &'static str {
        match self {
            Secret::ActiveVisit => "active_visit",
            Secret::Diagnosis => "diagnosis",
            Secret::Reported => "reported",
            Secret::Continued => "continued_visit",
        }
    }
}

/// Storage for one phone. Reads take `&self`, writes `&mut self`; each
/// call is atomic. Implementations keep bytes; every rule is the core's.
pub trait Store {
    /// A user setting (e.g. `diary`).
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Sets a user setting.
    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StoreError>;

    /// A small state value (sync positions, the clock floor, the policy).
    fn state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a small state value.
    fn set_state(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError>;
    /// A state value that holds a time (8 little-endian bytes, such as the
    /// clock floor, read for every batch of sightings). A store that can
    /// read it in place overrides this; the value is the same.
    fn state_time(&self, name: &str) -> Result<Option<UnixTime>, StoreError> {
        self.state(name)?.map(|v| time_from_state(name, &v)).transpose()
    }

    /// A confidential value; `None` if unset or cleared.
    fn secret(&self, which: Secret) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a confidential value; an empty value clears it.
    fn set_secret(&mut self, which: Secret, value: &[u8]) -> Result<(), StoreError>;

    /// The daily key of `day` and whether it was released.
    fn daily_key(&self, day: DayNumber) -> Result<Option<(DailyKey, bool)>, StoreError>;
    /// Stores the daily key of `day` unless one is already stored.
    fn add_daily_key(&mut self, day: DayNumber, key: &DailyKey) -> Result<(), StoreError>;
    /// Daily keys of `first` and later never released, oldest first.
    fn unreleased_keys_since(&self, first: DayNumber) -> Result<Vec<(DayNumber, DailyKey)>, StoreError>;
    /// Marks daily keys released: never broadcast again.
    fn mark_released(&mut self, days: &[DayNumber]) -> Result<(), StoreError>;

    /// Records sightings.
    fn add_sightings(&mut self, sightings: &[Sighting]) -> Result<(), StoreError>;
    /// Every stored sighting.
    fn sightings(&self) -> Result<Vec<Sighting>, StoreError>;

    /// The check-in key of `day`.
    fn checkin_day_key(&self, day: DayNumber) -> Result<CheckInDayState, StoreError>;
    /// Stores a check-in day key unless the day has one.
    fn add_checkin_day_key(&mut self, key: &CheckInDayKey) -> Result<(), StoreError>;
    /// Public halves of every check-in day key.
    fn checkin_days(&self) -> Result<Vec<CheckInDay>, StoreError>;
    /// Erases the secrets of check-in day keys of `last` and earlier;
    /// returns how many were erased.
    fn erase_checkin_secrets_through(&mut self, last: DayNumber) -> Result<u64, StoreError>;

    /// Stores a sealed check-in and its diary entry, replacing an earlier
    /// record with the same day and tag (a rescan or a check-out) and its
    /// diary entry.
    fn save_checkin(&mut self, record: &SealedCheckIn, diary: Option<&[u8]>) -> Result<(), StoreError>;
    /// Every sealed check-in.
    fn checkins(&self) -> Result<Vec<SealedCheckIn>, StoreError>;
    /// The visit diary, oldest first.
    fn diary(&self) -> Result<Vec<DiaryEntry>, StoreError>;
    /// Deletes the visit diary.
    fn clear_diary(&mut self) -> Result<(), StoreError>;

    /// Every exposure found so far.
    fn exposures(&self) -> Result<Vec<Exposure>, StoreError>;
    /// The last applied sequence of a file kind (0 if none).
    fn synced(&self, kind: FileKind) -> Result<u64, StoreError>;
    /// Applies one downloaded file atomically: its exposures, the new sync
    /// position and `state` commit together or not at all.
    fn apply(
        &mut self,
        kind: FileKind,
        sequence: u64,
        exposures: &[Exposure],
        state: &[(&str, &[u8])],
    ) -> Result<(), StoreError>;

    /// Appends to the color history.
    fn add_color(&mut self, change: &ColorChange) -> Result<(), StoreError>;
    /// The color history, oldest first.
    fn color_history(&self) -> Result<Vec<ColorChange>, StoreError>;
    /// The newest entry of the color history (read after every sync); a
    /// store that can read it alone overrides this.
    fn last_color(&self) -> Result<Option<ColorChange>, StoreError> {
        Ok(self.color_history()?.pop())
    }

    /// Deletes every key, sighting, check-in, diary entry, exposure and
    /// color change of a day before `oldest`; returns how many.
    fn forget_before(&mut self, oldest: DayNumber) -> Result<u64, StoreError>;
}

/// A time kept as 8 little-endian bytes in a store's state (see
/// [`Store::state_time`]).
pub fn time_from_state(name: &str, value: &[u8]) -> Result<UnixTime, StoreError> {
    <[u8; 8]>::try_from(value)
        .map(|b| UnixTime(u64::from_le_bytes(b)))
        .map_err(|_| StoreError::Corrupt(format!("{name} is not a time")))
}
