//! Revealed check-ins (spec §9.6), as an upload carries them.
#![no_main]
use greenlight_protocol::trace::RevealedCheckIn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(revealed) = RevealedCheckIn::from_bytes(data) {
        assert_eq!(revealed.to_bytes(), data);
    }
});
