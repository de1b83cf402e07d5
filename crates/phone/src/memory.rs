//! A [`Store`] in memory: for tests, for the town simulation's phones and
//! for an app that keeps its own persistence. Nothing here is sealed; it
//! lives as long as the process.

use crate::store::{CheckInDayState, ColorChange, DiaryEntry, Exposure, Secret, Store, StoreError, time_from_state};
use greenlight_protocol::checkin::{CheckInDay, CheckInDayKey, SealedCheckIn};
use greenlight_protocol::daily_key::{DailyKey, EPHEMERAL_ID_LEN, EncryptedMetadata, EphemeralId, METADATA_LEN};
use greenlight_protocol::index::FileKind;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};
use std::collections::{BTreeMap, HashMap};

/// Everything in memory. Sightings are kept per UTC day, in the order they
/// were added, compactly (see [`DaySightings`]): a town of phones holds
/// hundreds of millions of them.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    settings: HashMap<String, String>,
    state: HashMap<String, Vec<u8>>,
    secrets: HashMap<&'static str, Vec<u8>>,
    daily_keys: BTreeMap<DayNumber, (DailyKey, bool)>,
    sightings: BTreeMap<DayNumber, DaySightings>,
    /// Where recently added advertisements sit in their day's list, by
    /// the first byte of their ID (see [`MemoryStore::add_sightings`]).
    recent: Vec<(DayNumber, u32)>,
    /// Each day's public half and, until erased, its secret.
    checkin_days: BTreeMap<DayNumber, (CheckInDay, Option<[u8; 32]>)>,
    /// Records by (day, tag), with their diary entry.
    checkins: Vec<(SealedCheckIn, Option<Vec<u8>>)>,
    exposures: Vec<Exposure>,
    synced: HashMap<u8, u64>,
    colors: Vec<ColorChange>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// The sightings seen from `from` to `until` (both included), each
    /// day's in the order they were added.
    pub fn sightings_between(&self, from: UnixTime, until: UnixTime) -> impl Iterator<Item = Sighting> + '_ {
        self.sightings.range(from.day()..=until.day().max(from.day())).flat_map(move |(day, stored)| {
            let seen = if stored.in_order {
                // In time order: only the part inside the span.
                let low = stored.seen.partition_point(|&p| seen_at(*day, p) < from);
                let high = low + stored.seen[low..].partition_point(|&p| seen_at(*day, p) <= until);
                &stored.seen[low..high]
            } else {
                &stored.seen[..]
            };
            seen.iter().map(move |&p| stored.sighting(*day, p)).filter(move |s| (from..=until).contains(&s.seen_at))
        })
    }

    /// How many sightings are stored.
    pub fn sighting_count(&self) -> usize {
        self.sightings.values().map(|d| d.seen.len()).sum()
    }
}

/// Slots of [`MemoryStore`]'s table of recent advertisements.
const RECENT_SLOTS: usize = 256;

/// One day's sightings in 8 bytes each plus each distinct advertisement
/// once: a scanner hears the same ID in every scan window of its
/// 10-minute interval, and a [`Sighting`] takes 32 bytes.
#[derive(Debug, Clone)]
struct DaySightings {
    /// Distinct advertisements heard (ID and sealed metadata), mostly in
    /// the order first heard; one may appear twice (a cache miss).
    adverts: Vec<([u8; EPHEMERAL_ID_LEN], [u8; METADATA_LEN])>,
    /// Per sighting in the order added: second of the day (17 bits), RSSI
    /// (8 bits) and its advertisement's position in `adverts` (39 bits),
    /// from the most significant bit down, so that time order is numeric
    /// order.
    seen: Vec<u64>,
    /// Whether `seen` is in time order (sightings added as they are heard).
    in_order: bool,
}

const ADVERT_BITS: u32 = 39;
const ADVERT_MASK: u64 = (1 << ADVERT_BITS) - 1;

fn seen_at(day: DayNumber, packed: u64) -> UnixTime {
    day.start().plus(packed >> (ADVERT_BITS + 8))
}

