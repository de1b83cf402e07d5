//! Fixed-size JSON answers for the endpoints a network observer could learn
//! something from (`/v1/publish`, `/v1/verify`, `/v1/certificate`).
//!
//! Every answer of such an endpoint — success, every error and chaff — is a
//! JSON object of exactly the endpoint's size, filled up with a `padding`
//! string, so that only the (encrypted) content differs between them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// `body` (which must serialise to a JSON object) as a response of exactly
/// `size` bytes: its `padding` field is set to as many `=` as needed. Should
/// the object be too long, its `message` field is cut (never its other
/// fields, which are short by construction) rather than reveal its length.
pub fn padded_json(status: StatusCode, body: &impl Serialize, size: usize) -> Response {
    let mut value = serde_json::to_value(body).unwrap_or_else(|_| Value::Object(Default::default()));
    let Some(object) = value.as_object_mut() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "answer is not an object").into_response();
    };
    object.insert("padding".to_owned(), Value::String(String::new()));
    let length = |object: &serde_json::Map<String, Value>| serde_json::to_vec(object).map_or(0, |b| b.len());
    let base = length(object);
    if base > size
        && let Some(Value::String(message)) = object.get_mut("message")
    {
        let mut keep = message.len().saturating_sub(base - size + 3);
        while !message.is_char_boundary(keep) {
            keep -= 1;
        }
        message.truncate(keep);
        message.push_str("...");
    }
    let fill = size.saturating_sub(length(object));
    object.insert("padding".to_owned(), Value::String("=".repeat(fill)));
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
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
