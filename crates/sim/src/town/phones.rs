//! The radio pass: every resident carries a phone running the resident
//! core (`greenlight-phone`, over an in-memory store) on the simulated
//! radio. It broadcasts the core's rotating IDs, stores every sighting its
//! scanner delivers, checks in at the venues' posters, syncs the real key
//! server's signed files at its own minute of every hour, and shows the
//! colour the core decides under the policy the authority signed in the
//! portal. Residents who test positive report through the client's HTTP
//! driver with a code staff issued in the portal. No phone knows who will
//! report or which venue will be traced: the town only shares work whose
//! result each phone would compute alike (see [`super::shared`]).

use super::layout::{STEP_SECS, STEPS_PER_DAY, STEPS_PER_HOUR, Town, mix};
use super::services::{Feed, Services};
use super::shared::{ExportHints, Heard, MAX_PHONES, Visitors};
use super::truth::{Stay, Truth};
use super::venues::{TRACER_EVERY_STEPS, TRACER_HOURS, Venues};
use greenlight_ble::calibration::CalibrationTable;
use greenlight_ble::radio::ScanDutyCycle;
use greenlight_ble::sim::{DeviceId, DeviceSpec, Position, SimConfig, SimWorld, ZoneId};
use greenlight_phone::{Exposure, MemoryStore, Store, VerifiedFile};
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::color::{Color, decide};
use greenlight_protocol::index::{FileKind, Index};
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::policy::{ColorPolicy, PolicyParams, VenueOverlaps};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::venue::VenueKind;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Attenuation histogram bins: 2 dB wide from 0 dB.
pub(crate) const BIN_DB: u8 = 2;
/// Number of bins (0–118 dB and above).
pub(crate) const BINS: usize = 60;

/// One resident's phone.
pub(crate) struct Phone {
    /// The resident.
    id: u32,
    device: DeviceId,
    /// The resident core over its store.
    core: greenlight_phone::Phone<MemoryStore>,
    /// The phone's randomness (seeded: the town is reproducible).
    rng: ChaCha20Rng,
    /// The step of the hour (0–11) at which the phone syncs.
    phase: u32,
    /// The index generation it last synced (0: none yet).
    synced: u64,
    /// What the scanner delivered during the current step.
    inbox: Vec<Sighting>,
    /// When the phone first turned yellow.
    pub(crate) yellow_at: Option<UnixTime>,
    /// When it would have turned yellow on its Bluetooth exposures alone.
    pub(crate) yellow_ble_at: Option<UnixTime>,
    /// When the GAEN-style baseline would first have notified.
    pub(crate) gaen_at: Option<UnixTime>,
    place: u32,
    position: Position,
}

impl Phone {
    /// The phone's store.
    pub(crate) fn store(&self) -> &MemoryStore {
        self.core.store()
    }

    /// The phone's calibration (its model's row of the reference table).
    pub(crate) fn store_calibration(&self) -> greenlight_protocol::calibration::Calibration {
        self.core.calibration()
    }
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
    /// Sightings the radio delivered in all.
    pub(crate) receptions: u64,
    /// Posters scanned (check-ins) in all.
    pub(crate) scans: u64,
    /// Visits revealed by reporters.
    pub(crate) revealed: usize,
    /// Venue cases the tracers opened, and trace batches downloaded.
    pub(crate) cases: usize,
    pub(crate) trace_batches: usize,
    /// Which phone stored a sighting of which ID (for the strategy passes'
    /// detections, [`super::strategies`]).
    pub(crate) heard: Heard,
}

/// The step of the hour (0–11) at which resident `r`'s phone syncs.
pub(crate) fn sync_phase(seed: u64, r: u32) -> u32 {
    u32::try_from(mix(seed, 201, u64::from(r), 0) % u64::from(STEPS_PER_HOUR)).unwrap_or(0)
}

