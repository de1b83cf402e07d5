//! Handing the visits diagnosed people revealed to the health authority:
//! in batches, sorted by their bytes, only for a request signed by a
//! trusted authority key (spec/authority.md §5.1, protocol §9.7).
//!
//! The key server keeps the hour a visit was received in, never the
//! second. Visits of one hour are handed over together,
//! [`Config::reveal_delay_secs`] after that hour began (an hour by default,
//! so once the hour has ended). The authority issued the code of the
//! upload minutes before; it learns only which hour the visit was received
//! in, among the other visits of that hour.
//!
//! [`Config::reveal_delay_secs`]: crate::config::Config::reveal_delay_secs

use crate::store::Store;
use greenlight_api::revealed::{RevealedPage, RevealedVisit};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::time::UnixTime;
use greenlight_service::db::StoreError;

/// The default delay: an hour, so that an hour's visits are handed over
/// once the hour has ended.
pub const DEFAULT_DELAY_SECS: u64 = 3600;

/// The visits a request with `since` gets at `now`: those received from the
/// hour of `since` on whose hour began at least `delay_secs` before `now`.
pub async fn page(store: &Store, since: u64, now: UnixTime, delay_secs: u64) -> Result<RevealedPage, StoreError> {
    let since = since - since % 3600;
    // Hours up to `now - delay` are handed over: received hours below this.
    let through = (now.0 + 1).saturating_sub(delay_secs);
    if through <= since {
        return Ok(RevealedPage { visits: Vec::new(), through: since, next: since });
    }
    let as_i64 = |t: u64| i64::try_from(t).unwrap_or(i64::MAX);
    let rows = store.revealed_between(as_i64(since), as_i64(through)).await?;
    let visits = rows
        .into_iter()
        .map(|(bytes, hour)| RevealedVisit {
            checkin: to_base64url(&bytes),
            received_hour: u64::try_from(hour).unwrap_or(0),
        })
        .collect();
    // The next request starts an hour before the hour `through` falls in:
    // an upload validated just before the period ended but committed just
    // after this answer is handed over then (the authority keeps one copy).
    let next = (through - through % 3600).saturating_sub(3600).max(since);
    Ok(RevealedPage { visits, through, next })
}
