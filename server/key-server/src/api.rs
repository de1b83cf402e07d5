//! The HTTP API: publishing uploads, serving the index and files, health,
//! metrics and the OpenAPI document.
//!
//! Every response of `POST /v1/publish` — success, every error, and chaff —
//! has the same body size ([`PUBLISH_RESPONSE_SIZE`]) and the same headers,
//! so that only the (encrypted) content differs.

use crate::metrics::{Outcome, Status};
use crate::publisher::hour;
use crate::state::AppState;
use crate::store::{KeyRow, NewUpload, StoreOutcome};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use greenlight_protocol::certificate::Certificate;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trust::Purpose;
use greenlight_service::answer::{padded_json, with_retry_after};
use std::sync::Arc;
use std::time::Instant;
use utoipa::OpenApi;

pub use greenlight_api::RETRY_AFTER_SECS;
pub use greenlight_api::files::{AuthorityFileKind, ListedFile};
pub use greenlight_api::padding::PUBLISH_RESPONSE_SIZE;
pub use greenlight_api::publish::{
    MAX_CHECKINS, MAX_KEYS, MAX_KEYS_PER_DAY, PublishRequest, PublishResponse, UploadKey,
};
use greenlight_api::revealed::{RevealedPage, RevealedQuery};
use greenlight_protocol::certificate::{DAYS_AROUND_CERTIFICATE_DAY, UploadKeysError, check_upload_keys};
use greenlight_protocol::codec::from_base64url;

/// Failed attempts after which a certificate is refused outright.
pub const MAX_ATTEMPTS_PER_CERTIFICATE: u32 = 5;

/// The key server's one error type: an HTTP status, a stable code and a
/// message for the client. A phone's upload gets it as the padded publish
/// answer ([`KeyServerError::publish_answer`]); every other endpoint as
/// plain text (its [`IntoResponse`]). Internal causes are logged where the
/// error is made ([`KeyServerError::unavailable`]), never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyServerError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl KeyServerError {
    /// A refusal with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        KeyServerError { status, code, message: message.into() }
    }

    /// A malformed request (400).
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        KeyServerError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The database or file storage failed while `doing`: logged with its
    /// cause, answered 503 (with `Retry-After`) and `message`.
    pub fn unavailable(doing: &str, cause: impl std::fmt::Display, message: &str) -> Self {
        tracing::error!(error = %cause, "{doing}");
        KeyServerError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// The padded `/v1/publish` answer.
    pub fn publish_answer(&self) -> Response {
        publish_response(self.status, self.code, &self.message)
    }
}

impl From<greenlight_api::Invalid> for KeyServerError {
    fn from(invalid: greenlight_api::Invalid) -> Self {
        KeyServerError::bad(invalid.code, invalid.message)
    }
}

/// Plain text: the message and a newline.
impl IntoResponse for KeyServerError {
    fn into_response(self) -> Response {
        with_retry_after((self.status, format!("{}\n", self.message)).into_response())
    }
}

/// A padded publish response.
fn publish_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = PublishResponse::new(code, message);
    with_retry_after(padded_json(status, &body, PUBLISH_RESPONSE_SIZE))
}

/// The 400 answer to a key list that breaks a limit of spec §12.2.3.
fn upload_keys_error(error: UploadKeysError, request: &PublishRequest, retention_days: u32) -> KeyServerError {
    let day = |i: usize| request.keys.get(i).map_or(0, |k| k.day);
    match error {
        UploadKeysError::TooManyKeys => {
            KeyServerError::bad("too_many_keys", format!("{} keys; at most {MAX_KEYS}", request.keys.len()))
        }
        UploadKeysError::FutureKey(i) => {
            KeyServerError::bad("future_key", format!("key {i}: day {} is in the future", day(i)))
        }
        UploadKeysError::OldKey(i) => {
            KeyServerError::bad("old_key", format!("key {i}: day {} is more than {retention_days} days ago", day(i)))
        }
        UploadKeysError::DuplicateKey(i) => KeyServerError::bad("duplicate_key", format!("key {i} appears twice")),
        UploadKeysError::TooManyKeysPerDay(i) => KeyServerError::bad(
            "too_many_keys_per_day",
            format!("key {i}: more than {MAX_KEYS_PER_DAY} keys for day {}", day(i)),
        ),
        UploadKeysError::OutsideCertificateDays(i) => KeyServerError::bad(
            "key_outside_certificate_days",
            format!(
                "key {i}: day {} is more than {DAYS_AROUND_CERTIFICATE_DAY} days from the day the certificate was \
                 issued for",
                day(i)
            ),
        ),
    }
}

