//! The radio pass: every resident carries a phone on the simulated radio,
//! broadcasting real rotating IDs; residents who will report carry the real
//! client (its sealed store, its keys, its report over HTTP); every hour the
//! key server exports, and every phone matches what was published and
//! decides its color with the client's code.

use super::layout::{STEP_SECS, STEPS_PER_DAY, STEPS_PER_HOUR, Town, mix};
use super::services::{Feed, Published, Services};
use super::truth::Truth;
use greenlight_ble::calibration::{Calibration, CalibrationTable};
use greenlight_ble::radio::ScanDutyCycle;
use greenlight_ble::sim::{DeviceId, DeviceSpec, Position, SimConfig, SimWorld, ZoneId};
use greenlight_client::store::{Exposure, Store};
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::color::{Color, decide};
use greenlight_protocol::daily_key::{DailyKey, KeySchedule, Metadata};
use greenlight_protocol::matcher::{MatchConfig, Sighting, SightingIndex};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::time::{DayNumber, UnixTime};
use rand_core::SeedableRng;
use std::path::Path;

/// Attenuation histogram bins: 2 dB wide from 0 dB.
pub(crate) const BIN_DB: u8 = 2;
/// Number of bins (0–118 dB and above).
pub(crate) const BINS: usize = 60;

/// One resident's phone.
pub(crate) struct Phone {
    device: DeviceId,
    calibration: Calibration,
    /// Today's key schedule, for the phones without the real client.
    schedule: Option<KeySchedule>,
    /// The real client's sealed store, for residents who will report.
    store: Option<Store>,
    /// The day whose key was released by a report: no more broadcasts.
    released: Option<DayNumber>,
    /// Sightings of phones whose keys will be published (see README: no
    /// other sighting can ever match).
    pub(crate) sightings: Vec<Sighting>,
    /// What the client's matching found, as the client stores it.
    pub(crate) exposures: Vec<Exposure>,
    /// When the phone first turned yellow under the signed policy.
    pub(crate) yellow_at: Option<UnixTime>,
    /// When the GAEN-style baseline would first have notified.
    pub(crate) gaen_at: Option<UnixTime>,
    place: u32,
    position: Position,
}

/// What the radio pass produced.
pub(crate) struct RadioRun {
    /// Every phone, by resident.
    pub(crate) phones: Vec<Phone>,
    /// Per day: residents green, yellow, red at the end of the day.
    pub(crate) colors: Vec<[u32; 3]>,
    /// Attenuation of stored sightings: `[within 2 m, farther]` per bin.
    pub(crate) histogram: [[u64; BINS]; 2],
    /// Reports that went through the whole HTTP path, with their upload time.
    pub(crate) reported: Vec<(u32, UnixTime)>,
    /// Export batches downloaded and verified.
    pub(crate) batches: usize,
    /// Published keys (real and padding) downloaded.
    pub(crate) keys_downloaded: usize,
    /// Sightings the radio delivered in all (stored or not).
    pub(crate) receptions: u64,
}

/// Which color policy the town's authority signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PolicyChoice {
    /// `ColorPolicy::recommended`: buckets at 63 / 73 / 79 dB weighted
    /// 100 / 100 / 10 / 0 %, 15 weighted minutes a day.
    Recommended,
    /// A stricter policy an authority could sign for this radio model:
    /// only the bucket under 52 dB counts (about 2 m with the simulated
    /// radio's path loss, bodies and shadowing), 15 minutes a day.
    Close,
}

/// The policy every phone uses.
pub(crate) fn policy(choice: PolicyChoice, start: UnixTime) -> ColorPolicy {
    let recommended = ColorPolicy::recommended(1, start);
    match choice {
        PolicyChoice::Recommended => recommended,
        PolicyChoice::Close => {
            let mut params = *recommended.params();
            params.attenuation_thresholds_db = CLOSE_THRESHOLDS_DB;
            params.bucket_weights_percent = [100, 0, 0, 0];
            ColorPolicy::new(params).expect("a valid policy")
        }
    }
}

