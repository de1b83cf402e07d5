//! The simulated radio through the async [`Radio`] interface, as the client
//! will use it: advertise, rotate, scan, read the stream, stop.

use greenlight_ble::Clock;
use greenlight_ble::calibration::Calibration;
use greenlight_ble::radio::{Radio, ScanDutyCycle, Sightings};
use greenlight_ble::sim::{DeviceSpec, Position, SharedWorld, SimConfig, SimWorld, ZoneId};
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::daily_key::{DailyKey, Metadata};
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};

/// 2026-05-11 09:00 UTC.
const T0: UnixTime = UnixTime(20_584 * 86_400 + 9 * 3_600);

fn advertisement(key: u8, at: UnixTime) -> Advertisement {
    let interval = at.interval();
    let schedule = DailyKey::from_bytes([key; 16]).schedule(DayNumber(20_584));
    let id = schedule.id(interval.slot());
    Advertisement { id, metadata: schedule.seal_metadata(&id, Metadata::v1(-25)) }
}

fn drain(sightings: &mut Sightings) -> Vec<Sighting> {
    std::iter::from_fn(|| sightings.try_recv()).map(|s| s.expect("the simulation never errs")).collect()
}

/// What a client does at the start of each interval: advertise the
/// interval's payload.
async fn broadcast_interval(radio: &impl Radio, key: u8, clock: &impl Clock) {
    radio.advertise(advertisement(key, clock.now())).await.expect("the simulation accepts it");
}

#[tokio::test]
async fn two_phones_hear_each_other_through_the_radio_interface() {
    let world = SharedWorld::new(
        SimWorld::new(SimConfig { seed: 11, start: T0, missed_scan: 0.0, ..SimConfig::default() }).expect("valid"),
    );
    let clock = world.clock();
    let spec = |x| DeviceSpec::new(Calibration::DEFAULT).at(Position::new(x, 0.0), ZoneId::OUTDOORS);
    let alice = world.add_device(spec(0.0));
    let bob = world.add_device(spec(1.5));

    broadcast_interval(&alice, 1, &clock).await;
    let mut heard_by_bob = bob.scan(ScanDutyCycle::DEFAULT).await.expect("scanning starts");
    world.advance(599);
    assert_eq!(clock.now(), T0.plus(599), "the shared clock follows the world");
    let first = drain(&mut heard_by_bob);
    // Two scans of 4 s every 5 min fit in the 10-minute interval.
    assert_eq!(first.len(), 2, "{first:?}");
    for s in &first {
        assert_eq!((s.id, s.metadata), (advertisement(1, T0).id, advertisement(1, T0).metadata));
        assert!(s.seen_at >= T0 && s.seen_at < T0.plus(600), "{s:?}");
        assert!((-100..=-60).contains(&s.rssi), "{s:?}");
    }
    let address = world.with(|w| w.address(alice.device()));

    // The next interval (its first scan can start no earlier than 600 s):
    // a new ID from a new address.
    alice.advertise(advertisement(1, T0.plus(600))).await.expect("accepted");
    assert_ne!(world.with(|w| w.address(alice.device())), address, "the address rotates with the ID");
    world.advance(600);
    let second = drain(&mut heard_by_bob);
    assert!(!second.is_empty());
    assert!(second.iter().all(|s| s.id == advertisement(1, T0.plus(600)).id), "{second:?}");

    // Alice stops: Bob hears nothing more.
    alice.stop_advertising().await.expect("stops");
    world.advance(1_200);
    assert_eq!(drain(&mut heard_by_bob), Vec::new());

    // Bob drops his stream: the world stops his scan.
    drop(heard_by_bob);
    world.advance(1);
    assert!(!world.with(|w| w.is_scanning(bob.device())));
}

#[tokio::test]
async fn a_second_scan_replaces_the_first() {
    let world = SharedWorld::new(SimWorld::new(SimConfig { start: T0, ..SimConfig::default() }).expect("valid"));
    let phone = world.add_device(DeviceSpec::new(Calibration::DEFAULT));
    let mut first = phone.scan(ScanDutyCycle::DEFAULT).await.expect("scans");
    let _second = phone.scan(ScanDutyCycle::DEFAULT).await.expect("scans again");
    assert!(first.recv().await.is_none(), "the first stream ends");
    assert!(world.with(|w| w.is_scanning(phone.device())));
}
