//! The signed-file envelope (spec §2.1) under every magic.
#![no_main]
use greenlight_fuzz::trusted;
use greenlight_protocol::certificate::CERTIFICATE_MAGIC;
use greenlight_protocol::export::EXPORT_MAGIC;
use greenlight_protocol::index::INDEX_MAGIC;
use greenlight_protocol::policy::POLICY_MAGIC;
use greenlight_protocol::signing::{SignedFile, open_file};
use greenlight_protocol::trace::{RELEASE_BUNDLE_MAGIC, RELEASE_REQUEST_MAGIC, TRACE_BATCH_MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for magic in [
        &CERTIFICATE_MAGIC,
        &EXPORT_MAGIC,
        &INDEX_MAGIC,
        &POLICY_MAGIC,
        TRACE_BATCH_MAGIC,
        RELEASE_REQUEST_MAGIC,
        RELEASE_BUNDLE_MAGIC,
    ] {
        if let Ok(file) = SignedFile::parse(magic, data) {
            assert_eq!(file.body, &data[8..8 + file.body.len()]);
            let _ = file.verify(&trusted());
        }
        let _ = open_file(magic, data, &trusted());
    }
});
