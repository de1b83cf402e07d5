//! Venue alerts (tracer role), spec §9: the review queue of check-ins that
//! diagnosed visitors revealed, cases opened from it or from a paper guest
//! list, the signed release request for the venue owner, and publishing
//! trace entries once the owner's release bundle arrives.
//!
//! Opening a case checks that the authority can open each epoch's share
//! (the poster was made for this authority's trace key). Publishing is
//! [`cases::publish`]: it verifies the bundle, combines each epoch's shares
//! and only then signs a trace batch and lists it in the key server's
//! index.

use crate::AuthorityState;
use crate::accounts::Role;
use crate::cases::{self, PublishError, decode_text, span};
use crate::portal::flash::Flash;
use crate::portal::{BUNDLE_FILE_SCRIPT, Page, Staff, StaffForm, message, render, unavailable, when};
use crate::store::{CaseEpoch, CaseRow};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::signing::VerifyingKey;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::{ReleaseRequest, RevealedCheckIn};
use greenlight_protocol::venue::{Poster, PosterEpoch};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

fn page_for(staff: &Staff, title: &str) -> Page {
    Page::for_staff(staff, title, "/portal/venues")
}

fn t(unix: UnixTime) -> i64 {
    i64::try_from(unix.0).unwrap_or(i64::MAX)
}

fn u(unix: i64) -> UnixTime {
    UnixTime(u64::try_from(unix).unwrap_or(0))
}

/// A venue key's short fingerprint for people: 16 hex digits.
fn fingerprint(key: &[u8]) -> String {
    hex::encode(&key[..key.len().min(8)])
}

/// A revealed visit in the queue.
pub struct Visit {
    id: i64,
    epoch: String,
    stay: String,
    received: String,
}

/// The queue's check-ins of one venue.
pub struct VenueGroup {
    key_hex: String,
    fingerprint: String,
    name: String,
    address: String,
    kind: &'static str,
    visits: Vec<Visit>,
}

/// A case in the list.
pub struct CaseLine {
    id: i64,
    venue: String,
    source: String,
    created: String,
    state: String,
}

fn case_state(case: &CaseRow) -> String {
    match (case.published, &case.request) {
        (Some(sequence), _) => format!("published in trace batch {sequence}"),
        (None, Some(_)) => "waiting for the owner's release".to_owned(),
        (None, None) => "release request not signed yet".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "venues.html")]
struct VenuesPage {
    page: Page,
    groups: Vec<VenueGroup>,
    unreadable: usize,
    cases: Vec<CaseLine>,
}

/// Queued check-ins by venue key: a poster of the venue, and each check-in
/// with its row id and upload hour.
type Queue = BTreeMap<[u8; 32], (Poster, Vec<(i64, RevealedCheckIn, i64)>)>;

/// The review queue, grouped by venue; also the ids of unreadable rows.
/// First takes what the key server hands over now; if it cannot be reached,
/// the queue shows what was handed over before.
async fn queue(state: &AuthorityState) -> Result<(Queue, Vec<i64>), Response> {
    if let Err(e) = crate::pull_revealed(state).await {
        tracing::warn!(error = %e, "portal: revealed visits not fetched; showing those fetched before");
    }
    let pending = state.store.pending_checkins().await.map_err(unavailable)?;
    let mut groups = Queue::new();
    let mut unreadable = Vec::new();
    for row in pending {
        match RevealedCheckIn::from_bytes(&row.bytes) {
            Ok(checkin) => {
                let key = *checkin.poster.venue_key().as_bytes();
                groups.entry(key).or_insert_with(|| (checkin.poster.clone(), Vec::new())).1.push((
                    row.id,
                    checkin,
                    row.received_hour,
                ));
            }
            Err(_) => unreadable.push(row.id),
        }
    }
    Ok((groups, unreadable))
}

