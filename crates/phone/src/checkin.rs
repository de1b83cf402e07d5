//! Venue check-ins: refusing stale and forged posters, sealing the visit,
//! the rescan and automatic check-out rules, the visit diary.
//!
//! - A check-in seals a record under the day's check-in key with the
//!   venue's typical stay as its planned departure (the automatic
//!   check-out).
//! - A rescan of the same poster epoch merges with the earlier record: the
//!   first arrival, the later planned departure.
//! - A scan of another poster of the same venue (the door screen after the
//!   day's printed sheet) while a visit there is in progress continues that
//!   visit: the diary keeps one visit, from the first arrival to the later
//!   planned departure, and the new poster's epoch gets a sealed record of
//!   the same stay (from the scan on), so that the visit is found whichever
//!   epoch is traced. Check-out re-seals the diary's visit and the extra
//!   record (kept, encrypted like the diary, until then), so neither
//!   reaches past the real departure.
//! - A check-out re-seals the visit in progress with the real departure
//!   (at least one minute after arrival).
//! - The diary keeps each visit's revealed form (poster, arrival,
//!   departure) unless the resident turned it off; then only the visit in
//!   progress is kept, so that check-out can re-seal it.

use crate::Phone;
use crate::store::{CheckInDayState, Secret, Store, StoreError};
use greenlight_protocol::checkin::{CHECKIN_TAG_LEN, CheckInDayKey};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::RevealedCheckIn;
use greenlight_protocol::venue::Poster;
use rand_core::CryptoRng;

/// Clock tolerance when judging a poster's live window (spec §7.5).
pub const POSTER_TOLERANCE_SECS: u64 = 120;

/// Why a check-in or check-out was refused. Nothing was stored.
#[derive(Debug)]
pub enum CheckInError {
    /// The poster is not genuine (edited, or not a Greenlight poster).
    Forged(String),
    /// The poster is outside its live window, or its day is over.
    Stale(String),
    /// No visit to check out of.
    NoActiveVisit,
    /// The local store failed.
    Store(StoreError),
}

impl std::fmt::Display for CheckInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckInError::Forged(e) => write!(f, "this is not a genuine Greenlight poster ({e}); do not rely on it"),
            CheckInError::Stale(e) => write!(f, "{e}"),
            CheckInError::NoActiveVisit => f.write_str("you are not checked in anywhere right now"),
            CheckInError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CheckInError {}

impl From<StoreError> for CheckInError {
    fn from(e: StoreError) -> Self {
        CheckInError::Store(e)
    }
}

/// Parses and checks a poster's QR text as a phone does when it is
/// scanned: genuine (signature) and live now, within the tolerance.
pub fn verify_poster(text: &str, now: UnixTime) -> Result<Poster, CheckInError> {
    let poster = Poster::from_text(text.trim()).map_err(|e| CheckInError::Forged(e.to_string()))?;
    poster.check_live(now, POSTER_TOLERANCE_SECS).map_err(|e| {
        let when = |t: UnixTime| t.iso_minute().to_string();
        CheckInError::Stale(match e {
            greenlight_protocol::Error::NotYetValid => {
                format!("this poster is valid only from {} UTC: check your clock", when(poster.live_from()))
            }
            _ => format!(
                "this poster expired at {} UTC: it is an old poster or a photo of one",
                when(poster.live_until())
            ),
        })
    })?;
    Ok(poster)
}

/// What a check-in or check-out stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIn {
    /// The venue.
    pub venue: String,
    /// Arrival.
    pub arrival: UnixTime,
    /// Departure: the automatic check-out, unless checked out.
    pub departure: UnixTime,
    /// Whether this extended an earlier check-in at the same poster epoch.
    pub extended: bool,
    /// The stored record's day and look-up tag: what
    /// [`SyncPlan::only_checkins`](crate::SyncPlan::only_checkins) takes.
    pub record: (DayNumber, [u8; CHECKIN_TAG_LEN]),
}

