//! The device API: a phone exchanges an upload code for a token
//! (`POST /v1/verify`), then the token and the HMAC of its upload for a
//! signed certificate (`POST /v1/certificate`). Spec: `spec/authority.md`.
//!
//! Like `/v1/publish`, every answer — success, every error and chaff
//! (`X-Chaff: 1`) — is a JSON object of one fixed size ([`VERIFY_RESPONSE_SIZE`],
//! [`CERTIFICATE_RESPONSE_SIZE`]) with the same headers, and chaff is
//! answered after a delay drawn around the recent real latency without
//! touching the database.
//!
//! Guessing is bounded three ways: a short code is refused once
//! [`AuthoritySettings::verify_failures_per_hour`](crate::AuthoritySettings)
//! wrong short codes were tried in the current hour (all phones together:
//! the server keeps no address to tell guessers apart); a token is refused
//! after [`MAX_TOKEN_FAILURES`] malformed requests; codes and tokens are
//! single use and short-lived.
//!
//! A lost answer does not burn a code (issue 19 item 6): a phone that sends
//! `request_id` with its code gets the same token for the same request
//! again while the token is valid, and the same token with the same upload
//! HMAC gets a certificate with the same id again, which the key server
//! answers "already accepted" if the first one reached it.

use crate::AuthorityState;
use crate::accounts::token_hash;
use crate::codes::{self, CodeKind};
use crate::error::AuthorityError;
use crate::store::{Claim, Diagnosis, TokenUse, counter};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Router, extract::DefaultBodyLimit};
use greenlight_protocol::certificate::{Certificate, CertificateId, DayKind};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::report::ReportType;
use greenlight_service::answer::padded_json;
use rand_core::Rng;
use std::sync::Arc;
use std::time::Instant;

pub use greenlight_api::device::{CertificateRequest, CertificateResponse, VerifyRequest, VerifyResponse};
pub use greenlight_api::padding::{CERTIFICATE_RESPONSE_SIZE, VERIFY_RESPONSE_SIZE};

/// Certificates are valid this long (spec §12.2.4 recommends 15 minutes).
pub const CERTIFICATE_SECS: u64 = 15 * 60;
/// Malformed certificate requests after which a token is refused.
pub const MAX_TOKEN_FAILURES: i64 = 5;
/// Largest device request body: ample for a code or token, an HMAC and
/// padding, small enough that nothing else fits.
pub const MAX_DEVICE_BODY: usize = 4096;

fn verify_ok(token: String, token_expires_at: u64, diagnosis: &Diagnosis) -> Response {
    let body = VerifyResponse::ok(token, token_expires_at, diagnosis.report_type, diagnosis.day_kind, diagnosis.day);
    padded_json(StatusCode::OK, &body, VERIFY_RESPONSE_SIZE)
}

fn certificate_ok(certificate: String, expires_at: u64) -> Response {
    padded_json(StatusCode::OK, &CertificateResponse::ok(certificate, expires_at), CERTIFICATE_RESPONSE_SIZE)
}

fn unavailable<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> AuthorityError {
    move |e| AuthorityError::unavailable(what, e)
}

fn unsupported_media_type() -> AuthorityError {
    AuthorityError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "the body must be sent as Content-Type: application/json",
    )
}

/// The chaff rule ([`greenlight_service::request::chaff`]) as this
/// service's error.
pub fn is_chaff(headers: &HeaderMap) -> Result<bool, AuthorityError> {
    greenlight_service::request::chaff(headers).map_err(|invalid| AuthorityError::bad(invalid.code, invalid.message))
}