/// Checks an upload completely, without touching the database, and turns
/// it into what the store keeps. `now` is the server's clock.
pub fn validate(
    request: &PublishRequest,
    now: UnixTime,
    state: &AppState,
) -> Result<(NewUpload, Certificate), KeyServerError> {
    let today = now.day();
    let uploaded = request.keys.iter().enumerate().map(|(i, k)| k.to_uploaded(i)).collect::<Result<Vec<_>, _>>()?;
    // Keys, revealed check-ins or both: a phone that only checks in reports
    // its visits alone (spec §12.2.3).
    if uploaded.is_empty() && request.revealed_checkins.is_empty() {
        return Err(KeyServerError::bad(
            "empty_upload",
            "an upload needs at least one key or one revealed check-in; nothing was stored",
        ));
    }
    // The limits of spec §12.2.3, first without the certificate (so bad
    // input is refused even when no authority key is configured).
    check_upload_keys(&uploaded, today, state.config.retention_days, None)
        .map_err(|e| upload_keys_error(e, request, state.config.retention_days))?;
    let checkins = request.revealed_bytes()?;
    if !state.trusts_an_authority() {
        // Everything that can be checked without a trusted key is, so bad
        // input gets its 4xx; only a well-formed upload hears that no
        // certificate can be accepted yet.
        Certificate::parse_text(&request.certificate)
            .map_err(|e| KeyServerError::bad("invalid_certificate", format!("the certificate is malformed: {e}")))?;
        request.hmac_key()?;
        return Err(KeyServerError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "this key server trusts no health authority yet (see --authority-key)",
        ));
    }

    let verified = Certificate::verify_text(
        &request.certificate,
        &state.authority_keys(Purpose::Certificate, now),
        now,
    )
    .map_err(|e| {
        use greenlight_protocol::Error as E;
        match e {
            E::Expired => {
                KeyServerError::new(StatusCode::FORBIDDEN, "certificate_expired", "the certificate has expired")
            }
            E::NotYetValid => KeyServerError::new(
                StatusCode::FORBIDDEN,
                "certificate_not_yet_valid",
                "the certificate is not valid yet",
            ),
            E::BadSignature => KeyServerError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_certificate",
                "the certificate is not signed by a trusted health authority",
            ),
            other => KeyServerError::bad("invalid_certificate", format!("the certificate is malformed: {other}")),
        }
    })?;
    let certificate = verified.certificate().clone();
    // The keys must lie around the certificate's signed day (spec §12.2.3).
    check_upload_keys(&uploaded, today, state.config.retention_days, Some(certificate.day()))
        .map_err(|e| upload_keys_error(e, request, state.config.retention_days))?;
    let id = certificate.certificate_id().0;
    if state.attempts.failures(&id) >= MAX_ATTEMPTS_PER_CERTIFICATE {
        return Err(KeyServerError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed uploads with this certificate; ask for a new one",
        ));
    }
    let hmac_key = request.hmac_key()?;
    let checkin_refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
    if verified.check_upload(&hmac_key, &uploaded, &checkin_refs).is_err() {
        state.attempts.fail(id, certificate.expires_at());
        return Err(KeyServerError::new(
            StatusCode::FORBIDDEN,
            "hmac_mismatch",
            "the certificate was issued for a different upload (keys, days, risks or check-ins differ)",
        ));
    }

    let embargo = state.config.embargo;
    let report_type = i64::from(certificate.report_type().to_byte());
    let keys = uploaded
        .iter()
        .map(|u| {
            let publish_after = u.day.end().plus(embargo).0;
            let row = KeyRow {
                key: u.key.0.to_vec(),
                day: i64::from(u.day.0),
                transmission_risk: i64::from(u.transmission_risk.level()),
                report_type,
            };
            (row, i64::try_from(publish_after).unwrap_or(i64::MAX))
        })
        .collect();
    let now_i = i64::try_from(now.0).unwrap_or(i64::MAX);
    let upload = NewUpload {
        certificate_id: id,
        certificate_expires_at: i64::try_from(certificate.expires_at().0).unwrap_or(i64::MAX),
        received_hour: hour(now_i),
        keys,
        checkins,
    };
    Ok((upload, certificate))
}

