//! The HTTP API: publishing uploads, serving the index and files, health,
//! metrics and the OpenAPI document.
//!
//! Every response of `POST /v1/publish` — success, every error, and chaff —
//! has the same body size ([`PUBLISH_RESPONSE_SIZE`]) and the same headers,
//! so that only the (encrypted) content differs.

use crate::chaff::CHAFF_HEADER;
use crate::metrics::{Outcome, Status};
use crate::padding::padded_json;
use crate::publisher::hour;
use crate::state::AppState;
use crate::store::{KeyRow, NewUpload, StoreOutcome};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use greenlight_protocol::certificate::{Certificate, UploadHmacKey, UploadedKey};
use greenlight_protocol::codec::from_base64url;
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::report::TransmissionRisk;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::RevealedCheckIn;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use utoipa::{OpenApi, ToSchema};

/// Most keys in one upload (14 days, with room for a mid-day key change).
pub const MAX_KEYS: usize = 30;
/// Most keys for one day in one upload.
pub const MAX_KEYS_PER_DAY: usize = 3;
/// Most revealed check-ins in one upload.
pub const MAX_CHECKINS: usize = 50;
/// Body size of every publish response.
pub const PUBLISH_RESPONSE_SIZE: usize = 512;
/// Failed attempts after which a certificate is refused outright.
pub const MAX_ATTEMPTS_PER_CERTIFICATE: u32 = 5;

/// One daily key in an upload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadKey {
    /// The 16-byte daily key, base64url without padding.
    #[schema(example = "ZnJlc2gtZGFpbHkta2V5")]
    pub key: String,
    /// Its UTC day number (Unix seconds / 86400).
    #[schema(example = 20583)]
    pub day: u32,
    /// Transmission risk level, 0 to 8.
    #[schema(minimum = 0, maximum = 8, example = 5)]
    pub transmission_risk: u8,
}

/// `POST /v1/publish` request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The daily keys to publish (1 to 30, at most 3 per day, the last 14 days).
    pub keys: Vec<UploadKey>,
    /// Check-ins the person chose to reveal, each the base64url of a revealed
    /// check-in (spec §9.6).
    #[serde(default)]
    pub revealed_checkins: Vec<String>,
    /// The health authority's certificate, in its 202-character text form.
    pub certificate: String,
    /// The 32-byte HMAC key the certificate's upload HMAC was made with,
    /// base64url.
    pub hmac_key: String,
    /// Ignored: lets clients make every request the same size.
    #[serde(default)]
    pub padding: String,
}

/// The body of every publish response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublishResponse {
    /// `accepted`, or an error code.
    pub status: String,
    /// What was wrong, for errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Filler that makes every response the same size.
    pub padding: String,
}

/// Why an upload was refused: an HTTP status, a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal { status, code, message: message.into() }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, code, message)
    }
}

/// A padded publish response.
fn publish_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = PublishResponse { status: code.to_owned(), message: message.to_owned(), padding: String::new() };
    with_retry_after(padded_json(status, &body, PUBLISH_RESPONSE_SIZE))
}

/// Seconds a client is asked to wait after a 503 before trying again.
pub const RETRY_AFTER_SECS: u64 = 30;

/// Adds `Retry-After` to a 503: the fault (database or storage away) is
/// temporary, and clients should come back rather than give up.
pub(crate) fn with_retry_after(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    response
}

