//! Strategies over one town: the epidemic walked again for each way of
//! alerting residents, with behaviour (yellow: seven days at home, for
//! those who comply), from the same schedule and seed.
//!
//! - **No app**: nobody is alerted; cases stay home once they know
//!   (every strategy keeps that).
//! - **Centralized health code**: the 2020 codes as reported of Hangzhou:
//!   a central log of every scan; at each positive result, everyone who
//!   scanned into a venue on the same day as the case, on the days the
//!   case counts as infectious (the window Greenlight's reporters reveal),
//!   turns yellow at once. It sees every scan; nothing is left out to make
//!   it look worse.
//! - **GAEN-style Bluetooth**, **Greenlight Bluetooth only** and
//!   **Greenlight Bluetooth + venues**: at each upload, what the phones of
//!   the radio pass detected of the case's keys (below), scored with GAEN's
//!   default attenuation weights or with the signed policy, plus (last
//!   strategy) the visits the case revealed matched against the other
//!   visitors' stays with the policy's minimum overlap.
//!
//! **Detections** come from the real phones of the radio pass, with no
//! phone knowing the future: after the pass, each key of a resident who
//! reports in some strategy pass (taken from that resident's phone store)
//! is looked up in what every phone stored (the shared work's index of
//! heard IDs) and matched by the protocol's matcher against that phone's
//! sightings of its IDs; each scan window becomes one contact by the
//! protocol's rule (`contact::contacts`). A strategy pass keeps a window
//! only if neither resident stayed home at that step in the pass (members
//! of one household always count: they meet at home anyway), so a
//! quarantined resident's phone hears no one at the office. Alert times
//! follow the town's services: keys are exported on the hour (a key of the
//! report's own day after its 2-hour embargo), a venue's case waits for
//! the visits' hourly hand-over, the tracer's next round (every 15 minutes,
//! 08:00–20:00), the owner's hour and the round after; each phone syncs at
//! its own minute of the hour.

use super::layout::{STEP_SECS, STEPS_PER_DAY, STEPS_PER_HOUR, Town};
use super::phones::{Phone, sync_phase};
use super::shared::{ExportHints, Heard};
use super::truth::{Alert, Alerter, Behaviour, Stay, Truth};
use super::venues::{TRACER_EVERY_STEPS, TRACER_HOURS};
use greenlight_phone::{Exposure, Store as _};
use greenlight_protocol::color::{Color, decide};
use greenlight_protocol::contact::{HeardSighting, contacts};
use greenlight_protocol::matcher::{MatchConfig, SightingIndex};
use greenlight_protocol::policy::{ColorPolicy, VenueOverlaps};
use greenlight_protocol::report::TransmissionRisk;
use greenlight_protocol::time::DayNumber;
use greenlight_protocol::venue::VenueKind;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// A way of alerting residents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Strategy {
    /// Nobody is alerted.
    NoApp,
    /// Everyone who scanned into the same venue on the same day as a case.
    Centralized,
    /// GAEN's default attenuation weights on the same detections.
    Gaen,
    /// The signed policy on Bluetooth alone.
    GreenlightBle,
    /// The signed policy on Bluetooth and venue visits.
    Greenlight,
}

impl Strategy {
    /// Every strategy, in the table's order.
    pub(crate) const ALL: [Strategy; 5] =
        [Strategy::NoApp, Strategy::Centralized, Strategy::Gaen, Strategy::GreenlightBle, Strategy::Greenlight];

    /// The name in the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Strategy::NoApp => "no app",
            Strategy::Centralized => "centralized health code",
            Strategy::Gaen => "GAEN-style Bluetooth",
            Strategy::GreenlightBle => "Greenlight Bluetooth only",
            Strategy::Greenlight => "Greenlight Bluetooth + venues",
        }
    }

    /// The key in `--json`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Strategy::NoApp => "no_app",
            Strategy::Centralized => "centralized",
            Strategy::Gaen => "gaen",
            Strategy::GreenlightBle => "greenlight_bluetooth",
            Strategy::Greenlight => "greenlight",
        }
    }
}

