//! The town's venues and their tracing: every bus, restaurant and shop is a
//! venue set up with the real venue tool (`greenlight_venue`) that
//! prints one poster a day; residents scan it when they come in. When a
//! resident who reports reveals visits, a tracer opens the venue's case in
//! the staff portal and signs the release request; the owner answers it
//! with the venue tool by the tracer's next round, and the tracer
//! publishes the trace batch through the portal.

use super::layout::{PlaceKind, Town};
use super::services::{OpenCase, Services};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::venue::{Poster, VenueInfo};
use greenlight_venue::Venue;
use rand_chacha::ChaCha20Rng;
use std::collections::HashMap;
use std::path::Path;

/// The message the tracer publishes to a traced venue's visitors.
pub(crate) const TRACE_MESSAGE: &str = "Someone who tested positive visited at the same time as you. Watch for symptoms and get tested if you feel unwell.";

/// Tracers work every day from 08:00 to 20:00 and look at the queue every
/// quarter of an hour (which also keeps their portal session alive).
pub(crate) const TRACER_HOURS: core::ops::Range<u32> = 8..20;
/// Steps (of five minutes) between two looks at the queue.
pub(crate) const TRACER_EVERY_STEPS: u32 = 3;
/// Seconds a venue owner takes to answer a release request.
const OWNER_ANSWERS_SECS: u64 = 3600;

/// One venue: the owner's tool and the posters printed for the simulated
/// days.
struct TownVenue {
    venue: Venue,
    /// The QR text of each day's poster, from day 0.
    posters: Vec<String>,
    /// Each day's poster as a phone's check verified it (verified once:
    /// every phone reads the same sheet and reaches the same verdict).
    verified: Vec<Option<Poster>>,
}

/// Every venue of the town and the cases in progress.
pub(crate) struct Venues {
    /// By place id; `None` for homes and offices.
    by_place: Vec<Option<TownVenue>>,
    /// Place of each venue key.
    place_of_key: HashMap<[u8; 32], u32>,
    /// Cases whose release request went to the owner, with the bundle
    /// the owner answered and when the tracer has it.
    waiting: Vec<(OpenCase, Vec<u8>, UnixTime)>,
    /// The place each published trace batch traces, by sequence.
    pub(crate) batch_place: HashMap<u64, u32>,
    /// Cases opened.
    pub(crate) cases: usize,
}

impl Venues {
    /// Sets up every venue in `dir` with the authority's keys and prints
    /// its posters for `days` days from `first`.
    pub(crate) fn create(
        town: &Town,
        authority: greenlight_venue::AuthorityKeys,
        dir: &Path,
        first: DayNumber,
        days: u32,
        rng: &mut ChaCha20Rng,
    ) -> Result<Self, String> {
        let mut by_place = Vec::with_capacity(town.places.len());
        let mut place_of_key = HashMap::new();
        let mut numbers: HashMap<PlaceKind, u32> = HashMap::new();
        for (id, place) in town.places.iter().enumerate() {
            let Some(kind) = place.kind.venue_kind() else {
                by_place.push(None);
                continue;
            };
            let n = numbers.entry(place.kind).or_insert(0);
            *n += 1;
            let name = match place.kind {
                PlaceKind::Bus => format!("Bus {n}"),
                PlaceKind::Restaurant => format!("Restaurant {n}"),
                _ => format!("Shop {n}"),
            };
            let info = VenueInfo { name, address: format!("Town square {}", id % 500), kind };
            let mut venue = Venue::create(&dir.join(format!("venue-{id}")), info, authority, rng)
                .map_err(|e| format!("venue {id}: {e}"))?;
            let posters: Vec<String> = venue
                .day_posters(first, days, first.start(), rng)
                .map_err(|e| format!("venue {id}: posters: {e}"))?
                .iter()
                .map(Poster::to_text)
                .collect();
            place_of_key.insert(*venue.public_key().as_bytes(), u32::try_from(id).map_err(|e| e.to_string())?);
            by_place.push(Some(TownVenue { venue, verified: vec![None; posters.len()], posters }));
        }
        Ok(Venues { by_place, place_of_key, waiting: Vec::new(), batch_place: HashMap::new(), cases: 0 })
    }

    /// The poster at `place` on sim day `day` as a phone scanning it at
    /// `now` verifies it; `None` if the place has none.
    pub(crate) fn scan(&mut self, place: u32, day: u32, now: UnixTime) -> Result<Option<&Poster>, String> {
        let Some(venue) = self.by_place.get_mut(place as usize).and_then(Option::as_mut) else { return Ok(None) };
        let day = day as usize;
        if venue.verified[day].is_none() {
            let text = venue.posters.get(day).ok_or("no poster printed for this day")?;
            let poster = greenlight_client::checkin::verify_poster(text, now)
                .map_err(|e| format!("a phone refused the poster of place {place}: {e}"))?;
            venue.verified[day] = Some(poster);
        }
        Ok(venue.verified[day].as_ref())
    }

    /// A tracer's look at the portal: publishes the cases whose owners
    /// have answered, then opens a case for every venue with revealed
    /// visits waiting and sends its request to the owner. Returns whether
    /// it published anything.
    pub(crate) async fn tracer_round(&mut self, services: &mut Services, now: UnixTime) -> Result<bool, String> {
        let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting).into_iter().partition(|w| w.2 <= now);
        self.waiting = later;
        let published = !ready.is_empty();
        for (case, bundle, _) in ready {
            let sequence = services.publish_case(&case, &bundle, TRACE_MESSAGE, now).await?;
            let place = *self.place_of_key.get(&case.venue).ok_or("a case for a venue not in town")?;
            self.batch_place.insert(sequence, place);
        }
        for case in services.open_cases(now).await? {
            self.cases += 1;
            let place = *self.place_of_key.get(&case.venue).ok_or("a case for a venue not in town")?;
            let venue = self.by_place[place as usize].as_ref().ok_or("a case for a place without posters")?;
            let (_, bundle) = venue
                .venue
                .release(&case.request, Some(&case.key_set), now)
                .map_err(|e| format!("the owner's release: {e}"))?;
            self.waiting.push((case, bundle, now.plus(OWNER_ANSWERS_SECS)));
        }
        Ok(published)
    }
}