/// Which color policy the town's authority signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PolicyChoice {
    /// `ColorPolicy::recommended`: buckets at 63 / 73 / 79 dB weighted
    /// 100 / 100 / 10 / 0 %, 15 weighted minutes a day.
    Recommended,
    /// A stricter policy an authority could sign for this radio model:
    /// only the bucket under 52 dB counts (about 2 m with the simulated
    /// radio's path loss, bodies and shadowing), 15 minutes a day; venue
    /// visits count from 15 minutes inside the traced window.
    Close,
    /// A candidate policy from a file (`--policy FILE`): a JSON object with
    /// the staff portal's policy form fields (`t0`, `t1`, `t2`, `w0`–`w3`,
    /// `min_weighted_minutes`, `min_transmission_risk`,
    /// `min_venue_overlap_KIND` for each venue kind (`other`, `shop`,
    /// `restaurant`, `transit`, `workplace`, `event`, `leisure`,
    /// `education`, `care`; 0: visits of that kind never alert),
    /// `lookback_days`, `yellow_days`, `red_days`, `stale_hours`), plus
    /// `min_venue_overlap` to set every kind at once (read before the
    /// per-kind fields); a field left out keeps the recommended policy's
    /// value.
    File {
        /// The file, as given.
        path: String,
        /// The policy it describes.
        params: PolicyParams,
    },
}

impl PolicyChoice {
    /// `recommended`, `close`, or a file's path.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text {
            "recommended" => Ok(PolicyChoice::Recommended),
            "close" => Ok(PolicyChoice::Close),
            path => {
                let json = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
                let params = policy_from_form(&json, UnixTime(0)).map_err(|e| format!("{path}: {e}"))?;
                Ok(PolicyChoice::File { path: path.to_owned(), params })
            }
        }
    }

    /// Its name in the output.
    pub(crate) fn name(&self) -> String {
        match self {
            PolicyChoice::Recommended => "recommended".into(),
            PolicyChoice::Close => "close".into(),
            PolicyChoice::File { path, .. } => {
                let file = Path::new(path).file_name().map_or(path.clone(), |f| f.to_string_lossy().into());
                format!("file {file}")
            }
        }
    }
}