/// One case's key of one day as one phone heard it: the scan windows
/// (step from the start of day 0) and their attenuation.
struct Detection {
    phone: u32,
    day: u32,
    windows: Vec<(u64, u8)>,
}

/// What the radio pass's phones heard of each resident's keys, computed
/// when a strategy pass first needs it (at the resident's upload).
pub(crate) struct Detector<'a> {
    phones: &'a [Phone],
    heard: &'a Heard,
    start_day: DayNumber,
    days: u32,
    cache: HashMap<u32, std::rc::Rc<Vec<Detection>>>,
}

impl<'a> Detector<'a> {
    /// Detections from the radio pass's `phones` and `heard` index.
    pub(crate) fn new(phones: &'a [Phone], heard: &'a Heard, start_day: DayNumber, days: u32) -> Self {
        Detector { phones, heard, start_day, days, cache: HashMap::new() }
    }

    /// Every detection of `case`'s keys by another phone.
    fn of(&mut self, case: u32) -> std::rc::Rc<Vec<Detection>> {
        if let Some(found) = self.cache.get(&case) {
            return found.clone();
        }
        let found = std::rc::Rc::new(self.compute(case));
        self.cache.insert(case, found.clone());
        found
    }

    fn compute(&self, case: u32) -> Vec<Detection> {
        let store = self.phones[case as usize].store();
        let start = self.start_day.start();
        let published_at = self.start_day.plus(self.days + 30).start();
        let risk = TransmissionRisk::new(1).expect("a valid level");
        let mut out = Vec::new();
        for d in 0..self.days {
            let day = self.start_day.plus(d);
            let Ok(Some((key, _))) = store.daily_key(day) else { continue };
            let key = key.release();
            let hints = ExportHints::for_keys(&[(key, day)], self.heard);
            for phone in hints.phones() {
                if phone == case {
                    continue;
                }
                let receiver = &self.phones[phone as usize];
                let Some((_, sightings)) = hints.for_phone(phone, receiver.store()) else { continue };
                let index = SightingIndex::new(sightings, MatchConfig::default());
                let (matches, _) = index.match_keys([(key, day)], published_at);
                let mut by_window: BTreeMap<u64, Vec<HeardSighting>> = BTreeMap::new();
                for m in &matches {
                    for v in &m.sightings {
                        let s = &index.sightings()[v.sighting];
                        by_window.entry(s.seen_at.0.saturating_sub(start.0) / STEP_SECS).or_default().push(
                            HeardSighting {
                                seen_at: s.seen_at,
                                sender_tx_power_dbm: v.metadata.tx_power,
                                rssi_dbm: s.rssi,
                            },
                        );
                    }
                }
                let calibration = receiver.store_calibration();
                let windows: Vec<(u64, u8)> = by_window
                    .into_iter()
                    .filter_map(|(w, heard)| {
                        contacts(day, risk, &heard, calibration).first().map(|c| (w, c.attenuation_db))
                    })
                    .collect();
                if !windows.is_empty() {
                    out.push(Detection { phone, day: d, windows });
                }
            }
        }
        out
    }
}

/// The first step at or after `from` at which a phone syncing at `phase`
/// syncs.
fn next_sync(from: u64, phase: u32) -> u64 {
    let hour = u64::from(STEPS_PER_HOUR);
    let at = from - from % hour + u64::from(phase);
    if at >= from { at } else { at + hour }
}

/// The first step at or after `from` that is a multiple of `every`.
fn ceil_to(from: u64, every: u64) -> u64 {
    from.div_ceil(every) * every
}

