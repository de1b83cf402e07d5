//! Vectors from sightings to color (protocol §6.4): `spec/vectors/contacts.json`.
//!
//! Each case gives the receiving phone's calibration, one published key's
//! day and transmission risk, and the sightings of it that the matcher
//! accepted (time, the sender's advertised power, the RSSI heard). The
//! expected outputs are the contacts of §6.4 and the color the recommended
//! policy gives them.

mod common;

use common::uint;
use greenlight_protocol::calibration::Calibration;
use greenlight_protocol::color::{ColorInputs, decide};
use greenlight_protocol::contact::{HeardSighting, contacts};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::report::TransmissionRisk;
use greenlight_protocol::time::{DayNumber, UnixTime};
use serde_json::{Value, json};

/// 2026-05-10.
const D: DayNumber = DayNumber(20_583);

fn i8_of(v: &Value, field: &str) -> i8 {
    i8::try_from(v[field].as_i64().unwrap_or_else(|| panic!("{field} is an integer"))).expect("fits i8")
}

struct Case {
    name: &'static str,
    receiver: Calibration,
    risk: u8,
    /// `(seconds after 10:00 on day D, sender's tx power, rssi)`.
    heard: Vec<(u64, i8, i8)>,
}

fn cases() -> Vec<Case> {
    let pixel4 = Calibration { tx_power_dbm: -30, rssi_correction_db: 8 };
    let deaf = Calibration { tx_power_dbm: -25, rssi_correction_db: -20 };
    // Three windows of a sender at −25 dBm heard at −80…−82 dBm.
    let close_15_minutes = vec![(10, -25, -80), (130, -25, -81), (310, -25, -82), (620, -25, -80), (890, -25, -81)];
    vec![
        Case { name: "fifteen_minutes_near_for_a_pixel_4", receiver: pixel4, risk: 6, heard: close_15_minutes.clone() },
        Case { name: "same_sightings_for_a_receiver_that_hears_low", receiver: deaf, risk: 6, heard: close_15_minutes },
        Case {
            name: "mean_rounded_down_within_a_window",
            receiver: Calibration::DEFAULT,
            risk: 5,
            heard: vec![(0, -20, -70), (100, -20, -71), (299, -20, -73)],
        },
        Case {
            name: "window_edge_at_300_seconds",
            receiver: Calibration::DEFAULT,
            risk: 5,
            heard: vec![(299, -20, -70), (300, -20, -70)],
        },
        Case {
            name: "capped_at_255_and_floored_at_0",
            receiver: Calibration { tx_power_dbm: 0, rssi_correction_db: -128 },
            risk: 8,
            heard: vec![(0, 127, -128), (600, -128, 127)],
        },
    ]
}

fn run(receiver: Calibration, risk: u8, heard: &[HeardSighting]) -> (Vec<Value>, &'static str) {
    let found = contacts(D, TransmissionRisk::new(risk).expect("risk"), heard, receiver);
    let now = D.plus(1).start().plus(12 * 3600);
    let decision = decide(
        &ColorPolicy::recommended(1, UnixTime(0)),
        &ColorInputs { now, last_sync: Some(now), diagnosis: None, ble: found.clone(), venues: Vec::new() },
    );
    let listed = found
        .iter()
        .map(|c| json!({"day": c.day.0, "attenuation_db": c.attenuation_db, "seconds": c.seconds, "transmission_risk": c.transmission_risk.level()}))
        .collect();
    (listed, decision.color.as_str())
}

fn generate() -> Value {
    let ten = D.start().plus(10 * 3600);
    let cases: Vec<Value> = cases()
        .into_iter()
        .map(|case| {
            let heard: Vec<HeardSighting> = case
                .heard
                .iter()
                .map(|&(secs, tx, rssi)| HeardSighting {
                    seen_at: ten.plus(secs),
                    sender_tx_power_dbm: tx,
                    rssi_dbm: rssi,
                })
                .collect();
            let (contacts, color) = run(case.receiver, case.risk, &heard);
            json!({
                "name": case.name,
                "receiver_rssi_correction_db": case.receiver.rssi_correction_db,
                "key_day": D.0,
                "transmission_risk": case.risk,
                "sightings": heard.iter().map(|s| json!({
                    "seen_at": s.seen_at.0,
                    "sender_tx_power_dbm": s.sender_tx_power_dbm,
                    "rssi_dbm": s.rssi_dbm,
                })).collect::<Vec<_>>(),
                "contacts": contacts,
                "color": color,
            })
        })
        .collect();
    json!({
        "description": "Protocol §6.4: accepted sightings of one published key (day key_day) heard by a phone \
                        with this RSSI correction, the contacts they give, and the color of those contacts alone \
                        under the recommended policy at noon the next day with a fresh sync.",
        "cases": cases,
    })
}

#[test]
fn contacts_vectors_do_not_drift() {
    common::check_or_bless("contacts", &generate());
}

#[test]
fn committed_sightings_give_the_documented_contacts_and_color() {
    let v = common::load("contacts");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 5);
    let mut colors = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        assert_eq!(uint(case, "key_day"), u64::from(D.0));
        // The receiver's transmit power plays no part: any value will do.
        let receiver = Calibration { tx_power_dbm: 99, rssi_correction_db: i8_of(case, "receiver_rssi_correction_db") };
        let heard: Vec<HeardSighting> = case["sightings"]
            .as_array()
            .expect("sightings")
            .iter()
            .map(|s| HeardSighting {
                seen_at: UnixTime(uint(s, "seen_at")),
                sender_tx_power_dbm: i8_of(s, "sender_tx_power_dbm"),
                rssi_dbm: i8_of(s, "rssi_dbm"),
            })
            .collect();
        let risk = u8::try_from(uint(case, "transmission_risk")).expect("risk");
        let (contacts, color) = run(receiver, risk, &heard);
        assert_eq!(Value::Array(contacts), case["contacts"], "{name}");
        assert_eq!(color, case["color"].as_str().expect("color"), "{name}");
        colors.push(color);
    }
    // The receiver's calibration decides: the same sightings, two colors.
    assert_eq!(&colors[..2], ["yellow", "green"]);
}