/// The policy described by the staff portal's form fields as JSON numbers
/// (fields left out keep the recommended policy's values), checked with
/// the protocol's own rules.
pub(crate) fn policy_from_form(json: &str, issued_at: UnixTime) -> Result<PolicyParams, String> {
    let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let form = doc.as_object().ok_or("a JSON object of the portal's policy form fields")?;
    const FIELDS: [&str; 14] = [
        "t0",
        "t1",
        "t2",
        "w0",
        "w1",
        "w2",
        "w3",
        "min_weighted_minutes",
        "min_transmission_risk",
        "min_venue_overlap",
        "lookback_days",
        "yellow_days",
        "red_days",
        "stale_hours",
    ];
    // One minimum overlap per kind of venue, as the portal's form names
    // them; `min_venue_overlap` (above) sets every kind at once first.
    let per_kind: Vec<(VenueKind, String)> =
        VenueKind::ALL.iter().map(|&k| (k, format!("min_venue_overlap_{}", k.as_str()))).collect();
    let known = |k: &str| FIELDS.contains(&k) || per_kind.iter().any(|(_, name)| name == k);
    if let Some(unknown) = form.keys().find(|k| !known(k)) {
        let names: Vec<&str> = FIELDS.iter().copied().chain(per_kind.iter().map(|(_, n)| n.as_str())).collect();
        return Err(format!("unknown field {unknown:?}: the form has {}", names.join(", ")));
    }
    let mut p = *ColorPolicy::recommended(1, issued_at).params();
    let number = |name: &str, max: u64| -> Result<Option<u64>, String> {
        match form.get(name) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(format!("{name}: a whole number from 0 to {max}")),
            },
        }
    };
    let byte = |name: &str, into: &mut u8| -> Result<(), String> {
        if let Some(n) = number(name, 255)? {
            *into = u8::try_from(n).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    let short = |name: &str, into: &mut u16| -> Result<(), String> {
        if let Some(n) = number(name, 65_535)? {
            *into = u16::try_from(n).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    let [t0, t1, t2] = &mut p.attenuation_thresholds_db;
    byte("t0", t0)?;
    byte("t1", t1)?;
    byte("t2", t2)?;
    let [w0, w1, w2, w3] = &mut p.bucket_weights_percent;
    short("w0", w0)?;
    short("w1", w1)?;
    short("w2", w2)?;
    short("w3", w3)?;
    short("min_weighted_minutes", &mut p.min_weighted_minutes_per_day)?;
    byte("min_transmission_risk", &mut p.min_transmission_risk)?;
    if form.contains_key("min_venue_overlap") {
        let mut minutes = 0;
        short("min_venue_overlap", &mut minutes)?;
        p.min_venue_overlap_minutes = VenueOverlaps::uniform(minutes);
    }
    for (kind, name) in &per_kind {
        if form.contains_key(name) {
            let mut minutes = 0;
            short(name, &mut minutes)?;
            p.min_venue_overlap_minutes = p.min_venue_overlap_minutes.with(*kind, minutes);
        }
    }
    byte("lookback_days", &mut p.lookback_days)?;
    byte("yellow_days", &mut p.yellow_days)?;
    byte("red_days", &mut p.red_days)?;
    short("stale_hours", &mut p.stale_after_hours)?;
    ColorPolicy::new(p).map_err(|e| format!("not a valid policy: {e}"))?;
    Ok(p)
}

/// The policy every phone uses.
pub(crate) fn policy(choice: &PolicyChoice, start: UnixTime) -> ColorPolicy {
    let recommended = ColorPolicy::recommended(1, start);
    match choice {
        PolicyChoice::Recommended => recommended,
        PolicyChoice::Close => {
            let mut params = *recommended.params();
            params.attenuation_thresholds_db = CLOSE_THRESHOLDS_DB;
            params.bucket_weights_percent = [100, 0, 0, 0];
            // The ground truth's definition of a venue contact.
            params.min_venue_overlap_minutes = VenueOverlaps::uniform(15);
            ColorPolicy::new(params).expect("a valid policy")
        }
        PolicyChoice::File { params, .. } => {
            let mut params = *params;
            params.issued_at = start;
            ColorPolicy::new(params).expect("checked when the file was read")
        }
    }
}

/// Bucket edges of [`PolicyChoice::Close`], dB.
pub(crate) const CLOSE_THRESHOLDS_DB: [u8; 3] = [52, 63, 73];

/// Everything published so far, for phones to sync at their own minute.
struct History {
    /// The newest verified index and its generation (counted from 1).
    index: Option<Index>,
    generation: u64,
    /// Every file, verified once (every phone downloads the same bytes).
    files: HashMap<(FileKind, u64), Published>,
    /// Phones stored their sightings here (shared work).
    heard: Heard,
    /// Phones' check-in records by venue (shared work).
    visitors: Visitors,
    /// Whether phones take the shared work's hints.
    shared: bool,
}

/// A published file and what the shared work found for it.
struct Published {
    file: VerifiedFile,
    /// Export batches: which phones may have heard which keys.
    hints: ExportHints,
    /// Trace batches: the venue traced.
    place: Option<u32>,
}

/// Runs the radio pass over `days` starting on `start_day`, then lets the
/// phones sync until noon of the day after. With `shared` false, every
/// phone matches every published key against every sighting it stored and
/// every trace entry against every check-in (slower, the same result).
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
    shared: bool,
    mut progress: impl FnMut(),
) -> Result<RadioRun, String> {
    let start = start_day.start();
    let n = town.residents.len();
    if n > MAX_PHONES {
        return Err(format!("a town has at most {MAX_PHONES} residents"));
    }
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
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut venues = Venues::create(town, services.authority, &scratch.join("venues"), start_day, days, &mut rng)?;
    // The authority signs the town's policy in the portal; phones get it
    // from the index like every other file.
    services.publish_policy(policy, start).await?;
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
        let mut core = greenlight_phone::Phone::new(MemoryStore::new(), calibration);
        services.settings.save(core.store_mut()).map_err(|e| e.to_string())?;
        phones.push(Phone {
            id: r,
            device,
            core,
            rng: ChaCha20Rng::seed_from_u64(mix(seed, 202, u64::from(r), 0)),
            phase: sync_phase(seed, r),
            synced: 0,
            inbox: Vec::new(),
            yellow_at: None,
            yellow_ble_at: None,
            gaen_at: None,
            place,
            position,
        });
    }
    let tx_power: Vec<i8> = phones.iter().map(|p: &Phone| p.core.calibration().tx_power_dbm).collect();
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
        heard: Heard::new(start),
    };
    let mut feed = Feed::new();
    let mut history = History {
        index: None,
        generation: 0,
        files: HashMap::new(),
        heard: Heard::new(start),
        visitors: Visitors::default(),
        shared,
    };

    for day in 0..days {
        let today = start_day.plus(day);
        for step in 0..STEPS_PER_DAY {
            let abs = u64::from(day) * u64::from(STEPS_PER_DAY) + u64::from(step);
            let at = usize::try_from(abs).map_err(|e| e.to_string())?;
            let now = start.plus(abs * STEP_SECS);
            check_out(&departures[at], &truth.stays, &mut phones, now)?;
            if let Some(reporters) = reports_at.get(&abs) {
                report(reporters, truth, start_day, min_risk, &mut phones, services, now, &mut out).await?;
            }
            publish_round(&mut feed, &mut history, &mut venues, services, step, now, &mut out).await?;
            sync_phones(&history, &mut phones, step % STEPS_PER_HOUR, now)?;
            if step % 2 == 0 {
                // Every phone's core gives the new interval's advertisement
                // (on every core), then the radio carries them.
                let adverts = advertisements(&mut phones, now)?;
                for (phone, advert) in phones.iter().zip(adverts) {
                    match advert {
                        Some(advert) => world.advertise(phone.device, advert),
                        None => world.stop_advertising(phone.device),
                    }
                }
            }
            let mut scans = Vec::with_capacity(arrivals[at].len());
            for &i in &arrivals[at] {
                let stay = &truth.stays[i];
                let poster = venues.scan(stay.place, stay.day, now)?.ok_or("a stay at a place without posters")?;
                scans.push((stay.resident, poster.clone()));
            }
            // Phones check in on every core (sealing a record costs an X25519
            // multiplication); the town notes the records in the same order.
            let records = on_phones(&mut phones, &scans, |phone, poster| {
                let checked_in = phone
                    .core
                    .check_in(poster, now, &mut phone.rng)
                    .map_err(|e| format!("resident {} could not check in: {e}", phone.id))?;
                Ok(checked_in.record)
            })?;
            for (&i, (day, tag)) in arrivals[at].iter().zip(records) {
                let stay = &truth.stays[i];
                out.scans += 1;
                history.visitors.add(stay.place, stay.resident, day, tag);
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
            out.receptions += world.advance_to_where(
                end,
                |_| true,
                |reception| {
                    let advertiser = reception.advertiser.0 as usize;
                    let scanner = &mut phones[reception.scanner.0 as usize];
                    scanner.inbox.push(reception.sighting);
                    // What the phone computes (spec §6.4): the sender's
                    // advertised power minus the receiver's corrected RSSI.
                    let attenuation =
                        scanner.core.calibration().attenuation_db(tx_power[advertiser], reception.sighting.rssi);
                    let bin = usize::from(attenuation / BIN_DB).min(BINS - 1);
                    histogram[usize::from(reception.distance_m > super::truth::CLOSE_M)][bin] += 1;
                },
            );
            record_sightings(&mut phones, &mut history.heard)?;
            history.heard.seal(end);
            progress();
        }
        let end_of_day = UnixTime(today.plus(1).start().0 - 1);
        out.colors.push(colors(&phones, end_of_day)?);
    }
    // After the last day: stays that ran to midnight end; the key server,
    // the tracers and the phones go on until noon of the next day, so that
    // reports of the last day (today's key is embargoed until 02:00) and
    // their venue cases reach everyone.
    let tail = start_day.plus(days).start();
    check_out(departures.last().map_or(&[][..], Vec::as_slice), &truth.stays, &mut phones, tail)?;
    for step in 0..=12 * STEPS_PER_HOUR {
        let now = tail.plus(u64::from(step) * STEP_SECS);
        publish_round(&mut feed, &mut history, &mut venues, services, step, now, &mut out).await?;
        if step.is_multiple_of(STEPS_PER_HOUR) {
            progress();
        }
        sync_phones(&history, &mut phones, step % STEPS_PER_HOUR, now)?;
    }
    out.cases = venues.cases;
    out.phones = phones;
    out.heard = history.heard;
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

/// What each phone's core broadcasts now: `None` once its key of the day
/// was released by a report.
fn advertisements(phones: &mut [Phone], now: UnixTime) -> Result<Vec<Option<Advertisement>>, String> {
    let advert = |phone: &mut Phone| phone.core.advertisement(now, &mut phone.rng).map_err(|e| e.to_string());
    on_every_core(phones, |part| part.iter_mut().map(advert).collect::<Result<Vec<_>, _>>()).into_iter().try_fold(
        Vec::new(),
        |mut all, part| {
            all.extend(part?);
            Ok(all)
        },
    )
}

/// Every phone hands what its scanner delivered during the step to its
/// core (in the order heard); the town notes which IDs each phone stored.
fn record_sightings(phones: &mut [Phone], heard: &mut Heard) -> Result<(), String> {
    let record = |phone: &mut Phone| -> Result<(), String> {
        phone.inbox.sort_by_key(|s| s.seen_at);
        let recorded = phone.core.record_sightings(&phone.inbox).map_err(|e| e.to_string())?;
        if recorded.behind_clock_floor > 0 {
            // The town's clocks are right: the floor is never ahead of them.
            return Err(format!("phone {} refused {} sightings", phone.id, recorded.behind_clock_floor));
        }
        Ok(())
    };
    on_every_core(phones, |part| part.iter_mut().try_for_each(record)).into_iter().collect::<Result<(), _>>()?;
    for phone in phones {
        heard.add(phone.id, &phone.inbox);
        phone.inbox.clear();
    }
    Ok(())
}

/// Residents leave venues (`stays`, by position in `all`): each core checks
/// out (nothing to do when the visit already ended by itself after the
/// venue's typical stay), on every core.
fn check_out(stays: &[usize], all: &[Stay], phones: &mut [Phone], now: UnixTime) -> Result<(), String> {
    let leaving: Vec<(u32, ())> = stays.iter().map(|&i| (all[i].resident, ())).collect();
    on_phones(phones, &leaving, |phone, ()| match phone.core.check_out(now, &mut phone.rng) {
        Ok(_) | Err(greenlight_phone::CheckInError::NoActiveVisit) => Ok(()),
        Err(e) => Err(format!("resident {} could not check out: {e}", phone.id)),
    })?;
    Ok(())
}

/// Runs `f` for every `(resident, item)` of `work` on the resident's phone,
/// on every core (each core takes the phones of its part of
/// [`on_every_core`]'s split), a phone's items in their order; returns the
/// results in the order of `work`.
fn on_phones<T: Sync, R: Send>(
    phones: &mut [Phone],
    work: &[(u32, T)],
    f: impl Fn(&mut Phone, &T) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    if work.is_empty() {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..work.len()).collect();
    // Stable: a phone's items keep their order.
    order.sort_by_key(|&i| work[i].0);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = phones.len().div_ceil(threads).max(1);
    let (f, order) = (&f, &order);
    let parts: Vec<Result<Vec<(usize, R)>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = phones
            .chunks_mut(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || {
                    let first = c * chunk;
                    let mine = first..first + part.len();
                    let mut done = Vec::new();
                    for &i in order.iter().filter(|&&i| mine.contains(&(work[i].0 as usize))) {
                        done.push((i, f(&mut part[work[i].0 as usize - first], &work[i].1)?));
                    }
                    Ok(done)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(work.len()).collect();
    for part in parts {
        for (i, r) in part? {
            results[i] = Some(r);
        }
    }
    Ok(results.into_iter().flatten().collect())
}

/// What the services do at `step` of the day: the tracers look at the
/// portal every quarter of an hour from 08:00 to 20:00; the key server
/// exports on the hour; after either, the town downloads the index and
/// every new file, verified as a phone verifies them, for the phones that
/// sync from then on.
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
    if !changed && history.index.is_some() {
        // The index changes only when the key server exports or a tracer
        // publishes.
        return Ok(());
    }
    let Some(polled) = feed.poll(services, now).await? else { return Ok(()) };
    for (entry, file) in polled.files {
        let (hints, place) = match &file {
            VerifiedFile::Export(batch) => {
                out.batches += 1;
                out.keys_downloaded += batch.records().len();
                (if history.shared { ExportHints::new(batch, &history.heard) } else { ExportHints::default() }, None)
            }
            VerifiedFile::Trace(_) => {
                out.trace_batches += 1;
                let place = *venues
                    .batch_place
                    .get(&entry.sequence)
                    .ok_or("a trace batch the town's tracers did not publish")?;
                (ExportHints::default(), Some(place))
            }
            VerifiedFile::Policy(..) | VerifiedFile::KeySet(..) | VerifiedFile::Retired(_) => {
                (ExportHints::default(), None)
            }
        };
        history.files.insert((entry.kind, entry.sequence), Published { file, hints, place });
    }
    history.index = Some(polled.index);
    history.generation += 1;
    Ok(())
}

/// Residents by color at `now`, as each phone's core shows it.
fn colors(phones: &[Phone], now: UnixTime) -> Result<[u32; 3], String> {
    let mut count = [0u32; 3];
    for phone in phones {
        // Phones in the town sync hourly: none is stale (a stale phone
        // would count with the green ones: no known exposure).
        let i = match phone.core.status(now).map_err(|e| e.to_string())?.color {
            Color::Green | Color::Stale => 0,
            Color::Yellow => 1,
            Color::Red => 2,
        };
        count[i] += 1;
    }
    Ok(count)
}

/// Reporters due now: staff issue each a code through the portal, and the
/// client's driver reports with it (verify, certificate, publish over
/// HTTP), revealing the visits of the days the policy counts as
/// infectious.
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
        let reveal: Vec<_> = phone
            .core
            .revealable_visits(now)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|v| {
                let risk = greenlight_client::report::transmission_risk(v.arrival.day(), test_day, false);
                risk.level() >= min_risk
            })
            .collect();
        greenlight_client::report::report(&mut phone.core, &services.settings, &services.http, &code, &reveal, now)
            .await
            .map_err(|e| format!("resident {r} could not report: {e}"))?;
        out.revealed += reveal.len();
        out.reported.push((r, now));
    }
    Ok(())
}