/// The first tracer round at or after `from`.
fn tracer_round(from: u64) -> u64 {
    let mut t = ceil_to(from, u64::from(TRACER_EVERY_STEPS));
    loop {
        let hour = u32::try_from((t % u64::from(STEPS_PER_DAY)) / u64::from(STEPS_PER_HOUR)).unwrap_or(0);
        if TRACER_HOURS.contains(&hour) {
            return t;
        }
        t += u64::from(TRACER_EVERY_STEPS);
    }
}

/// Whether a key or visit of sim day `day` counts for a case tested on
/// `test_day` under the policy's minimum transmission risk (the days
/// Greenlight's reporters reveal), and was uploaded (the last 14 days).
fn counts(start_day: DayNumber, day: u32, test_day: u32, upload_day: u32, min_risk: u8) -> bool {
    if day > upload_day || upload_day - day > 13 || day > test_day {
        return false;
    }
    greenlight_client::report::transmission_risk(start_day.plus(day), start_day.plus(test_day), false).level()
        >= min_risk
}

/// The stays at `place` on `day` so far in the pass (ended and open).
fn stays_at(truth: &Truth, by_venue: &HashMap<(u32, u32), Vec<usize>>, place: u32, day: u32, now: u64) -> Vec<Stay> {
    let mut out: Vec<Stay> =
        by_venue.get(&(place, day)).map_or(&[][..], Vec::as_slice).iter().map(|&i| truth.stays[i]).collect();
    let now_day = u32::try_from(now / u64::from(STEPS_PER_DAY)).unwrap_or(u32::MAX);
    if now_day == day {
        let step = u32::try_from(now % u64::from(STEPS_PER_DAY)).unwrap_or(0);
        for (r, open) in truth.open.iter().enumerate() {
            if let Some((p, start)) = *open
                && p == place
            {
                out.push(Stay { resident: u32::try_from(r).unwrap_or(u32::MAX), place, day, start, end: step + 1 });
            }
        }
    }
    out
}

/// The index of a pass's stays by venue and day, kept up to date.
#[derive(Default)]
struct StayIndex {
    seen: usize,
    by_venue: HashMap<(u32, u32), Vec<usize>>,
}

impl StayIndex {
    fn update(&mut self, truth: &Truth) {
        for (i, s) in truth.stays.iter().enumerate().skip(self.seen) {
            self.by_venue.entry((s.place, s.day)).or_default().push(i);
        }
        self.seen = truth.stays.len();
    }
}

/// The centralized health code's alerter.
pub(crate) struct Centralized {
    start_day: DayNumber,
    min_risk: u8,
    stays: StayIndex,
}

impl Alerter for Centralized {
    fn result(&mut self, truth: &Truth, case: u32, step: u64, alerts: &mut Vec<Alert>) {
        let Some(plan) = truth.reports[case as usize] else { return };
        self.stays.update(truth);
        let today = u32::try_from(step / u64::from(STEPS_PER_DAY)).unwrap_or(u32::MAX);
        let mut visited: Vec<(u32, u32)> = Vec::new();
        for d in 0..=today {
            if !counts(self.start_day, d, plan.test_day, today, self.min_risk) {
                continue;
            }
            let mut places: Vec<u32> = Vec::new();
            for s in self.stays.by_venue.iter().filter(|((_, day), _)| *day == d).flat_map(|(_, v)| v) {
                let s = truth.stays[*s];
                if s.resident == case {
                    places.push(s.place);
                }
            }
            if let Some((p, _)) = truth.open[case as usize]
                && d == today
            {
                places.push(p);
            }
            places.sort_unstable();
            places.dedup();
            visited.extend(places.into_iter().map(|p| (p, d)));
        }
        for (place, day) in visited {
            for s in stays_at(truth, &self.stays.by_venue, place, day, step) {
                if s.resident != case {
                    alerts.push(Alert { resident: s.resident, step: step + 1, case });
                }
            }
        }
    }
}

/// One scan window's contact in a pass: `(attenuation dB, seconds, risk)`.
type WindowContact = (u8, u32, u8);

