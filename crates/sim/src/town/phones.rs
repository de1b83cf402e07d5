//! The radio pass: every resident carries a phone on the simulated radio,
//! broadcasting real rotating IDs and scanning the venues' posters;
//! residents who will report carry the real client (its sealed store, its
//! keys and check-ins, its report over HTTP); every hour the key server
//! exports and tracers work through the portal, and every phone, at its own
//! minute of the hour, matches what was published and decides its color
//! with the client's code.

use super::layout::{STEP_SECS, STEPS_PER_DAY, STEPS_PER_HOUR, Town, mix};
use super::services::{Feed, Published, Services};
use super::truth::{Stay, Truth};
use super::venues::{TRACER_EVERY_STEPS, TRACER_HOURS, Venues};
use greenlight_ble::calibration::{Calibration, CalibrationTable};
use greenlight_ble::radio::ScanDutyCycle;
use greenlight_ble::sim::{DeviceId, DeviceSpec, Position, Reception, SimConfig, SimWorld, ZoneId};
use greenlight_client::os_rng;
use greenlight_phone::Exposure;
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::checkin::{CheckInDay, CheckInDayKey, SealedCheckIn, VenueMatcher};
use greenlight_protocol::color::{Color, decide};
use greenlight_protocol::daily_key::{DailyKey, EphemeralId, KeySchedule, Metadata, PublishedKey};
use greenlight_protocol::matcher::{MatchConfig, Sighting, SightingIndex};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::TraceBatch;
use rand_core::SeedableRng;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// Attenuation histogram bins: 2 dB wide from 0 dB.
pub(crate) const BIN_DB: u8 = 2;
/// Number of bins (0–118 dB and above).
pub(crate) const BINS: usize = 60;

/// One resident's phone.
pub(crate) struct Phone {
    device: DeviceId,
    calibration: Calibration,
    /// Today's key schedule and its 144 IDs.
    schedule: Option<KeySchedule>,
    ids: Vec<EphemeralId>,
    /// The real client (the core over its sealed store), for residents
    /// who will report.
    store: Option<greenlight_client::Phone>,
    /// The day whose key was released by a report: no more broadcasts.
    released: Option<DayNumber>,
    /// The step of the hour (0–11) at which the phone syncs.
    phase: u32,
    /// The first export batch and trace batch it has not matched yet.
    next_export: usize,
    next_trace: usize,
    /// Sightings of phones whose keys will be published (see README: no
    /// other sighting can ever match).
    pub(crate) sightings: Vec<Sighting>,
    /// The residents those sightings came from.
    heard: HashSet<u32>,
    /// The check-in key of each day with a sealed check-in, and their
    /// public halves.
    day_keys: Vec<CheckInDayKey>,
    day_publics: Vec<CheckInDay>,
    /// Sealed check-ins at venues a reporter visited that day (see
    /// README: no other epoch is ever traced), as the client keeps them.
    checkins: Vec<CheckIn>,
    /// What the client's matching found, as the client stores it.
    pub(crate) exposures: Vec<Exposure>,
    /// When the phone first turned yellow under the signed policy.
    pub(crate) yellow_at: Option<UnixTime>,
    /// When it would have turned yellow on its Bluetooth exposures alone.
    pub(crate) yellow_ble_at: Option<UnixTime>,
    /// When the GAEN-style baseline would first have notified.
    pub(crate) gaen_at: Option<UnixTime>,
    place: u32,
    position: Position,
}

/// One sealed check-in of a phone without the real client.
struct CheckIn {
    place: u32,
    day: DayNumber,
    arrival: UnixTime,
    departure: UnixTime,
    sealed: SealedCheckIn,
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
    /// Posters scanned (check-ins) in all.
    pub(crate) scans: u64,
    /// Visits revealed by reporters.
    pub(crate) revealed: usize,
    /// Venue cases the tracers opened, and trace batches downloaded.
    pub(crate) cases: usize,
    pub(crate) trace_batches: usize,
}

