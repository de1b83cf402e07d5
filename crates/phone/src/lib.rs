//! Greenlight's resident core: everything a resident's phone decides,
//! written once, with no I/O of its own.
//!
//! A [`Phone`] takes inputs and returns outputs. It knows no HTTP, database,
//! radio, file system or clock: the time and the random number generator
//! come in as arguments, bytes from the network come in as bytes, and what
//! it keeps goes through the [`Store`] trait. The `greenlight` CLI and
//! daemon (reqwest, a sealed SQLite store, BlueZ), the town simulation
//! (an in-memory store, the simulated radio) and phone apps (through the
//! mobile SDK) all run this same core.
//!
//! - [`Phone::advertisement`]: interval rotation, the advertisement to
//!   broadcast now (none once the day's key was released);
//! - [`Phone::record_sightings`]: what the scanner heard, refused behind
//!   the clock floor;
//! - [`Phone::check_in`], [`Phone::check_out`], [`Phone::visits`]: posters,
//!   sealed check-ins, the visit diary and its automatic check-out;
//! - [`Phone::begin_sync`], [`Phone::apply_next`], [`Phone::finish_sync`]:
//!   verified files in, exposures out, one file per atomic store step;
//! - [`Phone::status`]: the color, its explanation and its end, from the
//!   authority's signed policy; [`Phone::pass`]: the same with the region,
//!   the freshness and the visit in progress, for a screen shown at a door;
//! - [`Phone::start_report`]: what a diagnosed resident uploads, consent
//!   checked, keys released only once the upload is done.
#![forbid(unsafe_code)]

pub mod checkin;
pub mod memory;
pub mod pass;
pub mod report;
pub mod status;
pub mod store;
pub mod sync;

pub use checkin::{CheckInError, CheckedIn};
pub use memory::MemoryStore;
pub use pass::Pass;
pub use report::{ReportDraft, ReportError, Reported, Upload};
pub use store::{ColorChange, DiaryEntry, Exposure, Store, StoreError};
pub use sync::{Applied, SyncError, SyncPlan, Trust, VerifiedFile};

use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::calibration::Calibration;
use greenlight_protocol::daily_key::{DailyKey, KeySchedule, Metadata};
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};
use rand_core::CryptoRng;

/// Days the phone keeps keys, sightings, check-ins and exposures.
pub const RETENTION_DAYS: u32 = 14;

/// Seconds between scans of the duty cycle (GAEN's 5 minutes); each scan
/// window in which a key was heard stands for this much time near it.
pub const SCAN_PERIOD_SECS: u64 = greenlight_protocol::contact::SCAN_WINDOW_SECS;

/// A resident's phone over its store.
pub struct Phone<S> {
    store: S,
    calibration: Calibration,
    /// The day whose schedule is cached, and the schedule: deriving it is
    /// the expensive part of a rotation.
    schedule: Option<(DayNumber, KeySchedule)>,
    /// The accepted key set's signed bytes as last read and the set they
    /// decode to: decoding checks every public key on the curve, and
    /// housekeeping after every sync asks whether the policy's signer is
    /// still trusted.
    key_set: Option<(Vec<u8>, greenlight_protocol::trust::KeySet)>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Phone<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone")
            .field("store", &self.store)
            .field("calibration", &self.calibration)
            .finish_non_exhaustive()
    }
}

/// What [`Phone::record_sightings`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Sightings stored.
    pub stored: usize,
    /// Sightings refused because they are older than the newest signed
    /// time the phone has seen (spec §6.5: the clock was set back).
    pub behind_clock_floor: usize,
}

impl<S: Store> Phone<S> {
    /// A phone over `store`, on a device model with `calibration` (its
    /// advertised transmit power and the correction of what it hears).
    pub fn new(store: S, calibration: Calibration) -> Self {
        Phone { store, calibration, schedule: None, key_set: None }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for a driver's own settings.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// This device's calibration.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// The daily key of `day`, drawn from `rng` on first use.
    pub fn daily_key<R: CryptoRng + ?Sized>(&mut self, day: DayNumber, rng: &mut R) -> Result<DailyKey, StoreError> {
        if let Some((key, _)) = self.store.daily_key(day)? {
            return Ok(key);
        }
        self.store.add_daily_key(day, &DailyKey::generate(rng))?;
        // Another writer may have drawn it first: use whatever is stored.
        self.store.daily_key(day)?.map(|(key, _)| key).ok_or_else(|| StoreError::Corrupt("a daily key vanished".into()))
    }

    /// What to broadcast now: the current interval's ID with this device's
    /// transmit power sealed in its metadata, or `None` once the day's key
    /// was released by a report (a published key is never broadcast again).
    pub fn advertisement<R: CryptoRng + ?Sized>(
        &mut self,
        now: UnixTime,
        rng: &mut R,
    ) -> Result<Option<Advertisement>, StoreError> {
        let day = now.day();
        if self.store.daily_key(day)?.is_some_and(|(_, released)| released) {
            return Ok(None);
        }
        let schedule = match &self.schedule {
            Some((cached, schedule)) if *cached == day => schedule,
            _ => {
                let schedule = self.daily_key(day, rng)?.schedule(day);
                &self.schedule.insert((day, schedule)).1
            }
        };
        let id = schedule.id(now.interval().slot());
        let metadata = schedule.seal_metadata(&id, Metadata::v1(self.calibration.tx_power_dbm));
        Ok(Some(Advertisement { id, metadata }))
    }

    /// The newest signed time the phone has seen (an index's generation
    /// time): no sighting before it is believed.
    pub fn clock_floor(&self) -> Result<UnixTime, StoreError> {
        Ok(time_state(&self.store, sync::CLOCK_FLOOR)?.unwrap_or_default())
    }

    /// Stores what the scanner heard, except sightings timed before the
    /// clock floor (spec §6.5: a clock set back cannot plant old sightings).
    pub fn record_sightings(&mut self, sightings: &[Sighting]) -> Result<Recorded, StoreError> {
        if sightings.is_empty() {
            return Ok(Recorded::default());
        }
        let floor = self.clock_floor()?;
        if sightings.iter().all(|s| s.seen_at >= floor) {
            // The usual case: a clock that was never set back.
            self.store.add_sightings(sightings)?;
            return Ok(Recorded { stored: sightings.len(), behind_clock_floor: 0 });
        }
        let kept: Vec<Sighting> = sightings.iter().filter(|s| s.seen_at >= floor).copied().collect();
        self.store.add_sightings(&kept)?;
        Ok(Recorded { stored: kept.len(), behind_clock_floor: sightings.len() - kept.len() })
    }

    /// Keeps only what the protocol says to keep: [`RETENTION_DAYS`] of
    /// everything, and check-in day keys' secrets only until no epoch of
    /// their day can be live (spec §8.1: a key of day d is erased at the
    /// end of day d + 1).
    pub fn housekeeping(&mut self, now: UnixTime) -> Result<(), StoreError> {
        self.store.forget_before(now.day().minus(RETENTION_DAYS))?;
        if let Some(last) = now.day().0.checked_sub(2) {
            self.store.erase_checkin_secrets_through(DayNumber(last))?;
        }
        // A policy whose key's window has ended stops applying (spec §2.3).
        self.retire_untrusted_policy(now)?;
        Ok(())
    }
}

/// A time kept as 8 little-endian bytes in the store's state.
pub(crate) fn time_state<S: Store + ?Sized>(store: &S, name: &str) -> Result<Option<UnixTime>, StoreError> {
    store.state_time(name)
}
