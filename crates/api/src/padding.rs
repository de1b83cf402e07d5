//! One size for every body of an endpoint an observer could learn from.
//!
//! The phone pads its requests and the server its answers to the sizes
//! below by filling the body's `padding` field with `=`; only the
//! (encrypted) content then differs between a real report, a refused one
//! and chaff.

use serde::Serialize;
use serde_json::Value;

/// Size of every `/v1/verify` and `/v1/certificate` request.
pub const SMALL_REQUEST_SIZE: usize = 1024;
/// Size of every `/v1/publish` request: 30 keys and 50 revealed check-ins
/// with room to spare.
pub const PUBLISH_REQUEST_SIZE: usize = 48 * 1024;
/// Size of every `/v1/publish` answer.
pub const PUBLISH_RESPONSE_SIZE: usize = 512;
/// Size of every `/v1/verify` answer.
pub const VERIFY_RESPONSE_SIZE: usize = 512;
/// Size of every `/v1/certificate` answer.
pub const CERTIFICATE_RESPONSE_SIZE: usize = 512;

/// `body` (which must serialise to a JSON object) as exactly `size` bytes:
/// its `padding` field is set to as many `=` as needed. Should the object
/// be too long, its `message` field is cut (never its other fields, which
/// are short by construction) rather than reveal its length; a body with
/// no message that is still too long is returned as it is.
pub fn padded(body: &impl Serialize, size: usize) -> Vec<u8> {
    let mut value = serde_json::to_value(body).unwrap_or_else(|_| Value::Object(Default::default()));
    let Some(object) = value.as_object_mut() else {
        return serde_json::to_vec(&value).unwrap_or_default();
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
    serde_json::to_vec(object).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_body_has_the_requested_size() {
        for message in ["", "short", &"é".repeat(400)] {
            let body = json!({ "status": "x", "message": message });
            assert_eq!(padded(&body, 512).len(), 512, "{message}");
        }
        assert_eq!(padded(&json!({"code": "12345678"}), SMALL_REQUEST_SIZE).len(), SMALL_REQUEST_SIZE);
        assert_eq!(padded(&json!({"code": "ABCD-EFGH-JKLM-NPQR"}), SMALL_REQUEST_SIZE).len(), SMALL_REQUEST_SIZE);
    }

    #[test]
    fn a_cut_message_stays_valid_utf8_json() {
        let body = json!({ "status": "x", "message": "é".repeat(400) });
        let bytes = padded(&body, 300);
        assert_eq!(bytes.len(), 300);
        let back: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert!(back["message"].as_str().expect("message").ends_with("..."));
    }
}
