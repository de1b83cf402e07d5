//! Ground truth: the epidemic and every close contact, from the residents'
//! true positions alone — never from what any phone computed.
//!
//! A step of five minutes counts as five minutes of contact for each pair
//! of residents in the same place within [`CLOSE_M`] of each other. The
//! epidemic spreads over the same pairs: each step an infectious resident
//! infects a susceptible one with a probability that depends on the
//! distance. Infected residents who test (a fixed share) get their test
//! result some days later and report the same day; from their report on
//! they stay home for [`RED_DAYS`] (red).
//!
//! Every infection is recorded as a [`Transmission`]: who infected whom,
//! where and when. The same walk runs once per strategy ([`Alerter`]): a
//! strategy turns residents yellow, and a yellow resident who complies
//! stays home for [`YELLOW_DAYS`], which changes who meets whom from then
//! on. Every random draw is a hash of who, where and when, so two passes
//! over the same town and seed agree on everything until the first
//! resident stays home because of an alert.

use super::layout::{STEP_SECS, STEPS_PER_DAY, STEPS_PER_HOUR, Town, mix, unit};
use std::collections::HashMap;

/// A close contact is within this distance, m.
pub(crate) const CLOSE_M: f32 = 2.0;
/// Infection probability per five-minute step within [`CLOSE_M`].
const BETA_CLOSE: f32 = 0.0015;
/// Infection probability per step in the same place, beyond [`CLOSE_M`]
/// but within 5 m (aerosols in a room).
const BETA_ROOM: f32 = 0.000_2;
/// Days from infection to infectiousness, and to its end.
const INFECTIOUS_FROM_DAYS: i64 = 2;
const INFECTIOUS_UNTIL_DAYS: i64 = 10;
/// Share of the infected who get tested (and report).
const TESTED: f32 = 0.6;

const DRAW_INFECTION: u64 = 100;
const DRAW_SEED_CASE: u64 = 101;
const DRAW_TESTED: u64 = 102;
const DRAW_TEST_DELAY: u64 = 103;
const DRAW_REPORT_HOUR: u64 = 104;
const DRAW_COMPLIES: u64 = 105;

/// Days a yellow resident stays home (Hangzhou's rules for the 2020
/// health code: yellow, seven days).
pub(crate) const YELLOW_DAYS: u64 = 7;
/// Days a resident who reported a positive test stays home (red, fourteen).
pub(crate) const RED_DAYS: u64 = 14;
/// Default share of yellow residents who stay home.
pub(crate) const DEFAULT_COMPLIANCE: f32 = 0.8;

/// How residents respond to a yellow code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Behaviour {
    /// Share of residents who stay home when yellow (each resident draws
    /// once whether they are one of them).
    pub(crate) compliance: f32,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { compliance: DEFAULT_COMPLIANCE }
    }
}

/// One infection: who infected whom, where and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transmission {
    /// The infectious resident; `None` for the seed cases infected before
    /// the first day.
    pub(crate) from: Option<u32>,
    /// The newly infected resident.
    pub(crate) to: u32,
    /// The place (`None` for the seed cases).
    pub(crate) place: Option<u32>,
    /// Step of the infection (from the start of day 0, negative before).
    pub(crate) step: i64,
}

/// A resident's phone (or code) turned yellow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alert {
    /// Who.
    pub(crate) resident: u32,
    /// Step at which it turned yellow.
    pub(crate) step: u64,
    /// The case whose report caused it.
    pub(crate) case: u32,
}

/// A strategy: what turns residents yellow, and when. It hears of each
/// case's positive result and upload as they happen (never before) and
/// answers with alerts due at a later step: `(step, resident, case)`.
pub(crate) trait Alerter {
    /// `case` got a positive result at `step`.
    fn result(&mut self, _truth: &Truth, _case: u32, _step: u64, _alerts: &mut Vec<Alert>) {}
    /// `case` reported (uploaded) at `step`.
    fn upload(&mut self, _truth: &Truth, _case: u32, _step: u64, _alerts: &mut Vec<Alert>) {}
}