async fn show(state: &AuthorityState, page: Page, status: StatusCode) -> Response {
    let (groups, unreadable) = match queue(state).await {
        Ok(queue) => queue,
        Err(response) => return response,
    };
    let groups = groups
        .iter()
        .map(|(key, (poster, visits))| VenueGroup {
            key_hex: hex::encode(key),
            fingerprint: fingerprint(key),
            name: poster.info().name.clone(),
            address: poster.info().address.clone(),
            kind: poster.info().kind.as_str(),
            visits: visits
                .iter()
                .map(|(id, checkin, received)| Visit {
                    id: *id,
                    epoch: span(checkin.poster.epoch().start(), checkin.poster.epoch().end()),
                    stay: span(checkin.arrival, checkin.departure),
                    received: when(*received),
                })
                .collect(),
        })
        .collect();
    let cases = match state.store.cases().await {
        Ok(cases) => cases
            .iter()
            .map(|c| CaseLine {
                id: c.id,
                venue: format!("{} ({})", c.venue_name, fingerprint(&c.venue_key)),
                source: if c.source == "paper" { "paper guest list".into() } else { "revealed check-ins".into() },
                created: when(c.created_at),
                state: case_state(c),
            })
            .collect(),
        Err(e) => return unavailable(e),
    };
    render(status, &VenuesPage { page, groups, unreadable: unreadable.len(), cases })
}

/// `GET /portal/venues`
pub async fn page(State(state): State<Arc<AuthorityState>>, staff: Staff) -> Response {
    if let Err(refused) = staff.require(Role::Tracer) {
        return refused;
    }
    show(&state, page_for(&staff, "Venue alerts"), StatusCode::OK).await
}

/// A form naming a venue of the queue.
#[derive(Debug, Deserialize)]
pub struct OpenForm {
    #[serde(default)]
    venue: String,
}

/// How long past its epoch's end a visit's window may run: the longest
/// stay a phone records without a check-out (a workplace's 8 hours). A
/// visitor checks in while the epoch is live but may stay on after it.
const MAX_STAY_PAST_EPOCH_SECS: u64 = 8 * 3600;

/// Merges epochs with their windows: one window per epoch, covering every
/// visit in it, from no earlier than the epoch's start to no later than
/// [`MAX_STAY_PAST_EPOCH_SECS`] after its end.
fn merge_windows(windows: impl IntoIterator<Item = (PosterEpoch, UnixTime, UnixTime)>) -> Vec<CaseEpoch> {
    let mut merged: BTreeMap<Vec<u8>, (i64, i64)> = BTreeMap::new();
    for (epoch, start, end) in windows {
        let start = t(start.max(epoch.epoch.start()));
        let end = t(end.min(epoch.epoch.end().plus(MAX_STAY_PAST_EPOCH_SECS)));
        let entry = merged.entry(epoch.to_bytes()).or_insert((start, end));
        entry.0 = entry.0.min(start);
        entry.1 = entry.1.max(end);
    }
    merged
        .into_iter()
        .filter(|(_, (start, end))| start < end)
        .map(|(epoch, (window_start, window_end))| CaseEpoch { epoch, window_start, window_end })
        .collect()
}

/// Returns the epochs whose authority share this authority cannot open (an
/// encapsulation that is not a valid X25519 key). A poster sealed to
/// another authority's key is *not* caught here — HPKE then yields an
/// unrelated share — but when the owner's release is combined.
fn unopenable(state: &AuthorityState, venue: &VerifyingKey, epochs: &[CaseEpoch]) -> Vec<String> {
    epochs
        .iter()
        .filter_map(|e| PosterEpoch::from_bytes(&e.epoch).ok())
        .filter(|e| state.keys.trace.open_share(venue, e).is_err())
        .map(|e| span(e.epoch.start(), e.epoch.end()))
        .collect()
}

