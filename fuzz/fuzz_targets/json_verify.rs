//! `POST /v1/verify` bodies: the JSON and the upload-code normalisation the
//! authority applies before any database lookup.
#![no_main]
use greenlight_api::device::VerifyRequest;
use greenlight_server::authority::codes::{display, normalize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<VerifyRequest>(data) else { return };
    if let Some((kind, code)) = normalize(&request.code) {
        // A normalised code reads back as itself, also from its display form.
        assert_eq!(normalize(&code), Some((kind, code.clone())));
        assert_eq!(normalize(&display(kind, &code)), Some((kind, code)));
    }
});
