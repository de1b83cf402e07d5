//! Ground truth: the epidemic and every close contact, from the residents'
//! true positions alone — never from what any phone computed.
//!
//! A step of five minutes counts as five minutes of contact for each pair
//! of residents in the same place within [`CLOSE_M`] of each other. The
//! epidemic spreads over the same pairs: each step an infectious resident
//! infects a susceptible one with a probability that depends on the
//! distance. Infected residents who test (a fixed share) get their test
//! result some days later and report the same day; from their report on
//! they stay home.

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
}

impl Truth {
    /// Whether `r` stays home at `step` (they have reported).
    pub(crate) fn isolated(&self, r: u32, step: u64) -> bool {
        self.reports[r as usize].is_some_and(|p| p.step <= step)
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
            self.reports[ri] = Some(PlannedReport {
                test_day: u32::try_from(test_day).expect("in range"),
                result_step: u64::try_from(result).expect("not negative"),
                step: u64::try_from(upload).expect("not negative"),
            });
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

/// Runs the epidemic over `days` and records every close contact.
/// `seed_cases` residents were infected in the five days before day 0.
pub(crate) fn simulate(town: &Town, days: u32, seed_cases: u32, seed: u64, mut progress: impl FnMut()) -> Truth {
    let n = town.residents.len();
    let mut truth = Truth {
        close_seconds: HashMap::new(),
        infected_at: vec![None; n],
        reports: vec![None; n],
        infections_per_day: vec![0; days as usize],
        stays: Vec::new(),
    };
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
            seeded += 1;
        }
    }

    let mut occupants: Vec<Vec<(u32, f32, f32)>> = vec![Vec::new(); town.places.len()];
    let mut busy: Vec<u32> = Vec::new();
    let mut newly: Vec<u32> = Vec::new();
    // The venue each resident is in and since which step.
    let mut inside: Vec<Option<(u32, u32)>> = vec![None; n];
    for day in 0..days {
        for step_of_day in 0..STEPS_PER_DAY {
            let step = u64::from(day) * u64::from(STEPS_PER_DAY) + u64::from(step_of_day);
            let step_i = i64::try_from(step).expect("fits");
            for r in 0..u32::try_from(n).expect("fits") {
                let (place, at) = town.whereabouts(r, day, step_of_day, truth.isolated(r, step));
                let is_venue = town.places[place as usize].kind.venue_kind().is_some();
                let ri = r as usize;
                if inside[ri].is_some_and(|(p, _)| p != place) {
                    let (p, start) = inside[ri].take().expect("checked");
                    truth.stays.push(Stay { resident: r, place: p, day, start, end: step_of_day });
                }
                if is_venue && inside[ri].is_none() {
                    inside[ri] = Some((place, step_of_day));
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
                        if close {
                            let (lo, hi) = (a.min(b), a.max(b));
                            let secs = u32::try_from(STEP_SECS).expect("small");
                            // A reporter's phone stops broadcasting the
                            // released key from its upload on.
                            let (lo_on, hi_on) = (!truth.isolated(lo, step), !truth.isolated(hi, step));
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
                                newly.push(dst);
                            }
                        }
                    }
                }
            }
            for &place in &busy {
                occupants[place as usize].clear();
            }
            busy.clear();
            for r in newly.drain(..) {
                if truth.infected_at[r as usize].is_none() {
                    truth.infect(r, step_i + 1, days, seed);
                    truth.infections_per_day[day as usize] += 1;
                }
            }
            progress();
        }
        // Posters are per day: a stay past midnight is two stays.
        for (r, open) in inside.iter_mut().enumerate() {
            if let Some((place, start)) = open.take() {
                let resident = u32::try_from(r).expect("fits");
                truth.stays.push(Stay { resident, place, day, start, end: STEPS_PER_DAY });
            }
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
