//! Scoring: which phones should have turned yellow (from ground truth),
//! which did (under the signed policy), and which a GAEN-style default
//! configuration would have notified from the very same matches.

use super::layout::STEP_SECS;
use super::phones::Phone;
use super::truth::{Stay, Truth};
use greenlight_phone::Exposure;
use greenlight_protocol::time::{DayNumber, UnixTime};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A close contact needs this many seconds within 2 m in one UTC day.
pub(crate) const CLOSE_CONTACT_SECS: u32 = 15 * 60;

/// GAEN's default attenuation thresholds (v1 `durationAtAttenuationThresholds`,
/// PRIOR-ART §1.3): below the first a minute counts in full, between the
/// two it counts half, above the second not at all.
pub(crate) const GAEN_THRESHOLDS_DB: [u8; 2] = [50, 74];
/// GAEN's 15-minute rule: weighted minutes per day that notify.
pub(crate) const GAEN_MIN_WEIGHTED_SECS: u64 = 15 * 60;

/// Whether a GAEN-style default configuration notifies on `exposures` at
/// `now`: any day of the last 14 with at least 15 weighted minutes, among
/// keys of at least `min_risk` (the same infectious window the signed
/// policy uses, so that only the attenuation scoring differs).
pub(crate) fn gaen_notifies(exposures: &[Exposure], now: UnixTime, min_risk: u8) -> bool {
    let oldest = now.day().minus(14).0;
    let mut per_day: BTreeMap<u32, u64> = BTreeMap::new();
    for e in exposures {
        if let Exposure::Ble { day, attenuation_db, seconds, transmission_risk } = *e
            && transmission_risk >= min_risk
            && day >= oldest
            && day <= now.day().0
        {
            // Weights in halves: 2 = full, 1 = half.
            let halves = if attenuation_db < GAEN_THRESHOLDS_DB[0] {
                2
            } else if attenuation_db < GAEN_THRESHOLDS_DB[1] {
                1
            } else {
                0
            };
            *per_day.entry(day).or_default() += u64::from(seconds) * halves;
        }
    }
    per_day.values().any(|&halves| halves >= 2 * GAEN_MIN_WEIGHTED_SECS)
}

/// Precision, recall and their harmonic mean for one way of alerting.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Scores {
    /// Alerted phones that should have been.
    pub(crate) true_positives: u32,
    /// Alerted phones that should not have been.
    pub(crate) false_positives: u32,
    /// Phones that should have been alerted and were not.
    pub(crate) false_negatives: u32,
    /// Hours from the first qualifying positive result to the alert, for
    /// each true positive, sorted.
    pub(crate) delays_hours: Vec<f64>,
}

impl Scores {
    /// TP / (TP + FP); 1 when nothing was alerted.
    pub(crate) fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    /// TP / (TP + FN); 1 when nothing should have been.
    pub(crate) fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// The harmonic mean of precision and recall.
    pub(crate) fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }

    /// The `q` quantile (0–1) of the delays, hours.
    pub(crate) fn delay_quantile(&self, q: f64) -> Option<f64> {
        if self.delays_hours.is_empty() {
            return None;
        }
        let last = self.delays_hours.len() - 1;
        #[expect(clippy::cast_possible_truncation, reason = "an index into a short list")]
        let i = ((last as f64) * q).round() as usize;
        self.delays_hours.get(i.min(last)).copied()
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 { 1.0 } else { f64::from(a) / f64::from(b) }
}

/// Who should have turned yellow, and from when.
pub(crate) struct ShouldBeYellow {
    /// Each resident who should, with the earliest positive result that
    /// made them a contact.
    pub(crate) at: HashMap<u32, UnixTime>,
    /// How many of them only through a venue visit (no close Bluetooth
    /// contact with a reporter).
    pub(crate) venue_only: usize,
}

