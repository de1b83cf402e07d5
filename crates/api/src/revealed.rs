//! `GET /v1/authority/revealed`: the visits diagnosed people chose to
//! reveal, handed from the key server to the health authority's tracers
//! (spec/authority.md §5.1).
//!
//! The key server keeps only the hour a visit was received in and hands
//! over an hour's visits together, once the hour has ended (by default),
//! sorted by their bytes, so that the authority cannot tell which upload —
//! and so which code it issued minutes before — a visit came from by when
//! or in what order it arrives. The request is signed by the authority (a `GL_FEED_` file,
//! spec/protocol.md §9.7) in the [`AUTHORITY_HEADER`] header.

use serde::{Deserialize, Serialize};

/// The header carrying the authority's signed feed request, base64url.
pub const AUTHORITY_HEADER: &str = "x-greenlight-authority";

/// The query of `GET /v1/authority/revealed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct RevealedQuery {
    /// Unix time, a whole hour: hand over visits received from this hour on
    /// (what an earlier answer's `next` said; 0 the first time).
    pub since: u64,
}

/// One revealed visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevealedVisit {
    /// The revealed check-in (spec §9.6), base64url.
    pub checkin: String,
    /// The hour the key server received it (Unix time, a whole hour).
    pub received_hour: u64,
}

/// One batch of revealed visits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevealedPage {
    /// The visits, sorted by their bytes. A visit may come again in a later
    /// answer for the same hour; the authority keeps one copy.
    pub visits: Vec<RevealedVisit>,
    /// Visits whose receipt hour is before this Unix time are handed over.
    pub through: u64,
    /// The `since` to ask with next time (a whole hour, an hour before the
    /// one `through` falls in, so that nothing committed late is missed).
    pub next: u64,
}
