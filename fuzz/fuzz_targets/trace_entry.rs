//! One trace entry (spec §9.4).
#![no_main]
use greenlight_protocol::trace::TraceEntry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = TraceEntry::from_bytes(data) {
        assert_eq!(entry.to_bytes(), data);
    }
});