/// Who should have turned yellow: every resident who did not report and,
/// on one UTC day whose key or visits a reporter's report counts (the
/// transmission risk the policy needs, within 14 days), either spent at
/// least 15 minutes within 2 m of the reporter while the reporter's key
/// was broadcast, or was at the same venue as the reporter on that day
/// (the posters' epoch) for at least 15 minutes at the same time. Times
/// count from the reporter's positive result.
pub(crate) fn should_be_yellow(
    truth: &Truth,
    reported: &[(u32, UnixTime)],
    min_risk: u8,
    start_day: DayNumber,
) -> ShouldBeYellow {
    let reporters: HashSet<u32> = reported.iter().map(|(r, _)| *r).collect();
    let result_at = |r: u32| -> Option<UnixTime> {
        let plan = truth.reports[r as usize]?;
        Some(start_day.start().plus(plan.result_step * STEP_SECS))
    };
    let qualifies = |reporter: u32, day: u32| -> bool {
        let Some(plan) = truth.reports[reporter as usize] else { return false };
        if !reporters.contains(&reporter) || day > plan.test_day {
            return false;
        }
        let risk =
            greenlight_client::report::transmission_risk(start_day.plus(day), start_day.plus(plan.test_day), false);
        risk.level() >= min_risk && plan.test_day - day <= 13
    };
    let mut at: HashMap<u32, UnixTime> = HashMap::new();
    let add = |at: &mut HashMap<u32, UnixTime>, other: u32, reporter: u32| {
        if let Some(t) = result_at(reporter) {
            at.entry(other).and_modify(|e| *e = (*e).min(t)).or_insert(t);
        }
    };
    for (&(a, b, day), &[secs_a, secs_b]) in &truth.close_seconds {
        for (reporter, other, secs) in [(a, b, secs_a), (b, a, secs_b)] {
            if secs >= CLOSE_CONTACT_SECS && !reporters.contains(&other) && qualifies(reporter, day) {
                add(&mut at, other, reporter);
            }
        }
    }
    let by_bluetooth: HashSet<u32> = at.keys().copied().collect();
    let mut at_venue: HashMap<(u32, u32), Vec<&Stay>> = HashMap::new();
    for stay in &truth.stays {
        at_venue.entry((stay.place, stay.day)).or_default().push(stay);
    }
    let min_steps = CLOSE_CONTACT_SECS.div_ceil(u32::try_from(STEP_SECS).unwrap_or(u32::MAX));
    for stay in truth.stays.iter().filter(|s| reporters.contains(&s.resident) && qualifies(s.resident, s.day)) {
        for other in &at_venue[&(stay.place, stay.day)] {
            if !reporters.contains(&other.resident) && stay.overlap_steps(other) >= min_steps {
                add(&mut at, other.resident, stay.resident);
            }
        }
    }
    let venue_only = at.keys().filter(|r| !by_bluetooth.contains(r)).count();
    ShouldBeYellow { at, venue_only }
}

