//! Color policies (spec §13): the body alone and as a signed file.
#![no_main]
use greenlight_fuzz::{key, reseal, trusted};
use greenlight_protocol::policy::{ColorPolicy, POLICY_MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = ColorPolicy::decode_body(data) {
        assert_eq!(policy.encode_body(), data);
    }
    let _ = ColorPolicy::verify(data, &trusted());
    let file = reseal(&POLICY_MAGIC, data);
    if let Ok(policy) = ColorPolicy::verify(&file, &trusted()) {
        assert_eq!(policy.sign(&key()), file);
    }
});