/// The phones whose sync falls on this step of the hour sync what was
/// published since their last sync, through their core: the index, then
/// each new file in the core's order (a conditional fetch that finds the
/// index unchanged is a `304`).
fn sync_phones(history: &History, phones: &mut [Phone], phase: u32, now: UnixTime) -> Result<(), String> {
    let Some(index) = &history.index else { return Ok(()) };
    let work = |phone: &mut Phone| -> Result<(), String> {
        if phone.phase != phase {
            return Ok(());
        }
        if phone.synced == history.generation {
            phone.core.sync_unchanged(now).map_err(|e| e.to_string())?;
            return Ok(());
        }
        let mut plan = phone.core.begin_sync(index, now).map_err(|e| e.to_string())?;
        while let Some(entry) = plan.next_file().copied() {
            let published = history.files.get(&(entry.kind, entry.sequence)).ok_or("a file the town never fetched")?;
            if history.shared {
                hint(history, published, phone, &mut plan);
            }
            phone.core.apply_verified(&mut plan, &entry, &published.file, now).map_err(|e| e.to_string())?;
        }
        let (applied, decision) = phone.core.finish_sync(plan, None, now).map_err(|e| e.to_string())?;
        phone.synced = history.generation;
        if phone.yellow_at.is_none() && decision.color == Color::Yellow {
            phone.yellow_at = Some(now);
        }
        if applied.exposures > 0 {
            note_alerts(phone, now)?;
        }
        Ok(())
    };
    // Phones are independent: sync on every core.
    on_every_core(phones, |part| part.iter_mut().try_for_each(&work)).into_iter().collect()
}