/// Publish diagnosis keys.
#[utoipa::path(
    post,
    path = "/v1/publish",
    request_body = PublishRequest,
    params(("X-Chaff" = Option<String>, Header, description = "Exactly `1` for a dummy request: answered like a real one, stores nothing. Absent for a real upload; any other value (or the header twice) is refused with 400 `invalid_chaff`")),
    responses(
        (status = 200, description = "Accepted (`accepted`, also the answer to chaff), or the same upload with the same certificate accepted before (`already_accepted`: its answer was lost; nothing more stored)", body = PublishResponse),
        (status = 400, description = "Malformed or invalid upload, or an `X-Chaff` header other than `1` (`invalid_chaff`); nothing stored", body = PublishResponse),
        (status = 401, description = "Certificate not signed by a trusted authority", body = PublishResponse),
        (status = 403, description = "Certificate expired, not yet valid, or issued for another upload", body = PublishResponse),
        (status = 408, description = "The request was not complete within `--request-timeout` (`request_timeout`)", body = PublishResponse),
        (status = 413, description = "The body is larger than `--max-body` (`payload_too_large`); nothing stored. A body declared too large by its `Content-Length` is read and discarded first, so a client sending it without `Expect: 100-continue` gets this answer", body = PublishResponse),
        (status = 415, description = "No `Content-Type: application/json` (parameters such as `; charset=utf-8` allowed), chaff included (`unsupported_media_type`); nothing read", body = PublishResponse),
        (status = 429, description = "Too many failed attempts with this certificate", body = PublishResponse),
        (status = 503, description = "Database unavailable (`unavailable`), or no health authority trusted (`not_configured`, only once the body is a well-formed upload)", body = PublishResponse, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
async fn publish(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !greenlight_service::request::is_json(&headers) {
        state.metrics.publish.get_or_create(&Outcome { outcome: "rejected" }).inc();
        return unsupported_media_type().publish_answer();
    }
    let chaff = match is_chaff(&headers) {
        Ok(chaff) => chaff,
        Err(refusal) => {
            state.metrics.publish.get_or_create(&Outcome { outcome: "rejected" }).inc();
            return refusal.publish_answer();
        }
    };
    if chaff {
        tokio::time::sleep(state.latency.delay()).await;
        state.metrics.publish.get_or_create(&Outcome { outcome: "chaff" }).inc();
        return publish_response(StatusCode::OK, "accepted", "");
    }
    let started = Instant::now();
    let response = match publish_real(&state, &body).await {
        Ok(Accepted::Stored(new_keys)) => {
            state.metrics.publish.get_or_create(&Outcome { outcome: "accepted" }).inc();
            state.metrics.keys_stored.inc_by(new_keys);
            publish_response(StatusCode::OK, "accepted", "")
        }
        Ok(Accepted::Before) => {
            state.metrics.publish.get_or_create(&Outcome { outcome: "accepted" }).inc();
            publish_response(
                StatusCode::OK,
                "already_accepted",
                "this upload was accepted before; nothing more was stored",
            )
        }
        Err(refusal) => {
            let outcome = if refusal.status.is_server_error() { "error" } else { "rejected" };
            state.metrics.publish.get_or_create(&Outcome { outcome }).inc();
            tracing::info!(code = refusal.code, status = refusal.status.as_u16(), "upload refused");
            refusal.publish_answer()
        }
    };
    state.latency.record(started.elapsed());
    response
}

/// The refusal of a body that is not declared as JSON (415).
pub fn unsupported_media_type() -> KeyServerError {
    KeyServerError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "the body must be sent as Content-Type: application/json",
    )
}

/// The chaff rule ([`greenlight_service::request::chaff`]) as this
/// service's error.
pub fn is_chaff(headers: &HeaderMap) -> Result<bool, KeyServerError> {
    greenlight_service::request::chaff(headers).map_err(KeyServerError::from)
}

/// An upload the key server holds.
enum Accepted {
    /// Stored now; this many keys were new.
    Stored(u64),
    /// The same upload was accepted before (its answer was lost).
    Before,
}

/// A certificate already used, with an upload whose HMAC it certifies, is
/// the same upload sent again after its answer was lost (issue 19 item 6):
/// the certificate binds the upload HMAC, and the HMAC every key and
/// check-in, so no other upload can pass [`validate`] with it. It is
/// answered "already accepted" and stores nothing more, so the phone that
/// retries learns the truth instead of `certificate_used`.
async fn publish_real(state: &AppState, body: &[u8]) -> Result<Accepted, KeyServerError> {
    let request: PublishRequest = serde_json::from_slice(body)
        .map_err(|e| KeyServerError::bad("invalid_json", format!("the body is not a valid upload: {e}")))?;
    let (upload, _) = validate(&request, state.now(), state)?;
    match state.store.store_upload(&upload).await {
        Ok(StoreOutcome::Stored { new_keys }) => Ok(Accepted::Stored(new_keys)),
        Ok(StoreOutcome::CertificateUsed) => Ok(Accepted::Before),
        Err(e) => Err(KeyServerError::unavailable(
            "storing an upload failed",
            e,
            "the upload could not be stored; nothing was kept, try again later",
        )),
    }
}

/// Lists a trace batch or color policy signed by a trusted health
/// authority. The signature is the authentication: anyone may deliver the
/// file, only an authority can have made it.
#[utoipa::path(
    post,
    path = "/v1/authority/files",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A signed trace batch (GL_TRACE) or color policy (GL_POLCY), spec §9.5 and §13"),
    responses(
        (status = 200, description = "Listed in the index (or already listed)", body = ListedFile),
        (status = 400, description = "Not a trace batch or policy of this region", body = String),
        (status = 401, description = "Not signed by a trusted health authority", body = String),
        (status = 409, description = "Another file already has this sequence", body = String),
        (status = 503, description = "Storage unavailable", body = String),
    )
)]
async fn authority_file(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Json<ListedFile>, KeyServerError> {
    use greenlight_protocol::index::FileKind;
    use greenlight_protocol::policy::ColorPolicy;
    use greenlight_protocol::trace::TraceBatch;
    use greenlight_protocol::trust::{KEY_SET_MAGIC, KeySet};
    let now = state.now();
    let signature_error = |e: greenlight_protocol::Error| match e {
        greenlight_protocol::Error::BadSignature => KeyServerError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "not signed by a trusted health authority",
        ),
        // Spec §9.5, §13.2: the decoders refuse sequence 0 themselves.
        greenlight_protocol::Error::InvalidField("sequence") => {
            KeyServerError::bad("invalid_sequence", "sequence 0 is not allowed; sequences start at 1")
        }
        other => KeyServerError::bad("invalid_file", format!("invalid file: {other}")),
    };
    let (name, sequence, at) = if body.starts_with(greenlight_protocol::trace::TRACE_BATCH_MAGIC) {
        let batch = TraceBatch::verify(&body, &state.authority_keys(Purpose::Tracing, now)).map_err(signature_error)?;
        if batch.region != state.config.region {
            return Err(KeyServerError::bad(
                "wrong_region",
                format!(
                    "trace batch for region {}, this server publishes {}",
                    batch.region.as_str(),
                    state.config.region.as_str()
                ),
            ));
        }
        (AuthorityFileKind::TraceBatch, batch.sequence, batch.created_at)
    } else if body.starts_with(&greenlight_protocol::policy::POLICY_MAGIC) {
        let policy =
            ColorPolicy::verify(&body, &state.authority_keys(Purpose::Policy, now)).map_err(signature_error)?;
        (AuthorityFileKind::ColorPolicy, u64::from(policy.sequence()), policy.params().issued_at)
    } else if body.starts_with(&KEY_SET_MAGIC) {
        // Protocol §2.3: signed by a root key, for this region, newer than
        // the set in use (the same set again is listed already).
        let set = KeySet::verify(&body, &state.authority_keys(Purpose::Root, now)).map_err(signature_error)?;
        if set.region != state.config.region {
            return Err(KeyServerError::bad(
                "wrong_region",
                format!("key set for region {}, this server publishes {}", set.region, state.config.region),
            ));
        }
        let held = state.keyring.read().unwrap_or_else(|e| e.into_inner()).key_set().cloned();
        if let Some(held) = held.filter(|held| held.sequence > set.sequence) {
            return Err(KeyServerError::new(
                StatusCode::CONFLICT,
                "sequence_taken",
                format!("key set #{} is in use; publish one with a higher sequence", held.sequence),
            ));
        }
        (AuthorityFileKind::KeySet, set.sequence, set.issued_at)
    } else {
        return Err(KeyServerError::bad("unknown_file", "not a trace batch, color policy or key set (unknown magic)"));
    };
    if sequence == 0 {
        return Err(KeyServerError::bad("invalid_sequence", "sequence 0 is not allowed; sequences start at 1"));
    }
    let kind = FileKind::from(name);
    let (start, end) = crate::publisher::listing_span(kind, at);
    let listing = state.publisher.publish_file(kind, sequence, start, end, body.to_vec(), now).await;
    match listing {
        Ok(crate::publisher::Listing::Listed(file) | crate::publisher::Listing::AlreadyListed(file)) => {
            if kind == FileKind::KeySet {
                state.adopt_key_set(&body, now);
            }
            Ok(Json(ListedFile { kind: name, sequence, sha256: file.sha256 }))
        }
        Ok(crate::publisher::Listing::Conflict) => Err(KeyServerError::new(
            StatusCode::CONFLICT,
            "sequence_taken",
            format!(
                "another {} already has sequence {sequence}; publish a new one with a higher sequence",
                name.as_str()
            ),
        )),
        Err(e) => Err(KeyServerError::unavailable(
            "listing an authority file failed",
            e,
            "storage unavailable; nothing was listed",
        )),
    }
}