/// Exchange an upload code for a token.
#[utoipa::path(
    post,
    path = "/v1/verify",
    request_body = VerifyRequest,
    params(("X-Chaff" = Option<String>, Header, description = "Exactly `1` for a dummy request: answered like a real one, stores nothing. Absent for a real request; any other value (or the header twice) is refused with 400 `invalid_chaff`")),
    responses(
        (status = 200, description = "The code was valid and is now used up (also the answer to chaff); or the same code with the same `request_id` sent again while its token is valid: the same token again", body = VerifyResponse),
        (status = 400, description = "Not JSON, or not a code's format (`invalid_json`, `invalid_code`), a `request_id` that is not 32 bytes of base64url (`invalid_request_id`), or an `X-Chaff` header other than `1` (`invalid_chaff`)", body = VerifyResponse),
        (status = 403, description = "Unknown (`code_invalid`) or expired (`code_expired`) code", body = VerifyResponse),
        (status = 409, description = "The code was used before, by another request or one whose token has expired (`code_used`)", body = VerifyResponse),
        (status = 408, description = "The request was not complete within `--request-timeout` (`request_timeout`)", body = VerifyResponse),
        (status = 413, description = "The body is larger than 4096 bytes (`payload_too_large`); nothing read or counted. A body declared too large by its `Content-Length` is read and discarded first, so a client sending it without `Expect: 100-continue` gets this answer", body = VerifyResponse),
        (status = 415, description = "No `Content-Type: application/json` (parameters such as `; charset=utf-8` allowed), chaff included (`unsupported_media_type`); nothing read or counted", body = VerifyResponse),
        (status = 429, description = "Too many wrong short codes this hour (`too_many_attempts`)", body = VerifyResponse),
        (status = 503, description = "Database unavailable", body = VerifyResponse, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn verify(State(state): State<Arc<AuthorityState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !greenlight_service::request::is_json(&headers) {
        return unsupported_media_type().verify_answer();
    }
    let chaff = match is_chaff(&headers) {
        Ok(chaff) => chaff,
        Err(error) => return error.verify_answer(),
    };
    if chaff {
        tokio::time::sleep(state.verify_latency.delay()).await;
        let now = state.now();
        let fake =
            Diagnosis { report_type: ReportType::ConfirmedTest, day_kind: DayKind::TestDate, day: now.day().minus(1) };
        return verify_ok(random_text(32), hour_ceiling(now.0 + state.settings.token_secs), &fake);
    }
    let started = Instant::now();
    let response = match verify_real(&state, &body).await {
        Ok(response) => response,
        Err(error) => error.verify_answer(),
    };
    state.verify_latency.record(started.elapsed());
    response
}

async fn verify_real(state: &AuthorityState, body: &[u8]) -> Result<Response, AuthorityError> {
    let request: VerifyRequest = serde_json::from_slice(body)
        .map_err(|e| AuthorityError::bad("invalid_json", format!("the body is not a valid request: {e}")))?;
    let Some((kind, code)) = codes::normalize(&request.code) else {
        return Err(AuthorityError::new(
            StatusCode::BAD_REQUEST,
            "invalid_code",
            "a code has 8 digits or 16 letters and digits; check what you typed",
        ));
    };
    let now = state.now_i64();
    let hour = now - now.rem_euclid(3600);
    let budget = i64::try_from(state.settings.verify_failures_per_hour).unwrap_or(i64::MAX);
    if kind == CodeKind::Short {
        let failures =
            state.store.counter(hour, counter::SHORT_FAILURES).await.map_err(unavailable("reading the budget"))?;
        if failures >= budget {
            return Err(AuthorityError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many wrong codes were tried in the last hour; try again later or ask for a long code",
            ));
        }
    }
    let request_id = request.request_id().map_err(|invalid| AuthorityError::bad(invalid.code, invalid.message))?;
    let code_hash = state.keys.code.hash(kind.as_str(), &code);
    // With a request id the token is derived from it and the code, so the
    // same request sent again after a lost answer finds the same token.
    let token = match &request_id {
        Some(id) => to_base64url(&state.keys.code.token(&code_hash, id)),
        None => random_text(32),
    };
    // The token is stored with its expiry rounded up to the hour, and that
    // is what the answer says: the token is accepted until then.
    let token_expires_at = hour_ceiling(state.now().0 + state.settings.token_secs);
    let claim = state
        .store
        .claim_code(&code_hash, now, &token_hash(&token), i64::try_from(token_expires_at).unwrap_or(i64::MAX))
        .await
        .map_err(unavailable("claiming a code"))?;
    let refused = match claim {
        Claim::Claimed(diagnosis) => return Ok(verify_ok(token, token_expires_at, &diagnosis)),
        Claim::Used if request_id.is_some() => {
            match state.store.token_again(&token_hash(&token), now).await.map_err(unavailable("finding a token"))? {
                Some((diagnosis, expires_at)) => {
                    return Ok(verify_ok(token, u64::try_from(expires_at).unwrap_or(0), &diagnosis));
                }
                None => code_used(),
            }
        }
        Claim::Unknown => AuthorityError::new(
            StatusCode::FORBIDDEN,
            "code_invalid",
            "this code is not known; check what you typed or ask the health authority",
        ),
        Claim::Expired => AuthorityError::new(
            StatusCode::FORBIDDEN,
            "code_expired",
            "this code has expired; ask the health authority for a new one",
        ),
        Claim::Used => code_used(),
    };
    if kind == CodeKind::Short {
        state.store.bump(hour, counter::SHORT_FAILURES).await.map_err(unavailable("counting a failure"))?;
    }
    Err(refused)
}

/// Exchange a token and the HMAC of an upload for a signed certificate.
#[utoipa::path(
    post,
    path = "/v1/certificate",
    request_body = CertificateRequest,
    params(("X-Chaff" = Option<String>, Header, description = "Exactly `1` for a dummy request: answered like a real one, stores nothing. Absent for a real request; any other value (or the header twice) is refused with 400 `invalid_chaff`")),
    responses(
        (status = 200, description = "A certificate valid for 15 minutes (also the answer to chaff)", body = CertificateResponse),
        (status = 400, description = "Not JSON (`invalid_json`), the HMAC is not 32 bytes of base64url (`invalid_hmac`), or an `X-Chaff` header other than `1` (`invalid_chaff`)", body = CertificateResponse),
        (status = 403, description = "Unknown (`token_invalid`) or expired (`token_expired`) token", body = CertificateResponse),
        (status = 409, description = "The token was used before for another upload HMAC (`token_used`); the same HMAC again gets the same certificate id again (200)", body = CertificateResponse),
        (status = 408, description = "The request was not complete within `--request-timeout` (`request_timeout`)", body = CertificateResponse),
        (status = 413, description = "The body is larger than 4096 bytes (`payload_too_large`); nothing read or counted. A body declared too large by its `Content-Length` is read and discarded first, so a client sending it without `Expect: 100-continue` gets this answer", body = CertificateResponse),
        (status = 415, description = "No `Content-Type: application/json` (parameters such as `; charset=utf-8` allowed), chaff included (`unsupported_media_type`); nothing read or counted", body = CertificateResponse),
        (status = 429, description = "Too many failed attempts with this token (`too_many_attempts`)", body = CertificateResponse),
        (status = 503, description = "Database unavailable", body = CertificateResponse, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn certificate(State(state): State<Arc<AuthorityState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !greenlight_service::request::is_json(&headers) {
        return unsupported_media_type().certificate_answer();
    }
    let chaff = match is_chaff(&headers) {
        Ok(chaff) => chaff,
        Err(error) => return error.certificate_answer(),
    };
    if chaff {
        tokio::time::sleep(state.certificate_latency.delay()).await;
        let fake = random_text(greenlight_protocol::certificate::SIGNED_CERTIFICATE_LEN);
        return certificate_ok(fake, state.now().0 + CERTIFICATE_SECS);
    }
    let started = Instant::now();
    let response = match certificate_real(&state, &body).await {
        Ok(response) => response,
        Err(error) => error.certificate_answer(),
    };
    state.certificate_latency.record(started.elapsed());
    response
}

async fn certificate_real(state: &AuthorityState, body: &[u8]) -> Result<Response, AuthorityError> {
    let request: CertificateRequest = serde_json::from_slice(body)
        .map_err(|e| AuthorityError::bad("invalid_json", format!("the body is not a valid request: {e}")))?;
    let token = token_hash(&request.token);
    let Ok(hmac) = request.upload_hmac() else {
        let failures = state.store.token_failed(&token).await.map_err(unavailable("counting a failure"))?;
        if failures > MAX_TOKEN_FAILURES {
            return Err(too_many_token_attempts());
        }
        return Err(AuthorityError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hmac",
            "upload_hmac is not 32 bytes of unpadded base64url",
        ));
    };
    let now = state.now();
    let now_i = state.now_i64();
    let upload_tag = state.keys.code.upload_tag(&token, &hmac);
    let diagnosis = match state.store.use_token(&token, &upload_tag, now_i, MAX_TOKEN_FAILURES).await {
        // The same upload asked again (its answer was lost) is certified
        // again under the same certificate id, so the key server stores it
        // once however many of its certificates arrive.
        Ok(TokenUse::Used(diagnosis) | TokenUse::Again(diagnosis)) => diagnosis,
        Ok(TokenUse::Unknown) => {
            return Err(AuthorityError::new(
                StatusCode::FORBIDDEN,
                "token_invalid",
                "this token is not known; verify the code again",
            ));
        }
        Ok(TokenUse::Expired) => {
            return Err(AuthorityError::new(
                StatusCode::FORBIDDEN,
                "token_expired",
                "this token has expired; ask the health authority for a new code",
            ));
        }
        Ok(TokenUse::AlreadyUsed) => {
            return Err(AuthorityError::new(
                StatusCode::CONFLICT,
                "token_used",
                "this token has already been used for another upload",
            ));
        }
        Ok(TokenUse::Locked) => return Err(too_many_token_attempts()),
        Err(e) => return Err(unavailable("using a token")(e)),
    };
    let expires_at = now.plus(CERTIFICATE_SECS);
    let id = CertificateId(state.keys.code.certificate_id(&token, &hmac));
    let certificate =
        Certificate::new(diagnosis.report_type, diagnosis.day_kind, diagnosis.day, hmac, now, expires_at, id)
            .map_err(unavailable("building a certificate"))?;
    Ok(certificate_ok(certificate.sign_text(&state.keys.certificate), expires_at.0))
}

fn code_used() -> AuthorityError {
    AuthorityError::new(StatusCode::CONFLICT, "code_used", "this code has already been used")
}

/// `t` rounded up to a whole hour.
fn hour_ceiling(t: u64) -> u64 {
    t.div_ceil(3600) * 3600
}

fn too_many_token_attempts() -> AuthorityError {
    AuthorityError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "too many failed attempts with this token; ask the health authority for a new code",
    )
}

/// `n` random bytes as base64url: tokens, and the filler of chaff answers.
fn random_text(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(&mut bytes);
    to_base64url(&bytes)
}

/// Health of an authority running alone: answers 200 once its database
/// answers.
#[utoipa::path(get, path = "/health", responses(
    (status = 200, description = "Ready", body = String),
    (status = 503, description = "The database does not answer", body = String, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
))]
pub async fn health(State(state): State<Arc<AuthorityState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            let error = AuthorityError::unavailable("health check: database unavailable", e);
            greenlight_service::answer::with_retry_after((error.status, "database unavailable\n").into_response())
        }
    }
}

/// The OpenAPI document of the services this process runs.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
#[allow(dead_code)] // Served by the binary, which knows the services.
async fn openapi() {}

/// The OpenAPI description of the health authority's device API.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Greenlight health authority",
        description = "Upload codes exchanged for certificates (spec/authority.md). The staff portal under /portal is HTML and not described here."
    ),
    paths(verify, certificate, health, openapi),
    components(schemas(VerifyRequest, VerifyResponse, CertificateRequest, CertificateResponse))
)]
pub struct AuthorityDoc;

/// The authority's OpenAPI document.
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    <AuthorityDoc as utoipa::OpenApi>::openapi()
}

/// `GET /health`, for a process that runs the authority alone (beside a
/// key server, the key server's answers).
pub fn health_router(state: Arc<AuthorityState>) -> Router {
    Router::new().route("/health", axum::routing::get(health)).with_state(state)
}

/// The device routes.
pub fn router(state: Arc<AuthorityState>) -> Router {
    Router::new()
        .route("/v1/verify", post(verify))
        .route("/v1/certificate", post(certificate))
        .layer(DefaultBodyLimit::max(MAX_DEVICE_BODY))
        .with_state(state)
}
