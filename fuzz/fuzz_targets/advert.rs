//! BLE advertisement payloads and service data (spec §5.2).
#![no_main]
use greenlight_protocol::advert::{Advertisement, ServiceUuid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let uuid = ServiceUuid::default();
    if let Ok(advert) = Advertisement::decode(data, uuid) {
        // Either layout decodes to the advert whose service data ends the payload.
        assert_eq!(advert.service_data()[..], data[data.len() - 20..]);
    }
    if let Ok(advert) = Advertisement::from_service_data(data) {
        assert_eq!(advert.service_data()[..], data[..]);
    }
});
