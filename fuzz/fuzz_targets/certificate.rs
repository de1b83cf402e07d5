//! Upload certificates (spec §12.2): body, signed file and text form.
#![no_main]
use greenlight_fuzz::{key, reseal, trusted};
use greenlight_protocol::certificate::{CERTIFICATE_MAGIC, Certificate};
use greenlight_protocol::time::UnixTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(certificate) = Certificate::decode_body(data) {
        assert_eq!(certificate.encode_body(), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Certificate::verify_text(text, &trusted(), UnixTime(0));
    }
    let file = reseal(&CERTIFICATE_MAGIC, data);
    for now in [0, 1_728_091_800, u64::MAX] {
        if let Ok(verified) = Certificate::verify(&file, &trusted(), UnixTime(now)) {
            assert_eq!(verified.certificate().sign(&key()), file);
        }
    }
});