/// Bucket edges of [`PolicyChoice::Close`], dB.
pub(crate) const CLOSE_THRESHOLDS_DB: [u8; 3] = [52, 63, 73];

/// Runs the radio pass over `days` starting on `start_day`, then syncs
/// hourly until noon of the day after.
#[expect(clippy::too_many_arguments, reason = "one call site, each argument a different part of the town")]
pub(crate) async fn run(
    town: &Town,
    truth: &Truth,
    days: u32,
    start_day: DayNumber,
    seed: u64,
    services: &mut Services,
    phone_dir: &Path,
    policy: &ColorPolicy,
    mut progress: impl FnMut(),
) -> Result<RadioRun, String> {
    let start = start_day.start();
    let n = town.residents.len();
    let mut world = SimWorld::new(SimConfig {
        seed,
        start,
        area_m: (super::layout::AREA_M, super::layout::AREA_M),
        ..SimConfig::default()
    })
    .map_err(|e| e.to_string())?;
    // One radio zone per place; flats of one building share one wall.
    let zones: Vec<ZoneId> = town.places.iter().map(|_| world.add_zone()).collect();
    let mut by_building: std::collections::BTreeMap<u32, Vec<usize>> = std::collections::BTreeMap::new();
    for (i, p) in town.places.iter().enumerate() {
        if let Some(b) = p.building {
            by_building.entry(b).or_default().push(i);
        }
    }
    for flats in by_building.values() {
        for (k, &a) in flats.iter().enumerate() {
            for &b in &flats[k + 1..] {
                world.set_walls_between(zones[a], zones[b], 1);
            }
        }
    }
    let models = CalibrationTable::reference();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut phones = Vec::with_capacity(n);
    for r in 0..u32::try_from(n).map_err(|e| e.to_string())? {
        let rows = models.rows();
        let calibration = rows[super::layout::pick(mix(seed, 200, u64::from(r), 0), rows.len())].calibration;
        let (place, position) = town.whereabouts(r, 0, 0, false);
        let kind = town.places[place as usize].kind;
        let device = world.add_device(
            DeviceSpec::new(calibration).at(position, zones[place as usize]).with_body_loss(kind.body_loss_db()),
        );
        world.start_scanning(device, ScanDutyCycle::DEFAULT);
        let store = if truth.reports[r as usize].is_some() {
            let store = Store::open(&phone_dir.join(format!("phone-{r}"))).await.map_err(|e| e.to_string())?;
            services.settings.save(&store).await.map_err(|e| e.to_string())?;
            Some(store)
        } else {
            None
        };
        phones.push(Phone {
            device,
            calibration,
            schedule: None,
            store,
            released: None,
            sightings: Vec::new(),
            exposures: Vec::new(),
            yellow_at: None,
            gaen_at: None,
            place,
            position,
        });
    }
    let tx_power: Vec<i8> = phones.iter().map(|p: &Phone| p.calibration.tx_power_dbm).collect();
    let will_publish: Vec<bool> = truth.reports.iter().map(Option::is_some).collect();
    let mut reports_at: std::collections::BTreeMap<u64, Vec<u32>> = std::collections::BTreeMap::new();
    for (r, plan) in truth.reports.iter().enumerate() {
        if let Some(plan) = plan {
            reports_at.entry(plan.step).or_default().push(u32::try_from(r).map_err(|e| e.to_string())?);
        }
    }
    let mut out = RadioRun {
        phones: Vec::new(),
        colors: Vec::new(),
        histogram: [[0; BINS]; 2],
        reported: Vec::new(),
        batches: 0,
        keys_downloaded: 0,
        receptions: 0,
    };
    let mut feed = Feed::new();

    for day in 0..days {
        let today = start_day.plus(day);
        for phone in &mut phones {
            phone.schedule = Some(match &phone.store {
                Some(store) => store.daily_key(today).await.map_err(|e| e.to_string())?.schedule(today),
                None => DailyKey::generate(&mut rng).schedule(today),
            });
        }
        for step in 0..STEPS_PER_DAY {
            let abs = u64::from(day) * u64::from(STEPS_PER_DAY) + u64::from(step);
            let now = start.plus(abs * STEP_SECS);
            if let Some(reporters) = reports_at.get(&abs) {
                report(reporters, truth, start_day, &mut phones, services, now, &mut out).await?;
            }
            if step % STEPS_PER_HOUR == 0 {
                sync_round(&mut feed, services, &mut phones, policy, now, &mut out).await?;
            }
            if step % 2 == 0 {
                let slot = now.interval().slot();
                for phone in &mut phones {
                    if phone.released == Some(today) {
                        world.stop_advertising(phone.device);
                    } else if let Some(schedule) = &phone.schedule {
                        let id = schedule.id(slot);
                        let metadata = schedule.seal_metadata(&id, Metadata::v1(phone.calibration.tx_power_dbm));
                        world.advertise(phone.device, Advertisement { id, metadata });
                    }
                }
            }
            for (r, phone) in phones.iter_mut().enumerate() {
                let r = u32::try_from(r).map_err(|e| e.to_string())?;
                let (place, position) = town.whereabouts(r, day, step, truth.isolated(r, abs));
                if place != phone.place || position != phone.position {
                    world.move_device(phone.device, position, zones[place as usize]);
                    let (old, new) = (town.places[phone.place as usize].kind, town.places[place as usize].kind);
                    if old != new {
                        world.set_body_loss(phone.device, new.body_loss_db());
                    }
                    phone.place = place;
                    phone.position = position;
                }
            }
            let end = now.plus(STEP_SECS);
            let (histogram, receptions) = (&mut out.histogram, &mut out.receptions);
            world.advance_to(end, |reception| {
                *receptions += 1;
                let advertiser = reception.advertiser.0 as usize;
                if will_publish[advertiser] {
                    let scanner = &mut phones[reception.scanner.0 as usize];
                    scanner.sightings.push(reception.sighting);
                    // What the client computes (sync::contacts): the sender's
                    // advertised power minus the RSSI.
                    let tx = i32::from(tx_power[advertiser]);
                    let attenuation = (tx - i32::from(reception.sighting.rssi)).clamp(0, 255);
                    let bin = usize::try_from(attenuation / i32::from(BIN_DB)).unwrap_or(0).min(BINS - 1);
                    histogram[usize::from(reception.distance_m > super::truth::CLOSE_M)][bin] += 1;
                }
            });
            progress();
        }
        let end_of_day = UnixTime(today.plus(1).start().0 - 1);
        out.colors.push(colors(&phones, policy, truth, start_day, end_of_day).await?);
    }
    // After the last day: phones keep syncing until noon of the next, so
    // that reports of the last day (today's key is embargoed until 02:00)
    // reach everyone.
    let tail_start = start_day.plus(days).start();
    for hour in 0..=12u64 {
        sync_round(&mut feed, services, &mut phones, policy, tail_start.plus(hour * 3600), &mut out).await?;
        progress();
    }
    for phone in &phones {
        if let Some(store) = &phone.store {
            store.close().await;
        }
    }
    out.phones = phones;
    Ok(out)
}