/// No app: nobody is alerted; cases still stay home once they know.
pub(crate) struct NoApp;

impl Alerter for NoApp {}

/// One resident's report: the day of the positive test, when the result
/// came and when the phone uploaded (steps counted from the start of day 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlannedReport {
    /// Sim day of the test.
    pub(crate) test_day: u32,
    /// Step the positive result reached the resident (and the authority).
    pub(crate) result_step: u64,
    /// Step of the upload: 10 minutes to 2 hours later, the time it
    /// takes staff to issue the code and the resident to enter it.
    pub(crate) step: u64,
}

/// A stay at a venue (a place with posters), from true positions: the
/// steps `start..end` of one sim day. Everyone scans the poster when they
/// come in and checks out when they leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stay {
    /// Who.
    pub(crate) resident: u32,
    /// The venue.
    pub(crate) place: u32,
    /// Sim day.
    pub(crate) day: u32,
    /// First step inside.
    pub(crate) start: u32,
    /// First step outside (at most [`STEPS_PER_DAY`]).
    pub(crate) end: u32,
}

impl Stay {
    /// Steps both stays spent inside (0 unless the same venue and day).
    pub(crate) fn overlap_steps(&self, other: &Stay) -> u32 {
        if self.place != other.place || self.day != other.day {
            return 0;
        }
        self.end.min(other.end).saturating_sub(self.start.max(other.start))
    }
}

/// What really happened.
#[derive(Debug, Clone, Default)]
pub(crate) struct Truth {
    /// Seconds within [`CLOSE_M`] per pair `(a, b)` with `a < b` and sim
    /// day: `[while a's key was still broadcast, while b's was]` (they
    /// differ only on the day one of them reports and stops broadcasting).
    pub(crate) close_seconds: HashMap<(u32, u32, u32), [u32; 2]>,
    /// Step (from the start of day 0, negative before it) at which each
    /// resident was infected.
    pub(crate) infected_at: Vec<Option<i64>>,
    /// Each resident's report, if they report within the simulated days.
    pub(crate) reports: Vec<Option<PlannedReport>>,
    /// New infections per sim day.
    pub(crate) infections_per_day: Vec<u32>,
    /// Every stay at a venue, in the order they ended.
    pub(crate) stays: Vec<Stay>,
    /// Every infection, in order.
    pub(crate) transmissions: Vec<Transmission>,
    /// The venue each resident is in now and since which step of the day.
    pub(crate) open: Vec<Option<(u32, u32)>>,
    /// Every alert that turned a resident yellow (a resident already
    /// yellow is alerted again when a new case extends their quarantine),
    /// in order, up to noon after the last day.
    pub(crate) alerts: Vec<Alert>,
    /// Per resident, the steps `[from, until)` they were yellow (asked to
    /// stay home), merged.
    pub(crate) yellow: Vec<Vec<(u64, u64)>>,
    /// Per resident, whether they stay home when yellow.
    pub(crate) complies: Vec<bool>,
    /// Residents whose positive result, and whose upload, came at a step.
    pub(crate) results_at: HashMap<u64, Vec<u32>>,
    pub(crate) uploads_at: HashMap<u64, Vec<u32>>,
}

impl Truth {
    /// Whether `r` has reported by `step` (and so stopped broadcasting the
    /// keys they released).
    pub(crate) fn reported(&self, r: u32, step: u64) -> bool {
        self.reports[r as usize].is_some_and(|p| p.step <= step)
    }

    /// Whether `r` stays home at `step`: red (reported, for [`RED_DAYS`]),
    /// or yellow and one of those who comply.
    pub(crate) fn isolated(&self, r: u32, step: u64) -> bool {
        let ri = r as usize;
        self.reports[ri].is_some_and(|p| p.step <= step && step < p.step + RED_DAYS * u64::from(STEPS_PER_DAY))
            || (self.complies.get(ri).copied().unwrap_or(false)
                && self.yellow.get(ri).is_some_and(|y| y.iter().any(|&(a, b)| a <= step && step < b)))
    }