impl<S: Store> Phone<S> {
    /// The check-in key of `day`, drawn on first use; `None` once its
    /// secret has been erased (the day is over).
    fn checkin_day_key<R: CryptoRng + ?Sized>(
        &mut self,
        day: DayNumber,
        rng: &mut R,
    ) -> Result<Option<CheckInDayKey>, StoreError> {
        match self.store.checkin_day_key(day)? {
            CheckInDayState::Live(key) => Ok(Some(key)),
            CheckInDayState::Erased => Ok(None),
            CheckInDayState::Absent => {
                self.store.add_checkin_day_key(&CheckInDayKey::generate(day, rng))?;
                match self.store.checkin_day_key(day)? {
                    CheckInDayState::Live(key) => Ok(Some(key)),
                    CheckInDayState::Erased => Ok(None),
                    CheckInDayState::Absent => Err(StoreError::Corrupt("a check-in day key vanished".into())),
                }
            }
        }
    }

    /// Checks in at a verified `poster` now (see [`verify_poster`]). A
    /// rescan of the same epoch extends the stay.
    pub fn check_in<R: CryptoRng + ?Sized>(
        &mut self,
        poster: &Poster,
        now: UnixTime,
        rng: &mut R,
    ) -> Result<CheckedIn, CheckInError> {
        let day = poster.epoch().day();
        let day_key = self
            .checkin_day_key(day, rng)?
            .ok_or_else(|| CheckInError::Stale("this poster's day is over; check in at a current poster".into()))?;
        let stay = u64::from(poster.info().kind.typical_stay_minutes()) * 60;
        // The record's tag depends only on the day key and the epoch: a
        // probe finds an earlier visit of the same epoch.
        let probe =
            poster.check_in(&day_key, now, now.plus(stay), rng).map_err(|e| CheckInError::Forged(e.to_string()))?;
        let earlier = self.visit_with_tag(probe.day, &probe.tag)?;
        if earlier.is_none()
            && let Some(visit) = self.visit_in_progress_at(poster, now)?
            && let Some(continued) = self.continue_visit(visit, poster, now, now.plus(stay), rng)?
        {
            return Ok(continued);
        }
        let arrival = earlier.as_ref().map_or(now, |e| e.arrival.min(now));
        let departure = now.plus(stay).max(earlier.as_ref().map_or(now, |e| e.departure));
        let record = match &earlier {
            // Nothing to merge: the probe already seals this stay.
            None => probe,
            Some(_) => {
                poster.check_in(&day_key, arrival, departure, rng).map_err(|e| CheckInError::Forged(e.to_string()))?
            }
        };
        let visit = RevealedCheckIn { poster: poster.clone(), arrival, departure }.to_bytes();
        if self.diary_enabled()? {
            self.store.save_checkin(&record, Some(&visit))?;
        } else {
            self.store.save_checkin(&record, None)?;
            self.store.set_secret(Secret::ActiveVisit, &visit)?;
        }
        Ok(CheckedIn {
            venue: poster.info().name.clone(),
            arrival,
            departure,
            extended: earlier.is_some(),
            record: (record.day, record.tag),
        })
    }

    /// The visit in progress now at `poster`'s venue under another poster
    /// epoch, if any (the latest).
    fn visit_in_progress_at(&self, poster: &Poster, now: UnixTime) -> Result<Option<RevealedCheckIn>, StoreError> {
        let mut visits = self.visits_around(|arrival, departure| arrival <= now && now < departure)?;
        visits.extend(self.active_visit()?);
        Ok(visits
            .into_iter()
            .filter(|v| v.poster.venue_key() == poster.venue_key() && v.poster.epoch() != poster.epoch())
            .filter(|v| v.arrival <= now && now < v.departure)
            .max_by_key(|v| v.arrival))
    }