/// Residents by color at `now`: reporters through the real client's
/// status, everyone else from their matches under the policy.
async fn colors(
    phones: &[Phone],
    policy: &ColorPolicy,
    truth: &Truth,
    start_day: DayNumber,
    now: UnixTime,
) -> Result<[u32; 3], String> {
    let mut count = [0u32; 3];
    for (r, phone) in phones.iter().enumerate() {
        let color = match &phone.store {
            Some(store) if truth.reports[r].is_some_and(|p| start_day.start().plus(p.step * STEP_SECS) <= now) => {
                greenlight_client::status::status(store, now).await.map_err(|e| e.to_string())?.color
            }
            _ if phone.exposures.is_empty() => Color::Green,
            _ => decision(phone, policy, now)?.0,
        };
        // Phones in the town sync hourly: none is stale (a stale phone
        // would count with the green ones: no known exposure).
        let i = match color {
            Color::Green | Color::Stale => 0,
            Color::Yellow => 1,
            Color::Red => 2,
        };
        count[i] += 1;
    }
    Ok(count)
}

/// The phone's color under `policy` (through the client's conversion of
/// its stored exposures) and whether the GAEN-style baseline notifies.
fn decision(phone: &Phone, policy: &ColorPolicy, now: UnixTime) -> Result<(Color, bool), String> {
    let inputs = greenlight_client::status::color_inputs(now, Some(now), None, phone.exposures.clone())
        .map_err(|e| e.to_string())?;
    let gaen = super::score::gaen_notifies(&phone.exposures, now, policy.params().min_transmission_risk);
    Ok((decide(policy, &inputs).color, gaen))
}

