//! The real BlueZ backend — btleplug scanning, bluer advertising, the
//! doctor — against python3-dbusmock's `bluez5` template on a private D-Bus
//! system bus: what BlueZ would tell the radio, and what the radio asks of
//! BlueZ. No Bluetooth hardware is involved or faked; the mock stands where
//! bluetoothd would.
//!
//! Needs `dbus-daemon` and python3-dbusmock (`tests/setup.sh` installs
//! them); without them these tests fail and say so.

mod support;

use dbus::arg::{PropMap, RefArg, cast, prop_cast};
use greenlight_ble::bluez::{BluezConfig, BluezRadio, doctor, doctor_on};
use greenlight_ble::doctor::{AdvertisingSlots, Missing};
use greenlight_ble::radio::{Radio, RadioError, ScanDutyCycle, Sightings};
use greenlight_ble::{Clock, SimClock};
use greenlight_protocol::advert::{Advertisement, ServiceUuid};
use greenlight_protocol::daily_key::{DailyKey, Metadata};
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};
use std::sync::Arc;
use std::time::Duration;
use support::{Bus, Mock, dict_entry, on_private_bus, strings};

const ADAPTER: &str = "/org/bluez/hci0";
/// 2026-05-11 09:00 UTC: where the tests' clock stands.
const T0: UnixTime = UnixTime(20_584 * 86_400 + 9 * 3_600);

fn our_uuid() -> String {
    ServiceUuid::PLACEHOLDER.to_uuid_string()
}

/// The real advertisement a phone would broadcast in `slot` of a day.
fn advertisement(key: u8, slot: u8) -> Advertisement {
    let schedule = DailyKey::from_bytes([key; 16]).schedule(DayNumber(20_584));
    let id = schedule.id(slot);
    Advertisement { id, metadata: schedule.seal_metadata(&id, Metadata::v1(-25)) }
}

async fn next_sighting(sightings: &mut Sightings) -> Sighting {
    tokio::time::timeout(Duration::from_secs(20), sightings.recv())
        .await
        .expect("a sighting within 20 s")
        .expect("the scan is running")
        .expect("no scan error")
}

#[test]
fn scanning_reports_our_service_data_as_sightings() {
    on_private_bus("scanning_reports_our_service_data_as_sightings", Bus::MockBluez, |address| async move {
        let mock = Mock::connect(&address);
        mock.add_adapter("hci0");
        let phone = mock.add_device("hci0", "C0:FF:EE:00:00:01");
        let clock = SimClock::new(T0);
        let radio = BluezRadio::open_with_clock(BluezConfig::default(), Arc::new(clock.clone()))
            .await
            .expect("the mock adapter opens");
        let duty = ScanDutyCycle::new(Duration::from_secs(2), Duration::from_secs(3)).expect("valid");
        let mut sightings = radio.scan(duty).await.expect("scanning starts");

        // First window: the phone's RSSI, then our service data, then a new
        // RSSI: two receptions of one advertisement.
        mock.wait_for_calls(ADAPTER, "StartDiscovery", 1);
        let first = advertisement(1, 54);
        mock.set_rssi(&phone, -55);
        mock.set_service_data(&phone, &our_uuid(), &first.service_data());
        mock.set_rssi(&phone, -65);
        // Not ours: a GAEN phone (0xFD6F) and 19 bytes under our UUID.
        let gaen = mock.add_device("hci0", "C0:FF:EE:00:00:02");
        mock.set_service_data(&gaen, "0000fd6f-0000-1000-8000-00805f9b34fb", &first.service_data());
        mock.set_rssi(&gaen, -40);
        let truncated = mock.add_device("hci0", "C0:FF:EE:00:00:03");
        mock.set_service_data(&truncated, &our_uuid(), &first.service_data()[..19]);
        mock.set_rssi(&truncated, -41);

        let sighting = next_sighting(&mut sightings).await;
        assert_eq!(
            sighting,
            Sighting { id: first.id, metadata: first.metadata, rssi: -60, seen_at: T0 },
            "one sighting per advertisement per window, at the mean RSSI"
        );

        // Ten minutes later the phone has rotated: new address, new ID.
        clock.advance(600);
        let starts = mock.calls_of(ADAPTER, "StartDiscovery").len();
        mock.wait_for_calls(ADAPTER, "StartDiscovery", starts + 1);
        let rotated = mock.add_device("hci0", "C0:FF:EE:00:00:04");
        let second = advertisement(1, 55);
        mock.set_rssi(&rotated, -70);
        mock.set_service_data(&rotated, &our_uuid(), &second.service_data());
        let sighting = next_sighting(&mut sightings).await;
        assert_eq!(
            sighting,
            Sighting { id: second.id, metadata: second.metadata, rssi: -70, seen_at: clock.now() },
            "nothing from the foreign or truncated service data came in between"
        );

        // Discovery was filtered on our UUID and followed the duty cycle.
        let filters = mock.calls_of(ADAPTER, "SetDiscoveryFilter");
        assert!(!filters.is_empty());
        for filter in &filters {
            let uuids = dict_entry(&*filter[0], "UUIDs").map(strings);
            assert_eq!(uuids, Some(vec![our_uuid()]));
        }
        let on_off: Vec<String> = mock
            .calls(ADAPTER)
            .into_iter()
            .map(|(method, _)| method)
            .filter(|m| m == "StartDiscovery" || m == "StopDiscovery")
            .collect();
        assert!(on_off.len() >= 3, "{on_off:?}");
        for (i, method) in on_off.iter().enumerate() {
            let expected = if i % 2 == 0 { "StartDiscovery" } else { "StopDiscovery" };
            assert_eq!(method, expected, "discovery alternates on and off: {on_off:?}");
        }

        // Dropping the stream stops the scan for good.
        drop(sightings);
        tokio::time::sleep(Duration::from_secs(4)).await;
        let settled = mock.calls(ADAPTER);
        tokio::time::sleep(Duration::from_secs(4)).await;
        let later = mock.calls(ADAPTER);
        assert_eq!(settled.len(), later.len(), "no discovery after the stream was dropped");
        assert_eq!(later.last().map(|(m, _)| m.as_str()), Some("StopDiscovery"));
    });
}

