//! A [`Store`] in memory: for tests, for the town simulation's phones and
//! for an app that keeps its own persistence. Nothing here is sealed; it
//! lives as long as the process.

use crate::store::{CheckInDayState, ColorChange, DiaryEntry, Exposure, Secret, Store, StoreError};
use greenlight_protocol::checkin::{CheckInDay, CheckInDayKey, SealedCheckIn};
use greenlight_protocol::daily_key::DailyKey;
use greenlight_protocol::index::FileKind;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::DayNumber;
use std::collections::{BTreeMap, HashMap};

/// Everything in memory. Sightings are kept per UTC day, in the order they
/// were added, so that [`MemoryStore::sightings_on`] positions stay valid
/// until the day is forgotten.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    settings: HashMap<String, String>,
    state: HashMap<String, Vec<u8>>,
    secrets: HashMap<&'static str, Vec<u8>>,
    daily_keys: BTreeMap<DayNumber, (DailyKey, bool)>,
    sightings: BTreeMap<DayNumber, Vec<Sighting>>,
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

    /// The sightings seen on `day`, in the order they were added.
    pub fn sightings_on(&self, day: DayNumber) -> &[Sighting] {
        self.sightings.get(&day).map_or(&[], Vec::as_slice)
    }

    /// How many sightings are stored.
    pub fn sighting_count(&self) -> usize {
        self.sightings.values().map(Vec::len).sum()
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
        for s in sightings {
            self.sightings.entry(s.seen_at.day()).or_default().push(*s);
        }
        Ok(())
    }

    fn sightings(&self) -> Result<Vec<Sighting>, StoreError> {
        Ok(self.sightings.values().flatten().copied().collect())
    }

    fn checkin_day_key(&self, day: DayNumber) -> Result<CheckInDayState, StoreError> {
        Ok(match self.checkin_days.get(&day) {
            None => CheckInDayState::Absent,
            Some((_, None)) => CheckInDayState::Erased,
            Some((_, Some(secret))) => CheckInDayState::Live(CheckInDayKey::from_bytes(day, *secret)),
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

    fn forget_before(&mut self, oldest: DayNumber) -> Result<u64, StoreError> {
        let mut deleted = 0usize;
        let kept = self.daily_keys.split_off(&oldest);
        deleted += std::mem::replace(&mut self.daily_keys, kept).len();
        let kept = self.sightings.split_off(&oldest);
        deleted += std::mem::replace(&mut self.sightings, kept).values().map(Vec::len).sum::<usize>();
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