/// `POST /portal/venues/open`: opens a case for every queued check-in of
/// one venue.
pub async fn open_case(State(state): State<Arc<AuthorityState>>, form: StaffForm<OpenForm>) -> Response {
    let StaffForm { staff, form } = form;
    if let Err(refused) = staff.require(Role::Tracer) {
        return refused;
    }
    let (groups, _) = match queue(&state).await {
        Ok(queue) => queue,
        Err(response) => return response,
    };
    let mut key = [0u8; 32];
    let group = hex::decode_to_slice(form.venue.trim(), &mut key).ok().and_then(|()| groups.get(&key));
    let Some((poster, visits)) = group else {
        return message(
            StatusCode::NOT_FOUND,
            page_for(&staff, "Venue alerts"),
            "No check-ins of this venue are waiting for review (another tracer may have opened its case).",
            "/portal/venues",
        );
    };
    let epochs = merge_windows(visits.iter().map(|(_, c, _)| (*c.poster.poster_epoch(), c.arrival, c.departure)));
    let venue = *poster.venue_key();
    let failed = unopenable(&state, &venue, &epochs);
    if !failed.is_empty() {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            page_for(&staff, "Venue alerts"),
            format!(
                "The authority share of these epochs cannot be opened, so they cannot be traced: {}. Dismiss the check-ins.",
                failed.join("; ")
            ),
            "/portal/venues",
        );
    }
    let now = state.now_i64();
    let id = match state
        .store
        .create_case(venue.as_bytes(), &poster.info().name, "revealed", &epochs, staff.id, now)
        .await
    {
        Ok(id) => id,
        Err(e) => return unavailable(e),
    };
    let ids: Vec<i64> = visits.iter().map(|(id, _, _)| *id).collect();
    if let Err(e) = state.store.review_checkins(&ids, Some(id), staff.id, now, &state.keys.code).await {
        return unavailable(e);
    }
    let detail = format!("case {id}; {} epoch(s) from {} revealed check-in(s)", epochs.len(), ids.len());
    if let Err(e) = state.store.audit(now, Some(staff.id), &staff.username, "venue_case_opened", &detail).await {
        return unavailable(e);
    }
    Redirect::to(&format!("/portal/venues/cases/{id}")).into_response()
}

/// A form naming one queued check-in.
#[derive(Debug, Deserialize)]
pub struct DismissForm {
    #[serde(default)]
    checkin: i64,
}

/// `POST /portal/venues/dismiss`
pub async fn dismiss(State(state): State<Arc<AuthorityState>>, form: StaffForm<DismissForm>) -> Response {
    let StaffForm { staff, form } = form;
    if let Err(refused) = staff.require(Role::Tracer) {
        return refused;
    }
    let now = state.now_i64();
    match state.store.review_checkins(&[form.checkin], None, staff.id, now, &state.keys.code).await {
        Ok(n) => {
            if n == 1 {
                let detail = format!("revealed check-in {}", form.checkin);
                if let Err(e) =
                    state.store.audit(now, Some(staff.id), &staff.username, "checkin_dismissed", &detail).await
                {
                    return unavailable(e);
                }
            }
            show(&state, page_for(&staff, "Venue alerts").notice("The check-in was dismissed."), StatusCode::OK).await
        }
        Err(e) => unavailable(e),
    }
}

#[derive(Template)]
#[template(path = "paper.html")]
struct PaperPage {
    page: Page,
    name: String,
    venue: String,
    epochs: String,
    from: String,
    until: String,
}

/// `GET /portal/venues/paper`
pub async fn paper_page(staff: Staff) -> Response {
    if let Err(refused) = staff.require(Role::Tracer) {
        return refused;
    }
    let page = page_for(&staff, "Trace a paper guest list");
    let empty = String::new;
    render(
        StatusCode::OK,
        &PaperPage { page, name: empty(), venue: empty(), epochs: empty(), from: empty(), until: empty() },
    )
}

/// The paper guest list form.
#[derive(Debug, Deserialize)]
pub struct PaperForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    venue: String,
    #[serde(default)]
    epochs: String,
    /// When the guest list's first guest arrived (`YYYY-MM-DDTHH:MM`,
    /// UTC), if the tracer gives it.
    #[serde(default)]
    from: String,
    /// When its last guest left, if given.
    #[serde(default)]
    until: String,
}

