//! The deterministic color function: a signed [`ColorPolicy`] and what the
//! phone knows (its matches, its own diagnosis, when it last synced) in, a
//! color and its explanation out.
//!
//! [`decide`] is a pure function in integer arithmetic: the same policy and
//! inputs give the same [`ColorDecision`] on every phone, so anyone can
//! reproduce a color from the published policy. Precedence is
//! **Red > Yellow > Stale > Green**:
//!
//! - **Red**: the phone's own diagnosis, until `red_days` after the end of
//!   the diagnosis day.
//! - **Yellow**: a qualifying exposure, until `yellow_days` after the end of
//!   the last qualifying day. A Bluetooth day qualifies when its weighted
//!   minutes reach the policy's threshold; a venue exposure qualifies when
//!   its overlap reaches the policy's minimum for the venue's kind (the
//!   kind printed on the poster the phone scanned), and never for a kind
//!   the policy says never alerts.
//! - **Stale**: the phone has never synced, or not within
//!   `stale_after_hours`. A phone that cannot know whether it was exposed
//!   never shows a silent green. Staleness never hides red or yellow, but
//!   [`ColorDecision::stale`] is set whatever the color, so a screen can add
//!   "not synced since …".
//! - **Green** otherwise, until the moment it would turn stale.
//!
//! Three kinds of input are left out: exposures dated after `now` (a wrong
//! clock or a time-travel attack), exposures on days before the lookback
//! window, and contacts below the minimum transmission risk. They are
//! counted in [`Evidence::Ignored`] so that a person who saw a match
//! elsewhere learns why it did not count. The phone's own diagnosis is
//! never left out, even when dated after `now`: the clock is then probably
//! behind, and green for someone who just reported positive would be the
//! worse mistake.
//!
//! The normative description, with pseudo-code, is `spec/protocol.md` §13–§14;
//! `spec/vectors/color.json` holds known-answer cases.

use crate::policy::{AttenuationBucket, ColorPolicy};
use crate::report::{ReportType, TransmissionRisk};
use crate::time::{DayNumber, UnixTime};
use crate::venue::VenueKind;
use core::fmt;
use std::collections::BTreeMap;

/// Seconds per hour, for `stale_after_hours`.
const HOUR_SECONDS: u64 = 3600;
/// Weighted seconds are `seconds × percent`; this many make one minute.
const PERCENT_SECONDS_PER_MINUTE: u64 = 100 * 60;

/// The phone's own diagnosis, as confirmed by the health authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Diagnosis {
    /// The test (or diagnosis) day from the authority's code.
    pub day: DayNumber,
    /// How the diagnosis was established.
    pub report_type: ReportType,
    /// Whether `day` is the symptom onset (else the test date). Only the
    /// explanation uses it: the rules count from `day` either way.
    pub symptom_onset: bool,
}

/// One matched Bluetooth encounter window: the phone saw a published key's
/// IDs for `seconds` at `attenuation_db` on `day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BleContact {
    /// The day of the published key that matched.
    pub day: DayNumber,
    /// Attenuation (TX power minus calibrated RSSI) in dB, as computed by
    /// the client; lower is closer.
    pub attenuation_db: u8,
    /// How long the encounter lasted.
    pub seconds: u32,
    /// The transmission risk the publishing phone's key carried.
    pub transmission_risk: TransmissionRisk,
}

/// A check-in of this phone that overlaps a published trace entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VenueExposure {
    /// The UTC day of the overlap (a stay across midnight is split in two).
    pub day: DayNumber,
    /// Start of the overlap window.
    pub start: UnixTime,
    /// End of the overlap window.
    pub end: UnixTime,
    /// Minutes the check-in overlaps the traced visit.
    pub overlap_minutes: u16,
    /// The kind of venue, as the poster the phone scanned declared it.
    pub kind: VenueKind,
}

/// Everything the color depends on besides the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ColorInputs {
    /// The current time, from the caller's clock.
    pub now: UnixTime,
    /// When the phone last completed a sync with the key server, if ever.
    /// A value after `now` (the clock went back) counts as a sync just now.
    pub last_sync: Option<UnixTime>,
    /// The phone's own confirmed diagnosis, if any.
    pub diagnosis: Option<Diagnosis>,
    /// Matched Bluetooth encounters.
    pub ble: Vec<BleContact>,
    /// Check-ins that overlap published trace entries.
    pub venues: Vec<VenueExposure>,
}

/// The color a phone shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Color {
    /// No qualifying exposure, and recently synced.
    Green,
    /// A qualifying exposure.
    Yellow,
    /// The phone's own diagnosis.
    Red,
    /// Would be green, but the phone has not synced recently enough to know.
    Stale,
}