/// Reporters due now: staff issue each a code through the portal, and the
/// real client reports with it (verify, certificate, publish over HTTP).
async fn report(
    reporters: &[u32],
    truth: &Truth,
    start_day: DayNumber,
    phones: &mut [Phone],
    services: &mut Services,
    now: UnixTime,
    out: &mut RadioRun,
) -> Result<(), String> {
    let days: Vec<DayNumber> = reporters
        .iter()
        .map(|&r| truth.reports[r as usize].map_or(start_day, |p| start_day.plus(p.test_day)))
        .collect();
    let codes = services.issue_codes(&days, now).await?;
    for (&r, code) in reporters.iter().zip(codes) {
        let phone = &mut phones[r as usize];
        let store = phone.store.as_ref().ok_or("a reporter has the real client")?;
        greenlight_client::report::report(store, &services.settings, &services.http, &code, &[], now)
            .await
            .map_err(|e| format!("resident {r} could not report: {e}"))?;
        phone.released = Some(now.day());
        out.reported.push((r, now));
    }
    Ok(())
}

/// The hourly export and sync: new batches are fetched and verified once,
/// then every phone holding sightings matches them with the protocol's
/// matcher and turns matches into exposures with the client's code.
async fn sync_round(
    feed: &mut Feed,
    services: &Services,
    phones: &mut [Phone],
    policy: &ColorPolicy,
    now: UnixTime,
    out: &mut RadioRun,
) -> Result<(), String> {
    services.seal(now).await?;
    let published: Vec<Published> = feed.poll(services, now).await?;
    if published.is_empty() {
        return Ok(());
    }
    out.batches += published.len();
    out.keys_downloaded += published.iter().map(|p| p.batch.records().len()).sum::<usize>();
    let work = |phone: &mut Phone| -> Result<(), String> {
        if phone.sightings.is_empty() || phone.store.is_some() {
            return Ok(());
        }
        let index = SightingIndex::new(phone.sightings.clone(), MatchConfig::default());
        let before = phone.exposures.len();
        for p in &published {
            let records = p.batch.records();
            let (matches, _) = index.match_keys(records.iter().map(|r| (r.key, r.day)), p.published_at);
            for m in &matches {
                let risk = records[m.key].transmission_risk.level();
                phone.exposures.extend(greenlight_client::sync::contacts(&index, m, risk));
            }
        }
        if phone.exposures.len() > before {
            let (color, gaen) = decision(phone, policy, now)?;
            if color == Color::Yellow && phone.yellow_at.is_none() {
                phone.yellow_at = Some(now);
            }
            if gaen && phone.gaen_at.is_none() {
                phone.gaen_at = Some(now);
            }
        }
        Ok(())
    };
    // Phones are independent: match on every core.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = phones.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            phones.chunks_mut(chunk).map(|part| scope.spawn(|| part.iter_mut().try_for_each(&work))).collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| "a matching thread panicked".to_owned())?)
    })
}
