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
//! [`AuthoritySettings::verify_failures_per_hour`](crate::config::AuthoritySettings)
//! wrong short codes were tried in the current hour (all phones together:
//! the server keeps no address to tell guessers apart); a token is refused
//! after [`MAX_TOKEN_FAILURES`] malformed requests; codes and tokens are
//! single use and short-lived.

use crate::api::with_retry_after;
use crate::authority::AuthorityState;
use crate::authority::accounts::token_hash;
use crate::authority::codes::{self, CodeKind};
use crate::authority::store::{Claim, Diagnosis, TokenUse, counter};
use crate::chaff::CHAFF_HEADER;
use crate::padding::padded_json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::{Router, extract::DefaultBodyLimit};
use greenlight_protocol::certificate::{Certificate, CertificateId, DayKind, UPLOAD_HMAC_LEN};
use greenlight_protocol::codec::{from_base64url, to_base64url};
use greenlight_protocol::report::ReportType;
use greenlight_protocol::time::DayNumber;
use rand_core::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

/// Body size of every `/v1/verify` answer.
pub const VERIFY_RESPONSE_SIZE: usize = 512;
/// Body size of every `/v1/certificate` answer.
pub const CERTIFICATE_RESPONSE_SIZE: usize = 512;
/// Certificates are valid this long (spec §12.2.4 recommends 15 minutes).
pub const CERTIFICATE_SECS: u64 = 15 * 60;
/// Malformed certificate requests after which a token is refused.
pub const MAX_TOKEN_FAILURES: i64 = 5;
/// Largest device request body: ample for a code or token, an HMAC and
/// padding, small enough that nothing else fits.
pub const MAX_DEVICE_BODY: usize = 4096;

/// `POST /v1/verify` request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The upload code: 8 digits or 16 characters; spaces and dashes are
    /// ignored, letters may be lower case.
    #[schema(example = "1234 5678")]
    pub code: String,
    /// Ignored: lets clients make every request the same size.
    #[serde(default)]
    pub padding: String,
}

/// The body of every `/v1/verify` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    /// `ok`, or an error code.
    pub status: String,
    /// What was wrong, for errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The token to exchange for a certificate (43 characters of base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Unix time after which the token is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<u64>,
    /// `confirmed_test` or `clinical_diagnosis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_type: Option<String>,
    /// `symptom_onset` or `test_date`: what `date` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_kind: Option<String>,
    /// The symptom-onset or test date, `YYYY-MM-DD` (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The same date as a UTC day number (Unix seconds / 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
    /// Filler that makes every answer the same size.
    #[serde(default)]
    pub padding: String,
}

/// `POST /v1/certificate` request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    /// The token from `/v1/verify`.
    pub token: String,
    /// HMAC-SHA256 of the upload (spec §12.1), 32 bytes as unpadded base64url.
    pub upload_hmac: String,
    /// Ignored: lets clients make every request the same size.
    #[serde(default)]
    pub padding: String,
}

/// The body of every `/v1/certificate` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CertificateResponse {
    /// `ok`, or an error code.
    pub status: String,
    /// What was wrong, for errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The signed certificate in its 202-character text form (spec §12.2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Unix time at which the certificate expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Filler that makes every answer the same size.
    #[serde(default)]
    pub padding: String,
}

fn report_type_name(byte: i64) -> &'static str {
    if byte == 2 { "clinical_diagnosis" } else { "confirmed_test" }
}

fn day_kind_name(byte: i64) -> &'static str {
    if byte == 1 { "symptom_onset" } else { "test_date" }
}

fn verify_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = VerifyResponse { status: code.to_owned(), message: message.to_owned(), ..Default::default() };
    with_retry_after(padded_json(status, &body, VERIFY_RESPONSE_SIZE))
}

fn verify_ok(token: String, token_expires_at: u64, diagnosis: Diagnosis) -> Response {
    let day = u32::try_from(diagnosis.day).unwrap_or(0);
    let body = VerifyResponse {
        status: "ok".into(),
        token: Some(token),
        token_expires_at: Some(token_expires_at),
        report_type: Some(report_type_name(diagnosis.report_type).into()),
        day_kind: Some(day_kind_name(diagnosis.day_kind).into()),
        date: Some(DayNumber(day).iso_date().to_string()),
        day: Some(day),
        ..Default::default()
    };
    padded_json(StatusCode::OK, &body, VERIFY_RESPONSE_SIZE)
}

