//! Answers both services give the same way: fixed-size JSON for the
//! endpoints a network observer could learn something from (`/v1/publish`,
//! `/v1/verify`, `/v1/certificate`), and `Retry-After` on every 503.
//!
//! Every answer of such an endpoint — success, every error and chaff — is a
//! JSON object of exactly the endpoint's size, filled up with a `padding`
//! string, so that only the (encrypted) content differs between them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `body` (which must serialise to a JSON object) as a response of exactly
/// `size` bytes ([`greenlight_api::padding::padded`]: the `padding` field
/// fills it up; an over-long `message` is cut rather than reveal its
/// length), with the headers every such answer has.
pub fn padded_json(status: StatusCode, body: &impl Serialize, size: usize) -> Response {
    let mut response = (status, greenlight_api::padding::padded(body, size)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Adds `Retry-After` to a 503: the fault (database or storage away) is
/// temporary, and clients should come back rather than give up.
pub fn with_retry_after(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(greenlight_api::RETRY_AFTER_SECS));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_len(response: Response) -> usize {
        axum::body::to_bytes(response.into_body(), 1 << 20).await.map_or(0, |b| b.len())
    }

    #[tokio::test]
    async fn every_answer_has_the_requested_size() {
        for message in ["", "short", &"é".repeat(400)] {
            let body = serde_json::json!({ "status": "x", "message": message });
            assert_eq!(body_len(padded_json(StatusCode::OK, &body, 512)).await, 512, "{message}");
        }
    }
}