/// The phones' alerter: GAEN-style, Greenlight on Bluetooth only, or
/// Greenlight on Bluetooth and venues.
pub(crate) struct Phones<'t, 'a, 'd> {
    strategy: Strategy,
    detector: &'d mut Detector<'a>,
    town: &'t Town,
    policy: &'t ColorPolicy,
    seed: u64,
    stays: StayIndex,
    /// Each phone's contacts by day in this pass: `(attenuation, seconds, risk)`.
    contacts: HashMap<(u32, u32), Vec<WindowContact>>,
    /// Days that already turned each phone yellow.
    qualified: std::collections::HashSet<(u32, u32)>,
}

impl Phones<'_, '_, '_> {
    fn yellow(&self, phone: u32, day: u32, venue: Option<Exposure>, now: u64) -> bool {
        let at = self.detector.start_day.start().plus(now * STEP_SECS);
        let day_number = self.detector.start_day.plus(day).0;
        let ble: Vec<Exposure> = self
            .contacts
            .get(&(phone, day))
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|&(attenuation_db, seconds, transmission_risk)| Exposure::Ble {
                day: day_number,
                attenuation_db,
                seconds,
                transmission_risk,
            })
            .collect();
        let min_risk = self.policy.params().min_transmission_risk;
        match self.strategy {
            Strategy::Gaen => super::score::gaen_notifies(&ble, at, min_risk),
            _ => {
                let mut all = ble;
                all.extend(venue);
                greenlight_phone::status::color_inputs(at, Some(at), None, &all)
                    .is_ok_and(|inputs| decide(self.policy, &inputs).color == Color::Yellow)
            }
        }
    }
}

impl Alerter for Phones<'_, '_, '_> {
    fn upload(&mut self, truth: &Truth, case: u32, step: u64, alerts: &mut Vec<Alert>) {
        let Some(plan) = truth.reports[case as usize] else { return };
        let start_day = self.detector.start_day;
        let min_risk = self.policy.params().min_transmission_risk;
        let today = u32::try_from(step / u64::from(STEPS_PER_DAY)).unwrap_or(u32::MAX);
        let home = |r: u32| self.town.residents[r as usize].home;
        let mut touched: Vec<(u32, u32)> = Vec::new();
        for det in self.detector.of(case).iter() {
            if !counts(start_day, det.day, plan.test_day, today, min_risk) || truth.reported(det.phone, step) {
                continue;
            }
            let risk = greenlight_client::report::transmission_risk(
                start_day.plus(det.day),
                start_day.plus(plan.test_day),
                false,
            )
            .level();
            let household = home(det.phone) == home(case);
            let kept: Vec<(u8, u32, u8)> = det
                .windows
                .iter()
                .filter(|&&(w, _)| household || (!truth.isolated(det.phone, w) && !truth.isolated(case, w)))
                .map(|&(_, a)| (a, u32::try_from(STEP_SECS).unwrap_or(300), risk))
                .collect();
            if !kept.is_empty() {
                self.contacts.entry((det.phone, det.day)).or_default().extend(kept);
                touched.push((det.phone, det.day));
            }
        }
        for (phone, day) in touched {
            if self.qualified.contains(&(phone, day)) {
                continue;
            }
            // Keys of past days go out with the next hourly export; the
            // key of the report's own day after its 2-hour embargo.
            let exported = if day < today {
                ceil_to(step, u64::from(STEPS_PER_HOUR))
            } else {
                u64::from(day + 1) * u64::from(STEPS_PER_DAY) + 2 * u64::from(STEPS_PER_HOUR)
            };
            let at = next_sync(exported.max(step + 1), sync_phase(self.seed, phone));
            if self.yellow(phone, day, None, at) {
                self.qualified.insert((phone, day));
                alerts.push(Alert { resident: phone, step: at, case });
            }
        }
        if self.strategy != Strategy::Greenlight {
            return;
        }
        // Venue alerts: the case's visits of the days that count; the
        // tracer opens the case after the hourly hand-over, the owner
        // answers an hour later, the tracer publishes at the next round.
        self.stays.update(truth);
        let opened = tracer_round(ceil_to(step, u64::from(STEPS_PER_HOUR)));
        let published = tracer_round(opened + u64::from(STEPS_PER_HOUR));
        let mut own: Vec<Stay> = Vec::new();
        for d in 0..=today {
            if counts(start_day, d, plan.test_day, today, min_risk) {
                own.extend(
                    self.stays
                        .by_venue
                        .iter()
                        .filter(|((_, day), _)| *day == d)
                        .flat_map(|(_, v)| v.iter().map(|&i| truth.stays[i]))
                        .filter(|s| s.resident == case),
                );
            }
        }
        if let Some((p, start)) = truth.open[case as usize]
            && counts(start_day, today, plan.test_day, today, min_risk)
        {
            let end = u32::try_from(step % u64::from(STEPS_PER_DAY)).unwrap_or(0) + 1;
            own.push(Stay { resident: case, place: p, day: today, start, end });
        }
        let step_minutes = u32::try_from(STEP_SECS / 60).unwrap_or(5);
        for visit in own {
            for other in stays_at(truth, &self.stays.by_venue, visit.place, visit.day, step) {
                let overlap = visit.overlap_steps(&other);
                if other.resident == case || overlap == 0 || truth.reported(other.resident, step) {
                    continue;
                }
                let day_start = start_day.plus(visit.day).start().0;
                let exposure = Exposure::Venue {
                    day: start_day.plus(visit.day).0,
                    start: day_start + u64::from(other.start) * STEP_SECS,
                    end: day_start + u64::from(other.end) * STEP_SECS,
                    overlap_minutes: overlap * step_minutes,
                    // The kind on the place's posters: the rule for it decides.
                    venue_kind: self.town.places[visit.place as usize].kind.venue_kind().map_or(0, |k| k.to_byte()),
                    venue: String::new(),
                    message: String::new(),
                };
                let at = next_sync(published, sync_phase(self.seed, other.resident));
                if self.yellow(other.resident, visit.day, Some(exposure), at) {
                    alerts.push(Alert { resident: other.resident, step: at, case });
                }
            }
        }
    }
}