fn text(properties: &PropMap, name: &str) -> Option<String> {
    prop_cast::<String>(properties, name).cloned()
}

/// The payload of `uuid` in an advertisement's `ServiceData`.
fn service_data(properties: &PropMap, uuid: &str) -> Option<Vec<u8>> {
    let data = prop_cast::<PropMap>(properties, "ServiceData")?;
    cast::<Vec<u8>>(&data.get(uuid)?.0).cloned()
}

#[test]
fn advertising_registers_our_payload_with_bluez() {
    on_private_bus("advertising_registers_our_payload_with_bluez", Bus::MockBluez, |address| async move {
        let mock = Mock::connect(&address);
        mock.add_adapter("hci0");
        mock.add_advertising_manager(ADAPTER);
        let radio = BluezRadio::open(BluezConfig::default()).await.expect("the mock adapter opens");

        let first = advertisement(7, 0);
        radio.advertise(first).await.expect("BlueZ accepts the advertisement");
        let registered = mock.wait_for_calls(ADAPTER, "RegisterAdvertisement", 1);
        let path_a = registered[0][0].as_str().expect("an object path").to_owned();
        let properties = mock.advertisement(&path_a);
        assert_eq!(text(&properties, "Type").as_deref(), Some("broadcast"), "non-connectable: a fresh random address");
        assert_eq!(prop_cast::<Vec<String>>(&properties, "ServiceUUIDs"), Some(&vec![our_uuid()]));
        assert_eq!(service_data(&properties, &our_uuid()), Some(first.service_data().to_vec()));
        assert_eq!(prop_cast::<u32>(&properties, "MinInterval"), Some(&200));
        assert_eq!(prop_cast::<u32>(&properties, "MaxInterval"), Some(&270));

        // The same payload again changes nothing.
        radio.advertise(first).await.expect("no-op");
        assert_eq!(mock.calls_of(ADAPTER, "RegisterAdvertisement").len(), 1);

        // The next interval's payload is a new registration (so a new
        // address), and the old one is withdrawn.
        let second = advertisement(7, 1);
        radio.advertise(second).await.expect("BlueZ accepts the next advertisement");
        let registered = mock.wait_for_calls(ADAPTER, "RegisterAdvertisement", 2);
        let path_b = registered[1][0].as_str().expect("an object path").to_owned();
        assert_ne!(path_a, path_b);
        assert_eq!(service_data(&mock.advertisement(&path_b), &our_uuid()), Some(second.service_data().to_vec()));
        let withdrawn = mock.wait_for_calls(ADAPTER, "UnregisterAdvertisement", 1);
        assert_eq!(withdrawn[0][0].as_str(), Some(path_a.as_str()));

        radio.stop_advertising().await.expect("stops");
        let withdrawn = mock.wait_for_calls(ADAPTER, "UnregisterAdvertisement", 2);
        assert_eq!(withdrawn[1][0].as_str(), Some(path_b.as_str()));
        assert_eq!(mock.calls_of(ADAPTER, "RegisterAdvertisement").len(), 2);
    });
}