impl Color {
    /// Lower-case English name: `"green"`, `"yellow"`, `"red"`, `"stale"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Green => "green",
            Color::Yellow => "yellow",
            Color::Red => "red",
            Color::Stale => "stale",
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One fact behind a color.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Evidence {
    /// The phone's own diagnosis (listed even when its red period is over).
    Diagnosis {
        /// The diagnosis day.
        day: DayNumber,
        /// How the diagnosis was established.
        report_type: ReportType,
        /// Whether `day` is the symptom onset (else the test date).
        symptom_onset: bool,
        /// The first second no longer red because of it.
        until: UnixTime,
    },
    /// The Bluetooth contacts of one day that had any duration.
    BleDay {
        /// The day.
        day: DayNumber,
        /// Seconds of contact per attenuation bucket, indexed by
        /// [`AttenuationBucket::index`].
        seconds_per_bucket: [u64; 4],
        /// `Σ seconds × weight% / 100 / 60`, rounded down.
        weighted_minutes: u64,
        /// The policy's `min_weighted_minutes_per_day`.
        threshold_minutes: u16,
        /// Whether `weighted_minutes ≥ threshold_minutes`.
        qualifies: bool,
    },
    /// One check-in overlapping a traced visit.
    Venue {
        /// The day of the overlap.
        day: DayNumber,
        /// Start of the overlap window.
        start: UnixTime,
        /// End of the overlap window.
        end: UnixTime,
        /// Minutes of overlap.
        overlap_minutes: u16,
        /// The venue's kind, from its poster.
        kind: VenueKind,
        /// The policy's `min_venue_overlap_minutes` for `kind`, or `None`
        /// when visits of that kind never qualify.
        threshold_minutes: Option<u16>,
        /// Whether `overlap_minutes ≥ threshold_minutes`.
        qualifies: bool,
    },
    /// How many inputs were left out, and why (listed only if any were).
    Ignored {
        /// Contacts and venue exposures dated after `now`.
        future: u32,
        /// Contacts and venue exposures on days before the lookback window.
        too_old: u32,
        /// Contacts whose key's transmission risk is below the policy's
        /// minimum.
        low_risk: u32,
    },
    /// The phone has not synced recently enough (listed only when stale).
    Stale {
        /// The last sync, or `None` if the phone never synced.
        last_sync: Option<UnixTime>,
        /// The policy's `stale_after_hours`.
        limit_hours: u16,
    },
}

impl Evidence {
    /// The deterministic order of evidence: day items by day, then kind
    /// (diagnosis, Bluetooth, venue), then window; then `Ignored`, then
    /// `Stale`, which belong to no day.
    fn sort_key(&self) -> (u8, u32, u8, u64, u64, u16, u8) {
        match *self {
            Evidence::Diagnosis { day, .. } => (0, day.0, 0, 0, 0, 0, 0),
            Evidence::BleDay { day, .. } => (0, day.0, 1, 0, 0, 0, 0),
            Evidence::Venue { day, start, end, overlap_minutes, kind, .. } => {
                (0, day.0, 2, start.0, end.0, overlap_minutes, kind.to_byte())
            }
            Evidence::Ignored { .. } => (1, 0, 0, 0, 0, 0, 0),
            Evidence::Stale { .. } => (2, 0, 0, 0, 0, 0, 0),
        }
    }
}

/// A color with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColorDecision {
    /// The color to show.
    pub color: Color,
    /// The first second at which this color no longer holds by the passage
    /// of time alone: the end of red or yellow, or the moment a green turns
    /// stale. `None` for stale, which ends only with a sync.
    pub until: Option<UnixTime>,
    /// Whether the last sync is too old (or missing), whatever the color.
    pub stale: bool,
    /// The facts behind the color, in a deterministic order.
    pub evidence: Vec<Evidence>,
    /// The sequence number of the policy that decided.
    pub policy_sequence: u32,
}

