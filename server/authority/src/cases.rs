//! Venue cases (spec §9): publishing a case's trace entries once the venue
//! owner's release bundle arrives. The staff pages (`portal::venues`) read
//! the form and show the outcome; the work is here.
//!
//! [`publish`] verifies the bundle, combines each epoch's shares with
//! [`TraceSecret::combine`] — which fails for a wrong or forged owner
//! share — and only then signs a trace batch, lists it in the key server's
//! index, records it and audits it. The owner shares are used in memory and
//! never stored.

use crate::AuthorityState;
use crate::error::AuthorityError;
use crate::store::{CaseEpoch, CaseRow, TraceBatchRow};
use greenlight_protocol::codec::from_base64url;
use greenlight_protocol::index::{FileKind, content_address_hex};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::{ReleaseBundle, TraceBatch, TraceEntry, TraceSecret};
use greenlight_protocol::venue::PosterEpoch;

/// A time as stored.
fn stored(unix: UnixTime) -> i64 {
    i64::try_from(unix.0).unwrap_or(i64::MAX)
}

/// A stored time.
fn unix(stored: i64) -> UnixTime {
    UnixTime(u64::try_from(stored).unwrap_or(0))
}

/// A span of time for people, UTC to the minute (the end's date only when
/// it is another day).
pub fn span(start: UnixTime, end: UnixTime) -> String {
    start.span_to(end)
}

/// Bytes pasted by staff as hex or base64url text (whitespace ignored), or
/// `None` if they are neither.
pub fn decode_text(text: &str) -> Option<Vec<u8>> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(&text).ok();
    }
    from_base64url(&text).ok()
}

/// A case just published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The trace batch's sequence.
    pub sequence: u64,
    /// Its entries: one per epoch of the case.
    pub entries: usize,
}

/// Why a case was not published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// The case is published already; nothing was done.
    AlreadyPublished,
    /// The owner's release bundle or the message was refused: what staff
    /// are told, nothing was published.
    Refused(String),
    /// The key server failed or refused the batch; nothing was recorded.
    KeyServer(AuthorityError),
    /// The database (or building the batch) failed: the cause, to be
    /// logged, never shown.
    Unavailable(String),
}

impl PublishError {
    fn unavailable(cause: impl std::fmt::Display) -> Self {
        PublishError::Unavailable(cause.to_string())
    }
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::AlreadyPublished => f.write_str("the case is published already"),
            PublishError::Refused(text) => f.write_str(text),
            PublishError::KeyServer(error) => write!(f, "{error}"),
            PublishError::Unavailable(cause) => write!(f, "unavailable: {cause}"),
        }
    }
}

impl std::error::Error for PublishError {}