/// Reads a time staff typed (`YYYY-MM-DDTHH:MM` as a `datetime-local`
/// field sends it, or with a space), as UTC; `None` for an empty field.
fn read_time(text: &str, field: &str) -> Result<Option<UnixTime>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{field} {text:?} is not a date and time like 2026-12-02 13:00");
    let (date, time) = text.split_once(['T', ' ']).ok_or_else(bad)?;
    let day = greenlight_protocol::time::DayNumber(crate::portal::parse_date(date).ok_or_else(bad)?);
    let (hours, minutes) = time.trim().split_once(':').ok_or_else(bad)?;
    let minutes = minutes.get(..2).unwrap_or(minutes);
    let (hours, minutes): (u64, u64) = (hours.parse().map_err(|_| bad())?, minutes.parse().map_err(|_| bad())?);
    if hours > 24 || minutes > 59 || (hours == 24 && minutes > 0) {
        return Err(bad());
    }
    Ok(Some(day.start().plus(hours * 3600 + minutes * 60)))
}

/// Reads the paper form: the venue and its epochs, from poster texts
/// (`GL1:…`, which carry and prove the venue) or from 70-byte epoch
/// triples with the venue key given separately.
fn read_paper(form: &PaperForm) -> Result<(VerifyingKey, String, Vec<CaseEpoch>), String> {
    let mut venue: Option<VerifyingKey> = None;
    if !form.venue.trim().is_empty() {
        let bytes: [u8; 32] = decode_text(&form.venue)
            .and_then(|b| b.try_into().ok())
            .ok_or("the venue key is not 32 bytes of hex or base64url")?;
        venue = Some(
            greenlight_protocol::signing::decode_public_key(&bytes)
                .map_err(|_| "the venue key is not a valid public key")?,
        );
    }
    let mut name = form.name.trim().to_owned();
    let from = read_time(&form.from, "the first arrival")?;
    let until = read_time(&form.until, "the last departure")?;
    if let (Some(from), Some(until)) = (from, until)
        && from >= until
    {
        return Err("the last departure must come after the first arrival".into());
    }
    let mut epochs = Vec::new();
    // Line numbers as the tracer sees them; `#` lines are the venue tool's
    // comments (`greenlight venue epochs` prints them), pasted along.
    for (i, line) in form.epochs.lines().enumerate() {
        let (n, line) = (i + 1, line.trim());
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let epoch = if line.starts_with("GL1:") {
            let poster = Poster::from_text(line).map_err(|e| format!("line {n}: not a valid poster ({e})"))?;
            if venue.is_some_and(|v| v != *poster.venue_key()) {
                return Err(format!("line {n}: this poster belongs to another venue"));
            }
            venue = Some(*poster.venue_key());
            if name.is_empty() {
                name = poster.info().name.clone();
            }
            *poster.poster_epoch()
        } else {
            let bytes = decode_text(line).ok_or(format!("line {n}: neither a poster (GL1:…) nor hex or base64url"))?;
            PosterEpoch::from_bytes(&bytes).map_err(|e| format!("line {n}: not a 70-byte poster epoch ({e})"))?
        };
        // The guest list's window, within what the epoch allows (see
        // merge_windows); without one, the whole epoch.
        epochs.push((epoch, from.unwrap_or(epoch.epoch.start()), until.unwrap_or(epoch.epoch.end())));
    }
    let venue = venue.ok_or("give the venue key, or paste at least one poster")?;
    if epochs.is_empty() {
        return Err("paste at least one poster or poster epoch".into());
    }
    if epochs.len() > greenlight_protocol::trace::MAX_RELEASE_EPOCHS {
        return Err("at most 256 epochs per case".into());
    }
    let windows = merge_windows(epochs);
    if windows.is_empty() {
        return Err("the guests' times do not overlap any of the pasted epochs".into());
    }
    if name.is_empty() {
        name = "(unnamed venue)".into();
    }
    name.truncate(name.char_indices().nth(80).map_or(name.len(), |(i, _)| i));
    Ok((venue, name, windows))
}

