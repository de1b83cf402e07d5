//! The health authority's one error type: an HTTP status, a stable code
//! and a message a person may read. A phone gets it as the padded JSON
//! answer of its endpoint ([`AuthorityError::verify_answer`],
//! [`AuthorityError::certificate_answer`]); staff get it as the portal's
//! message page (its [`IntoResponse`]). Internal causes (a database error,
//! a key server that cannot be reached) are logged where the error is made
//! and never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use greenlight_api::device::{CertificateResponse, VerifyResponse};
use greenlight_api::padding::{CERTIFICATE_RESPONSE_SIZE, VERIFY_RESPONSE_SIZE};
use greenlight_service::answer::padded_json;
use greenlight_service::answer::with_retry_after;

/// Why the authority refused or could not do something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`code_invalid`, `unavailable`, …).
    pub code: &'static str,
    /// What a person is told.
    pub message: String,
}

impl AuthorityError {
    /// A refusal with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AuthorityError { status, code, message: message.into() }
    }

    /// A malformed request (400).
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        AuthorityError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The database (or another part of this service) failed while
    /// `doing`: logged with its cause, answered 503 with a plain message.
    pub fn unavailable(doing: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{doing}");
        AuthorityError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is unavailable. Nothing was changed; try again in a moment.",
        )
    }

    /// The key server failed or refused, while `doing`: logged with its
    /// cause, answered 502 with `shown` (which says what happened, never
    /// the cause's text unless it is the key server's own refusal).
    pub fn key_server(doing: &str, cause: impl std::fmt::Display, shown: impl Into<String>) -> Self {
        tracing::warn!(error = %cause, "{doing}");
        AuthorityError::new(StatusCode::BAD_GATEWAY, "key_server", shown)
    }

    /// The padded `/v1/verify` answer (with `Retry-After` on a 503).
    pub fn verify_answer(&self) -> Response {
        tracing::info!(code = self.code, status = self.status.as_u16(), "verification refused");
        let body = VerifyResponse::error(self.code, &self.message);
        with_retry_after(padded_json(self.status, &body, VERIFY_RESPONSE_SIZE))
    }

    /// The padded `/v1/certificate` answer (with `Retry-After` on a 503).
    pub fn certificate_answer(&self) -> Response {
        tracing::info!(code = self.code, status = self.status.as_u16(), "certificate refused");
        let body = CertificateResponse::error(self.code, &self.message);
        with_retry_after(padded_json(self.status, &body, CERTIFICATE_RESPONSE_SIZE))
    }
}

impl std::fmt::Display for AuthorityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuthorityError {}

/// The portal's message page.
impl IntoResponse for AuthorityError {
    fn into_response(self) -> Response {
        let page = crate::portal::Page::public(if self.status.is_server_error() { "Unavailable" } else { "Refused" });
        with_retry_after(crate::portal::message(self.status, page, self.message, "/portal"))
    }
}