fn certificate_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = CertificateResponse { status: code.to_owned(), message: message.to_owned(), ..Default::default() };
    with_retry_after(padded_json(status, &body, CERTIFICATE_RESPONSE_SIZE))
}

fn certificate_ok(certificate: String, expires_at: u64) -> Response {
    let body = CertificateResponse {
        status: "ok".into(),
        certificate: Some(certificate),
        expires_at: Some(expires_at),
        ..Default::default()
    };
    padded_json(StatusCode::OK, &body, CERTIFICATE_RESPONSE_SIZE)
}

fn unavailable<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> (StatusCode, &'static str, String) {
    move |e| {
        tracing::error!(error = %e, "{what}");
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the service is unavailable; try again later".to_owned())
    }
}

/// Exchange an upload code for a token.
#[utoipa::path(
    post,
    path = "/v1/verify",
    request_body = VerifyRequest,
    params(("X-Chaff" = Option<String>, Header, description = "Set to 1 for a dummy request: answered like a real one, stores nothing")),
    responses(
        (status = 200, description = "The code was valid and is now used up (also the answer to chaff)", body = VerifyResponse),
        (status = 400, description = "Not JSON, or not a code's format (`invalid_json`, `invalid_code`)", body = VerifyResponse),
        (status = 403, description = "Unknown (`code_invalid`) or expired (`code_expired`) code", body = VerifyResponse),
        (status = 409, description = "The code was used before (`code_used`)", body = VerifyResponse),
        (status = 429, description = "Too many wrong short codes this hour (`too_many_attempts`)", body = VerifyResponse),
        (status = 503, description = "Database unavailable", body = VerifyResponse, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn verify(State(state): State<Arc<AuthorityState>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get(CHAFF_HEADER).is_some() {
        tokio::time::sleep(state.verify_latency.delay()).await;
        let now = state.now();
        let fake = Diagnosis { report_type: 1, day_kind: 2, day: i64::from(now.day().minus(1).0) };
        return verify_ok(random_text(32), now.0 + state.settings.token_secs, fake);
    }
    let started = Instant::now();
    let response = match verify_real(&state, &body).await {
        Ok(response) => response,
        Err((status, code, message)) => {
            tracing::info!(code, status = status.as_u16(), "verification refused");
            verify_error(status, code, &message)
        }
    };
    state.verify_latency.record(started.elapsed());
    response
}

type Refused = (StatusCode, &'static str, String);

async fn verify_real(state: &AuthorityState, body: &[u8]) -> Result<Response, Refused> {
    let request: VerifyRequest = serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, "invalid_json", format!("the body is not a valid request: {e}")))?;
    let Some((kind, code)) = codes::normalize(&request.code) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_code",
            "a code has 8 digits or 16 letters and digits; check what you typed".into(),
        ));
    };
    let now = state.now_i64();
    let hour = now - now.rem_euclid(3600);
    let budget = i64::try_from(state.settings.verify_failures_per_hour).unwrap_or(i64::MAX);
    if kind == CodeKind::Short {
        let failures =
            state.store.counter(hour, counter::SHORT_FAILURES).await.map_err(unavailable("reading the budget"))?;
        if failures >= budget {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many wrong codes were tried in the last hour; try again later or ask for a long code".into(),
            ));
        }
    }
    let token = random_text(32);
    let token_expires_at = state.now().0 + state.settings.token_secs;
    let claim = state
        .store
        .claim_code(
            &state.keys.code.hash(kind.as_str(), &code),
            now,
            &token_hash(&token),
            i64::try_from(token_expires_at).unwrap_or(i64::MAX),
        )
        .await
        .map_err(unavailable("claiming a code"))?;
    let refused = match claim {
        Claim::Claimed(diagnosis) => return Ok(verify_ok(token, token_expires_at, diagnosis)),
        Claim::Unknown => (
            StatusCode::FORBIDDEN,
            "code_invalid",
            "this code is not known; check what you typed or ask the health authority".to_owned(),
        ),
        Claim::Expired => (
            StatusCode::FORBIDDEN,
            "code_expired",
            "this code has expired; ask the health authority for a new one".to_owned(),
        ),
        Claim::Used => (StatusCode::CONFLICT, "code_used", "this code has already been used".to_owned()),
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
    params(("X-Chaff" = Option<String>, Header, description = "Set to 1 for a dummy request: answered like a real one, stores nothing")),
    responses(
        (status = 200, description = "A certificate valid for 15 minutes (also the answer to chaff)", body = CertificateResponse),
        (status = 400, description = "Not JSON (`invalid_json`), or the HMAC is not 32 bytes of base64url (`invalid_hmac`)", body = CertificateResponse),
        (status = 403, description = "Unknown (`token_invalid`) or expired (`token_expired`) token", body = CertificateResponse),
        (status = 409, description = "The token was used before (`token_used`)", body = CertificateResponse),
        (status = 429, description = "Too many failed attempts with this token (`too_many_attempts`)", body = CertificateResponse),
        (status = 503, description = "Database unavailable", body = CertificateResponse, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn certificate(State(state): State<Arc<AuthorityState>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get(CHAFF_HEADER).is_some() {
        tokio::time::sleep(state.certificate_latency.delay()).await;
        let fake = random_text(greenlight_protocol::certificate::SIGNED_CERTIFICATE_LEN);
        return certificate_ok(fake, state.now().0 + CERTIFICATE_SECS);
    }
    let started = Instant::now();
    let response = match certificate_real(&state, &body).await {
        Ok(response) => response,
        Err((status, code, message)) => {
            tracing::info!(code, status = status.as_u16(), "certificate refused");
            certificate_error(status, code, &message)
        }
    };
    state.certificate_latency.record(started.elapsed());
    response
}

async fn certificate_real(state: &AuthorityState, body: &[u8]) -> Result<Response, Refused> {
    let request: CertificateRequest = serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, "invalid_json", format!("the body is not a valid request: {e}")))?;
    let token = token_hash(&request.token);
    let hmac: Option<[u8; UPLOAD_HMAC_LEN]> = from_base64url(&request.upload_hmac).ok().and_then(|b| b.try_into().ok());
    let Some(hmac) = hmac else {
        let failures = state.store.token_failed(&token).await.map_err(unavailable("counting a failure"))?;
        if failures > MAX_TOKEN_FAILURES {
            return Err(too_many_token_attempts());
        }
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_hmac",
            "upload_hmac is not 32 bytes of unpadded base64url".into(),
        ));
    };
    let now = state.now();
    let now_i = state.now_i64();
    let diagnosis = match state.store.use_token(&token, now_i, MAX_TOKEN_FAILURES).await {
        Ok(TokenUse::Used(diagnosis)) => diagnosis,
        Ok(TokenUse::Unknown) => {
            return Err((
                StatusCode::FORBIDDEN,
                "token_invalid",
                "this token is not known; verify the code again".into(),
            ));
        }
        Ok(TokenUse::Expired) => {
            return Err((
                StatusCode::FORBIDDEN,
                "token_expired",
                "this token has expired; ask the health authority for a new code".into(),
            ));
        }
        Ok(TokenUse::AlreadyUsed) => {
            return Err((StatusCode::CONFLICT, "token_used", "this token has already been used".into()));
        }
        Ok(TokenUse::Locked) => return Err(too_many_token_attempts()),
        Err(e) => return Err(unavailable("using a token")(e)),
    };
    let report_type = ReportType::from_byte(u8::try_from(diagnosis.report_type).unwrap_or(0))
        .map_err(unavailable("a stored token has an invalid report type"))?;
    let day_kind = DayKind::from_byte(u8::try_from(diagnosis.day_kind).unwrap_or(0))
        .map_err(unavailable("a stored token has an invalid day kind"))?;
    let day = DayNumber(u32::try_from(diagnosis.day).unwrap_or(0));
    let expires_at = now.plus(CERTIFICATE_SECS);
    let id = CertificateId::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    let certificate = Certificate::new(report_type, day_kind, day, hmac, now, expires_at, id)
        .map_err(unavailable("building a certificate"))?;
    Ok(certificate_ok(certificate.sign_text(&state.keys.signing), expires_at.0))
}

fn too_many_token_attempts() -> Refused {
    (
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "too many failed attempts with this token; ask the health authority for a new code".into(),
    )
}

/// `n` random bytes as base64url: tokens, and the filler of chaff answers.
fn random_text(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(&mut bytes);
    to_base64url(&bytes)
}

/// The device routes.
pub fn router(state: Arc<AuthorityState>) -> Router {
    Router::new()
        .route("/v1/verify", post(verify))
        .route("/v1/certificate", post(certificate))
        .layer(DefaultBodyLimit::max(MAX_DEVICE_BODY))
        .with_state(state)
}
