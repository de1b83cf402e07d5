//! The authority's signed request for revealed check-ins (spec §9.7), as
//! the key server reads it from a request header.
#![no_main]
use greenlight_fuzz::{key, reseal, trusted};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::{FEED_REQUEST_MAGIC, FeedRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = FeedRequest::verify(data, &trusted(), UnixTime(1_728_176_400));
    let file = reseal(FEED_REQUEST_MAGIC, data);
    // Checked at its own time, so freshness never hides the parser.
    let at = file.get(16..24).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    if let Ok(request) = FeedRequest::verify(&file, &trusted(), UnixTime(at)) {
        assert_eq!(request.sign(&key()), file);
    }
});