/// Derives the color from `policy` and `inputs`. Pure, total (never panics)
/// and deterministic; see the module documentation for the rules.
pub fn decide(policy: &ColorPolicy, inputs: &ColorInputs) -> ColorDecision {
    let p = policy.params();
    let now = inputs.now;
    let today = now.day();
    // Days before this one are outside the lookback window: day D counts
    // while `now < end(D + lookback_days)`, so it leaves the window at the
    // same moment as (or after) the yellow it caused ends.
    let oldest = today.minus(u32::from(p.lookback_days));
    let mut evidence = Vec::new();
    let (mut future, mut too_old, mut low_risk) = (0u32, 0u32, 0u32);

    let mut ble_days: BTreeMap<DayNumber, [u64; 4]> = BTreeMap::new();
    for contact in &inputs.ble {
        if contact.day > today {
            future = future.saturating_add(1);
        } else if contact.day < oldest {
            too_old = too_old.saturating_add(1);
        } else if contact.transmission_risk.level() < p.min_transmission_risk {
            low_risk = low_risk.saturating_add(1);
        } else {
            let bucket = policy.bucket(contact.attenuation_db).index();
            let seconds = ble_days.entry(contact.day).or_default();
            seconds[bucket] = seconds[bucket].saturating_add(u64::from(contact.seconds));
        }
    }

    let mut last_qualifying: Option<DayNumber> = None;
    for (&day, &seconds_per_bucket) in &ble_days {
        if seconds_per_bucket.iter().all(|&s| s == 0) {
            continue;
        }
        let weighted: u64 = AttenuationBucket::ALL
            .iter()
            .map(|&b| seconds_per_bucket[b.index()].saturating_mul(policy.weight_percent(b).into()))
            .fold(0, u64::saturating_add);
        let weighted_minutes = weighted / PERCENT_SECONDS_PER_MINUTE;
        let qualifies = weighted_minutes >= u64::from(p.min_weighted_minutes_per_day);
        if qualifies {
            last_qualifying = last_qualifying.max(Some(day));
        }
        evidence.push(Evidence::BleDay {
            day,
            seconds_per_bucket,
            weighted_minutes,
            threshold_minutes: p.min_weighted_minutes_per_day,
            qualifies,
        });
    }

    for venue in &inputs.venues {
        if venue.day > today || venue.start > now {
            future = future.saturating_add(1);
        } else if venue.day < oldest {
            too_old = too_old.saturating_add(1);
        } else {
            let threshold_minutes = policy.venue_overlap_minutes(venue.kind);
            let qualifies = threshold_minutes.is_some_and(|t| venue.overlap_minutes >= t);
            if qualifies {
                last_qualifying = last_qualifying.max(Some(venue.day));
            }
            evidence.push(Evidence::Venue {
                day: venue.day,
                start: venue.start,
                end: venue.end,
                overlap_minutes: venue.overlap_minutes,
                kind: venue.kind,
                threshold_minutes,
                qualifies,
            });
        }
    }

    let red_until = inputs.diagnosis.map(|diagnosis| {
        let until = diagnosis.day.plus(u32::from(p.red_days)).end();
        evidence.push(Evidence::Diagnosis {
            day: diagnosis.day,
            report_type: diagnosis.report_type,
            symptom_onset: diagnosis.symptom_onset,
            until,
        });
        until
    });
    let yellow_until = last_qualifying.map(|day| day.plus(u32::from(p.yellow_days)).end());

    if future > 0 || too_old > 0 || low_risk > 0 {
        evidence.push(Evidence::Ignored { future, too_old, low_risk });
    }

    let limit = u64::from(p.stale_after_hours) * HOUR_SECONDS;
    // A sync "in the future" (the clock moved back) counts as a sync just
    // now: the elapsed time saturates at zero.
    let stale = inputs.last_sync.is_none_or(|t| now.0.saturating_sub(t.0) > limit);
    if stale {
        evidence.push(Evidence::Stale { last_sync: inputs.last_sync, limit_hours: p.stale_after_hours });
    }

    evidence.sort_by_key(Evidence::sort_key);

    let (color, until) = match (red_until, yellow_until, inputs.last_sync) {
        (Some(until), _, _) if now < until => (Color::Red, Some(until)),
        (_, Some(until), _) if now < until => (Color::Yellow, Some(until)),
        // The first second with `now - last_sync > limit`; exact even for
        // a sync in the future, which stays "just now" until it is reached.
        (_, _, Some(synced)) if !stale => (Color::Green, Some(synced.plus(limit.saturating_add(1)))),
        _ => (Color::Stale, None),
    };
    ColorDecision { color, until, stale, evidence, policy_sequence: p.sequence }
}

impl ColorDecision {
    /// The explanation's facts, one English line each, as the [`Display`]
    /// form lists them after its headline (for a screen that lays them out
    /// on its own).
    ///
    /// [`Display`]: fmt::Display
    pub fn evidence_lines(&self) -> Vec<String> {
        struct Line<'a>(&'a Evidence, Color);
        impl fmt::Display for Line<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_evidence(f, self.0, self.1)
            }
        }
        self.evidence.iter().map(|e| Line(e, self.color).to_string()).collect()
    }
}

/// Renders the short English explanation `greenlight status` prints: a
/// headline with the color and how long it lasts, then one line per fact.
impl fmt::Display for ColorDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let color = self.color.as_str().to_uppercase();
        match (self.color, self.until) {
            (Color::Red, Some(until)) => {
                write!(f, "{color} until {}: you reported a positive diagnosis.", Time(until))?
            }
            (Color::Yellow, Some(until)) => write!(f, "{color} until {}: you had a qualifying exposure.", Time(until))?,
            (Color::Green, Some(until)) => {
                write!(f, "{color}: no qualifying exposure. Turns stale at {} unless the phone syncs.", Time(until))?
            }
            _ if self.color == Color::Stale => write!(
                f,
                "{color}: not synced recently enough to know whether you were exposed; sync to \
                 update."
            )?,
            _ => write!(f, "{color}.")?,
        }
        for item in &self.evidence {
            f.write_str("\n- ")?;
            write_evidence(f, item, self.color)?;
        }
        // Version 0 is no published policy: the phone's built-in default
        // (the recommended policy), named as the portal names it.
        match self.policy_sequence {
            0 => f.write_str("\n(the built-in default policy: no policy published yet)"),
            n => write!(f, "\n(policy version {n})"),
        }
    }
}