/// Hands the phone what the shared work found for the file it applies next.
fn hint(history: &History, published: &Published, phone: &Phone, plan: &mut greenlight_phone::SyncPlan) {
    match (&published.file, published.place) {
        (VerifiedFile::Export(_), _) => {
            let (keys, sightings) = published.hints.for_phone(phone.id, phone.store()).unwrap_or_default();
            plan.only_keys(keys);
            plan.only_sightings(sightings);
        }
        (VerifiedFile::Trace(batch), Some(place)) => {
            plan.only_checkins(history.visitors.records(place, batch, phone.id));
        }
        _ => {}
    }
}

/// Notes when the phone's Bluetooth exposures alone would first have
/// turned it yellow, and when the GAEN-style baseline would first have
/// notified.
fn note_alerts(phone: &mut Phone, now: UnixTime) -> Result<(), String> {
    let exposures = phone.store().exposures().map_err(|e| e.to_string())?;
    let policy = phone.core.policy().map_err(|e| e.to_string())?.ok_or("the phone has no policy")?;
    if phone.yellow_ble_at.is_none() {
        let ble: Vec<Exposure> = exposures.iter().filter(|e| matches!(e, Exposure::Ble { .. })).cloned().collect();
        let inputs = greenlight_phone::status::color_inputs(now, Some(now), None, &ble).map_err(|e| e.to_string())?;
        if decide(&policy, &inputs).color == Color::Yellow {
            phone.yellow_ble_at = Some(now);
        }
    }
    let min_risk = policy.params().min_transmission_risk;
    if phone.gaen_at.is_none() && super::score::gaen_notifies(&exposures, now, min_risk) {
        phone.gaen_at = Some(now);
    }
    Ok(())
}

