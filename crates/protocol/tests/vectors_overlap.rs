//! Vectors from a check-in to a color (protocol §8.3, §14.1):
//! `spec/vectors/overlap.json`.
//!
//! Each case seals a real check-in at a real poster, publishes a real trace
//! entry of the poster's epoch, matches it, and carries the venue exposure
//! through the recommended policy to a color. The vectors list what a
//! second implementation must reproduce: the minutes the record stores, the
//! overlap, the day it counts on, and the color.

mod common;

use common::uint;
use greenlight_protocol::checkin::{CheckInDayKey, VenueMatcher};
use greenlight_protocol::color::{ColorInputs, decide};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::{TraceEntry, TraceSecret};
use greenlight_protocol::venue::{AuthorityShareKey, Epoch, VenueInfo, VenueKind, VenueMasterSecret};
use rand_core::Rng;
use serde_json::{Value, json};

/// 2026-05-10.
const D: DayNumber = DayNumber(20_583);

fn at(day: DayNumber, hour: u64, minute: u64, second: u64) -> UnixTime {
    day.start().plus(hour * 3600 + minute * 60 + second)
}

/// The phone's view of one case, computed through the real libraries.
struct Outcome {
    arrival_minute: u64,
    departure_minute: u64,
    overlap_minutes: u16,
    day: DayNumber,
    color: &'static str,
    until: Option<UnixTime>,
}

fn run(arrival: UnixTime, departure: UnixTime, window: (UnixTime, UnixTime), now: UnixTime) -> Outcome {
    let mut rng = common::rng("overlap");
    let venue = VenueMasterSecret::generate(&mut rng);
    let authority = AuthorityShareKey::generate(&mut rng);
    let info = VenueInfo { name: "Café Aurora".into(), address: "Main St 5".into(), kind: VenueKind::Restaurant };
    let epoch = Epoch::new(D.start(), 1440).expect("the day's epoch");
    let opened = venue.open_epoch(epoch, &authority.public_key(), &mut rng).expect("opens");
    let poster = venue.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster");
    let mut day_secret = [0u8; 32];
    rng.fill_bytes(&mut day_secret);
    let day_key = CheckInDayKey::from_bytes(D, day_secret);
    let record = poster.check_in(&day_key, arrival, departure, &mut rng).expect("check in");

    let owner = venue.owner_share(&epoch);
    let share = authority.open_share(&venue.public_key(), &opened).expect("share");
    let secret = TraceSecret::combine(&owner, &share, &opened).expect("secret");
    let entry = TraceEntry::new(&secret, &opened, window.0, window.1, "Watch for symptoms.", &mut rng).expect("entry");

    let matcher = VenueMatcher::new(&[day_key.public()], vec![record]);
    let found = matcher.match_entries(std::slice::from_ref(&entry));
    assert_eq!(found.len(), 1, "the traced visit is found");
    let visit = &found[0].visit;
    let exposure = visit.exposure(entry.window_start, entry.window_end);
    assert_eq!(u32::from(exposure.overlap_minutes), found[0].overlap_minutes);

    let policy = ColorPolicy::recommended(1, UnixTime(0));
    let decision = decide(
        &policy,
        &ColorInputs { now, last_sync: Some(now), diagnosis: None, ble: Vec::new(), venues: vec![exposure] },
    );
    Outcome {
        arrival_minute: visit.arrival.minutes(),
        departure_minute: visit.departure.minutes(),
        overlap_minutes: exposure.overlap_minutes,
        day: exposure.day,
        color: decision.color.as_str(),
        until: decision.until,
    }
}

/// `(name, arrival, departure, window start, window end)`.
fn cases() -> Vec<(&'static str, UnixTime, UnixTime, UnixTime, UnixTime)> {
    let next = D.plus(1);
    vec![
        ("seconds_are_not_counted", at(D, 10, 0, 50), at(D, 10, 10, 30), at(D, 9, 0, 0), at(D, 12, 0, 0)),
        ("across_midnight_one_exposure", at(D, 23, 52, 0), at(next, 0, 8, 0), at(D, 20, 0, 0), at(next, 2, 0, 0)),
        ("window_ends_at_midnight", at(D, 23, 50, 0), at(next, 0, 30, 0), at(D, 20, 0, 0), at(next, 0, 0, 0)),
        ("window_cuts_the_stay_short", at(D, 10, 0, 0), at(D, 12, 0, 0), at(D, 11, 55, 0), at(D, 13, 0, 0)),
        ("left_before_the_window", at(D, 10, 0, 0), at(D, 10, 30, 0), at(D, 11, 0, 0), at(D, 12, 0, 0)),
    ]
}

fn now() -> UnixTime {
    at(D.plus(2), 12, 0, 0)
}

fn generate() -> Value {
    let cases: Vec<Value> = cases()
        .into_iter()
        .map(|(name, arrival, departure, from, until)| {
            let o = run(arrival, departure, (from, until), now());
            json!({
                "name": name,
                "arrival": arrival.0,
                "departure": departure.0,
                "window_start": from.0,
                "window_end": until.0,
                "stored_arrival": o.arrival_minute * 60,
                "stored_departure": o.departure_minute * 60,
                "overlap_minutes": o.overlap_minutes,
                "day": o.day.0,
                "color": o.color,
                "until": o.until.map(|t| t.0),
            })
        })
        .collect();
    json!({
        "description": "Protocol §8.3 and §14.1: a check-in sealed with these arrival and departure times (Unix \
                        seconds) at a daily poster of day 20583, a trace entry of that epoch with this window, the \
                        minutes the record stores (as seconds), the overlap in minutes, the day it counts on, and \
                        the color under the recommended policy (min_venue_overlap_minutes 10, yellow_days 14) at \
                        `now` with a sync at `now`.",
        "now": now().0,
        "cases": cases,
    })
}

#[test]
fn overlap_vectors_do_not_drift() {
    common::check_or_bless("overlap", &generate());
}

#[test]
fn committed_overlap_cases_give_the_documented_overlap_day_and_color() {
    let v = common::load("overlap");
    let now = UnixTime(uint(&v, "now"));
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let t = |field| UnixTime(uint(case, field));
        let o = run(t("arrival"), t("departure"), (t("window_start"), t("window_end")), now);
        assert_eq!(o.arrival_minute * 60, uint(case, "stored_arrival"), "{name}");
        assert_eq!(o.departure_minute * 60, uint(case, "stored_departure"), "{name}");
        assert_eq!(u64::from(o.overlap_minutes), uint(case, "overlap_minutes"), "{name}");
        assert_eq!(u64::from(o.day.0), uint(case, "day"), "{name}");
        assert_eq!(o.color, case["color"].as_str().expect("color"), "{name}");
        assert_eq!(o.until.map(|t| t.0), case["until"].as_u64(), "{name}");
    }
    // The two rules the cases pin, stated once more in plain numbers.
    let seconds = &cases[0];
    assert_eq!((uint(seconds, "overlap_minutes"), seconds["color"].as_str()), (10, Some("yellow")));
    let midnight = &cases[1];
    assert_eq!(uint(midnight, "overlap_minutes"), 16);
    assert_eq!(uint(midnight, "day"), u64::from(D.0) + 1);
}