/// The visits diagnosed people revealed, for the health authority: handed
/// over in batches once each batch period has ended, sorted by their bytes
/// (spec/authority.md §5.1). Only for a request signed by a trusted
/// authority key within five minutes of the server's clock.
#[utoipa::path(
    get,
    path = "/v1/authority/revealed",
    params(
        RevealedQuery,
        ("X-Greenlight-Authority" = String, Header, description = "The authority's signed feed request for this `since` (a `GL_FEED_` file, spec §9.7), base64url"),
    ),
    responses(
        (status = 200, description = "The visits received from `since` to the end of the last complete batch period", body = RevealedPage),
        (status = 400, description = "The signed request is for another `since`", body = String),
        (status = 401, description = "No request signed by a trusted health authority", body = String),
        (status = 403, description = "The signed request is too old or too far ahead of the server's clock", body = String),
        (status = 503, description = "Database unavailable", body = String, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
async fn revealed(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<RevealedQuery>,
) -> Result<Response, KeyServerError> {
    use greenlight_protocol::trace::FeedRequest;
    let unauthorized = |message: &str| KeyServerError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
    let signed = headers
        .get(greenlight_api::revealed::AUTHORITY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|text| from_base64url(text.trim()).ok())
        .ok_or_else(|| unauthorized("this needs a feed request signed by the health authority"))?;
    let now = state.now();
    let request =
        FeedRequest::verify(&signed, &state.authority_keys(Purpose::Certificate, now), now).map_err(|e| match e {
            greenlight_protocol::Error::Expired | greenlight_protocol::Error::NotYetValid => KeyServerError::new(
                StatusCode::FORBIDDEN,
                "stale_request",
                "the signed request is not within five minutes of this server's clock",
            ),
            _ => unauthorized("not signed by a trusted health authority"),
        })?;
    if request.since.0 != query.since {
        return Err(KeyServerError::bad("wrong_since", "the signed request is for another `since`"));
    }
    let page = crate::revealed::page(&state.store, query.since, now, state.config.reveal_delay_secs)
        .await
        .map_err(|e| KeyServerError::unavailable("reading revealed visits failed", e, "database unavailable"))?;
    let mut response = Json(page).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The region's newest key set (`GL_TRUST`, spec §2.3), signed by the
/// health authority's root key: for a phone that can no longer verify the
/// index because it slept through an export key's rotation. It is also
/// listed in the index like any authority file.
#[utoipa::path(get, path = "/v1/trust", responses(
    (status = 200, description = "The key set in use (signed file)", body = Vec<u8>, content_type = "application/octet-stream"),
    (status = 404, description = "The authority has published no key set", body = String),
))]
async fn trust(State(state): State<Arc<AppState>>) -> Response {
    match state.key_set_file.read().unwrap_or_else(|e| e.into_inner()).clone() {
        Some(bytes) => {
            let mut response = octets(bytes);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => {
            KeyServerError::new(StatusCode::NOT_FOUND, "no_key_set", "the health authority has published no key set")
                .into_response()
        }
    }
}

/// The signed index of published files.
#[utoipa::path(
    get,
    path = "/v1/index",
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of the index the client holds")),
    responses(
        (status = 200, description = "The signed index (spec §11), `Cache-Control: no-cache`", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "The client's copy is current"),
    )
)]
async fn index(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let index = state.publisher.index();
    let etag = format!("\"{}\"", index.etag);
    let mut response = if if_none_match(&headers, &index.etag) {
        state.metrics.index_requests.get_or_create(&Status { status: "304" }).inc();
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        state.metrics.index_requests.get_or_create(&Status { status: "200" }).inc();
        octets(index.bytes.clone())
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

/// An immutable published file, by content address.
#[utoipa::path(
    get,
    path = "/v1/files/{sha256}",
    params(("sha256" = String, Path, description = "The file's SHA-256, 64 lower-case hex digits")),
    responses(
        (status = 200, description = "The signed file, `Cache-Control: public, max-age=1209600, immutable`", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such file (never published, or deleted after retention)"),
    )
)]
async fn file(State(state): State<Arc<AppState>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return (StatusCode::NOT_FOUND, "no such file: names are 64 lower-case hex digits\n").into_response();
    }
    let bytes = match state.publisher.file(&name).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such file\n").into_response(),
        Err(e) => {
            return KeyServerError::unavailable("reading a published file failed", e, "file storage unavailable")
                .into_response();
        }
    };
    let mut response =
        if if_none_match(&headers, &name) { StatusCode::NOT_MODIFIED.into_response() } else { octets(bytes) };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=1209600, immutable"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{name}\"")) {
        h.insert(header::ETAG, v);
    }
    response
}