/// What each phone ended with, to compare two runs: its exposures, its
/// colour history and its first alerts.
pub(crate) fn ends(phones: &[Phone]) -> Result<Vec<String>, String> {
    phones
        .iter()
        .map(|p| {
            let store = p.store();
            let exposures = store.exposures().map_err(|e| e.to_string())?;
            let colors = store.color_history().map_err(|e| e.to_string())?;
            Ok(format!("{exposures:?} {colors:?} {:?} {:?} {:?}", p.yellow_at, p.yellow_ble_at, p.gaen_at))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--policy FILE` reads the staff portal's policy form fields; fields
    /// left out keep the recommended policy's values; unknown fields and
    /// policies the protocol refuses are errors, not silently ignored.
    #[test]
    fn a_candidate_policy_is_read_from_the_portal_form_fields() {
        let start = UnixTime(1_700_000_000);
        let recommended = *ColorPolicy::recommended(1, start).params();
        let p = policy_from_form(r#"{"t0": 52, "w1": 0, "min_venue_overlap": 60}"#, start).expect("a valid policy");
        assert_eq!(
            p.attenuation_thresholds_db,
            [52, recommended.attenuation_thresholds_db[1], recommended.attenuation_thresholds_db[2]]
        );
        assert_eq!(p.bucket_weights_percent[1], 0);
        assert_eq!(p.min_venue_overlap_minutes, VenueOverlaps::uniform(60));
        // Per kind, as the portal's form names them, over the shorthand.
        let p = policy_from_form(r#"{"min_venue_overlap": 60, "min_venue_overlap_shop": 0}"#, start).expect("valid");
        assert_eq!(p.min_venue_overlap_minutes, VenueOverlaps::uniform(60).with(VenueKind::Shop, 0));
        assert_eq!(p.min_weighted_minutes_per_day, recommended.min_weighted_minutes_per_day);
        let e = policy_from_form(r#"{"venue_overlap": 60}"#, start).expect_err("an unknown field");
        assert!(e.contains("unknown field \"venue_overlap\""), "{e}");
        let e = policy_from_form(r#"{"t0": 80, "t1": 70}"#, start).expect_err("band edges that fall");
        assert!(e.contains("not a valid policy"), "{e}");
        assert!(policy_from_form(r#"{"t0": 300}"#, start).is_err(), "out of range");
        assert!(policy_from_form("[1]", start).is_err(), "not an object");
    }
}
