//! `POST /v1/certificate` bodies: the JSON and the upload HMAC's decoding,
//! which the authority checks before any database lookup.
#![no_main]
use greenlight_api::device::CertificateRequest;
use greenlight_protocol::codec::{from_base64url, to_base64url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<CertificateRequest>(data) else { return };
    if let Ok(bytes) = from_base64url(&request.upload_hmac) {
        // Strict base64url: one text per byte string.
        assert_eq!(to_base64url(&bytes), request.upload_hmac);
    }
});
