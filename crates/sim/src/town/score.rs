//! Scoring: which phones should have turned yellow (from ground truth),
//! which did (under the signed policy), and which a GAEN-style default
//! configuration would have notified from the very same matches.

use super::phones::Phone;
use super::truth::Truth;
use greenlight_client::store::Exposure;
use greenlight_protocol::time::{DayNumber, UnixTime};
use std::collections::{BTreeMap, HashMap};

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
    /// Hours from the first qualifying report to the alert, for each true
    /// positive, sorted.
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

/// Who should have turned yellow: every resident who did not report and
/// spent at least 15 minutes within 2 m, on one UTC day, of a resident
/// who reported, on a day whose key the report published with a
/// transmission risk the policy counts, while that key was broadcast.
/// Maps each to the earliest report that made them a contact.
pub(crate) fn should_be_yellow(
    truth: &Truth,
    reported: &[(u32, UnixTime)],
    min_risk: u8,
    start_day: DayNumber,
) -> HashMap<u32, UnixTime> {
    let reported_at: HashMap<u32, UnixTime> = reported.iter().copied().collect();
    let qualifies = |reporter: u32, day: u32| -> bool {
        let Some(plan) = truth.reports[reporter as usize] else { return false };
        if !reported_at.contains_key(&reporter) || day > plan.test_day {
            return false;
        }
        let risk =
            greenlight_client::report::transmission_risk(start_day.plus(day), start_day.plus(plan.test_day), false);
        risk.level() >= min_risk && plan.test_day - day <= 13
    };
    let mut out: HashMap<u32, UnixTime> = HashMap::new();
    for (&(a, b, day), &[secs_a, secs_b]) in &truth.close_seconds {
        for (reporter, other, secs) in [(a, b, secs_a), (b, a, secs_b)] {
            if secs >= CLOSE_CONTACT_SECS && !reported_at.contains_key(&other) && qualifies(reporter, day) {
                let at = reported_at[&reporter];
                out.entry(other).and_modify(|t| *t = (*t).min(at)).or_insert(at);
            }
        }
    }
    out
}

/// Scores one way of alerting (`alert` gives a phone's first alert time).
pub(crate) fn score(
    phones: &[Phone],
    reported: &[(u32, UnixTime)],
    should: &HashMap<u32, UnixTime>,
    alert: impl Fn(&Phone) -> Option<UnixTime>,
) -> Scores {
    let reporters: std::collections::HashSet<u32> = reported.iter().map(|(r, _)| *r).collect();
    let mut s = Scores::default();
    for (r, phone) in phones.iter().enumerate() {
        let r = u32::try_from(r).expect("fits");
        if reporters.contains(&r) {
            continue;
        }
        match (alert(phone), should.get(&r)) {
            (Some(at), Some(&report)) => {
                s.true_positives += 1;
                s.delays_hours.push(at.0.saturating_sub(report.0) as f64 / 3600.0);
            }
            (Some(_), None) => s.false_positives += 1,
            (None, Some(_)) => s.false_negatives += 1,
            (None, None) => {}
        }
    }
    s.delays_hours.sort_by(f64::total_cmp);
    s
}
