//! Export batches (spec §10): the body alone and as a signed file.
#![no_main]
use greenlight_fuzz::{key, reseal, trusted};
use greenlight_protocol::export::{EXPORT_MAGIC, ExportBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = ExportBatch::decode_body(data) {
        assert_eq!(batch.encode_body(), data);
    }
    let _ = ExportBatch::verify(data, &trusted());
    let file = reseal(&EXPORT_MAGIC, data);
    if let Ok(batch) = ExportBatch::verify(&file, &trusted()) {
        assert_eq!(batch.sign(&key()), file);
    }
});