/// The policy's minimum venue overlap per kind, as JSON: minutes by
/// kind name, `null` for a kind whose visits never alert.
pub(crate) fn venue_overlaps_json(overlaps: &VenueOverlaps) -> Value {
    VenueKind::ALL
        .iter()
        .map(|&k| (k.as_str().to_owned(), overlaps.minutes(k).map_or(Value::Null, Into::into)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The same in words for the report: "15 minutes" when every kind shares
/// one minimum, else each kind the town has (transit, restaurant, shop).
pub(crate) fn venue_overlaps_text(overlaps: &VenueOverlaps) -> String {
    let minutes = |m: Option<u16>| m.map_or("never".to_owned(), |m| format!("{m} minutes"));
    if overlaps.as_uniform().is_some() {
        return minutes(overlaps.minutes(VenueKind::Other));
    }
    [VenueKind::Transit, VenueKind::Restaurant, VenueKind::Shop]
        .iter()
        .map(|&k| format!("{} {}", k.as_str(), minutes(overlaps.minutes(k))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs one strategy's pass over the town.
#[expect(clippy::too_many_arguments, reason = "one call site, each argument a different part of the town")]
pub(crate) fn pass(
    strategy: Strategy,
    town: &Town,
    days: u32,
    seed_cases: u32,
    seed: u64,
    behaviour: Behaviour,
    policy: &ColorPolicy,
    detector: &mut Detector<'_>,
) -> Truth {
    let min_risk = policy.params().min_transmission_risk;
    let start_day = detector.start_day;
    let mut alerter: Box<dyn Alerter + '_> = match strategy {
        Strategy::NoApp => Box::new(super::truth::NoApp),
        Strategy::Centralized => Box::new(Centralized { start_day, min_risk, stays: StayIndex::default() }),
        Strategy::Gaen | Strategy::GreenlightBle | Strategy::Greenlight => Box::new(Phones {
            strategy,
            detector,
            town,
            policy,
            seed,
            stays: StayIndex::default(),
            contacts: HashMap::new(),
            qualified: std::collections::HashSet::new(),
        }),
    };
    super::truth::simulate_with(town, days, seed_cases, seed, alerter.as_mut(), behaviour, false, || {})
}

/// What a strategy did to the town (over the simulated days).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Metrics {
    /// Infections from day 0 on (the seed cases not counted).
    pub(crate) infections: u32,
    /// Of them, by kind of place: home, office, bus, restaurant, shop.
    pub(crate) infections_by_place: BTreeMap<&'static str, u32>,
    /// Residents who reported a positive test.
    pub(crate) reporters: u32,
    /// Residents ever yellow.
    pub(crate) notified: u32,
    /// Of them, infected within 14 days of their first alert (before or after).
    pub(crate) notified_infected: u32,
    /// Person-days yellow (asked to stay home) within the simulated days.
    pub(crate) quarantine_days: f64,
    /// Of them, person-days of residents never infected.
    pub(crate) quarantine_days_uninfected: f64,
    /// Most residents yellow at one time.
    pub(crate) peak_yellow: u32,
    /// Residents yellow at the end of each day.
    pub(crate) yellow_per_day: Vec<u32>,
    /// New infections per day.
    pub(crate) infections_per_day: Vec<u32>,
    /// Hours from the positive result of the case that caused it to each
    /// resident's first alert, sorted.
    pub(crate) hours_to_alert: Vec<f64>,
    /// The first alert's step.
    pub(crate) first_alert: Option<u64>,
}

impl Metrics {
    /// Measures a pass.
    pub(crate) fn of(town: &Town, truth: &Truth, days: u32) -> Self {
        let end = u64::from(days) * u64::from(STEPS_PER_DAY);
        let per_day = f64::from(STEPS_PER_DAY);
        let mut m = Metrics {
            infections: u32::try_from(truth.transmissions.iter().filter(|t| t.step >= 0).count()).unwrap_or(u32::MAX),
            reporters: u32::try_from(truth.reports.iter().flatten().count()).unwrap_or(u32::MAX),
            infections_per_day: truth.infections_per_day.clone(),
            first_alert: truth.first_alert(),
            ..Metrics::default()
        };
        for t in truth.transmissions.iter().filter(|t| t.step >= 0) {
            let kind = t.place.map_or("before day 1", |p| town.places[p as usize].kind.name());
            *m.infections_by_place.entry(kind).or_default() += 1;
        }
        let mut first: HashMap<u32, Alert> = HashMap::new();
        for a in &truth.alerts {
            first.entry(a.resident).or_insert(*a);
        }
        let window = 14 * u64::from(STEPS_PER_DAY);
        for (r, a) in &first {
            m.notified += 1;
            if let Some(at) = truth.infected_at[*r as usize] {
                let alert = i64::try_from(a.step).unwrap_or(i64::MAX);
                if at.abs_diff(alert) <= window {
                    m.notified_infected += 1;
                }
            }
            if let Some(plan) = truth.reports[a.case as usize] {
                m.hours_to_alert.push((a.step.saturating_sub(plan.result_step) * STEP_SECS) as f64 / 3600.0);
            }
        }
        m.hours_to_alert.sort_by(f64::total_cmp);
        let mut events: BTreeMap<u64, i64> = BTreeMap::new();
        for (r, spans) in truth.yellow.iter().enumerate() {
            for &(from, until) in spans {
                let (a, b) = (from.min(end), until.min(end));
                let days_yellow = (b - a) as f64 / per_day;
                m.quarantine_days += days_yellow;
                if truth.infected_at[r].is_none() {
                    m.quarantine_days_uninfected += days_yellow;
                }
                *events.entry(a).or_default() += 1;
                *events.entry(b).or_default() -= 1;
            }
        }
        let mut now = 0i64;
        for (_, delta) in events {
            now += delta;
            m.peak_yellow = m.peak_yellow.max(u32::try_from(now).unwrap_or(0));
        }
        m.yellow_per_day = (1..=days)
            .map(|d| {
                let at = u64::from(d) * u64::from(STEPS_PER_DAY) - 1;
                let yellow = truth.yellow.iter().filter(|s| s.iter().any(|&(a, b)| a <= at && at < b)).count();
                u32::try_from(yellow).unwrap_or(u32::MAX)
            })
            .collect();
        m
    }

    /// Alerted residents per reporter.
    pub(crate) fn notifications_per_reporter(&self) -> f64 {
        if self.reporters == 0 { 0.0 } else { f64::from(self.notified) / f64::from(self.reporters) }
    }

    /// Share of the notified infected within 14 days of their alert.
    pub(crate) fn attack_rate(&self) -> Option<f64> {
        (self.notified > 0).then(|| f64::from(self.notified_infected) / f64::from(self.notified))
    }

    /// The `q` quantile of the hours to alert.
    pub(crate) fn hours_quantile(&self, q: f64) -> Option<f64> {
        let last = self.hours_to_alert.len().checked_sub(1)?;
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an index into a short list")]
        let i = ((last as f64) * q).round() as usize;
        self.hours_to_alert.get(i.min(last)).copied()
    }

    /// As JSON, with `averted` against no app.
    pub(crate) fn json(&self, residents: u32, no_app: &Metrics) -> Value {
        json!({
            "infections": self.infections,
            "infections_averted": i64::from(no_app.infections) - i64::from(self.infections),
            "infections_by_place": self.infections_by_place,
            "reporters": self.reporters,
            "notified": self.notified,
            "notifications_per_reporter": self.notifications_per_reporter(),
            "secondary_attack_rate_notified": self.attack_rate(),
            "quarantine_person_days": self.quarantine_days,
            "quarantine_person_days_never_infected": self.quarantine_days_uninfected,
            "ever_yellow_share": f64::from(self.notified) / f64::from(residents.max(1)),
            "peak_yellow_share": f64::from(self.peak_yellow) / f64::from(residents.max(1)),
            "yellow_per_day": self.yellow_per_day,
            "infections_per_day": self.infections_per_day,
            "hours_to_alert": { "median": self.hours_quantile(0.5), "p90": self.hours_quantile(0.9) },
            "first_alert_step": self.first_alert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_syncs_at_its_own_step_of_the_hour_from_then_on() {
        assert_eq!(next_sync(12, 0), 12, "at once when its step is now");
        assert_eq!(next_sync(12, 5), 17);
        assert_eq!(next_sync(18, 5), 29, "the next hour once this hour's step has passed");
    }

    #[test]
    fn tracers_look_every_quarter_hour_from_eight_to_eight() {
        let day = u64::from(STEPS_PER_DAY);
        assert_eq!(tracer_round(0), 96, "08:00 on the first morning");
        assert_eq!(tracer_round(100), 102, "the next quarter hour");
        assert_eq!(tracer_round(237), 237, "19:45, the last round of the day");
        assert_eq!(tracer_round(238), day + 96, "after the last round, the next morning at 08:00");
    }

    #[test]
    fn keys_and_visits_count_on_the_infectious_days_up_to_the_upload() {
        let start = DayNumber(20_584);
        // Tested on day 10, uploaded on day 10: days 1 to 10 count at risk
        // level 3 or more, none after the upload.
        let counted: Vec<u32> = (0..14).filter(|&d| counts(start, d, 10, 10, 3)).collect();
        assert!(counted.contains(&10) && counted.contains(&5), "{counted:?}");
        assert!(!counted.contains(&11) && !counted.contains(&13));
        assert!(counted.iter().all(|&d| d + 13 >= 10));
    }
}