/// Checks an upload completely, without touching the database, and turns
/// it into what the store keeps. `now` is the server's clock.
pub fn validate(
    request: &PublishRequest,
    now: UnixTime,
    state: &AppState,
) -> Result<(NewUpload, Certificate), Refusal> {
    let today = now.day();
    let oldest = today.minus(state.config.retention_days);
    if request.keys.is_empty() {
        return Err(Refusal::bad("no_keys", "an upload needs at least one key"));
    }
    if request.keys.len() > MAX_KEYS {
        return Err(Refusal::bad("too_many_keys", format!("{} keys; at most {MAX_KEYS}", request.keys.len())));
    }
    let mut uploaded = Vec::with_capacity(request.keys.len());
    for (i, k) in request.keys.iter().enumerate() {
        let bytes = from_base64url(&k.key)
            .map_err(|_| Refusal::bad("invalid_key", format!("key {i}: not unpadded base64url")))?;
        let key: [u8; 16] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| Refusal::bad("invalid_key", format!("key {i}: {} bytes, expected 16", b.len())))?;
        let day = DayNumber(k.day);
        if day > today {
            return Err(Refusal::bad("future_key", format!("key {i}: day {} is in the future", k.day)));
        }
        if day < oldest {
            return Err(Refusal::bad(
                "old_key",
                format!("key {i}: day {} is more than {} days ago", k.day, state.config.retention_days),
            ));
        }
        let transmission_risk = TransmissionRisk::new(k.transmission_risk).map_err(|_| {
            Refusal::bad("invalid_risk", format!("key {i}: transmission risk {} is not 0-8", k.transmission_risk))
        })?;
        if uploaded.iter().any(|u: &UploadedKey| u.key.0 == key) {
            return Err(Refusal::bad("duplicate_key", format!("key {i} appears twice")));
        }
        if uploaded.iter().filter(|u: &&UploadedKey| u.day == day).count() >= MAX_KEYS_PER_DAY {
            return Err(Refusal::bad(
                "too_many_keys_per_day",
                format!("key {i}: more than {MAX_KEYS_PER_DAY} keys for day {}", k.day),
            ));
        }
        uploaded.push(UploadedKey { key: PublishedKey(key), day, transmission_risk });
    }
    if request.revealed_checkins.len() > MAX_CHECKINS {
        return Err(Refusal::bad(
            "too_many_checkins",
            format!("{} check-ins; at most {MAX_CHECKINS}", request.revealed_checkins.len()),
        ));
    }
    let mut checkins = Vec::with_capacity(request.revealed_checkins.len());
    for (i, text) in request.revealed_checkins.iter().enumerate() {
        let bytes = from_base64url(text)
            .map_err(|_| Refusal::bad("invalid_checkin", format!("check-in {i}: not unpadded base64url")))?;
        RevealedCheckIn::from_bytes(&bytes)
            .map_err(|e| Refusal::bad("invalid_checkin", format!("check-in {i}: {e}")))?;
        checkins.push(bytes);
    }

    let verified = Certificate::verify_text(&request.certificate, &state.authority_keys, now).map_err(|e| {
        use greenlight_protocol::Error as E;
        match e {
            E::Expired => Refusal::new(StatusCode::FORBIDDEN, "certificate_expired", "the certificate has expired"),
            E::NotYetValid => {
                Refusal::new(StatusCode::FORBIDDEN, "certificate_not_yet_valid", "the certificate is not valid yet")
            }
            E::BadSignature => Refusal::new(
                StatusCode::UNAUTHORIZED,
                "invalid_certificate",
                "the certificate is not signed by a trusted health authority",
            ),
            other => Refusal::bad("invalid_certificate", format!("the certificate is malformed: {other}")),
        }
    })?;
    let certificate = verified.certificate().clone();
    let id = certificate.certificate_id().0;
    if state.attempts.failures(&id) >= MAX_ATTEMPTS_PER_CERTIFICATE {
        return Err(Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed uploads with this certificate; ask for a new one",
        ));
    }
    let hmac_key: [u8; 32] = from_base64url(&request.hmac_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Refusal::bad("invalid_hmac_key", "hmac_key is not 32 bytes of unpadded base64url"))?;
    let hmac_key = UploadHmacKey::from_bytes(hmac_key);
    let checkin_refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
    if verified.check_upload(&hmac_key, &uploaded, &checkin_refs).is_err() {
        state.attempts.fail(id, certificate.expires_at());
        return Err(Refusal::new(
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
    params(("X-Chaff" = Option<String>, Header, description = "Set to 1 for a dummy request: answered like a real one, stores nothing")),
    responses(
        (status = 200, description = "Accepted (also the answer to chaff)", body = PublishResponse),
        (status = 400, description = "Malformed or invalid upload; nothing stored", body = PublishResponse),
        (status = 401, description = "Certificate not signed by a trusted authority", body = PublishResponse),
        (status = 403, description = "Certificate expired, not yet valid, or issued for another upload", body = PublishResponse),
        (status = 409, description = "Certificate already used", body = PublishResponse),
        (status = 413, description = "Body too large"),
        (status = 429, description = "Too many failed attempts with this certificate", body = PublishResponse),
        (status = 503, description = "Database unavailable or no authority configured", body = PublishResponse, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
async fn publish(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get(CHAFF_HEADER).is_some() {
        tokio::time::sleep(state.latency.delay()).await;
        state.metrics.publish.get_or_create(&Outcome { outcome: "chaff" }).inc();
        return publish_response(StatusCode::OK, "accepted", "");
    }
    let started = Instant::now();
    let response = match publish_real(&state, &body).await {
        Ok(new_keys) => {
            state.metrics.publish.get_or_create(&Outcome { outcome: "accepted" }).inc();
            state.metrics.keys_stored.inc_by(new_keys);
            publish_response(StatusCode::OK, "accepted", "")
        }
        Err(refusal) => {
            let outcome = if refusal.status.is_server_error() { "error" } else { "rejected" };
            state.metrics.publish.get_or_create(&Outcome { outcome }).inc();
            tracing::info!(code = refusal.code, status = refusal.status.as_u16(), "upload refused");
            publish_response(refusal.status, refusal.code, &refusal.message)
        }
    };
    state.latency.record(started.elapsed());
    response
}

async fn publish_real(state: &AppState, body: &[u8]) -> Result<u64, Refusal> {
    if state.authority_keys.is_empty() {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "this key server trusts no health authority yet (see --authority-key)",
        ));
    }
    let request: PublishRequest = serde_json::from_slice(body)
        .map_err(|e| Refusal::bad("invalid_json", format!("the body is not a valid upload: {e}")))?;
    let (upload, _) = validate(&request, state.now(), state)?;
    match state.store.store_upload(&upload).await {
        Ok(StoreOutcome::Stored { new_keys }) => Ok(new_keys),
        Ok(StoreOutcome::CertificateUsed) => {
            Err(Refusal::new(StatusCode::CONFLICT, "certificate_used", "this certificate has already been used"))
        }
        Err(e) => {
            tracing::error!(error = %e, "storing an upload failed");
            Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the upload could not be stored; nothing was kept, try again later",
            ))
        }
    }
}

/// The answer to a listed authority file.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListedFile {
    /// `trace_batch` or `color_policy`.
    pub kind: String,
    /// The file's own sequence number.
    pub sequence: u64,
    /// Its content address (64 hex digits), under `/v1/files/`.
    pub sha256: String,
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
async fn authority_file(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    use greenlight_protocol::index::FileKind;
    use greenlight_protocol::policy::ColorPolicy;
    use greenlight_protocol::trace::TraceBatch;
    let refuse = |status: StatusCode, message: String| (status, format!("{message}\n")).into_response();
    let signature_error = |e: greenlight_protocol::Error| match e {
        greenlight_protocol::Error::BadSignature => {
            refuse(StatusCode::UNAUTHORIZED, "not signed by a trusted health authority".into())
        }
        other => refuse(StatusCode::BAD_REQUEST, format!("invalid file: {other}")),
    };
    let (kind, name, sequence, at) = if body.starts_with(greenlight_protocol::trace::TRACE_BATCH_MAGIC) {
        match TraceBatch::verify(&body, &state.authority_keys) {
            Ok(batch) if batch.region != state.config.region => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "trace batch for region {}, this server publishes {}",
                        batch.region.as_str(),
                        state.config.region.as_str()
                    ),
                );
            }
            Ok(batch) => (FileKind::TraceBatch, "trace_batch", batch.sequence, batch.created_at),
            Err(e) => return signature_error(e),
        }
    } else if body.starts_with(&greenlight_protocol::policy::POLICY_MAGIC) {
        match ColorPolicy::verify(&body, &state.authority_keys) {
            Ok(policy) => {
                (FileKind::ColorPolicy, "color_policy", u64::from(policy.sequence()), policy.params().issued_at)
            }
            Err(e) => return signature_error(e),
        }
    } else {
        return refuse(StatusCode::BAD_REQUEST, "not a trace batch or color policy (unknown magic)".into());
    };
    if sequence == 0 {
        return refuse(StatusCode::BAD_REQUEST, "sequence 0 is not allowed; sequences start at 1".into());
    }
    let (start, end) = crate::publisher::listing_span(kind, at);
    let listing = state.publisher.publish_file(kind, sequence, start, end, body.to_vec(), state.now()).await;
    match listing {
        Ok(crate::publisher::Listing::Listed(file) | crate::publisher::Listing::AlreadyListed(file)) => {
            Json(ListedFile { kind: name.to_owned(), sequence, sha256: file.sha256 }).into_response()
        }
        Ok(crate::publisher::Listing::Conflict) => refuse(
            StatusCode::CONFLICT,
            format!("another {name} already has sequence {sequence}; publish a new one with a higher sequence"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "listing an authority file failed");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; nothing was listed".into())
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
            tracing::error!(error = %e, "reading a published file failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "file storage unavailable\n").into_response();
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

/// Health: answers 200 once the database answers.
#[utoipa::path(get, path = "/health", responses(
    (status = 200, description = "Ready", body = String),
    (status = 503, description = "The database does not answer", body = String, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
))]
async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            with_retry_after((StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response())
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", body = String)))]
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

/// The OpenAPI description of the key server and the health authority's
/// device API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Greenlight key server and health authority",
        description = "Authorized uploads and signed, content-addressed export files (spec/protocol.md); upload codes exchanged for certificates (spec/authority.md). The staff portal under /portal is HTML and not described here."
    ),
    paths(
        publish,
        authority_file,
        index,
        file,
        health,
        metrics,
        openapi,
        crate::authority::device::verify,
        crate::authority::device::certificate
    ),
    components(schemas(
        PublishRequest,
        UploadKey,
        PublishResponse,
        ListedFile,
        crate::authority::device::VerifyRequest,
        crate::authority::device::VerifyResponse,
        crate::authority::device::CertificateRequest,
        crate::authority::device::CertificateResponse
    ))
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON (committed as `spec/openapi.json`).
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut text = doc.to_pretty_json().expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

/// Only `GET /health`, for a process that runs the health authority alone.
pub fn health_router(state: Arc<AppState>) -> Router {
    Router::new().route("/health", get(health)).with_state(state)
}

/// The key server's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/publish", post(publish))
        .route("/v1/authority/files", post(authority_file))
        .route("/v1/index", get(index))
        .route("/v1/files/{sha256}", get(file))
        .route("/v1/openapi.json", get(openapi))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}
