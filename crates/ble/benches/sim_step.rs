//! What the simulated radio costs at the town simulation's scale: 10,000
//! phones that all advertise (a new ID every 10 minutes) and all scan (4 s
//! every 5 minutes), living in flats, working in offices and meeting in
//! cafés, for one simulated day; then the cost per phone per 10-minute
//! interval and the extrapolation to 14 days.
//!
//! `cargo bench -p greenlight-ble --bench sim_step` (a plain timer, no
//! harness: one run is enough to see the order of magnitude);
//! `SIM_STEP_INTERVALS=n` simulates n ten-minute intervals instead of 144.

use greenlight_ble::calibration::CalibrationTable;
use greenlight_ble::radio::ScanDutyCycle;
use greenlight_ble::sim::{DeviceId, DeviceSpec, Position, SimConfig, SimWorld, ZoneId};
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::daily_key::{EncryptedMetadata, EphemeralId};
use greenlight_protocol::time::UnixTime;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::time::Instant;

const RESIDENTS: u32 = 10_000;
const T0: UnixTime = UnixTime(1_778_457_600); // 2026-05-11 00:00 UTC

struct Place {
    corner: Position,
    size: f32,
    zone: ZoneId,
}

struct Resident {
    phone: DeviceId,
    home: usize,
    work: Option<usize>,
    cafe: usize,
}

fn uniform(rng: &mut ChaCha8Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32
}

fn spot(place: &Place, rng: &mut ChaCha8Rng) -> Position {
    Position::new(place.corner.x + uniform(rng) * place.size, place.corner.y + uniform(rng) * place.size)
}

fn payload(phone: DeviceId, interval: u32) -> Advertisement {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&phone.0.to_be_bytes());
    id[4..8].copy_from_slice(&interval.to_be_bytes());
    Advertisement { id: EphemeralId(id), metadata: EncryptedMetadata([0; 4]) }
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let config = SimConfig { seed: 1, start: T0, area_m: (3_000.0, 3_000.0), ..SimConfig::default() };
    let mut world = SimWorld::new(config).expect("valid config");
    let mut places = Vec::new();
    let mut place = |world: &mut SimWorld, x: f32, y: f32, size: f32| {
        places.push(Place { corner: Position::new(x, y), size, zone: world.add_zone() });
        places.len() - 1
    };
    // 3,364 flats of 10 m in blocks 40 m apart, 100 offices of 30 m, 60 cafés of 15 m.
    let flats: Vec<usize> = (0..58 * 58)
        .map(|i| place(&mut world, (i % 58) as f32 * 40.0 + 300.0, (i / 58) as f32 * 40.0 + 300.0, 10.0))
        .collect();
    let offices: Vec<usize> = (0..100)
        .map(|i| place(&mut world, (i % 10) as f32 * 250.0 + 320.0, (i / 10) as f32 * 250.0 + 310.0, 30.0))
        .collect();
    let cafes: Vec<usize> = (0..60)
        .map(|i| place(&mut world, (i % 8) as f32 * 300.0 + 350.0, (i / 8) as f32 * 300.0 + 330.0, 15.0))
        .collect();

    let table = CalibrationTable::reference();
    let residents: Vec<Resident> = (0..RESIDENTS)
        .map(|i| {
            let home = flats[i as usize / 3];
            let calibration = table.rows()[rng.next_u32() as usize % table.rows().len()].calibration;
            let at = spot(&places[home], &mut rng);
            let phone = world.add_device(DeviceSpec::new(calibration).at(at, places[home].zone).with_body_loss(3.0));
            world.start_scanning(phone, ScanDutyCycle::DEFAULT);
            let work = (rng.next_u32() % 10 < 6).then(|| offices[rng.next_u32() as usize % offices.len()]);
            Resident { phone, home, work, cafe: cafes[rng.next_u32() as usize % cafes.len()] }
        })
        .collect();

    // SIM_STEP_INTERVALS shortens the run (for callgrind).
    let intervals: u32 = std::env::var("SIM_STEP_INTERVALS").ok().and_then(|v| v.parse().ok()).unwrap_or(144);
    let started = Instant::now();
    let mut receptions = 0u64;
    for interval in 0..intervals {
        let hour = interval / 6;
        for (i, r) in residents.iter().enumerate() {
            let coffee = i % 5 == 0;
            let target = match (hour, r.work) {
                (8..=11 | 13..=16, Some(work)) => work,
                (12, Some(_)) if coffee => r.cafe,
                (12, Some(work)) => work,
                (18 | 19, _) if coffee => r.cafe,
                _ => r.home,
            };
            // Move only at the hour, when schedules change.
            if interval % 6 == 0 {
                let at = spot(&places[target], &mut rng);
                world.move_device(r.phone, at, places[target].zone);
            }
            world.advertise(r.phone, payload(r.phone, interval));
        }
        world.advance_to(T0.plus(600 * u64::from(interval + 1) - 1), |_| receptions += 1);
    }
    let elapsed = started.elapsed();
    let per_phone_interval = elapsed.as_nanos() as f64 / (f64::from(RESIDENTS) * f64::from(intervals));
    println!("{RESIDENTS} phones, {intervals} intervals: {:.2} s, {receptions} sightings", elapsed.as_secs_f64());
    println!("per phone per 10-minute interval: {:.0} ns (2 scan windows, 1 ID rotation)", per_phone_interval);
    println!("14 days extrapolated: {:.1} s", per_phone_interval * f64::from(RESIDENTS) * 144.0 * 14.0 / 1e9);
}
