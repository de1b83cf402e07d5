//! Work that every phone would repeat, done once for the whole town, with
//! exactly the result each phone's own matching gives (crates/sim/README.md,
//! "Shared work"; proven by `shared_work_finds_what_every_phone_finds_alone`).
//!
//! - **Published keys**: each key's 144 IDs are derived once, when its batch
//!   is published, and looked up in [`Heard`], an index of which phone stored
//!   a sighting of which ID, built from the sightings each phone's store
//!   accepted. A phone then matches only the keys that carry one of its IDs
//!   ([`greenlight_phone::SyncPlan::only_keys`]), against only the sightings
//!   of those IDs ([`greenlight_phone::SyncPlan::only_sightings`]): a key can
//!   match nothing but sightings of its own IDs.
//! - **Trace batches**: the town remembers, at each check-in, the record's
//!   day and tag with the venue it was made at ([`Visitors`]). A phone opens
//!   a venue's trace entries only against its records at that venue
//!   ([`greenlight_phone::SyncPlan::only_checkins`]): an entry recomputes the
//!   tag of its own poster's records only.
//!
//! Neither looks ahead: both read what phones stored before the sync.

use greenlight_phone::MemoryStore;
use greenlight_protocol::daily_key::{EphemeralId, PublishedKey};
use greenlight_protocol::export::{ExportBatch, ExportRecord};
use greenlight_protocol::matcher::{MatchConfig, Sighting};
use greenlight_protocol::time::{DayNumber, INTERVAL_SECONDS, INTERVALS_PER_DAY, UnixTime};
use greenlight_protocol::trace::TraceBatch;
use std::collections::HashMap;

/// Bits of an [`Heard`] entry that hold the phone; the rest is the ID's
/// first bytes.
const PHONE_BITS: u32 = 20;
const PHONE_MASK: u64 = (1 << PHONE_BITS) - 1;
/// Most phones a town can have.
pub(crate) const MAX_PHONES: usize = 1 << PHONE_BITS;

/// Which phone stored a sighting of which ID, by hour of the sighting:
/// each entry is the ID's first 44 bits and the phone's number. Two IDs
/// that share those bits only make a phone look at a sighting its own
/// matcher then refuses, so a collision costs time, never a result.
pub(crate) struct Heard {
    start: UnixTime,
    hours: Vec<Vec<u64>>,
    /// Hours before this one are sorted and free of duplicates.
    sorted: usize,
}

fn entry(id: &EphemeralId, phone: u32) -> u64 {
    let prefix = u64::from_be_bytes(id.0[..8].try_into().expect("8 of 16 bytes"));
    (prefix & !PHONE_MASK) | u64::from(phone)
}

impl Heard {
    /// An empty index for a town that starts at `start`.
    pub(crate) fn new(start: UnixTime) -> Self {
        Heard { start, hours: Vec::new(), sorted: 0 }
    }

    fn hour(&self, t: UnixTime) -> usize {
        usize::try_from(t.0.saturating_sub(self.start.0) / 3600).unwrap_or(usize::MAX)
    }

    /// Adds the sightings `phone` stored.
    pub(crate) fn add(&mut self, phone: u32, sightings: &[Sighting]) {
        for s in sightings {
            let hour = self.hour(s.seen_at);
            if self.hours.len() <= hour {
                self.hours.resize_with(hour + 1, Vec::new);
            }
            self.hours[hour].push(entry(&s.id, phone));
            self.sorted = self.sorted.min(hour);
        }
    }

    /// Sorts every hour that ended by `now`, for look-ups by bisection.
    pub(crate) fn seal(&mut self, now: UnixTime) {
        let done = self.hour(now).min(self.hours.len());
        for hour in &mut self.hours[self.sorted.min(done)..done] {
            hour.sort_unstable();
            hour.dedup();
            hour.shrink_to_fit();
        }
        self.sorted = self.sorted.max(done);
    }

    /// Every phone that stored a sighting of `id` between `from` and
    /// `until` (by hour: a superset), possibly more than once.
    fn phones(&self, id: &EphemeralId, from: UnixTime, until: UnixTime, mut found: impl FnMut(u32)) {
        let low = entry(id, 0);
        let high = low | PHONE_MASK;
        let last = self.hour(until).min(self.hours.len().saturating_sub(1));
        for (hour, entries) in self.hours.iter().enumerate().take(last + 1).skip(self.hour(from)) {
            let phone = |e: &u64| u32::try_from(e & PHONE_MASK).unwrap_or(u32::MAX);
            if hour < self.sorted {
                let first = entries.partition_point(|&e| e < low);
                entries[first..].iter().take_while(|&&e| e <= high).map(phone).for_each(&mut found);
            } else {
                entries.iter().filter(|&&e| (low..=high).contains(&e)).map(phone).for_each(&mut found);
            }
        }
    }
}

/// One ID of a published key that a phone may have heard.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    key: PublishedKey,
    id: EphemeralId,
    /// The ID's interval widened by the clock tolerance (spec §6.2).
    from: UnixTime,
    until: UnixTime,
}

