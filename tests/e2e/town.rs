//! A small town through the real `greenlight-sim` binary, as CI can afford
//! it (a debug build): the real server on loopback, codes issued in the
//! staff portal, reports through the client library, venue cases traced
//! in the portal and released with the venue tool. From a fixed seed the
//! phones must find most of the ground-truth close contacts of reporters
//! (recall), be right about most of the ones they flag (precision), and do
//! better than the GAEN-style baseline; the HTML report must stand alone.
//! Every phone runs the resident core on everything it heard and checked
//! in at, with no knowledge of who will report or which venue will be
//! traced, so precision here is the phones' own selectivity.

mod common;

use common::{Dir, bin, run_ok};
use serde_json::Value;
use std::process::Command;

/// Lower bounds for the fixed seed below. The numbers this run gives are
/// printed on failure; see crates/sim/README.md for the default town's.
const MIN_RECALL: f64 = 0.90;
const MIN_PRECISION: f64 = 0.80;

#[test]
fn a_small_town_finds_its_close_contacts_and_reports_in_one_self_contained_page() {
    let dir = Dir::new("town");
    let report = dir.join("town.html");
    let out =
        run_ok(Command::new(bin("greenlight-sim")).args(["--residents", "400", "--days", "7", "--seed", "3"]).args([
            "--json",
            "--report",
            report.to_str().expect("UTF-8 path"),
        ]));
    let doc: Value = serde_json::from_str(&out).expect("--json prints one JSON document");
    let f = |path: &[&str]| -> f64 {
        path.iter().fold(&doc, |v, k| &v[*k]).as_f64().unwrap_or_else(|| panic!("{path:?} is a number in {doc:#}"))
    };

    // The epidemic happened and went through the whole system.
    assert!(f(&["reported"]) >= 3.0, "residents reported through the portal and the client: {doc:#}");
    assert!(f(&["should_be_yellow"]) >= 10.0, "reporters had close contacts: {doc:#}");
    let last = doc["per_day"].as_array().and_then(|d| d.last()).expect("one row per day");
    assert_eq!(last["red"].as_f64(), Some(f(&["reported"])), "every reporter's own phone is red: {doc:#}");
    assert!(last["yellow"].as_f64().unwrap_or(0.0) > 0.0, "contacts turned yellow: {doc:#}");
    assert_eq!(doc["per_day"].as_array().map(Vec::len), Some(7));

    let (recall, precision) = (f(&["greenlight", "recall"]), f(&["greenlight", "precision"]));
    assert!(recall >= MIN_RECALL, "recall {recall:.3} below {MIN_RECALL}: {doc:#}");
    assert!(precision >= MIN_PRECISION, "precision {precision:.3} below {MIN_PRECISION}: {doc:#}");
    let median = f(&["greenlight", "hours_to_notification", "median"]);
    assert!(median > 0.0 && median <= 24.0, "alerts come after the result, within a day: {doc:#}");
    assert!(f(&["greenlight", "f1"]) > f(&["gaen_baseline", "f1"]), "better than the GAEN-style baseline: {doc:#}");

    // Venues: residents checked in at the posters, reporters revealed
    // visits, tracers traced them, and venue-only contacts were found.
    assert!(f(&["venues", "check_ins"]) >= 100.0, "residents scanned posters: {doc:#}");
    assert!(f(&["venues", "cases"]) >= 1.0 && f(&["venues", "trace_batches"]) >= 1.0, "venues were traced: {doc:#}");
    assert!(f(&["should_be_yellow_venue_only"]) >= 1.0, "some contacts were at venues only: {doc:#}");
    assert!(
        f(&["greenlight", "recall"]) > f(&["greenlight_bluetooth_only", "recall"]),
        "venue alerts find contacts Bluetooth alone misses: {doc:#}"
    );

    let html = std::fs::read_to_string(&report).expect("the report is written");
    assert!(html.starts_with("<!doctype html>") && html.matches("<svg").count() >= 3, "three inline charts");
    for external in ["<script", "src=", "href=\"http", "url("] {
        assert!(!html.contains(external), "the page loads nothing from elsewhere ({external})");
    }
}

