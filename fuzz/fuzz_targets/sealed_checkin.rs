//! Sealed check-in records (spec §8.2), as a phone stores them.
#![no_main]
use greenlight_protocol::checkin::SealedCheckIn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = SealedCheckIn::from_bytes(data) {
        assert_eq!(record.to_bytes(), data);
    }
});