    /// The first step any resident was yellow, if any was.
    pub(crate) fn first_alert(&self) -> Option<u64> {
        self.alerts.iter().map(|a| a.step).min()
    }

    /// Applies an alert due now: `r` turns (or stays) yellow for
    /// [`YELLOW_DAYS`] from `step`. A resident who reported is red already.
    fn alert(&mut self, a: Alert) {
        let ri = a.resident as usize;
        if self.reported(a.resident, a.step) {
            return;
        }
        let until = a.step + YELLOW_DAYS * u64::from(STEPS_PER_DAY);
        let spans = &mut self.yellow[ri];
        match spans.last_mut() {
            Some(last) if last.1 >= a.step => last.1 = last.1.max(until),
            _ => spans.push((a.step, until)),
        }
        self.alerts.push(a);
    }

    fn infect(&mut self, r: u32, at: i64, days: u32, seed: u64) {
        let ri = r as usize;
        self.infected_at[ri] = Some(at);
        if unit(mix(seed, DRAW_TESTED, u64::from(r), 0)) >= TESTED {
            return;
        }
        let day = at.div_euclid(i64::from(STEPS_PER_DAY));
        let test_day = day + 4 + i64::try_from(mix(seed, DRAW_TEST_DELAY, u64::from(r), 0) % 3).unwrap_or(0);
        // Results come during office hours (09:00–17:55); the upload follows
        // 10 minutes to 2 hours later.
        let h = mix(seed, DRAW_REPORT_HOUR, u64::from(r), 0);
        let within = i64::try_from(h % (9 * u64::from(STEPS_PER_HOUR))).unwrap_or(0);
        let result = test_day * i64::from(STEPS_PER_DAY) + 9 * i64::from(STEPS_PER_HOUR) + within;
        let upload = result + 2 + i64::try_from((h >> 32) % 23).unwrap_or(0);
        if test_day >= 0 && test_day < i64::from(days) {
            let plan = PlannedReport {
                test_day: u32::try_from(test_day).expect("in range"),
                result_step: u64::try_from(result).expect("not negative"),
                step: u64::try_from(upload).expect("not negative"),
            };
            self.reports[ri] = Some(plan);
            self.results_at.entry(plan.result_step).or_default().push(r);
            self.uploads_at.entry(plan.step).or_default().push(r);
        }
    }

    fn infectious(&self, r: usize, step: i64) -> bool {
        self.infected_at[r].is_some_and(|at| {
            let since = step - at;
            since >= INFECTIOUS_FROM_DAYS * i64::from(STEPS_PER_DAY)
                && since < INFECTIOUS_UNTIL_DAYS * i64::from(STEPS_PER_DAY)
        })
    }
}

/// Runs the epidemic over `days` with no app and records every close
/// contact. `seed_cases` residents were infected in the five days before
/// day 0.
pub(crate) fn simulate(town: &Town, days: u32, seed_cases: u32, seed: u64, progress: impl FnMut()) -> Truth {
    simulate_with(town, days, seed_cases, seed, &mut NoApp, Behaviour::default(), true, progress)
}