#[test]
fn advertising_without_an_le_advertising_manager_says_so() {
    on_private_bus("advertising_without_an_le_advertising_manager_says_so", Bus::MockBluez, |address| async move {
        let mock = Mock::connect(&address);
        mock.add_adapter("hci0");
        let radio = BluezRadio::open(BluezConfig::default()).await.expect("scanning is possible");
        let error = radio.advertise(advertisement(1, 0)).await.expect_err("cannot advertise");
        assert_eq!(error, RadioError::Unavailable(Missing::AdvertisingManager { adapter: "hci0".to_owned() }));
        assert!(error.to_string().contains("hci0 cannot advertise"), "{error}");
    });
}

#[test]
fn opening_without_bluez_says_bluez_is_not_running() {
    on_private_bus("opening_without_bluez_says_bluez_is_not_running", Bus::Empty, |address| async move {
        let error = BluezRadio::open(BluezConfig::default()).await.expect_err("no BlueZ");
        assert_eq!(error, RadioError::Unavailable(Missing::Bluez { address }));
        assert!(error.to_string().contains("BlueZ is not running: nothing owns org.bluez"), "{error}");
        let report = tokio::task::spawn_blocking(doctor).await.expect("the doctor runs");
        assert!(report.to_string().contains("FAIL  BlueZ          nothing owns org.bluez"), "{report}");
    });
}

#[test]
fn opening_names_a_missing_or_switched_off_adapter() {
    on_private_bus("opening_names_a_missing_or_switched_off_adapter", Bus::MockBluez, |_| async move {
        let error = BluezRadio::open(BluezConfig::default()).await.expect_err("no adapter");
        assert!(matches!(error, RadioError::Unavailable(Missing::Adapter { .. })), "{error:?}");
        assert!(error.to_string().contains("BlueZ has no Bluetooth adapter"), "{error}");

        let mock = Mock::connect(&std::env::var("DBUS_SYSTEM_BUS_ADDRESS").expect("set"));
        mock.add_adapter("hci0");
        let config = BluezConfig { adapter: Some("hci1".to_owned()), ..BluezConfig::default() };
        let error = BluezRadio::open(config).await.expect_err("no hci1");
        assert_eq!(
            error,
            RadioError::Unavailable(Missing::NamedAdapter {
                name: "hci1".to_owned(),
                available: vec!["hci0".to_owned()]
            })
        );

        mock.set(ADAPTER, "org.bluez.Adapter1", "Powered", false);
        let error = BluezRadio::open(BluezConfig::default()).await.expect_err("powered off");
        assert_eq!(error, RadioError::Unavailable(Missing::Power { adapter: "hci0".to_owned() }));
        assert!(error.to_string().contains("bluetoothctl power on"), "{error}");
    });
}

#[test]
fn the_doctor_describes_each_adapter() {
    on_private_bus("the_doctor_describes_each_adapter", Bus::MockBluez, |address| async move {
        let mock = Mock::connect(&address);
        mock.add_adapter("hci0");
        mock.add_advertising_manager(ADAPTER);
        mock.add_adapter("hci1");
        mock.set("/org/bluez/hci1", "org.bluez.Adapter1", "Powered", false);

        let report = tokio::task::spawn_blocking(doctor).await.expect("the doctor runs");
        assert_eq!(report.bus_address, address);
        assert!(report.bus.is_ok() && report.bluez_running);
        let summary: Vec<_> =
            report.adapters.iter().map(|a| (a.name.as_str(), a.address.as_deref(), a.powered, a.advertising)).collect();
        assert_eq!(
            summary,
            vec![
                ("hci0", Some("00:01:02:03:04:05"), true, Some(AdvertisingSlots { active: 0, available: 5 })),
                ("hci1", Some("01:02:03:04:05:06"), false, None),
            ]
        );
        let text = report.to_string();
        assert!(text.contains("ok    system bus"), "{text}");
        assert!(text.contains("ok    BlueZ          org.bluez is running"), "{text}");
        assert!(
            text.contains("adapter hci0   00:01:02:03:04:05, powered on, LE advertising: 5 slots free, 0 in use"),
            "{text}"
        );
        assert!(text.contains("FAIL  adapter hci1   01:02:03:04:05:06, powered OFF, no LE advertising"), "{text}");
        assert!(text.ends_with("Ready: scanning and advertising on hci0.\n"), "{text}");
    });
}

#[test]
fn the_doctor_without_a_system_bus_says_where_it_looked() {
    let report = doctor_on("unix:path=/nonexistent/greenlight/bus");
    assert!(report.bus.is_err());
    let text = report.to_string();
    assert!(text.contains("FAIL  system bus     unix:path=/nonexistent/greenlight/bus: "), "{text}");
    assert!(text.contains("Not ready: cannot reach the D-Bus system bus"), "{text}");
}