/// Derives the IDs of `records` and finds the phones that stored a
/// sighting of one inside its interval plus the clock tolerance.
fn hints_for(records: &[ExportRecord], heard: &Heard) -> HashMap<u32, Vec<Hit>> {
    hints_for_keys(records.iter().map(|r| (r.key, r.day)), heard)
}

/// [`hints_for`] of keys with their days.
fn hints_for_keys(keys: impl IntoIterator<Item = (PublishedKey, DayNumber)>, heard: &Heard) -> HashMap<u32, Vec<Hit>> {
    let tolerance = MatchConfig::default().tolerance_secs;
    let mut hints: HashMap<u32, Vec<Hit>> = HashMap::new();
    let mut phones = Vec::new();
    for (key, day) in keys {
        let ids = key.schedule(day).all_ids();
        for (slot, id) in (0..INTERVALS_PER_DAY).zip(ids) {
            let start = day.start().plus(u64::from(slot) * INTERVAL_SECONDS);
            let hit = Hit { key, id, from: start.minus(tolerance), until: start.plus(INTERVAL_SECONDS + tolerance) };
            phones.clear();
            heard.phones(&id, hit.from, hit.until, |p| phones.push(p));
            phones.sort_unstable();
            phones.dedup();
            for &p in &phones {
                hints.entry(p).or_default().push(hit);
            }
        }
    }
    hints
}

/// For one export batch, what each phone that may have heard one of its
/// keys must look at.
#[derive(Default)]
pub(crate) struct ExportHints(HashMap<u32, Vec<Hit>>);

impl ExportHints {
    /// Derives every key's IDs once and finds the phones that stored a
    /// sighting of one inside its interval plus the clock tolerance.
    pub(crate) fn new(batch: &ExportBatch, heard: &Heard) -> Self {
        let records = batch.records();
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let chunk = records.len().div_ceil(threads).max(1);
        // Each core takes a contiguous part of the batch; the parts' hints
        // join in the batch's order, as one pass would have found them.
        let parts: Vec<HashMap<u32, Vec<Hit>>> = std::thread::scope(|scope| {
            let handles: Vec<_> =
                records.chunks(chunk).map(|part| scope.spawn(move || hints_for(part, heard))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        });
        let mut hints: HashMap<u32, Vec<Hit>> = HashMap::new();
        for part in parts {
            for (phone, hits) in part {
                hints.entry(phone).or_default().extend(hits);
            }
        }
        ExportHints(hints)
    }

    /// The phones that may have heard one of `keys` (a key of a resident
    /// who may report in one of the strategy passes): the same look-up.
    pub(crate) fn for_keys(keys: &[(PublishedKey, DayNumber)], heard: &Heard) -> Self {
        ExportHints(hints_for_keys(keys.iter().copied(), heard))
    }

    /// The phones these hints name, in increasing order.
    pub(crate) fn phones(&self) -> Vec<u32> {
        let mut phones: Vec<u32> = self.0.keys().copied().collect();
        phones.sort_unstable();
        phones
    }

    /// The keys `phone` must match and its stored sightings of their IDs;
    /// `None` when no key carries an ID it stored.
    pub(crate) fn for_phone(&self, phone: u32, store: &MemoryStore) -> Option<(Vec<PublishedKey>, Vec<Sighting>)> {
        let hits = self.0.get(&phone)?;
        let mut keys = Vec::new();
        let mut sightings = Vec::new();
        for hit in hits {
            let before = sightings.len();
            sightings.extend(store.sightings_between(hit.from, hit.until).filter(|s| s.id == hit.id));
            if sightings.len() > before {
                keys.push(hit.key);
            }
        }
        if keys.is_empty() {
            return None;
        }
        keys.sort_unstable();
        keys.dedup();
        Some((keys, sightings))
    }
}

/// The records each phone made at each venue on each day, as the phone
/// reported them when it checked in.
#[derive(Default)]
pub(crate) struct Visitors(HashMap<(u32, u32, DayNumber), Vec<[u8; 16]>>);

impl Visitors {
    /// `phone` stored the record (`day`, `tag`) at a poster of `place`.
    pub(crate) fn add(&mut self, place: u32, phone: u32, day: DayNumber, tag: [u8; 16]) {
        let tags = self.0.entry((phone, place, day)).or_default();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }

    /// `phone`'s records at `place` on the days `batch` traces.
    pub(crate) fn records(&self, place: u32, batch: &TraceBatch, phone: u32) -> Vec<(DayNumber, [u8; 16])> {
        let mut days: Vec<DayNumber> = batch.entries.iter().map(|e| e.epoch.day()).collect();
        days.sort_unstable();
        days.dedup();
        days.into_iter()
            .flat_map(|day| {
                let tags = self.0.get(&(phone, place, day)).map_or(&[][..], Vec::as_slice);
                tags.iter().map(move |tag| (day, *tag))
            })
            .collect()
    }
}