/// `POST /portal/venues/paper`: opens a case for the epochs a venue's
/// paper guest list covers, each with the window of the guests' times the
/// tracer gave (the whole epoch without one).
pub async fn paper_case(State(state): State<Arc<AuthorityState>>, form: StaffForm<PaperForm>) -> Response {
    let StaffForm { staff, form } = form;
    if let Err(refused) = staff.require(Role::Tracer) {
        return refused;
    }
    let again = |error: String| {
        let page = page_for(&staff, "Trace a paper guest list").error(format!("No case was opened: {error}."));
        render(
            StatusCode::BAD_REQUEST,
            &PaperPage {
                page,
                name: form.name.clone(),
                venue: form.venue.clone(),
                epochs: form.epochs.clone(),
                from: form.from.clone(),
                until: form.until.clone(),
            },
        )
    };
    let (venue, name, epochs) = match read_paper(&form) {
        Ok(read) => read,
        Err(e) => return again(e),
    };
    let failed = unopenable(&state, &venue, &epochs);
    if !failed.is_empty() {
        return again(format!("the authority share of these epochs cannot be opened: {}", failed.join("; ")));
    }
    let now = state.now_i64();
    let id = match state.store.create_case(venue.as_bytes(), &name, "paper", &epochs, staff.id, now).await {
        Ok(id) => id,
        Err(e) => return unavailable(e),
    };
    let detail = format!("case {id}; {} epoch(s) from a paper guest list", epochs.len());
    if let Err(e) = state.store.audit(now, Some(staff.id), &staff.username, "venue_case_opened", &detail).await {
        return unavailable(e);
    }
    Redirect::to(&format!("/portal/venues/cases/{id}")).into_response()
}

/// An epoch of a case, for people.
pub struct EpochLine {
    epoch: String,
    window: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    page: Page,
    id: i64,
    venue: String,
    venue_key: String,
    source: String,
    state: String,
    epochs: Vec<EpochLine>,
    request_text: String,
    published: bool,
    bundle: String,
    message_text: String,
    /// The message just published, shown after publishing.
    sent_message: String,
    script: &'static str,
}

async fn load_case(state: &AuthorityState, staff: &Staff, id: i64) -> Result<(CaseRow, Vec<CaseEpoch>), Response> {
    let case = match state.store.case(id).await {
        Ok(Some(case)) => case,
        Ok(None) => {
            return Err(message(
                StatusCode::NOT_FOUND,
                page_for(staff, "Venue alerts"),
                "There is no such case.",
                "/portal/venues",
            ));
        }
        Err(e) => return Err(unavailable(e)),
    };
    let epochs = state.store.case_epochs(id).await.map_err(unavailable)?;
    Ok((case, epochs))
}

fn show_case(case: &CaseRow, epochs: &[CaseEpoch], page: Page, status: StatusCode, form: (&str, &str)) -> Response {
    show_case_sent(case, epochs, page, status, form, "")
}

/// The case page; `sent` is the message just published (shown after
/// publishing, so the tracer sees what the visitors read).
fn show_case_sent(
    case: &CaseRow,
    epochs: &[CaseEpoch],
    page: Page,
    status: StatusCode,
    form: (&str, &str),
    sent: &str,
) -> Response {
    let lines = epochs
        .iter()
        .filter_map(|e| {
            let epoch = PosterEpoch::from_bytes(&e.epoch).ok()?;
            Some(EpochLine {
                epoch: span(epoch.epoch.start(), epoch.epoch.end()),
                window: span(u(e.window_start), u(e.window_end)),
            })
        })
        .collect();
    render(
        status,
        &CasePage {
            page,
            id: case.id,
            venue: case.venue_name.clone(),
            venue_key: hex::encode(&case.venue_key),
            source: if case.source == "paper" {
                "a paper guest list".into()
            } else {
                "check-ins revealed by diagnosed visitors".into()
            },
            state: case_state(case),
            epochs: lines,
            request_text: case.request.as_deref().map(to_base64url).unwrap_or_default(),
            published: case.published.is_some(),
            bundle: form.0.to_owned(),
            message_text: form.1.to_owned(),
            sent_message: sent.to_owned(),
            script: BUNDLE_FILE_SCRIPT,
        },
    )
}