/// One evidence line. `color` tells whether a red or yellow the item caused
/// is over: red has precedence over everything, and yellow over green and
/// stale.
fn write_evidence(f: &mut fmt::Formatter<'_>, item: &Evidence, color: Color) -> fmt::Result {
    let yellow_over = matches!(color, Color::Green | Color::Stale);
    let verdict = |qualifies: bool| match (qualifies, yellow_over) {
        (true, false) => "qualifies",
        (true, true) => "qualified; its yellow has ended",
        (false, _) => "below the threshold",
    };
    match *item {
        Evidence::Diagnosis { day, report_type, symptom_onset, until } => {
            let kind = match report_type {
                ReportType::ConfirmedTest => "confirmed test",
                ReportType::ClinicalDiagnosis => "clinical diagnosis",
            };
            let red = if color == Color::Red { "red until" } else { "red ended" };
            // The code's date is the symptom onset or the test date: say which.
            let what = if symptom_onset { "symptom onset of a positive diagnosis" } else { "positive diagnosis" };
            write!(f, "{}: {what} ({kind}); {red} {}", day.iso_date(), Time(until))
        }
        Evidence::BleDay { day, seconds_per_bucket, weighted_minutes, threshold_minutes, qualifies } => {
            write!(
                f,
                "{}: Bluetooth contact, {weighted_minutes} weighted min (needs {threshold_minutes}):",
                day.iso_date()
            )?;
            for bucket in AttenuationBucket::ALL {
                let sep = if bucket.index() == 0 { " " } else { ", " };
                write!(f, "{sep}{} {} min", bucket.as_str(), seconds_per_bucket[bucket.index()] / 60)?;
            }
            write!(f, " — {}", verdict(qualifies))
        }
        Evidence::Venue { day, start, end, overlap_minutes, kind, threshold_minutes, qualifies } => {
            write!(f, "{}: venue visit ({}) ", day.iso_date(), kind.as_str())?;
            if start.day() == end.day() {
                write!(f, "{} {}–{} UTC", start.day().iso_date(), start.clock(), end.clock())?;
            } else {
                write!(f, "{} – {}", Time(start), Time(end))?;
            }
            write!(f, " overlapping a traced visit by {overlap_minutes} min")?;
            match threshold_minutes {
                Some(t) => write!(f, " (needs {t} for this kind) — {}", verdict(qualifies)),
                None => f.write_str(" — this kind of venue never counts under this policy"),
            }
        }
        Evidence::Ignored { future, too_old, low_risk } => {
            f.write_str("ignored:")?;
            let parts = [
                (future, "dated in the future"),
                (too_old, "older than the lookback window"),
                (low_risk, "below the minimum transmission risk"),
            ];
            let mut first = true;
            for (count, why) in parts.into_iter().filter(|(count, _)| *count > 0) {
                let sep = if first { " " } else { ", " };
                write!(f, "{sep}{count} {why}")?;
                first = false;
            }
            Ok(())
        }
        Evidence::Stale { last_sync: Some(t), limit_hours } => {
            write!(f, "not synced since {} (stale after {limit_hours} h)", Time(t))
        }
        Evidence::Stale { last_sync: None, .. } => f.write_str("never synced"),
    }
}

