//! The end of the walkthrough: the table of colors, each non-green
//! resident's full explanation and the expectations (plain text, 80
//! columns), or the same decisions as one JSON document for scripts.

use crate::clock::{date, time};
use crate::expectations::Expectation;
use crate::narration::{WIDTH, emit, plural, wrap};
use crate::story::{Outcome, ResidentOutcome};
use greenlight_protocol::color::{Color, Evidence};
use greenlight_protocol::matcher::Rejection;
use serde_json::{Value, json};

const NAME_WIDTH: usize = 8;
const COLOR_WIDTH: usize = 6;
const UNTIL_WIDTH: usize = 16;

/// One line on why a resident has their color, at most 44 characters for
/// the story's residents.
pub(crate) fn reason(resident: &ResidentOutcome) -> String {
    let decision = &resident.decision;
    let evidence = &decision.evidence;
    match decision.color {
        Color::Red => evidence
            .iter()
            .find_map(|e| match e {
                Evidence::Diagnosis { day, .. } => Some(format!("own positive test on {}", date(*day))),
                _ => None,
            })
            .unwrap_or_else(|| "own positive test".to_owned()),
        Color::Yellow => evidence
            .iter()
            .rev()
            .find_map(|e| match e {
                Evidence::BleDay { day, weighted_minutes, qualifies: true, .. } => {
                    Some(format!("Bluetooth: {weighted_minutes} weighted min on {}", date(*day)))
                }
                Evidence::Venue { day, overlap_minutes, qualifies: true, .. } => {
                    let venue = resident.venue_alerts.first().map_or("venue", |a| a.venue.as_str());
                    Some(format!("{venue}: {overlap_minutes} min overlap on {}", date(*day)))
                }
                _ => None,
            })
            .unwrap_or_else(|| "a qualifying exposure".to_owned()),
        Color::Stale => "not synced recently enough".to_owned(),
        Color::Green => {
            let ble_below = evidence.iter().find_map(|e| match e {
                Evidence::BleDay { seconds_per_bucket, weighted_minutes, threshold_minutes, .. } => {
                    let minutes = seconds_per_bucket.iter().sum::<u64>() / 60;
                    Some(format!("Bluetooth: {minutes} min, {weighted_minutes} weighted (needs {threshold_minutes})"))
                }
                _ => None,
            });
            if !resident.rejected.is_empty() {
                format!("no contact; {} relayed sightings refused", resident.rejected.len())
            } else if let Some(below) = ble_below {
                below
            } else if resident.check_ins > 0 && resident.venue_alerts.is_empty() {
                format!("no match; {}, not traced", plural(resident.check_ins, "check-in"))
            } else {
                "no published key or trace matched".to_owned()
            }
        }
    }
}

/// Prints the table, the explanations and the expectations.
pub(crate) fn print_plain(outcome: &Outcome, expectations: &[Expectation]) {
    emit(&format!("\n== Colors at {} UTC\n", time(outcome.now)));
    emit(&format!("{:NAME_WIDTH$}  {:COLOR_WIDTH$}  {:UNTIL_WIDTH$}  reason", "resident", "color", "until"));
    let reason_width = WIDTH - NAME_WIDTH - COLOR_WIDTH - UNTIL_WIDTH - 6;
    emit(&format!(
        "{}  {}  {}  {}",
        "-".repeat(NAME_WIDTH),
        "-".repeat(COLOR_WIDTH),
        "-".repeat(UNTIL_WIDTH),
        "-".repeat(reason_width)
    ));
    let indent = " ".repeat(WIDTH - reason_width);
    for resident in &outcome.residents {
        let decision = &resident.decision;
        let until = decision.until.map(time).unwrap_or_else(|| "-".to_owned());
        let color = decision.color.as_str();
        let first = format!("{:NAME_WIDTH$}  {color:COLOR_WIDTH$}  {until:UNTIL_WIDTH$}  ", resident.name);
        for line in wrap(&reason(resident), &first, &indent) {
            emit(&line);
        }
    }
    emit("(\"until\" of a green is when it turns stale unless the phone syncs again.)");

    emit("\n== Why (each resident who is not green)");
    for resident in outcome.residents.iter().filter(|r| r.decision.color != Color::Green) {
        emit(&format!("\n{}:", resident.name));
        for line in resident.decision.to_string().lines() {
            for wrapped in wrap(line, "  ", "      ") {
                emit(&wrapped);
            }
        }
    }

    let holding = expectations.iter().filter(|e| e.holds).count();
    emit(&format!("\n== Checks: {holding} of {} expectations hold", expectations.len()));
    for expectation in expectations {
        let mark = if expectation.holds { "ok  " } else { "FAIL" };
        for line in wrap(&expectation.what, &format!("{mark} "), "     ") {
            emit(&line);
        }
    }
}

/// The final decisions as one JSON document.
pub(crate) fn json(outcome: &Outcome, expectations: &[Expectation]) -> Value {
    let residents: Vec<Value> = outcome
        .residents
        .iter()
        .map(|r| {
            let decision = &r.decision;
            let rejected: Vec<Value> = r
                .rejected
                .iter()
                .map(|s| {
                    let reason = match s.reason {
                        Rejection::OutsideInterval => "outside_interval",
                        Rejection::TamperedMetadata => "tampered_metadata",
                        Rejection::UnknownVersion => "unknown_version",
                    };
                    json!({ "seen_at": s.seen_at.0, "reason": reason })
                })
                .collect();
            json!({
                "name": r.name,
                "color": decision.color.as_str(),
                "until": decision.until.map(|t| t.0),
                "until_utc": decision.until.map(time),
                "stale": decision.stale,
                "reason": reason(r),
                "explanation": decision.to_string(),
                "policy_sequence": decision.policy_sequence,
                "files_applied": r.applied.files,
                "exposures": r.applied.exposures,
                "sightings_refused": r.applied.rejected_sightings,
                "sightings_refused_why": rejected,
                "check_ins": r.check_ins,
                "check_ins_traced": r.venue_alerts.len(),
            })
        })
        .collect();
    let checks: Vec<Value> = expectations.iter().map(|e| json!({ "expectation": e.what, "holds": e.holds })).collect();
    json!({
        "seed": outcome.seed,
        "now": outcome.now.0,
        "now_utc": time(outcome.now),
        "residents": residents,
        "expectations": checks,
        "all_hold": expectations.iter().all(|e| e.holds),
    })
}