/// `GET /portal/venues/cases/{id}`
pub async fn case_page(State(state): State<Arc<AuthorityState>>, staff: Staff, Path(id): Path<i64>) -> Response {
    if let Err(refused) = staff.require(Role::Tracer) {
        return refused;
    }
    match load_case(&state, &staff, id).await {
        Ok((case, epochs)) => {
            let flash = state.flashes.take(&staff.session_hash, state.now_i64());
            let page = page_for(&staff, &format!("Venue case {id}")).notice(flash.notice);
            show_case_sent(&case, &epochs, page, StatusCode::OK, ("", DEFAULT_MESSAGE), &flash.sent_message)
        }
        Err(response) => response,
    }
}

/// The message proposed for a new trace entry.
pub const DEFAULT_MESSAGE: &str = "Someone who tested positive was here while you were. Watch for symptoms and follow your health authority's advice.";

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct Empty {}

/// `POST /portal/venues/cases/{id}/request`: signs the release request for
/// exactly the case's epochs.
pub async fn sign_request(
    State(state): State<Arc<AuthorityState>>,
    Path(id): Path<i64>,
    form: StaffForm<Empty>,
) -> Response {
    let staff = form.staff;
    if let Err(refused) = staff.require(Role::Tracer) {
        return refused;
    }
    let (case, epochs) = match load_case(&state, &staff, id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let venue = case
        .venue_key
        .as_slice()
        .try_into()
        .ok()
        .and_then(|b: [u8; 32]| greenlight_protocol::signing::decode_public_key(&b).ok());
    let epochs: Vec<_> =
        epochs.iter().filter_map(|e| PosterEpoch::from_bytes(&e.epoch).ok()).map(|e| e.epoch).collect();
    let request = venue.and_then(|venue| ReleaseRequest::new(venue, state.now(), epochs).ok());
    let Some(request) = request else {
        return unavailable(format!("case {id} holds an invalid venue key or epochs"));
    };
    let signed = request.sign(&state.keys.tracing);
    if let Err(e) = state.store.set_case_request(id, &signed).await {
        return unavailable(e);
    }
    let detail = format!("case {id}; {} epoch(s)", request.epochs.len());
    if let Err(e) =
        state.store.audit(state.now_i64(), Some(staff.id), &staff.username, "release_request_signed", &detail).await
    {
        return unavailable(e);
    }
    Redirect::to(&format!("/portal/venues/cases/{id}")).into_response()
}

/// `GET /portal/key-set.bin`: the authority's key set (protocol §2.3), which
/// a venue owner's tool needs to check a release request signed with the
/// tracing key. Public data; any signed-in staff member may download it.
pub async fn download_key_set(State(state): State<Arc<AuthorityState>>, _staff: Staff) -> Response {
    match &state.keys.key_set {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"key-set.bin\"".to_owned()),
            ],
            bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /portal/venues/cases/{id}/request.bin`: the signed release request
/// as a file for the owner's tool.
pub async fn download_request(State(state): State<Arc<AuthorityState>>, staff: Staff, Path(id): Path<i64>) -> Response {
    if let Err(refused) = staff.require(Role::Tracer) {
        return refused;
    }
    match load_case(&state, &staff, id).await {
        Ok((CaseRow { request: Some(request), .. }, _)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"release-request-{id}.bin\"")),
            ],
            request,
        )
            .into_response(),
        Ok(_) => message(
            StatusCode::NOT_FOUND,
            page_for(&staff, "Venue alerts"),
            "Sign the release request first.",
            &format!("/portal/venues/cases/{id}"),
        ),
        Err(response) => response,
    }
}

/// The publish form.
#[derive(Debug, Deserialize)]
pub struct PublishForm {
    #[serde(default)]
    bundle: String,
    #[serde(default)]
    message: String,
}

/// `POST /portal/venues/cases/{id}/publish`: checks the release, signs a
/// trace batch with one entry per epoch and lists it in the index
/// ([`cases::publish`]).
pub async fn publish(
    State(state): State<Arc<AuthorityState>>,
    Path(id): Path<i64>,
    form: StaffForm<PublishForm>,
) -> Response {
    let StaffForm { staff, form } = form;
    if let Err(refused) = staff.require(Role::Tracer) {
        return refused;
    }
    let (case, epochs) = match load_case(&state, &staff, id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let title = format!("Venue case {id}");
    let error_page = |error: String, status: StatusCode, form: (&str, &str)| {
        show_case(&case, &epochs, page_for(&staff, &title).error(error), status, form)
    };
    let typed = (form.bundle.as_str(), form.message.as_str());
    let published =
        cases::publish(&state, &case, &epochs, &form.bundle, form.message.trim(), staff.id, &staff.username).await;
    let sequence = match published {
        Ok(published) => published.sequence,
        Err(PublishError::AlreadyPublished) => {
            return error_page("This case is published already.".into(), StatusCode::CONFLICT, ("", ""));
        }
        Err(PublishError::Refused(error)) => {
            return error_page(format!("Nothing was published: {error}."), StatusCode::BAD_REQUEST, typed);
        }
        Err(PublishError::KeyServer(error)) => {
            return error_page(format!("Nothing was published: {error}"), StatusCode::BAD_GATEWAY, typed);
        }
        Err(PublishError::Unavailable(cause)) => return unavailable(cause),
    };
    // Redirect-after-POST: a reload shows the case, it publishes nothing
    // again (issue 21 item 19).
    let notice = format!(
        "Published: trace batch {sequence} is listed in the key server's index; phones that checked in will be alerted at their next sync."
    );
    let flash = Flash { notice, sent_message: form.message.trim().to_owned(), ..Flash::default() };
    state.flashes.put(&staff.session_hash, flash, state.now_i64());
    Redirect::to(&format!("/portal/venues/cases/{id}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_protocol::venue::Epoch;

    fn hour_epoch(start: u64) -> PosterEpoch {
        PosterEpoch { epoch: Epoch::new(UnixTime(start), 60).expect("an hour"), trace_key: [9; 32], share_enc: [7; 32] }
    }

    #[test]
    fn a_window_covers_a_stay_past_its_epoch_but_not_before_it_or_beyond_eight_hours() {
        let noon = 20_601 * 86_400 + 43_200; // noon UTC
        let epoch = hour_epoch(noon);
        // Checked in at 12:55 and stayed 90 minutes: the whole stay counts.
        let stay = merge_windows([(epoch, UnixTime(noon + 55 * 60), UnixTime(noon + 145 * 60))]);
        assert_eq!(
            (stay[0].window_start, stay[0].window_end),
            (t(UnixTime(noon + 55 * 60)), t(UnixTime(noon + 145 * 60)))
        );
        // Two visits of one epoch merge; an arrival before the epoch starts
        // at its start; a departure days later ends 8 hours after it.
        let merged = merge_windows([
            (epoch, UnixTime(noon - 600), UnixTime(noon + 600)),
            (epoch, UnixTime(noon + 1_800), UnixTime(noon + 3 * 86_400)),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].window_start, t(UnixTime(noon)));
        assert_eq!(merged[0].window_end, t(UnixTime(noon + 3_600 + 8 * 3_600)));
    }
}
