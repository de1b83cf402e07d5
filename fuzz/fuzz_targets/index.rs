//! The signed index (spec §11): the body alone and as a signed file.
#![no_main]
use greenlight_fuzz::{key, reseal, trusted};
use greenlight_protocol::index::{INDEX_MAGIC, Index};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = Index::decode_body(data) {
        assert_eq!(index.encode_body(), data);
    }
    let _ = Index::verify(data, &trusted());
    let file = reseal(&INDEX_MAGIC, data);
    if let Ok(index) = Index::verify(&file, &trusted()) {
        assert_eq!(index.sign(&key()), file);
    }
});