/// Which color policy the town's authority signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PolicyChoice {
    /// `ColorPolicy::recommended`: buckets at 63 / 73 / 79 dB weighted
    /// 100 / 100 / 10 / 0 %, 15 weighted minutes a day.
    Recommended,
    /// A stricter policy an authority could sign for this radio model:
    /// only the bucket under 52 dB counts (about 2 m with the simulated
    /// radio's path loss, bodies and shadowing), 15 minutes a day; venue
    /// visits count from 15 minutes inside the traced window.
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
            // The ground truth's definition of a venue contact.
            params.min_venue_overlap_minutes = 15;
            ColorPolicy::new(params).expect("a valid policy")
        }
    }
}

/// Bucket edges of [`PolicyChoice::Close`], dB.
pub(crate) const CLOSE_THRESHOLDS_DB: [u8; 3] = [52, 63, 73];

/// Everything published so far, in order, for phones to match at their
/// own sync.
#[derive(Default)]
struct History {
    exports: Vec<Published>,
    /// Who uploaded each published key (the town knows; phones do not).
    owners: HashMap<PublishedKey, u32>,
    /// Trace batches and the venue each traces.
    traces: Vec<(TraceBatch, u32)>,
}

/// Runs the radio pass over `days` starting on `start_day`, then lets the
/// phones sync until noon of the day after.
#[expect(clippy::too_many_arguments, reason = "one call site, each argument a different part of the town")]
pub(crate) async fn run(
    town: &Town,
    truth: &Truth,
    days: u32,
    start_day: DayNumber,
    seed: u64,
    services: &mut Services,
    scratch: &Path,
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
    let mut by_building: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
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
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut venues = Venues::create(town, services.authority, &scratch.join("venues"), start_day, days, &mut rng)?;
    let models = CalibrationTable::reference();
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
            let dir = scratch.join("phones").join(format!("phone-{r}"));
            let store = greenlight_client::store::SqliteStore::open(&dir).map_err(|e| e.to_string())?;
            let mut phone = greenlight_client::Phone::new(store, calibration);
            services.settings.save(phone.store_mut()).map_err(|e| e.to_string())?;
            Some(phone)
        } else {
            None
        };
        phones.push(Phone {
            device,
            calibration,
            schedule: None,
            ids: Vec::new(),
            store,
            released: None,
            phase: u32::try_from(mix(seed, 201, u64::from(r), 0) % u64::from(STEPS_PER_HOUR)).unwrap_or(0),
            next_export: 0,
            next_trace: 0,
            sightings: Vec::new(),
            heard: HashSet::new(),
            day_keys: Vec::new(),
            day_publics: Vec::new(),
            checkins: Vec::new(),
            exposures: Vec::new(),
            yellow_at: None,
            yellow_ble_at: None,
            gaen_at: None,
            place,
            position,
        });
    }
    let tx_power: Vec<i8> = phones.iter().map(|p: &Phone| p.calibration.tx_power_dbm).collect();
    let will_publish: Vec<bool> = truth.reports.iter().map(Option::is_some).collect();
    // Venue epochs (one a day) a reporter visits: the only ones a tracer
    // can ever trace.
    let traceable: HashSet<(u32, u32)> =
        truth.stays.iter().filter(|s| will_publish[s.resident as usize]).map(|s| (s.place, s.day)).collect();
    let total_steps = usize::try_from(days * STEPS_PER_DAY).map_err(|e| e.to_string())? + 1;
    let mut arrivals: Vec<Vec<usize>> = vec![Vec::new(); total_steps];
    let mut departures: Vec<Vec<usize>> = vec![Vec::new(); total_steps];
    for (i, stay) in truth.stays.iter().enumerate() {
        let at = |step: u32| usize::try_from(stay.day * STEPS_PER_DAY + step).unwrap_or(usize::MAX);
        arrivals[at(stay.start)].push(i);
        departures[at(stay.end)].push(i);
    }
    let mut reports_at: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for (r, plan) in truth.reports.iter().enumerate() {
        if let Some(plan) = plan {
            reports_at.entry(plan.step).or_default().push(u32::try_from(r).map_err(|e| e.to_string())?);
        }
    }
    let min_risk = policy.params().min_transmission_risk;
    let mut out = RadioRun {
        phones: Vec::new(),
        colors: Vec::new(),
        histogram: [[0; BINS]; 2],
        reported: Vec::new(),
        batches: 0,
        keys_downloaded: 0,
        receptions: 0,
        scans: 0,
        revealed: 0,
        cases: 0,
        trace_batches: 0,
    };
    let mut feed = Feed::new();
    let mut history = History::default();

    for day in 0..days {
        let today = start_day.plus(day);
        for phone in &mut phones {
            let schedule = match &mut phone.store {
                Some(client) => client.daily_key(today, &mut os_rng()).map_err(|e| e.to_string())?.schedule(today),
                None => DailyKey::generate(&mut rng).schedule(today),
            };
            phone.ids = schedule.all_ids();
            phone.schedule = Some(schedule);
        }
        for step in 0..STEPS_PER_DAY {
            let abs = u64::from(day) * u64::from(STEPS_PER_DAY) + u64::from(step);
            let at = usize::try_from(abs).map_err(|e| e.to_string())?;
            let now = start.plus(abs * STEP_SECS);
            for &i in &departures[at] {
                check_out(&truth.stays[i], &mut phones, &mut venues, &traceable, start_day, now, &mut rng).await?;
            }
            if let Some(reporters) = reports_at.get(&abs) {
                report(reporters, truth, start_day, min_risk, &mut phones, services, now, &mut out).await?;
                for &r in reporters {
                    let client = phones[r as usize].store.as_mut().ok_or("a reporter has the real client")?;
                    for day in 0..=day {
                        let key = client.daily_key(start_day.plus(day), &mut os_rng()).map_err(|e| e.to_string())?;
                        history.owners.insert(PublishedKey(*key.expose_secret()), r);
                    }
                }
            }
            publish_round(&mut feed, &mut history, &mut venues, services, step, now, &mut out).await?;
            sync_phones(&history, &mut phones, policy, step % STEPS_PER_HOUR, now)?;
            if step % 2 == 0 {
                // Every phone derives the new interval's ID and seals its
                // metadata (on every core), then the radio carries them.
                let slot = now.interval().slot();
                let adverts = advertisements(&mut phones, today, slot);
                for (phone, advert) in phones.iter().zip(adverts) {
                    match advert {
                        Some(advert) => world.advertise(phone.device, advert),
                        None => world.stop_advertising(phone.device),
                    }
                }
            }
            for &i in &arrivals[at] {
                let stay = &truth.stays[i];
                out.scans += 1;
                let poster = venues.scan(stay.place, stay.day, now)?.ok_or("a stay at a place without posters")?;
                if let Some(client) = &mut phones[stay.resident as usize].store {
                    client
                        .check_in(poster, now, &mut os_rng())
                        .map_err(|e| format!("resident {} could not check in: {e}", stay.resident))?;
                }
            }
            let places = whereabouts(town, truth, day, step, abs);
            for (phone, (place, position)) in phones.iter_mut().zip(places) {
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
            let histogram = &mut out.histogram;
            // Receptions are counted in all; only those of phones whose keys
            // will be published are handed over.
            let wanted = |reception: &Reception| will_publish[reception.advertiser.0 as usize];
            out.receptions += world.advance_to_where(end, wanted, |reception| {
                let advertiser = reception.advertiser.0 as usize;
                {
                    let scanner = &mut phones[reception.scanner.0 as usize];
                    scanner.sightings.push(reception.sighting);
                    scanner.heard.insert(reception.advertiser.0);
                    // What the phone computes (spec §6.4): the sender's
                    // advertised power minus the receiver's corrected RSSI.
                    let attenuation = scanner.calibration.attenuation_db(tx_power[advertiser], reception.sighting.rssi);
                    let bin = usize::from(attenuation / BIN_DB).min(BINS - 1);
                    histogram[usize::from(reception.distance_m > super::truth::CLOSE_M)][bin] += 1;
                }
            });
            progress();
        }
        let end_of_day = UnixTime(today.plus(1).start().0 - 1);
        out.colors.push(colors(&phones, policy, truth, start_day, end_of_day).await?);
    }
    // After the last day: stays that ran to midnight end; the key server,
    // the tracers and the phones go on until noon of the next day, so that
    // reports of the last day (today's key is embargoed until 02:00) and
    // their venue cases reach everyone.
    let tail = start_day.plus(days).start();
    for &i in departures.last().map_or(&[][..], Vec::as_slice) {
        check_out(&truth.stays[i], &mut phones, &mut venues, &traceable, start_day, tail, &mut rng).await?;
    }
    for step in 0..=12 * STEPS_PER_HOUR {
        let now = tail.plus(u64::from(step) * STEP_SECS);
        publish_round(&mut feed, &mut history, &mut venues, services, step, now, &mut out).await?;
        if step.is_multiple_of(STEPS_PER_HOUR) {
            progress();
        }
        sync_phones(&history, &mut phones, policy, step % STEPS_PER_HOUR, now)?;
    }
    out.cases = venues.cases;
    out.phones = phones;
    Ok(out)
}