/// A UTC instant, `YYYY-MM-DD HH:MM UTC`.
struct Time(UnixTime);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} UTC", self.0.iso_minute())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyParams;

    /// 2026-05-10, a Sunday.
    const TODAY: DayNumber = DayNumber(20_583);
    const HOUR: u64 = 3600;

    fn policy() -> ColorPolicy {
        ColorPolicy::recommended(7, TODAY.minus(30).start())
    }

    fn noon() -> UnixTime {
        TODAY.start().plus(12 * HOUR)
    }

    /// Synced an hour ago, nothing else.
    fn inputs() -> ColorInputs {
        ColorInputs { now: noon(), last_sync: Some(noon().minus(HOUR)), ..ColorInputs::default() }
    }

    fn risk(level: u8) -> TransmissionRisk {
        TransmissionRisk::new(level).expect("valid level")
    }

    fn contact(day: DayNumber, attenuation_db: u8, seconds: u32) -> BleContact {
        BleContact { day, attenuation_db, seconds, transmission_risk: risk(5) }
    }

    fn venue(day: DayNumber, overlap_minutes: u16) -> VenueExposure {
        let start = day.start().plus(18 * HOUR);
        VenueExposure { day, start, end: start.plus(90 * 60), overlap_minutes, kind: VenueKind::Restaurant }
    }

    fn decide_with(change: impl FnOnce(&mut ColorInputs)) -> ColorDecision {
        let mut i = inputs();
        change(&mut i);
        decide(&policy(), &i)
    }

    #[test]
    fn nothing_happened_is_green_until_it_would_turn_stale() {
        let d = decide(&policy(), &inputs());
        assert_eq!(d.color, Color::Green);
        assert!(!d.stale);
        assert!(d.evidence.is_empty());
        assert_eq!(d.until, Some(noon().minus(HOUR).plus(48 * HOUR + 1)));
        assert_eq!(d.policy_sequence, 7);
    }

    #[test]
    fn a_phone_that_never_synced_is_stale_not_green() {
        let d = decide_with(|i| i.last_sync = None);
        assert_eq!(d.color, Color::Stale);
        assert_eq!(d.until, None);
        assert!(d.stale);
        assert_eq!(d.evidence, vec![Evidence::Stale { last_sync: None, limit_hours: 48 }]);
    }

    #[test]
    fn staleness_starts_strictly_after_the_limit() {
        let at_limit = decide_with(|i| i.last_sync = Some(noon().minus(48 * HOUR)));
        assert_eq!(at_limit.color, Color::Green);
        assert_eq!(at_limit.until, Some(noon().plus(1)));
        let over = decide_with(|i| i.last_sync = Some(noon().minus(48 * HOUR + 1)));
        assert_eq!(over.color, Color::Stale);
        // `until` of the green is exactly the first stale second.
        let mut later = inputs();
        later.last_sync = Some(noon().minus(48 * HOUR));
        later.now = at_limit.until.expect("green has an end");
        assert_eq!(decide(&policy(), &later).color, Color::Stale);
    }

    #[test]
    fn a_sync_in_the_future_counts_as_now() {
        let d = decide_with(|i| i.last_sync = Some(noon().plus(1000 * HOUR)));
        assert_eq!(d.color, Color::Green);
        assert_eq!(d.until, Some(noon().plus(1048 * HOUR + 1)));
        assert_eq!(d.evidence, vec![]);
    }

    #[test]
    fn fifteen_weighted_minutes_is_exactly_enough() {
        let day = TODAY.minus(2);
        let at = decide_with(|i| i.ble = vec![contact(day, 50, 900)]);
        assert_eq!(at.color, Color::Yellow);
        assert_eq!(at.until, Some(day.plus(14).end()));
        assert_eq!(
            at.evidence,
            vec![Evidence::BleDay {
                day,
                seconds_per_bucket: [900, 0, 0, 0],
                weighted_minutes: 15,
                threshold_minutes: 15,
                qualifies: true,
            }]
        );
        let short = decide_with(|i| i.ble = vec![contact(day, 50, 899)]);
        assert_eq!(short.color, Color::Green);
        assert!(matches!(short.evidence[..], [Evidence::BleDay { weighted_minutes: 14, qualifies: false, .. }]));
    }

    #[test]
    fn buckets_are_weighted_and_summed_per_day() {
        let day = TODAY.minus(1);
        // 10 min near (100%) + 40 min medium (10%) + 60 min far (0%) = 14 min.
        let d = decide_with(|i| i.ble = vec![contact(day, 70, 600), contact(day, 75, 2400), contact(day, 90, 3600)]);
        assert_eq!(d.color, Color::Green);
        assert!(matches!(
            d.evidence[..],
            [Evidence::BleDay { seconds_per_bucket: [0, 600, 2400, 3600], weighted_minutes: 14, .. }]
        ));
        // One more medium minute's worth (600 s at 10%) tips it over.
        let d = decide_with(|i| {
            i.ble = vec![contact(day, 70, 600), contact(day, 75, 2400), contact(day, 90, 3600), contact(day, 73, 600)]
        });
        assert_eq!(d.color, Color::Yellow);
    }

    #[test]
    fn contacts_on_different_days_are_not_added_up() {
        let d = decide_with(|i| i.ble = vec![contact(TODAY.minus(1), 50, 600), contact(TODAY.minus(2), 50, 600)]);
        assert_eq!(d.color, Color::Green);
        assert_eq!(d.evidence.len(), 2);
    }

    #[test]
    fn low_risk_keys_are_ignored_but_reported() {
        let d = decide_with(|i| i.ble = vec![BleContact { transmission_risk: risk(2), ..contact(TODAY, 50, 3600) }]);
        assert_eq!(d.color, Color::Green);
        assert_eq!(d.evidence, vec![Evidence::Ignored { future: 0, too_old: 0, low_risk: 1 }]);
        let d = decide_with(|i| i.ble = vec![BleContact { transmission_risk: risk(3), ..contact(TODAY, 50, 3600) }]);
        assert_eq!(d.color, Color::Yellow);
    }

    #[test]
    fn future_dated_exposures_are_ignored() {
        let d = decide_with(|i| {
            i.ble = vec![contact(TODAY.plus(1), 50, 3600)];
            // Today, but starting after now.
            i.venues = vec![VenueExposure {
                day: TODAY,
                start: noon().plus(1),
                end: noon().plus(HOUR),
                overlap_minutes: 60,
                kind: VenueKind::Shop,
            }];
        });
        assert_eq!(d.color, Color::Green);
        assert_eq!(d.evidence, vec![Evidence::Ignored { future: 2, too_old: 0, low_risk: 0 }]);
        // A visit that started exactly now counts.
        let d = decide_with(|i| {
            i.venues = vec![VenueExposure {
                day: TODAY,
                start: noon(),
                end: noon().plus(HOUR),
                overlap_minutes: 60,
                kind: VenueKind::Shop,
            }]
        });
        assert_eq!(d.color, Color::Yellow);
    }

    #[test]
    fn the_lookback_window_ends_with_the_yellow_it_caused() {
        // With the recommended 14/14, an exposure 14 days ago is yellow
        // until midnight tonight, and the day after it is ignored.
        let day = TODAY.minus(14);
        let d = decide_with(|i| i.ble = vec![contact(day, 50, 3600)]);
        assert_eq!(d.color, Color::Yellow);
        assert_eq!(d.until, Some(TODAY.end()));
        let d = decide_with(|i| i.ble = vec![contact(day.minus(1), 50, 3600)]);
        assert_eq!(d.color, Color::Green);
        assert_eq!(d.evidence, vec![Evidence::Ignored { future: 0, too_old: 1, low_risk: 0 }]);
    }

    #[test]
    fn yellow_ends_exactly_at_its_until() {
        let day = TODAY.minus(3);
        let at = |policy: &ColorPolicy, now: UnixTime| {
            let mut i = inputs();
            i.now = now;
            i.last_sync = Some(now);
            i.ble = vec![contact(day, 50, 3600)];
            decide(policy, &i)
        };
        let until = day.plus(14).end();
        assert_eq!(at(&policy(), until.minus(1)).color, Color::Yellow);
        let after = at(&policy(), until);
        assert_eq!(after.color, Color::Green);
        // With the recommended 14/14, yellow lasts as long as the lookback
        // window: the moment it ends, the exposure day leaves the window.
        assert_eq!(after.evidence, vec![Evidence::Ignored { future: 0, too_old: 1, low_risk: 0 }]);

        // A shorter yellow ends while the exposure is still explained.
        let short = ColorPolicy::new(PolicyParams { yellow_days: 7, ..*policy().params() }).expect("valid");
        let until = day.plus(7).end();
        assert_eq!(at(&short, until.minus(1)).color, Color::Yellow);
        let after = at(&short, until);
        assert_eq!(after.color, Color::Green);
        assert!(matches!(after.evidence[..], [Evidence::BleDay { qualifies: true, .. }]));
    }

    #[test]
    fn the_last_qualifying_day_decides_how_long_yellow_lasts() {
        let d = decide_with(|i| {
            i.ble = vec![contact(TODAY.minus(5), 50, 3600), contact(TODAY.minus(1), 50, 60)];
            i.venues = vec![venue(TODAY.minus(3), 10), venue(TODAY.minus(2), 9)];
        });
        assert_eq!(d.color, Color::Yellow);
        assert_eq!(d.until, Some(TODAY.minus(3).plus(14).end()));
    }

    #[test]
    fn venue_overlap_at_the_minimum_qualifies() {
        let day = TODAY.minus(1);
        assert_eq!(decide_with(|i| i.venues = vec![venue(day, 10)]).color, Color::Yellow);
        let below = decide_with(|i| i.venues = vec![venue(day, 9)]);
        assert_eq!(below.color, Color::Green);
        assert!(matches!(below.evidence[..], [Evidence::Venue { overlap_minutes: 9, qualifies: false, .. }]));
    }

    /// Issue 22 item 5: the rule for the kind of venue on the poster
    /// decides, and a kind the policy switches off never turns a phone
    /// yellow, however long the overlap.
    #[test]
    fn each_kind_of_venue_has_its_own_minimum_overlap() {
        use crate::policy::VenueOverlaps;
        let overlaps = VenueOverlaps::uniform(60).with(VenueKind::Restaurant, 30).with(VenueKind::Shop, 0);
        let policy = ColorPolicy::new(PolicyParams { min_venue_overlap_minutes: overlaps, ..*policy().params() })
            .expect("valid");
        let at = |kind: VenueKind, overlap: u16| {
            let i = ColorInputs { venues: vec![VenueExposure { kind, ..venue(TODAY.minus(1), overlap) }], ..inputs() };
            decide(&policy, &i)
        };
        assert_eq!(at(VenueKind::Restaurant, 30).color, Color::Yellow);
        assert_eq!(at(VenueKind::Restaurant, 29).color, Color::Green);
        assert_eq!(at(VenueKind::Transit, 59).color, Color::Green);
        assert_eq!(at(VenueKind::Transit, 60).color, Color::Yellow);
        let shop = at(VenueKind::Shop, u16::MAX);
        assert_eq!(shop.color, Color::Green);
        assert!(matches!(
            shop.evidence[..],
            [Evidence::Venue { kind: VenueKind::Shop, threshold_minutes: None, qualifies: false, .. }]
        ));
        assert!(shop.to_string().contains("venue visit (shop) "), "{shop}");
        assert!(shop.to_string().contains("— this kind of venue never counts under this policy"), "{shop}");
        let bus = at(VenueKind::Transit, 45).to_string();
        assert!(
            bus.contains("venue visit (transit) ") && bus.contains("(needs 60 for this kind) — below the threshold")
        );
    }

    #[test]
    fn a_diagnosis_is_red_until_red_days_after_its_day() {
        let day = TODAY.minus(2);
        let diagnosis = Some(Diagnosis { day, report_type: ReportType::ConfirmedTest, symptom_onset: false });
        let d = decide_with(|i| {
            i.diagnosis = diagnosis;
            i.ble = vec![contact(TODAY, 50, 3600)];
            i.last_sync = None;
        });
        assert_eq!(d.color, Color::Red);
        assert_eq!(d.until, Some(day.plus(10).end()));
        assert!(d.stale, "staleness is reported even under red");
        // After red, the exposure (yellow until today + 14) shows.
        let later = decide_with(|i| {
            i.now = day.plus(10).end();
            i.last_sync = Some(i.now);
            i.diagnosis = diagnosis;
            i.ble = vec![contact(TODAY, 50, 3600)];
        });
        assert_eq!(later.color, Color::Yellow);
        assert!(matches!(later.evidence[0], Evidence::Diagnosis { .. }));
    }

    #[test]
    fn a_diagnosis_dated_after_now_is_still_red() {
        // The clock is probably behind; green for someone who just reported
        // positive would be the worse mistake.
        let day = TODAY.plus(1);
        let d = decide_with(|i| {
            i.diagnosis = Some(Diagnosis { day, report_type: ReportType::ClinicalDiagnosis, symptom_onset: false })
        });
        assert_eq!(d.color, Color::Red);
        assert_eq!(d.until, Some(day.plus(10).end()));
    }

    #[test]
    fn yellow_wins_over_stale_but_says_so() {
        let d = decide_with(|i| {
            i.last_sync = Some(noon().minus(72 * HOUR));
            i.ble = vec![contact(TODAY.minus(4), 50, 3600)];
        });
        assert_eq!(d.color, Color::Yellow);
        assert!(d.stale);
        assert!(matches!(d.evidence.last(), Some(Evidence::Stale { .. })));
    }

    #[test]
    fn evidence_is_ordered_by_day_then_kind() {
        let d = decide_with(|i| {
            i.last_sync = None;
            i.venues = vec![venue(TODAY.minus(1), 30), venue(TODAY.minus(3), 5)];
            i.ble =
                vec![contact(TODAY.minus(1), 50, 60), contact(TODAY.minus(3), 50, 60), contact(TODAY.plus(3), 1, 1)];
            i.diagnosis =
                Some(Diagnosis { day: TODAY.minus(1), report_type: ReportType::ConfirmedTest, symptom_onset: false });
        });
        let kinds: Vec<(u8, u32, u8)> = d
            .evidence
            .iter()
            .map(|e| {
                let k = e.sort_key();
                (k.0, k.1, k.2)
            })
            .collect();
        let expected = vec![
            (0, TODAY.minus(3).0, 1),
            (0, TODAY.minus(3).0, 2),
            (0, TODAY.minus(1).0, 0),
            (0, TODAY.minus(1).0, 1),
            (0, TODAY.minus(1).0, 2),
            (1, 0, 0),
            (2, 0, 0),
        ];
        assert_eq!(kinds, expected);
        // Input order does not matter.
        let mut reversed = inputs();
        reversed.last_sync = None;
        reversed.venues = vec![venue(TODAY.minus(3), 5), venue(TODAY.minus(1), 30)];
        reversed.ble =
            vec![contact(TODAY.plus(3), 1, 1), contact(TODAY.minus(3), 50, 60), contact(TODAY.minus(1), 50, 60)];
        reversed.diagnosis =
            Some(Diagnosis { day: TODAY.minus(1), report_type: ReportType::ConfirmedTest, symptom_onset: false });
        assert_eq!(decide(&policy(), &reversed), d);
    }

    #[test]
    fn zero_second_days_are_not_listed() {
        let d = decide_with(|i| i.ble = vec![contact(TODAY, 50, 0)]);
        assert!(d.evidence.is_empty());
        assert_eq!(d.color, Color::Green);
    }

    #[test]
    fn extreme_values_saturate_instead_of_panicking() {
        let mut params = *policy().params();
        params.bucket_weights_percent = [1000; 4];
        params.min_weighted_minutes_per_day = u16::MAX;
        params.red_days = 28;
        let policy = ColorPolicy::new(params).expect("valid");
        for now in [UnixTime(0), UnixTime(u64::MAX)] {
            let last = DayNumber(u32::MAX);
            let i = ColorInputs {
                now,
                last_sync: Some(UnixTime(u64::MAX)),
                diagnosis: Some(Diagnosis { day: last, report_type: ReportType::ConfirmedTest, symptom_onset: false }),
                ble: vec![
                    BleContact {
                        day: now.day(),
                        attenuation_db: 0,
                        seconds: u32::MAX,
                        transmission_risk: TransmissionRisk::MAX
                    };
                    1000
                ],
                venues: vec![VenueExposure {
                    day: now.day(),
                    start: now,
                    end: UnixTime(u64::MAX),
                    overlap_minutes: u16::MAX,
                    kind: VenueKind::Care,
                }],
            };
            let d = decide(&policy, &i);
            // At the end of time every day-bound color has ended (days
            // saturate at `u32::MAX`, about the year 11.7 million).
            let expected = if now == UnixTime(0) { Color::Red } else { Color::Green };
            assert_eq!(d.color, expected);
            assert!(!d.to_string().is_empty());
        }
    }

    #[test]
    fn the_explanation_reads_like_a_sentence() {
        let d = decide_with(|i| {
            i.last_sync = Some(noon().minus(50 * HOUR));
            i.ble = vec![
                contact(TODAY.minus(1), 50, 720),
                contact(TODAY.minus(1), 65, 300),
                contact(TODAY.minus(1), 80, 180),
            ];
            i.venues = vec![venue(TODAY.minus(2), 25)];
        });
        let text = d.to_string();
        let expected = "YELLOW until 2026-05-24 00:00 UTC: you had a qualifying exposure.\n\
            - 2026-05-08: venue visit (restaurant) 2026-05-08 18:00–19:30 UTC overlapping a traced visit by 25 min (needs 10 for this kind) — qualifies\n\
            - 2026-05-09: Bluetooth contact, 17 weighted min (needs 15): immediate 12 min, near 5 min, medium 0 min, other 3 min — qualifies\n\
            - not synced since 2026-05-08 10:00 UTC (stale after 48 h)\n\
            (policy version 7)";
        assert_eq!(text, expected);
        let green = decide(&policy(), &inputs()).to_string();
        assert_eq!(
            green,
            "GREEN: no qualifying exposure. Turns stale at 2026-05-12 11:00 UTC unless the phone syncs.\n(policy version 7)"
        );
        let red = decide_with(|i| {
            i.diagnosis = Some(Diagnosis { day: TODAY, report_type: ReportType::ConfirmedTest, symptom_onset: false })
        });
        assert!(red.to_string().starts_with("RED until 2026-05-21 00:00 UTC: you reported a positive diagnosis.\n- 2026-05-10: positive diagnosis (confirmed test)"));
        let stale = decide_with(|i| i.last_sync = None).to_string();
        assert!(stale.starts_with("STALE: not synced recently enough"));
        assert!(stale.contains("\n- never synced\n"));
    }

    /// Issue 21 item 4: before any policy is published a phone applies its
    /// built-in default, and says so rather than "policy version 0".
    #[test]
    fn the_built_in_default_policy_is_named_as_such() {
        let builtin = ColorPolicy::recommended(0, UnixTime(0));
        let text = decide(&builtin, &inputs()).to_string();
        assert!(text.ends_with("\n(the built-in default policy: no policy published yet)"), "{text}");
        assert!(!text.contains("version 0"), "{text}");
    }

    #[test]
    fn the_explanation_says_when_a_color_is_over() {
        let d = decide_with(|i| {
            i.diagnosis = Some(Diagnosis {
                day: TODAY.minus(11),
                report_type: ReportType::ClinicalDiagnosis,
                symptom_onset: false,
            });
            i.venues = vec![venue(TODAY.minus(14), 30)];
            i.now = TODAY.end().minus(1);
        });
        assert_eq!(d.color, Color::Yellow);
        let text = d.to_string();
        assert!(text.contains("positive diagnosis (clinical diagnosis); red ended 2026-05-10 00:00 UTC"));
        // A code dated by the symptom onset says so.
        let onset = decide_with(|i| {
            i.diagnosis =
                Some(Diagnosis { day: TODAY.minus(2), report_type: ReportType::ConfirmedTest, symptom_onset: true })
        });
        let onset = onset.to_string();
        assert!(
            onset.contains("- 2026-05-08: symptom onset of a positive diagnosis (confirmed test); red until"),
            "{onset}"
        );
        assert!(text.contains("(needs 10 for this kind) — qualifies\n"), "{text}");
        let d = decide_with(|i| {
            i.venues = vec![venue(TODAY.minus(14), 30)];
            i.ble = vec![contact(TODAY, 50, 60)];
            i.now = TODAY.end();
            i.last_sync = Some(i.now);
        });
        assert_eq!(d.color, Color::Green);
        let text = d.to_string();
        assert!(text.contains("ignored: 1 older than the lookback window"), "{text}");
        let d = decide(
            &ColorPolicy::new(PolicyParams { yellow_days: 1, ..*policy().params() }).expect("valid"),
            &ColorInputs { venues: vec![venue(TODAY.minus(3), 30)], ..inputs() },
        );
        assert_eq!(d.color, Color::Green);
        assert!(d.to_string().contains("(needs 10 for this kind) — qualified; its yellow has ended"));
    }

    #[test]
    fn a_custom_policy_changes_the_outcome() {
        let params = PolicyParams { bucket_weights_percent: [200, 100, 50, 0], ..*policy().params() };
        let doubled = ColorPolicy::new(params).expect("valid");
        let mut i = inputs();
        i.ble = vec![contact(TODAY, 50, 480)];
        assert_eq!(decide(&policy(), &i).color, Color::Green);
        assert_eq!(decide(&doubled, &i).color, Color::Yellow);
    }
}
