//! Venue check-ins on the phone: reading a poster (its QR text, or a photo
//! or screenshot of it), refusing stale and forged posters, sealing the
//! check-in, keeping the visit diary, checking out.

use crate::store::{Store, StoreError};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::RevealedCheckIn;
use greenlight_protocol::venue::Poster;
use std::path::Path;

/// Clock tolerance when judging a poster's live window (spec §7.5).
pub const POSTER_TOLERANCE_SECS: u64 = 120;

/// Why a check-in was refused.
#[derive(Debug)]
pub enum CheckInError {
    /// No poster could be read from the input.
    Unreadable(String),
    /// The poster is not genuine (edited, or not a Greenlight poster).
    Forged(String),
    /// The poster is outside its live window.
    Stale(String),
    /// No visit to check out of.
    NoActiveVisit,
    /// The local store failed.
    Store(StoreError),
}

impl std::fmt::Display for CheckInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckInError::Unreadable(e) => write!(f, "cannot read a poster: {e}"),
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

/// The QR text of a poster given as text, as a text file, or as an image
/// (PNG or JPEG) of the QR code.
pub fn read_poster_text(input: &str) -> Result<String, CheckInError> {
    let path = Path::new(input);
    if !input.starts_with(greenlight_protocol::venue::POSTER_PREFIX) && path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| CheckInError::Unreadable(format!("{}: {e}", path.display())))?;
        if let Ok(text) = std::str::from_utf8(&bytes)
            && text.trim_start().starts_with(greenlight_protocol::venue::POSTER_PREFIX)
        {
            return Ok(text.trim().to_owned());
        }
        return decode_qr(&bytes);
    }
    Ok(input.trim().to_owned())
}

fn decode_qr(bytes: &[u8]) -> Result<String, CheckInError> {
    let image = image::load_from_memory(bytes)
        .map_err(|e| CheckInError::Unreadable(format!("not a PNG or JPEG image ({e})")))?
        .to_luma8();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(image.width() as usize, image.height() as usize, |x, y| {
            image.get_pixel(u32::try_from(x).unwrap_or(0), u32::try_from(y).unwrap_or(0)).0[0]
        });
    for grid in prepared.detect_grids() {
        if let Ok((_, text)) = grid.decode()
            && text.starts_with(greenlight_protocol::venue::POSTER_PREFIX)
        {
            return Ok(text);
        }
    }
    Err(CheckInError::Unreadable("no Greenlight QR code found in the image".into()))
}

/// Parses and checks a poster as a phone does when it is scanned.
pub fn verify_poster(text: &str, now: UnixTime) -> Result<Poster, CheckInError> {
    let poster = Poster::from_text(text).map_err(|e| CheckInError::Forged(e.to_string()))?;
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

/// What a check-in stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIn {
    /// The venue.
    pub venue: String,
    /// Arrival.
    pub arrival: UnixTime,
    /// Automatic check-out, unless checked out earlier.
    pub departure: UnixTime,
    /// Whether this extended an earlier check-in at the same poster epoch.
    pub extended: bool,
}

/// Checks in at `poster` now. A rescan of the same epoch extends the stay.
/// The visit is kept in the diary unless the diary is off.
pub async fn check_in(store: &Store, poster: &Poster, now: UnixTime) -> Result<CheckedIn, CheckInError> {
    let day = poster.epoch().day();
    let day_key = store
        .checkin_day_key(day)
        .await?
        .ok_or_else(|| CheckInError::Stale("this poster's day is over; check in at a current poster".into()))?;
    let stay = u64::from(poster.info().kind.typical_stay_minutes()) * 60;
    let rng = &mut rand_core::UnwrapErr(getrandom::SysRng);
    // A rescan keeps the first arrival.
    let probe = poster.check_in(&day_key, now, now.plus(stay), rng).map_err(|e| CheckInError::Forged(e.to_string()))?;
    let earlier = store
        .diary()
        .await?
        .into_iter()
        .filter(|d| d.tag == probe.tag)
        .filter_map(|d| RevealedCheckIn::from_bytes(&d.revealed).ok())
        .next_back();
    let arrival = earlier.as_ref().map_or(now, |e| e.arrival.min(now));
    let departure = now.plus(stay).max(earlier.as_ref().map_or(now, |e| e.departure));
    let record = poster.check_in(&day_key, arrival, departure, rng).map_err(|e| CheckInError::Forged(e.to_string()))?;
    let diary = RevealedCheckIn { poster: poster.clone(), arrival, departure }.to_bytes();
    store.save_checkin(&record, Some(&diary)).await?;
    if !diary_enabled(store).await? {
        // Keep only the active visit, so that check-out can re-seal it.
        store.set_sealed_state("active_visit", &diary).await?;
        store.clear_diary().await?;
    }
    Ok(CheckedIn { venue: poster.info().name.clone(), arrival, departure, extended: earlier.is_some() })
}

/// Checks out of the current visit now (the one whose departure is still
/// ahead), re-sealing its record with the real departure.
pub async fn check_out(store: &Store, now: UnixTime) -> Result<CheckedIn, CheckInError> {
    let mut visits: Vec<RevealedCheckIn> =
        store.diary().await?.iter().filter_map(|d| RevealedCheckIn::from_bytes(&d.revealed).ok()).collect();
    if let Some(active) = store.sealed_state("active_visit").await? {
        visits.extend(RevealedCheckIn::from_bytes(&active).ok());
    }
    let visit = visits
        .into_iter()
        // Departures are whole minutes: a visit ending within the minute
        // (one just checked out of) is over.
        .filter(|v| v.arrival <= now && now.plus(60) < v.departure)
        .max_by_key(|v| v.arrival)
        .ok_or(CheckInError::NoActiveVisit)?;
    let day_key = store
        .checkin_day_key(visit.poster.epoch().day())
        .await?
        .ok_or_else(|| CheckInError::Stale("that visit's day is over; it ended automatically".into()))?;
    // At least one minute, so the record stays valid.
    let departure = now.max(visit.arrival.plus(60));
    let record = visit
        .poster
        .check_in(&day_key, visit.arrival, departure, &mut rand_core::UnwrapErr(getrandom::SysRng))
        .map_err(|e| CheckInError::Forged(e.to_string()))?;
    let revealed = RevealedCheckIn { departure, ..visit.clone() };
    let keep = diary_enabled(store).await?;
    store.save_checkin(&record, keep.then(|| revealed.to_bytes()).as_deref()).await?;
    if !keep {
        store.set_sealed_state("active_visit", &[]).await?;
    }
    Ok(CheckedIn { venue: visit.poster.info().name.clone(), arrival: visit.arrival, departure, extended: false })
}

/// Whether the visit diary is on (the default).
pub async fn diary_enabled(store: &Store) -> Result<bool, StoreError> {
    Ok(store.setting("diary").await?.as_deref() != Some("off"))
}

/// The visits in the diary: venue, address, arrival, departure.
pub async fn visits(store: &Store) -> Result<Vec<RevealedCheckIn>, StoreError> {
    Ok(store.diary().await?.iter().filter_map(|d| RevealedCheckIn::from_bytes(&d.revealed).ok()).collect())
}
