//! Release requests and bundles of two-party tracing (spec §9.2, §9.3).
#![no_main]
use greenlight_fuzz::{key, reseal, trusted};
use greenlight_protocol::signing::{SignedFile, seal_file};
use greenlight_protocol::trace::{RELEASE_BUNDLE_MAGIC, RELEASE_REQUEST_MAGIC, ReleaseBundle, ReleaseRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ReleaseRequest::verify(data, &trusted());
    let file = reseal(RELEASE_REQUEST_MAGIC, data);
    if let Ok(request) = ReleaseRequest::verify(&file, &trusted()) {
        assert_eq!(request.sign(&key()), file);
    }
    let _ = ReleaseBundle::verify(data);
    // A bundle names the key it is signed with (after the version byte):
    // name ours and sign with it.
    let mut body = SignedFile::parse(RELEASE_BUNDLE_MAGIC, data).map_or(data, |f| f.body).to_vec();
    if body.len() >= 33 {
        body[1..33].copy_from_slice(key().verifying_key().as_bytes());
    }
    if let Ok(bundle) = ReleaseBundle::verify(&seal_file(RELEASE_BUNDLE_MAGIC, &body, &key())) {
        assert_eq!(bundle.venue, key().verifying_key());
    }
});
