//! `GET /codes` of a venue's door screen (`greenlight venue screen`): the
//! schedule of rotating codes the page shows, fetched ahead so that the
//! screen keeps working offline.

use serde::{Deserialize, Serialize};

/// One code of the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    /// First second it is shown (Unix).
    pub from: u64,
    /// First second it is no longer shown.
    pub until: u64,
    /// The poster text (`GL1:…`) the QR code holds.
    pub text: String,
    /// The QR code as an SVG document.
    pub svg: String,
}

/// The venue as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenVenue {
    /// Name.
    pub name: String,
    /// Address (may be empty).
    pub address: String,
    /// Kind, as a word (`restaurant`, `bus`, …).
    pub kind: String,
    /// The venue key's fingerprint.
    pub fingerprint: String,
}

/// `GET /codes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The venue.
    pub venue: ScreenVenue,
    /// The screen's clock when it answered (Unix seconds), so the page can
    /// correct the tablet's clock.
    pub now: u64,
    /// The current code and the coming ones, in order.
    pub codes: Vec<Code>,
}