/// Issue 22: the strategies, each its own pass over the same town and
/// seed, on a seed held out from every choice of threshold (seeds 1–5 are
/// for tuning, 6–10 for reporting). Only what holds by construction is
/// asserted, never a fitted figure or a time: the metrics add up, no app
/// means no alert and no quarantine day, nobody is alerted before the
/// first positive result (and no phone before the first upload), and
/// every strategy sees the same epidemic until its first alert.
#[test]
fn every_strategy_runs_on_the_same_town_and_its_metrics_add_up() {
    let out = run_ok(Command::new(bin("greenlight-sim")).args([
        "--residents",
        "400",
        "--days",
        "10",
        "--seed",
        "6",
        "--json",
    ]));
    let doc: Value = serde_json::from_str(&out).expect("--json prints one JSON document");
    let s = &doc["strategies"];
    let num = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("a number: {v}"));
    let residents = num(&doc["residents"]);
    let keys = ["no_app", "centralized", "gaen", "greenlight_bluetooth", "greenlight"];
    assert_eq!(s.as_object().map(|o| o.len()), Some(keys.len()), "one entry per strategy: {s:#}");
    let no_app = &s["no_app"];
    assert!(num(&no_app["reporters"]) >= 1.0, "someone reported, so alerts were possible: {s:#}");
    assert_eq!(num(&no_app["notified"]), 0.0, "no app alerts nobody");
    assert_eq!(num(&no_app["quarantine_person_days"]), 0.0, "no app means no quarantine days");
    assert_eq!(no_app["first_alert_step"], Value::Null);
    let transmissions = |m: &Value| -> Vec<(i64, Value)> {
        m["transmissions"]
            .as_array()
            .expect("transmissions")
            .iter()
            .map(|t| (t["step"].as_i64().expect("a step"), t.clone()))
            .collect()
    };
    let base = transmissions(no_app);
    for key in keys {
        let m = &s[key];
        // The metrics add up.
        let infections = num(&m["infections"]);
        let by_place: f64 = m["infections_by_place"].as_object().expect("by place").values().map(num).sum();
        assert_eq!(by_place, infections, "{key}: infections by place add up");
        let per_day: f64 = m["infections_per_day"].as_array().expect("per day").iter().map(num).sum();
        assert_eq!(per_day, infections, "{key}: infections per day add up");
        let from_day_1 = transmissions(m).iter().filter(|(step, _)| *step >= 0).count();
        assert_eq!(from_day_1 as f64, infections, "{key}: one transmission per infection");
        assert_eq!(num(&m["infections_averted"]), num(&no_app["infections"]) - infections, "{key}: averted");
        let notified = num(&m["notified"]);
        assert!(notified <= residents);
        assert!((num(&m["ever_yellow_share"]) - notified / residents).abs() < 1e-9, "{key}: ever yellow");
        assert!(num(&m["peak_yellow_share"]) <= num(&m["ever_yellow_share"]) + 1e-9, "{key}: peak");
        assert!(num(&m["quarantine_person_days_never_infected"]) <= num(&m["quarantine_person_days"]) + 1e-9);
        // At most every simulated day for each resident alerted.
        assert!(num(&m["quarantine_person_days"]) <= notified * num(&doc["days"]) + 1e-9, "{key}: {m:#}");
        if notified > 0.0 {
            let r = num(&m["notifications_per_reporter"]);
            assert!((r * num(&m["reporters"]) - notified).abs() < 1e-6, "{key}: per reporter");
            let sar = num(&m["secondary_attack_rate_notified"]);
            assert!((0.0..=1.0).contains(&sar), "{key}: {sar}");
            // Nobody is alerted before the first positive result; no phone
            // before the first upload.
            let first = num(&m["first_alert_step"]);
            let since = if key == "centralized" { "first_result_step" } else { "first_upload_step" };
            assert!(first > num(&m[since]), "{key}: alerted at step {first}, before its {since}: {m:#}");
            assert!(num(&m["hours_to_alert"]["median"]) >= 0.0);
        }
        // The same epidemic until the first alert: every infection up to
        // that step is the same, in the same order.
        let until = m["first_alert_step"].as_i64().unwrap_or(i64::MAX);
        let before = |t: &[(i64, Value)]| t.iter().filter(|(step, _)| *step <= until).cloned().collect::<Vec<_>>();
        assert_eq!(before(&transmissions(m)), before(&base), "{key}: the same epidemic until step {until}");
    }
    // The apps did alert someone in a town where cases reported.
    assert!(num(&s["centralized"]["notified"]) > 0.0 && num(&s["greenlight"]["notified"]) > 0.0, "{s:#}");
}
