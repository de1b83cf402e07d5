//! Signed trace batches (spec §9.5), body re-sealed so the parser is reached.
#![no_main]
use greenlight_fuzz::{key, reseal, trusted};
use greenlight_protocol::trace::{TRACE_BATCH_MAGIC, TraceBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = TraceBatch::verify(data, &trusted());
    let file = reseal(TRACE_BATCH_MAGIC, data);
    if let Ok(batch) = TraceBatch::verify(&file, &trusted()) {
        assert_eq!(batch.sign(&key()), file);
    }
});