    /// Continues `visit` after a scan of `poster`, another poster of the
    /// same venue: the visit is re-sealed until the later of its planned
    /// departure and `departure`, and `poster`'s epoch gets a record of the
    /// stay from `now` on, without a diary entry of its own. `None` (and
    /// nothing stored) when the visit's day key is already erased.
    fn continue_visit<R: CryptoRng + ?Sized>(
        &mut self,
        visit: RevealedCheckIn,
        poster: &Poster,
        now: UnixTime,
        departure: UnixTime,
        rng: &mut R,
    ) -> Result<Option<CheckedIn>, CheckInError> {
        let Some(visit_key) = self.checkin_day_key(visit.poster.epoch().day(), rng)? else { return Ok(None) };
        let day_key = self
            .checkin_day_key(poster.epoch().day(), rng)?
            .ok_or_else(|| CheckInError::Stale("this poster's day is over; check in at a current poster".into()))?;
        let departure = departure.max(visit.departure);
        let forged = |e: greenlight_protocol::Error| CheckInError::Forged(e.to_string());
        let continued = visit.poster.check_in(&visit_key, visit.arrival, departure, rng).map_err(forged)?;
        let record = poster.check_in(&day_key, now, departure, rng).map_err(forged)?;
        let revealed = RevealedCheckIn { departure, ..visit.clone() }.to_bytes();
        if self.diary_enabled()? {
            self.store.save_checkin(&continued, Some(&revealed))?;
        } else {
            self.store.save_checkin(&continued, None)?;
            self.store.set_secret(Secret::ActiveVisit, &revealed)?;
        }
        self.store.save_checkin(&record, None)?;
        let extra = RevealedCheckIn { poster: poster.clone(), arrival: now, departure };
        self.store.set_secret(Secret::Continued, &extra.to_bytes())?;
        Ok(Some(CheckedIn {
            venue: visit.poster.info().name.clone(),
            arrival: visit.arrival,
            departure,
            extended: true,
            record: (record.day, record.tag),
        }))
    }

    /// The visit, in the diary or in progress, whose record has `tag`.
    fn visit_with_tag(&self, day: DayNumber, tag: &[u8; 16]) -> Result<Option<RevealedCheckIn>, StoreError> {
        let mut found = self
            .store
            .diary()?
            .into_iter()
            .filter(|d| &d.tag == tag)
            .filter_map(|d| RevealedCheckIn::from_bytes(&d.revealed).ok())
            .next_back();
        if found.is_none()
            && let Some(active) = self.active_visit()?
            && active.poster.epoch().day() == day
            && self.store.checkins()?.iter().any(|r| r.day == day && &r.tag == tag)
        {
            found = Some(active);
        }
        Ok(found)
    }

