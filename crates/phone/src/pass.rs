//! The pass: what a resident shows at a door, and a guard reads in one
//! second (issue 25 item 1).
//!
//! A [`Pass`] is the colour as [`Phone::status`] decides it, the region
//! whose index the phone last applied, how fresh that index was, and the
//! visit the resident is checked in to, if any. It holds nothing that
//! identifies the resident or the phone — no key, no identifier, no
//! setting, nothing drawn at random — so a photograph of one pass is the
//! same as a photograph of anyone's with the same colour and visit, and
//! nothing on it can be replayed or looked up. What makes a shown pass
//! believable is that it is *live*: a screen that renders it shows the
//! time with seconds and something moving, which a screenshot cannot.

use crate::Phone;
use crate::store::{Store, StoreError};
use crate::sync::REGION;
use greenlight_protocol::color::{Color, ColorDecision};
use greenlight_protocol::export::Region;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::RevealedCheckIn;

/// What a pass shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// When the pass was computed (the caller's `now`).
    pub at: UnixTime,
    /// The colour, its end and its explanation. A phone whose last sync is
    /// too old is [`Color::Stale`], never green.
    pub decision: ColorDecision,
    /// The region of the newest index the phone applied; `None` before the
    /// first sync.
    pub region: Option<Region>,
    /// The signed time of the newest index applied, capped at `at`
    /// ([`Phone::fresh_as_of`]): what the colour is up to date with.
    pub fresh_as_of: Option<UnixTime>,
    /// The visit in progress (its poster, arrival and automatic
    /// departure), for a guard to confirm the check-in.
    pub check_in: Option<RevealedCheckIn>,
}

impl Pass {
    /// The colour's word in capitals, as a guard reads it: `GREEN`,
    /// `YELLOW`, `RED`, `STALE`. Never the colour alone.
    pub fn word(&self) -> String {
        self.decision.color.as_str().to_uppercase()
    }

    /// Whether the pass lets its holder through by the authority's rules:
    /// green only (yellow and red ask the holder to stay home, and stale
    /// says the phone cannot tell).
    pub fn admits(&self) -> bool {
        self.decision.color == Color::Green
    }
}

impl<S: Store> Phone<S> {
    /// The pass now: [`Phone::status`] (nothing is recorded in the colour
    /// history: showing the pass changes nothing), the region, the
    /// freshness and the visit in progress at `now`.
    pub fn pass(&self, now: UnixTime) -> Result<Pass, StoreError> {
        let decision = self.status(now)?;
        let region = match self.store.state(REGION)? {
            Some(bytes) if !bytes.is_empty() => Some(
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|code| Region::new(code).ok())
                    .ok_or_else(|| StoreError::Corrupt("the region".into()))?,
            ),
            _ => None,
        };
        // The newest visit that has begun and not ended, from the diary or
        // (diary off) the visit in progress: the one a guard at this door
        // would see confirmed. The same rule as `Phone::check_out`.
        let mut visits = self.visits_around(|arrival, departure| arrival <= now && now.plus(60) < departure)?;
        visits.extend(self.active_visit()?);
        let check_in =
            visits.into_iter().filter(|v| v.arrival <= now && now.plus(60) < v.departure).max_by_key(|v| v.arrival);
        Ok(Pass { at: now, decision, region, fresh_as_of: self.fresh_as_of(now)?, check_in })
    }
}