/// Verifies the owner's bundle against the case and builds one entry per
/// epoch carrying `message`; the error is what staff are told.
fn trace_entries(
    state: &AuthorityState,
    case: &CaseRow,
    epochs: &[CaseEpoch],
    bundle_text: &str,
    message: &str,
) -> Result<Vec<TraceEntry>, String> {
    let bytes = decode_text(bundle_text).ok_or("the release bundle is not base64url or hex text")?;
    let bundle = ReleaseBundle::verify(&bytes).map_err(|e| format!("this is not a valid release bundle ({e})"))?;
    if bundle.venue.as_bytes().as_slice() != case.venue_key.as_slice() {
        return Err("the release bundle comes from another venue".into());
    }
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let mut entries = Vec::with_capacity(epochs.len());
    for case_epoch in epochs {
        let epoch = PosterEpoch::from_bytes(&case_epoch.epoch).map_err(|_| "the case holds an invalid epoch")?;
        let when = span(epoch.epoch.start(), epoch.epoch.end());
        let release = bundle
            .releases
            .iter()
            .find(|r| r.epoch == epoch)
            .ok_or(format!("the release bundle lacks the epoch {when}"))?;
        let authority = state
            .keys
            .trace
            .open_share(&bundle.venue, &epoch)
            .map_err(|_| format!("the authority share of {when} cannot be opened"))?;
        let secret = TraceSecret::combine(&release.owner_share, &authority, &epoch).map_err(|_| {
            format!("the owner's share for {when} does not open the epoch's trace key: the release is wrong or forged, or the posters were sealed to another health authority")
        })?;
        let entry = TraceEntry::new(
            &secret,
            &epoch,
            unix(case_epoch.window_start),
            unix(case_epoch.window_end),
            message,
            &mut rng,
        )
        .map_err(|e| {
            format!("the message or window is not acceptable ({e}); at most 280 bytes, no control characters")
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Publishes `case`: checks the owner's release bundle (`bundle_text`, hex
/// or base64url) against its `epochs`, signs a trace batch with one entry
/// per epoch carrying `message`, under the next sequence (past both the
/// authority's own and the key server's), lists it in the key server's
/// index, records it (the case is then published) and audits it as staff
/// member `staff_id` (`username`).
pub async fn publish(
    state: &AuthorityState,
    case: &CaseRow,
    epochs: &[CaseEpoch],
    bundle_text: &str,
    message: &str,
    staff_id: i64,
    username: &str,
) -> Result<Published, PublishError> {
    if case.published.is_some() {
        return Err(PublishError::AlreadyPublished);
    }
    let entries = trace_entries(state, case, epochs, bundle_text, message).map_err(PublishError::Refused)?;
    let own = state.store.last_trace_sequence().await.map_err(PublishError::unavailable)?;
    let own = u64::try_from(own).unwrap_or(0);
    let sequence = own.max(state.key_server.last_sequence(FileKind::TraceBatch).await) + 1;
    let now = state.now();
    let count = entries.len();
    let batch = TraceBatch::new(state.region.clone(), sequence, now, entries)
        .map_err(|e| PublishError::Unavailable(format!("building a trace batch: {e}")))?;
    let signed = batch.sign(&state.keys.tracing);
    state
        .key_server
        .publish(FileKind::TraceBatch, sequence, signed.clone(), now)
        .await
        .map_err(PublishError::KeyServer)?;
    let row = TraceBatchRow {
        sequence: i64::try_from(sequence).unwrap_or(i64::MAX),
        created_at: stored(now),
        entries: i64::try_from(count).unwrap_or(0),
        sha256: content_address_hex(&signed),
        file: signed,
    };
    state
        .store
        .insert_trace_batch(&row, case.id, staff_id, &state.keys.code)
        .await
        .map_err(PublishError::unavailable)?;
    let detail =
        format!("case {}; trace batch {sequence} with {count} entr{}", case.id, if count == 1 { "y" } else { "ies" });
    state
        .store
        .audit(stored(now), Some(staff_id), username, "trace_published", &detail)
        .await
        .map_err(PublishError::unavailable)?;
    Ok(Published { sequence, entries: count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_bytes_are_read_as_hex_or_base64url() {
        assert_eq!(decode_text("00ff 10\n"), Some(vec![0x00, 0xff, 0x10]));
        assert_eq!(decode_text("AP8Q"), Some(vec![0x00, 0xff, 0x10]));
        assert_eq!(decode_text("not base64!"), None);
    }

    #[test]
    fn a_span_names_the_end_date_only_on_another_day() {
        let noon = UnixTime(20_601 * 86_400 + 43_200); // 2026-05-28 12:00 UTC
        assert_eq!(span(noon, noon.plus(3_600)), "2026-05-28 12:00 – 13:00 UTC");
        assert_eq!(span(noon, noon.plus(12 * 3_600)), "2026-05-28 12:00 – 24:00 UTC");
        let midnight = UnixTime(20_601 * 86_400);
        assert_eq!(span(midnight, midnight.plus(86_400)), "2026-05-28 00:00 – 24:00 UTC", "a day epoch");
        assert_eq!(span(noon, noon.plus(86_400)), "2026-05-28 12:00 – 2026-05-29 12:00 UTC");
    }
}