fn octets(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |tag| {
            let tag = tag.trim().trim_start_matches("W/");
            tag == "*" || tag.trim_matches('"') == etag
        },
    )
}

/// Health: answers 200 once the database answers (`ok`, or `ok (uploads
/// disabled: no --authority-key)` while no health authority is trusted).
#[utoipa::path(get, path = "/health", responses(
    (status = 200, description = "Ready: `ok`, or `ok (uploads disabled: no --authority-key)` when no health authority is trusted and every well-formed upload is answered 503 `not_configured`", body = String),
    (status = 503, description = "The database does not answer", body = String, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
))]
async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) if !state.trusts_an_authority() => {
            (StatusCode::OK, "ok (uploads disabled: no --authority-key)\n").into_response()
        }
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            KeyServerError::unavailable("health check: database unavailable", e, "database unavailable").into_response()
        }
    }
}

/// Prometheus metrics (on the private metrics listener only).
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    // Counted now, not at the last export run: keys uploaded since, and
    // those still waiting for their embargo, are pending too.
    match state.store.pending_keys(i64::try_from(state.now().0).unwrap_or(i64::MAX)).await {
        Ok((pending, _)) => {
            state.metrics.pending_keys.set(pending);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: counting pending keys failed"),
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}

/// The OpenAPI document of the services this process runs.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
#[allow(dead_code)] // Served by [`openapi_router`], which knows the services.
async fn openapi() {}

/// The OpenAPI description of the key server's API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Greenlight key server",
        description = "Authorized uploads and signed, content-addressed export files (spec/protocol.md); revealed visits handed to the health authority (spec/authority.md §5.1)."
    ),
    paths(publish, authority_file, revealed, index, trust, file, health, openapi),
    components(schemas(PublishRequest, UploadKey, PublishResponse, ListedFile, AuthorityFileKind, RevealedPage))
)]
pub struct KeyServerDoc;

/// The key server's OpenAPI document.
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    KeyServerDoc::openapi()
}

/// `GET /v1/openapi.json` answering `document` (the document of the
/// services the process runs, which only the binary knows).
pub fn openapi_router(document: String) -> Router {
    Router::new().route(
        "/v1/openapi.json",
        get(move || {
            let document = document.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], document).into_response() }
        }),
    )
}

/// The key server's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/publish", post(publish))
        .route("/v1/authority/files", post(authority_file))
        .route("/v1/authority/revealed", get(revealed))
        .route("/v1/index", get(index))
        .route("/v1/trust", get(trust))
        .route("/v1/files/{sha256}", get(file))
        .route("/health", get(health))
        .with_state(state)
}

/// `GET /metrics` alone, for the private metrics listener
/// (`--metrics-listen`): the counters can tell a real upload from chaff,
/// so they are not part of the public API.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(state)
}