impl DaySightings {
    fn new() -> Self {
        DaySightings { adverts: Vec::new(), seen: Vec::new(), in_order: true }
    }

    fn sighting(&self, day: DayNumber, packed: u64) -> Sighting {
        let (id, metadata) = self.adverts[usize::try_from(packed & ADVERT_MASK).unwrap_or(usize::MAX)];
        Sighting {
            id: EphemeralId(id),
            metadata: EncryptedMetadata(metadata),
            rssi: i8::from_ne_bytes([u8::try_from((packed >> ADVERT_BITS) & 0xff).unwrap_or(0)]),
            seen_at: seen_at(day, packed),
        }
    }
}

impl Store for MemoryStore {
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.settings.get(name).cloned())
    }

    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        self.settings.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    fn state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state.get(name).cloned())
    }

    fn set_state(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.state.insert(name.to_owned(), value.to_vec());
        Ok(())
    }

    fn state_time(&self, name: &str) -> Result<Option<UnixTime>, StoreError> {
        self.state.get(name).map(|v| time_from_state(name, v)).transpose()
    }

    fn secret(&self, which: Secret) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.secrets.get(which.name()).filter(|v| !v.is_empty()).cloned())
    }

    fn set_secret(&mut self, which: Secret, value: &[u8]) -> Result<(), StoreError> {
        self.secrets.insert(which.name(), value.to_vec());
        Ok(())
    }

    fn daily_key(&self, day: DayNumber) -> Result<Option<(DailyKey, bool)>, StoreError> {
        Ok(self.daily_keys.get(&day).map(|(k, released)| (DailyKey::from_bytes(*k.expose_secret()), *released)))
    }

    fn add_daily_key(&mut self, day: DayNumber, key: &DailyKey) -> Result<(), StoreError> {
        self.daily_keys.entry(day).or_insert_with(|| (DailyKey::from_bytes(*key.expose_secret()), false));
        Ok(())
    }

    fn unreleased_keys_since(&self, first: DayNumber) -> Result<Vec<(DayNumber, DailyKey)>, StoreError> {
        Ok(self
            .daily_keys
            .range(first..)
            .filter(|(_, (_, released))| !released)
            .map(|(day, (key, _))| (*day, DailyKey::from_bytes(*key.expose_secret())))
            .collect())
    }

    fn mark_released(&mut self, days: &[DayNumber]) -> Result<(), StoreError> {
        for day in days {
            if let Some((_, released)) = self.daily_keys.get_mut(day) {
                *released = true;
            }
        }
        Ok(())
    }

    fn add_sightings(&mut self, sightings: &[Sighting]) -> Result<(), StoreError> {
        if sightings.is_empty() {
            return Ok(());
        }
        if self.recent.is_empty() {
            self.recent = vec![(DayNumber(0), u32::MAX); RECENT_SLOTS];
        }
        let mut rest = sightings;
        while let Some(first) = rest.first() {
            // A run of sightings of one day (a scanner's batch is one).
            let day = first.seen_at.day();
            let run = rest.iter().position(|s| s.seen_at.day() != day).unwrap_or(rest.len());
            let (batch, later) = rest.split_at(run);
            rest = later;
            if !self.sightings.contains_key(&day) {
                // A new day: the days before are (almost always) complete.
                for (_, earlier) in self.sightings.range_mut(..day) {
                    earlier.adverts.shrink_to_fit();
                    earlier.seen.shrink_to_fit();
                }
            }
            let stored = self.sightings.entry(day).or_insert_with(DaySightings::new);
            let day_start = day.start().0;
            for s in batch {
                // The same advertisement is heard again in the next scan
                // windows: find it through a small table by the ID's first
                // byte (IDs are pseudorandom); a miss only stores it once more.
                let advert = (s.id.0, s.metadata.0);
                let slot = usize::from(s.id.0[0]) % RECENT_SLOTS;
                let position = match self.recent[slot] {
                    (d, i) if d == day && stored.adverts.get(i as usize) == Some(&advert) => u64::from(i),
                    _ => {
                        let i = stored.adverts.len();
                        stored.adverts.push(advert);
                        if let Ok(i32) = u32::try_from(i) {
                            self.recent[slot] = (day, i32);
                        }
                        u64::try_from(i).unwrap_or(u64::MAX)
                    }
                };
                let second = s.seen_at.0 - day_start;
                let packed =
                    (second << (ADVERT_BITS + 8)) | (u64::from(s.rssi.to_ne_bytes()[0]) << ADVERT_BITS) | position;
                if stored.seen.last().is_some_and(|&last| last >> (ADVERT_BITS + 8) > second) {
                    stored.in_order = false;
                }
                stored.seen.push(packed);
            }
        }
        Ok(())
    }

    fn sightings(&self) -> Result<Vec<Sighting>, StoreError> {
        Ok(self.sightings.iter().flat_map(|(day, d)| d.seen.iter().map(|&p| d.sighting(*day, p))).collect())
    }

    fn checkin_day_key(&self, day: DayNumber) -> Result<CheckInDayState, StoreError> {
        Ok(match self.checkin_days.get(&day) {
            None => CheckInDayState::Absent,
            Some((_, None)) => CheckInDayState::Erased,
            Some((public, Some(secret))) => CheckInDayState::Live(CheckInDayKey::from_parts(*secret, public)),
        })
    }

    fn add_checkin_day_key(&mut self, key: &CheckInDayKey) -> Result<(), StoreError> {
        self.checkin_days.entry(key.day()).or_insert_with(|| (key.public(), Some(*key.expose_secret())));
        Ok(())
    }

    fn checkin_days(&self) -> Result<Vec<CheckInDay>, StoreError> {
        Ok(self.checkin_days.values().map(|(public, _)| *public).collect())
    }

    fn erase_checkin_secrets_through(&mut self, last: DayNumber) -> Result<u64, StoreError> {
        let mut erased = 0;
        for (_, secret) in self.checkin_days.range_mut(..=last).map(|(_, v)| v) {
            if secret.take().is_some() {
                erased += 1;
            }
        }
        Ok(erased)
    }

    fn save_checkin(&mut self, record: &SealedCheckIn, diary: Option<&[u8]>) -> Result<(), StoreError> {
        self.checkins.retain(|(r, _)| (r.day, r.tag) != (record.day, record.tag));
        self.checkins.push((record.clone(), diary.map(<[u8]>::to_vec)));
        Ok(())
    }

    fn checkins(&self) -> Result<Vec<SealedCheckIn>, StoreError> {
        Ok(self.checkins.iter().map(|(r, _)| r.clone()).collect())
    }

    fn diary(&self) -> Result<Vec<DiaryEntry>, StoreError> {
        Ok(self
            .checkins
            .iter()
            .filter_map(|(r, d)| d.as_ref().map(|revealed| DiaryEntry { tag: r.tag, revealed: revealed.clone() }))
            .collect())
    }

    fn clear_diary(&mut self) -> Result<(), StoreError> {
        for (_, diary) in &mut self.checkins {
            *diary = None;
        }
        Ok(())
    }

    fn exposures(&self) -> Result<Vec<Exposure>, StoreError> {
        Ok(self.exposures.clone())
    }

    fn synced(&self, kind: FileKind) -> Result<u64, StoreError> {
        Ok(self.synced.get(&kind.to_byte()).copied().unwrap_or(0))
    }

    fn apply(
        &mut self,
        kind: FileKind,
        sequence: u64,
        exposures: &[Exposure],
        state: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        self.exposures.extend_from_slice(exposures);
        self.synced.insert(kind.to_byte(), sequence);
        for (name, value) in state {
            self.state.insert((*name).to_owned(), value.to_vec());
        }
        Ok(())
    }

    fn add_color(&mut self, change: &ColorChange) -> Result<(), StoreError> {
        self.colors.push(change.clone());
        Ok(())
    }

    fn color_history(&self) -> Result<Vec<ColorChange>, StoreError> {
        Ok(self.colors.clone())
    }

    fn last_color(&self) -> Result<Option<ColorChange>, StoreError> {
        Ok(self.colors.last().cloned())
    }

    fn forget_before(&mut self, oldest: DayNumber) -> Result<u64, StoreError> {
        let mut deleted = 0usize;
        // Most calls (every sync) find nothing to forget: look first.
        let old = |first: Option<&DayNumber>| first.is_some_and(|day| *day < oldest);
        if !old(self.daily_keys.keys().next())
            && !old(self.sightings.keys().next())
            && !old(self.checkin_days.keys().next())
            && !self.checkins.iter().any(|(r, _)| r.day < oldest)
            && !self.exposures.iter().any(|e| e.day() < oldest.0)
            && !self.colors.iter().any(|c| c.day() < oldest)
        {
            return Ok(0);
        }
        let kept = self.daily_keys.split_off(&oldest);
        deleted += std::mem::replace(&mut self.daily_keys, kept).len();
        let kept = self.sightings.split_off(&oldest);
        deleted += std::mem::replace(&mut self.sightings, kept).values().map(|d| d.seen.len()).sum::<usize>();
        let kept = self.checkin_days.split_off(&oldest);
        deleted += std::mem::replace(&mut self.checkin_days, kept).len();
        let before = self.checkins.len() + self.exposures.len() + self.colors.len();
        let diaries = self.checkins.iter().filter(|(r, d)| r.day < oldest && d.is_some()).count();
        self.checkins.retain(|(r, _)| r.day >= oldest);
        self.exposures.retain(|e| e.day() >= oldest.0);
        self.colors.retain(|c| c.day() >= oldest);
        deleted += diaries + before - (self.checkins.len() + self.exposures.len() + self.colors.len());
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting(id: u8, metadata: u8, rssi: i8, seen_at: u64) -> Sighting {
        Sighting {
            id: EphemeralId([id; EPHEMERAL_ID_LEN]),
            metadata: EncryptedMetadata([metadata; METADATA_LEN]),
            rssi,
            seen_at: UnixTime(seen_at),
        }
    }

    /// The compact form gives back exactly what was stored, in the order
    /// stored: IDs heard again (one with other metadata), two IDs sharing
    /// the cache's slot, the extreme RSSIs, a day's first and last second,
    /// a sighting added late; and a span reads only its own sightings.
    #[test]
    fn sightings_come_back_as_stored() {
        let day = DayNumber(20_584).start().0;
        let added = vec![
            sighting(1, 1, -60, day),
            sighting(2, 2, -128, day + 10),
            sighting(1, 1, -61, day + 300),
            sighting(1, 9, -62, day + 300),
            sighting(1, 1, 127, day + 600),
            sighting(3, 3, -70, day + 86_399),
            sighting(4, 4, -71, day + 86_400),
            sighting(2, 2, 0, day + 20),
        ];
        let mut same_slot = sighting(1, 1, -50, day + 700);
        same_slot.id.0[1] = 0xee;
        let mut store = MemoryStore::new();
        store.add_sightings(&added[..4]).expect("memory");
        store.add_sightings(&added[4..]).expect("memory");
        store.add_sightings(&[same_slot, added[0]]).expect("memory");
        let [a0, a1, a2, a3, a4, a5, a6, a7] = added.clone().try_into().expect("eight");
        // Day by day, each in the order added; the next day's last.
        let expected = vec![a0, a1, a2, a3, a4, a5, a7, same_slot, a0, a6];
        assert_eq!(store.sightings().expect("memory"), expected);
        assert_eq!(store.sighting_count(), expected.len());
        let span: Vec<Sighting> = store.sightings_between(UnixTime(day + 10), UnixTime(day + 300)).collect();
        assert_eq!(span, [added[1], added[2], added[3], added[7]]);
        let span: Vec<Sighting> = store.sightings_between(UnixTime(day + 86_399), UnixTime(day + 86_400)).collect();
        assert_eq!(span, [added[5], added[6]]);
        assert_eq!(store.forget_before(DayNumber(20_585)).expect("memory"), 9);
        assert_eq!(store.sightings().expect("memory"), [added[6]]);
    }
}