/// Splits `items` into one contiguous part per core, runs `f` on each part
/// on its own thread, and returns the parts' results in order.
fn on_every_core<T: Send, R: Send>(items: &mut [T], f: impl Fn(&mut [T]) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.chunks_mut(chunk).map(|part| scope.spawn(move || f(part))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

/// Where every resident is at `step` of `day` (`abs` from the start),
/// computed on every core.
fn whereabouts(town: &Town, truth: &Truth, day: u32, step: u32, abs: u64) -> Vec<(u32, Position)> {
    let mut residents: Vec<u32> = (0..u32::try_from(town.residents.len()).unwrap_or(u32::MAX)).collect();
    let parts = on_every_core(&mut residents, |part| {
        part.iter().map(|&r| town.whereabouts(r, day, step, truth.isolated(r, abs))).collect::<Vec<_>>()
    });
    parts.into_iter().flatten().collect()
}

/// What each phone broadcasts during `slot` of `today`: `None` once its
/// key of the day was released by a report.
fn advertisements(phones: &mut [Phone], today: DayNumber, slot: u8) -> Vec<Option<Advertisement>> {
    let advert = |phone: &Phone| -> Option<Advertisement> {
        if phone.released == Some(today) {
            return None;
        }
        let schedule = phone.schedule.as_ref()?;
        let id = *phone.ids.get(usize::from(slot))?;
        let metadata = schedule.seal_metadata(&id, Metadata::v1(phone.calibration.tx_power_dbm));
        Some(Advertisement { id, metadata })
    };
    on_every_core(phones, |part| part.iter().map(advert).collect::<Vec<_>>()).into_iter().flatten().collect()
}

/// A resident leaves a venue: the real client checks out; a phone without
/// it seals the visit as the client does (a second visit to the same epoch
/// extends the first), if the epoch can ever be traced.
async fn check_out(
    stay: &Stay,
    phones: &mut [Phone],
    venues: &mut Venues,
    traceable: &HashSet<(u32, u32)>,
    start_day: DayNumber,
    now: UnixTime,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Result<(), String> {
    let phone = &mut phones[stay.resident as usize];
    if let Some(client) = &mut phone.store {
        return match client.check_out(now, &mut os_rng()) {
            // A stay as long as the venue's typical stay or longer ended
            // by itself (automatic check-out).
            Ok(_) | Err(greenlight_phone::CheckInError::NoActiveVisit) => Ok(()),
            Err(e) => Err(format!("resident {} could not check out: {e}", stay.resident)),
        };
    }
    if !traceable.contains(&(stay.place, stay.day)) {
        return Ok(());
    }
    let day = start_day.plus(stay.day);
    let arrived = start_day.start().plus(u64::from(stay.day * STEPS_PER_DAY + stay.start) * STEP_SECS);
    let poster = venues.scan(stay.place, stay.day, arrived)?.ok_or("a stay at a place without posters")?;
    if !phone.day_keys.iter().any(|k| k.day() == day) {
        let key = CheckInDayKey::generate(day, rng);
        phone.day_publics.push(key.public());
        phone.day_keys.push(key);
    }
    let key = phone.day_keys.iter().find(|k| k.day() == day).ok_or("the day's check-in key")?;
    // As the client: checked out now, or automatically after the venue's
    // typical stay, whichever comes first.
    let typical = u64::from(poster.info().kind.typical_stay_minutes()) * 60;
    let left = now.min(arrived.plus(typical));
    let earlier = phone.checkins.iter().position(|c| c.place == stay.place && c.day == day);
    let (arrival, departure) = match earlier {
        Some(i) => (phone.checkins[i].arrival.min(arrived), phone.checkins[i].departure.max(left)),
        None => (arrived, left),
    };
    let sealed = poster.check_in(key, arrival, departure, rng).map_err(|e| format!("sealing a check-in: {e}"))?;
    let record = CheckIn { place: stay.place, day, arrival, departure, sealed };
    match earlier {
        Some(i) => phone.checkins[i] = record,
        None => phone.checkins.push(record),
    }
    Ok(())
}

/// What the services do at `step` of the day: the tracers look at the
/// portal every quarter of an hour from 08:00 to 20:00; the key server
/// exports on the hour; after either, the town downloads the index and
/// every new file, verified as the client verifies them, for the phones
/// that sync from then on.
async fn publish_round(
    feed: &mut Feed,
    history: &mut History,
    venues: &mut Venues,
    services: &mut Services,
    step: u32,
    now: UnixTime,
    out: &mut RadioRun,
) -> Result<(), String> {
    let mut changed = false;
    if TRACER_HOURS.contains(&(step / STEPS_PER_HOUR)) && step.is_multiple_of(TRACER_EVERY_STEPS) {
        changed |= venues.tracer_round(services, now).await?;
    }
    if step.is_multiple_of(STEPS_PER_HOUR) {
        services.seal(now).await?;
        changed = true;
    }
    if !changed {
        // The index changes only when the key server exports or a tracer
        // publishes.
        return Ok(());
    }
    let polled = feed.poll(services, now).await?;
    out.batches += polled.exports.len();
    out.keys_downloaded += polled.exports.iter().map(|p| p.batch.records().len()).sum::<usize>();
    out.trace_batches += polled.traces.len();
    history.exports.extend(polled.exports);
    for batch in polled.traces {
        let place =
            *venues.batch_place.get(&batch.sequence).ok_or("a trace batch the town's tracers did not publish")?;
        history.traces.push((batch, place));
    }
    Ok(())
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
            Some(client) if truth.reports[r].is_some_and(|p| start_day.start().plus(p.step * STEP_SECS) <= now) => {
                client.status(now).map_err(|e| e.to_string())?.color
            }
            _ if phone.exposures.is_empty() => Color::Green,
            _ => decision(&phone.exposures, policy, now)?,
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
/// its stored exposures).
fn decision(exposures: &[Exposure], policy: &ColorPolicy, now: UnixTime) -> Result<Color, String> {
    let inputs = greenlight_phone::status::color_inputs(now, Some(now), None, exposures).map_err(|e| e.to_string())?;
    Ok(decide(policy, &inputs).color)
}

/// Reporters due now: staff issue each a code through the portal, and the
/// real client reports with it (verify, certificate, publish over HTTP),
/// revealing the visits of the days the policy counts as infectious.
#[expect(clippy::too_many_arguments, reason = "one call site")]
async fn report(
    reporters: &[u32],
    truth: &Truth,
    start_day: DayNumber,
    min_risk: u8,
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
    for ((&r, code), test_day) in reporters.iter().zip(codes).zip(days) {
        let phone = &mut phones[r as usize];
        let client = phone.store.as_mut().ok_or("a reporter has the real client")?;
        let reveal: Vec<_> = client
            .revealable_visits(now)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|v| {
                let risk = greenlight_client::report::transmission_risk(v.arrival.day(), test_day, false);
                risk.level() >= min_risk
            })
            .collect();
        greenlight_client::report::report(client, &services.settings, &services.http, &code, &reveal, now)
            .await
            .map_err(|e| format!("resident {r} could not report: {e}"))?;
        out.revealed += reveal.len();
        phone.released = Some(now.day());
        out.reported.push((r, now));
    }
    Ok(())
}

/// The phones whose sync falls on this step of the hour match what was
/// published since their last sync: export batches against their
/// sightings with the protocol's matcher, trace batches against their
/// sealed check-ins, both turned into exposures by the client's code.
fn sync_phones(
    history: &History,
    phones: &mut [Phone],
    policy: &ColorPolicy,
    phase: u32,
    now: UnixTime,
) -> Result<(), String> {
    let (exports, traces) = (history.exports.len(), history.traces.len());
    let work = |phone: &mut Phone| -> Result<(), String> {
        if phone.phase != phase || (phone.next_export == exports && phone.next_trace == traces) {
            return Ok(());
        }
        let new_exports = &history.exports[phone.next_export..];
        let new_traces = &history.traces[phone.next_trace..];
        (phone.next_export, phone.next_trace) = (exports, traces);
        if phone.store.is_some() {
            // Reporters are red: their own diagnosis decides.
            return Ok(());
        }
        let before = phone.exposures.len();
        // Keys of residents the phone never heard (and the padding) cannot
        // match any of its sightings: the matcher skips deriving their IDs.
        let heard: Vec<Vec<usize>> = new_exports
            .iter()
            .map(|p| {
                let records = p.batch.records().iter().enumerate();
                records
                    .filter(|(_, r)| history.owners.get(&r.key).is_some_and(|o| phone.heard.contains(o)))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        if heard.iter().any(|keys| !keys.is_empty()) {
            let index = SightingIndex::new(phone.sightings.clone(), MatchConfig::default());
            for (p, keys) in new_exports.iter().zip(&heard) {
                let records = p.batch.records();
                let (matches, _) =
                    index.match_keys(keys.iter().map(|&i| (records[i].key, records[i].day)), p.published_at);
                for m in &matches {
                    let risk = records[keys[m.key]].transmission_risk.level();
                    phone.exposures.extend(greenlight_phone::sync::contacts(&index, m, risk, phone.calibration));
                }
            }
        }
        // Entries of venues the phone never checked in at cannot open any
        // of its records (their tags come from another venue's trace key):
        // skip their scalar multiplications.
        let relevant: Vec<&TraceBatch> = new_traces
            .iter()
            .filter(|(_, place)| phone.checkins.iter().any(|c| c.place == *place))
            .map(|(batch, _)| batch)
            .collect();
        if !relevant.is_empty() {
            let records: Vec<SealedCheckIn> = phone.checkins.iter().map(|c| c.sealed.clone()).collect();
            let matcher = VenueMatcher::new(&phone.day_publics, records);
            for batch in relevant {
                phone.exposures.extend(greenlight_phone::sync::venue_exposures(&matcher, &batch.entries));
            }
        }
        if phone.exposures.len() > before {
            if phone.yellow_at.is_none() && decision(&phone.exposures, policy, now)? == Color::Yellow {
                phone.yellow_at = Some(now);
            }
            if phone.yellow_ble_at.is_none() {
                let ble: Vec<Exposure> =
                    phone.exposures.iter().filter(|e| matches!(e, Exposure::Ble { .. })).cloned().collect();
                if decision(&ble, policy, now)? == Color::Yellow {
                    phone.yellow_ble_at = Some(now);
                }
            }
            let min_risk = policy.params().min_transmission_risk;
            if phone.gaen_at.is_none() && super::score::gaen_notifies(&phone.exposures, now, min_risk) {
                phone.gaen_at = Some(now);
            }
        }
        Ok(())
    };
    // Phones are independent: match on every core.
    on_every_core(phones, |part| part.iter_mut().try_for_each(&work)).into_iter().collect()
}