    pub(crate) fn active_visit(&self) -> Result<Option<RevealedCheckIn>, StoreError> {
        match self.store.secret(Secret::ActiveVisit)? {
            Some(bytes) => RevealedCheckIn::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("the visit in progress: {e}"))),
            None => Ok(None),
        }
    }

    /// Checks out of the visit in progress (the latest one whose departure
    /// is still ahead), re-sealing its record with the real departure.
    pub fn check_out<R: CryptoRng + ?Sized>(&mut self, now: UnixTime, rng: &mut R) -> Result<CheckedIn, CheckInError> {
        let mut visits = self.visits_around(|arrival, departure| arrival <= now && now.plus(60) < departure)?;
        visits.extend(self.active_visit()?);
        let visit = visits
            .into_iter()
            // Departures are whole minutes: a visit ending within the minute
            // (one just checked out of) is over.
            .filter(|v| v.arrival <= now && now.plus(60) < v.departure)
            .max_by_key(|v| v.arrival)
            .ok_or(CheckInError::NoActiveVisit)?;
        let day_key = self
            .checkin_day_key(visit.poster.epoch().day(), rng)?
            .ok_or_else(|| CheckInError::Stale("that visit's day is over; it ended automatically".into()))?;
        // At least one minute, so the record stays valid.
        let departure = now.max(visit.arrival.plus(60));
        let record = visit
            .poster
            .check_in(&day_key, visit.arrival, departure, rng)
            .map_err(|e| CheckInError::Forged(e.to_string()))?;
        let revealed = RevealedCheckIn { departure, ..visit.clone() };
        if self.diary_enabled()? {
            self.store.save_checkin(&record, Some(&revealed.to_bytes()))?;
        } else {
            self.store.save_checkin(&record, None)?;
            self.store.set_secret(Secret::ActiveVisit, &[])?;
        }
        self.end_continued(&visit, departure, rng)?;
        Ok(CheckedIn {
            venue: visit.poster.info().name.clone(),
            arrival: visit.arrival,
            departure,
            extended: false,
            record: (record.day, record.tag),
        })
    }

    /// Re-seals the extra record of `visit`'s continuation at another poster
    /// of its venue, if one is in progress, to end at `departure`, and
    /// forgets it.
    fn end_continued<R: CryptoRng + ?Sized>(
        &mut self,
        visit: &RevealedCheckIn,
        departure: UnixTime,
        rng: &mut R,
    ) -> Result<(), CheckInError> {
        let Some(bytes) = self.store.secret(Secret::Continued)?.filter(|b| !b.is_empty()) else { return Ok(()) };
        let extra = RevealedCheckIn::from_bytes(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("the continued visit: {e}")))?;
        if extra.poster.venue_key() == visit.poster.venue_key()
            && extra.arrival < departure
            && departure < extra.departure
            && let Some(day_key) = self.checkin_day_key(extra.poster.epoch().day(), rng)?
        {
            let departure = departure.max(extra.arrival.plus(60));
            let record = extra
                .poster
                .check_in(&day_key, extra.arrival, departure, rng)
                .map_err(|e| CheckInError::Forged(e.to_string()))?;
            self.store.save_checkin(&record, None)?;
        }
        self.store.set_secret(Secret::Continued, &[])?;
        Ok(())
    }

    /// Whether the visit diary is on (the default).
    pub fn diary_enabled(&self) -> Result<bool, StoreError> {
        Ok(self.store.setting("diary")?.as_deref() != Some("off"))
    }

    /// Turns the visit diary on or off; off deletes it.
    pub fn set_diary(&mut self, on: bool) -> Result<(), StoreError> {
        if !on {
            // The latest visit may still be in progress: keep it, sealed,
            // so that check-out can still re-seal it.
            if let Some(latest) = self.visits()?.into_iter().max_by_key(|v| v.arrival) {
                self.store.set_secret(Secret::ActiveVisit, &latest.to_bytes())?;
            }
            self.store.clear_diary()?;
        }
        self.store.set_setting("diary", if on { "on" } else { "off" })?;
        Ok(())
    }

    /// The visits in the diary whose arrival and departure pass `keep`,
    /// oldest first: only those posters are parsed and their signatures
    /// checked, since a diary holds two weeks of visits and every check-in
    /// and check-out looks for the visit in progress.
    pub(crate) fn visits_around(
        &self,
        keep: impl Fn(UnixTime, UnixTime) -> bool,
    ) -> Result<Vec<RevealedCheckIn>, StoreError> {
        let corrupt = |e: greenlight_protocol::Error| StoreError::Corrupt(format!("a diary entry: {e}"));
        let mut visits = Vec::new();
        for entry in self.store.diary()? {
            let (arrival, departure) = RevealedCheckIn::times_from_bytes(&entry.revealed).map_err(corrupt)?;
            if keep(arrival, departure) {
                visits.push(RevealedCheckIn::from_bytes(&entry.revealed).map_err(corrupt)?);
            }
        }
        Ok(visits)
    }

    /// The visits in the diary, oldest first.
    pub fn visits(&self) -> Result<Vec<RevealedCheckIn>, StoreError> {
        self.store
            .diary()?
            .iter()
            .map(|d| {
                RevealedCheckIn::from_bytes(&d.revealed).map_err(|e| StoreError::Corrupt(format!("a diary entry: {e}")))
            })
            .collect()
    }
}