/// Runs the epidemic over `days` under a strategy: `alerter` hears of
/// every positive result and upload as it happens and turns residents
/// yellow; those who comply (`behaviour`) stay home. Alerts due up to noon
/// after the last day are recorded (they change nothing any more). Close
/// contacts are recorded only with `contacts`.
#[expect(clippy::too_many_arguments, reason = "two call sites, each argument a different part of the walk")]
pub(crate) fn simulate_with(
    town: &Town,
    days: u32,
    seed_cases: u32,
    seed: u64,
    alerter: &mut dyn Alerter,
    behaviour: Behaviour,
    contacts: bool,
    mut progress: impl FnMut(),
) -> Truth {
    let n = town.residents.len();
    let mut truth = Truth {
        close_seconds: HashMap::new(),
        infected_at: vec![None; n],
        reports: vec![None; n],
        infections_per_day: vec![0; days as usize],
        stays: Vec::new(),
        transmissions: Vec::new(),
        open: vec![None; n],
        alerts: Vec::new(),
        yellow: vec![Vec::new(); n],
        complies: (0..n)
            .map(|r| unit(mix(seed, DRAW_COMPLIES, u64::try_from(r).unwrap_or(0), 0)) < behaviour.compliance)
            .collect(),
        results_at: HashMap::new(),
        uploads_at: HashMap::new(),
    };
    let mut pending: std::collections::BTreeMap<u64, Vec<Alert>> = std::collections::BTreeMap::new();
    let mut fresh: Vec<Alert> = Vec::new();
    let n64 = u64::try_from(n).expect("fits");
    let mut seeded = 0;
    let mut k = 0u64;
    while seeded < seed_cases.min(u32::try_from(n).unwrap_or(u32::MAX)) {
        let r = u32::try_from(mix(seed, DRAW_SEED_CASE, k, 0) % n64).expect("below n");
        k += 1;
        if truth.infected_at[r as usize].is_none() {
            let before =
                1 + i64::try_from(mix(seed, DRAW_SEED_CASE, k, 1) % (5 * u64::from(STEPS_PER_DAY))).unwrap_or(0);
            truth.infect(r, -before, days, seed);
            truth.transmissions.push(Transmission { from: None, to: r, place: None, step: -before });
            seeded += 1;
        }
    }

    let mut occupants: Vec<Vec<(u32, f32, f32)>> = vec![Vec::new(); town.places.len()];
    let mut busy: Vec<u32> = Vec::new();
    let mut newly: Vec<(u32, u32, u32)> = Vec::new();
    for day in 0..days {
        for step_of_day in 0..STEPS_PER_DAY {
            let step = u64::from(day) * u64::from(STEPS_PER_DAY) + u64::from(step_of_day);
            let step_i = i64::try_from(step).expect("fits");
            // Alerts due now turn residents yellow before they move.
            while let Some(entry) = pending.first_entry() {
                if *entry.key() > step {
                    break;
                }
                for a in entry.remove() {
                    truth.alert(a);
                }
            }
            for r in 0..u32::try_from(n).expect("fits") {
                let (place, at) = town.whereabouts(r, day, step_of_day, truth.isolated(r, step));
                let is_venue = town.places[place as usize].kind.venue_kind().is_some();
                let ri = r as usize;
                if truth.open[ri].is_some_and(|(p, _)| p != place) {
                    let (p, start) = truth.open[ri].take().expect("checked");
                    truth.stays.push(Stay { resident: r, place: p, day, start, end: step_of_day });
                }
                if is_venue && truth.open[ri].is_none() {
                    truth.open[ri] = Some((place, step_of_day));
                }
                let list = &mut occupants[place as usize];
                if list.is_empty() {
                    busy.push(place);
                }
                list.push((r, at.x, at.y));
            }
            for &place in &busy {
                let list = &occupants[place as usize];
                for (i, &(a, ax, ay)) in list.iter().enumerate() {
                    for &(b, bx, by) in &list[i + 1..] {
                        let d2 = (ax - bx).powi(2) + (ay - by).powi(2);
                        if d2 > 25.0 {
                            continue;
                        }
                        let close = d2 <= CLOSE_M * CLOSE_M;
                        if close && contacts {
                            let (lo, hi) = (a.min(b), a.max(b));
                            let secs = u32::try_from(STEP_SECS).expect("small");
                            // A reporter's phone stops broadcasting the
                            // released key from its upload on.
                            let (lo_on, hi_on) = (!truth.reported(lo, step), !truth.reported(hi, step));
                            let entry = truth.close_seconds.entry((lo, hi, day)).or_insert([0, 0]);
                            entry[0] += if lo_on { secs } else { 0 };
                            entry[1] += if hi_on { secs } else { 0 };
                        }
                        let beta = if close { BETA_CLOSE } else { BETA_ROOM };
                        for (src, dst) in [(a, b), (b, a)] {
                            if truth.infectious(src as usize, step_i)
                                && truth.infected_at[dst as usize].is_none()
                                && unit(mix(seed, DRAW_INFECTION, (u64::from(src) << 32) | u64::from(dst), step)) < beta
                            {
                                newly.push((dst, src, place));
                            }
                        }
                    }
                }
            }
            for &place in &busy {
                occupants[place as usize].clear();
            }
            busy.clear();
            for (r, from, place) in newly.drain(..) {
                if truth.infected_at[r as usize].is_none() {
                    truth.infect(r, step_i + 1, days, seed);
                    truth.transmissions.push(Transmission {
                        from: Some(from),
                        to: r,
                        place: Some(place),
                        step: step_i + 1,
                    });
                    truth.infections_per_day[day as usize] += 1;
                }
            }
            // The strategy hears of this step's results and uploads.
            for (at, upload) in [(&truth.results_at, false), (&truth.uploads_at, true)] {
                for &case in at.get(&step).map_or(&[][..], Vec::as_slice) {
                    if upload {
                        alerter.upload(&truth, case, step, &mut fresh);
                    } else {
                        alerter.result(&truth, case, step, &mut fresh);
                    }
                }
            }
            for a in fresh.drain(..) {
                debug_assert!(a.step > step, "an alert comes after what caused it");
                pending.entry(a.step.max(step + 1)).or_default().push(a);
            }
            progress();
        }
        // Posters are per day: a stay past midnight is two stays.
        for (r, open) in truth.open.iter_mut().enumerate() {
            if let Some((place, start)) = open.take() {
                let resident = u32::try_from(r).expect("fits");
                truth.stays.push(Stay { resident, place, day, start, end: STEPS_PER_DAY });
            }
        }
    }
    // Alerts due by noon after the last day still reach phones.
    let noon = u64::from(days) * u64::from(STEPS_PER_DAY) + u64::from(STEPS_PER_DAY / 2);
    for (_, due) in pending.range(..=noon) {
        for &a in due {
            truth.alert(a);
        }
    }
    truth
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stay is a run of steps at one venue, and nothing else is:
    /// the stays cover exactly the steps residents spent at venues.
    #[test]
    fn stays_are_exactly_the_runs_of_steps_at_venues() {
        let town = Town::new(300, 5);
        let days = 7;
        let truth = simulate(&town, days, 4, 5, || {});
        assert!(truth.stays.len() > 300, "a week of buses, lunches and shops: {}", truth.stays.len());
        let mut at_venue = 0usize;
        for day in 0..days {
            for step in 0..STEPS_PER_DAY {
                let abs = u64::from(day * STEPS_PER_DAY + step);
                for r in 0..300 {
                    let (place, _) = town.whereabouts(r, day, step, truth.isolated(r, abs));
                    if town.places[place as usize].kind.venue_kind().is_some() {
                        at_venue += 1;
                        let stay = truth
                            .stays
                            .iter()
                            .find(|s| s.resident == r && s.day == day && (s.start..s.end).contains(&step));
                        assert_eq!(stay.map(|s| s.place), Some(place), "resident {r} day {day} step {step}");
                    }
                }
            }
        }
        let covered: u32 = truth.stays.iter().map(|s| s.end - s.start).sum();
        assert_eq!(covered as usize, at_venue, "no stay covers a step spent elsewhere");
        for stay in &truth.stays {
            assert!(stay.start < stay.end && stay.end <= STEPS_PER_DAY, "{stay:?}");
        }
    }
}