/// Scores one way of alerting (`alert` gives a phone's first alert time).
pub(crate) fn score(
    phones: &[Phone],
    reported: &[(u32, UnixTime)],
    should: &HashMap<u32, UnixTime>,
    alert: impl Fn(&Phone) -> Option<UnixTime>,
) -> Scores {
    let reporters: HashSet<u32> = reported.iter().map(|(r, _)| *r).collect();
    let mut s = Scores::default();
    for (r, phone) in phones.iter().enumerate() {
        let r = u32::try_from(r).expect("fits");
        if reporters.contains(&r) {
            continue;
        }
        match (alert(phone), should.get(&r)) {
            (Some(at), Some(&result)) => {
                s.true_positives += 1;
                s.delays_hours.push(at.0.saturating_sub(result.0) as f64 / 3600.0);
            }
            (Some(_), None) => s.false_positives += 1,
            (None, Some(_)) => s.false_negatives += 1,
            (None, None) => {}
        }
    }
    s.delays_hours.sort_by(f64::total_cmp);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::town::truth::PlannedReport;

    const START: DayNumber = DayNumber(20_584);

    /// `(resident, place, day, first step, first step after)`.
    type StayRow = (u32, u32, u32, u32, u32);
    /// `((a, b, day), [seconds while a broadcast, while b did])`.
    type CloseRow = ((u32, u32, u32), [u32; 2]);

    /// Resident 0 tests positive on day 5 (result at 10:00, upload 10:30)
    /// and was at venue 7 on day 3 from 08:20 to 09:20 (steps 100–112).
    fn town(stays: &[StayRow], close: &[CloseRow]) -> (Truth, Vec<(u32, UnixTime)>) {
        let mut truth = Truth {
            infected_at: vec![None; 10],
            reports: vec![None; 10],
            infections_per_day: vec![0; 14],
            ..Truth::default()
        };
        let result_step = 5 * 288 + 120;
        truth.reports[0] = Some(PlannedReport { test_day: 5, result_step, step: result_step + 6 });
        truth.stays.push(Stay { resident: 0, place: 7, day: 3, start: 100, end: 112 });
        for &(resident, place, day, start, end) in stays {
            truth.stays.push(Stay { resident, place, day, start, end });
        }
        truth.close_seconds.extend(close.iter().copied());
        let uploaded = START.start().plus((result_step + 6) * STEP_SECS);
        (truth, vec![(0, uploaded)])
    }

    #[test]
    fn a_quarter_hour_at_the_same_venue_and_time_makes_a_contact_and_less_does_not() {
        let (truth, reported) = town(
            &[
                (1, 7, 3, 108, 120), // 20 minutes together
                (2, 7, 3, 110, 113), // 10 minutes together
                (3, 7, 4, 100, 112), // same venue, next day
                (4, 8, 3, 100, 112), // same time, another venue
                (5, 7, 3, 97, 103),  // 15 minutes, arriving before the case
            ],
            &[],
        );
        let should = should_be_yellow(&truth, &reported, 3, START);
        let mut who: Vec<u32> = should.at.keys().copied().collect();
        who.sort_unstable();
        assert_eq!(who, vec![1, 5]);
        assert_eq!(should.venue_only, 2);
        // Counted from the positive result, not the upload.
        assert_eq!(should.at[&1], START.start().plus((5 * 288 + 120) * STEP_SECS));
    }

    #[test]
    fn bluetooth_contacts_count_while_the_key_was_broadcast_on_an_infectious_day() {
        let (truth, reported) = town(
            &[],
            &[
                ((0, 1, 4), [900, 900]), // 15 minutes on day 4
                ((0, 2, 4), [600, 600]), // 10 minutes
                ((0, 3, 5), [0, 1200]),  // day 5, but after the upload: key no longer broadcast
                ((0, 4, 6), [900, 900]), // after the test day
            ],
        );
        let should = should_be_yellow(&truth, &reported, 3, START);
        let mut who: Vec<u32> = should.at.keys().copied().collect();
        who.sort_unstable();
        assert_eq!(who, vec![1]);
        assert_eq!(should.venue_only, 0);
    }

    #[test]
    fn the_gaen_baseline_weighs_attenuation_in_two_steps() {
        let ble =
            |attenuation_db, seconds| Exposure::Ble { day: START.0, attenuation_db, seconds, transmission_risk: 6 };
        let now = START.start().plus(86_400);
        assert!(gaen_notifies(&[ble(45, 900)], now, 3), "15 minutes under 50 dB");
        assert!(!gaen_notifies(&[ble(60, 900)], now, 3), "15 minutes at half weight are 7.5");
        assert!(gaen_notifies(&[ble(60, 1_800)], now, 3), "30 minutes at half weight");
        assert!(!gaen_notifies(&[ble(80, 7_200)], now, 3), "above 74 dB counts nothing");
        assert!(!gaen_notifies(&[ble(45, 900)], now, 7), "below the risk the policy needs");
    }
}
