//! What the story must show, checked against what actually happened: the
//! walkthrough checks itself and exits non-zero if any expectation fails.

use crate::story::{Outcome, ResidentOutcome};
use greenlight_protocol::color::{Color, Evidence};
use greenlight_protocol::matcher::Rejection;
use greenlight_protocol::time::UnixTime;

/// One expectation and whether it held.
pub(crate) struct Expectation {
    /// What the story expects, in words.
    pub(crate) what: String,
    /// Whether it held.
    pub(crate) holds: bool,
}

fn qualifying_ble(r: &ResidentOutcome) -> bool {
    r.decision.evidence.iter().any(|e| matches!(e, Evidence::BleDay { qualifies: true, .. }))
}

fn qualifying_venue(r: &ResidentOutcome) -> bool {
    r.decision.evidence.iter().any(|e| matches!(e, Evidence::Venue { qualifies: true, .. }))
}

fn rejected(outcome: &Outcome, at: UnixTime, reason: Rejection) -> bool {
    outcome
        .resident(outcome.relay.target)
        .is_some_and(|r| r.rejected.iter().any(|s| s.seen_at == at && s.reason == reason))
}

/// Checks every expectation of the story.
pub(crate) fn check(outcome: &Outcome) -> Vec<Expectation> {
    let mut expectations = Vec::new();
    let mut expect = |what: String, holds: bool| expectations.push(Expectation { what, holds });
    let color_is = |name: &str, color: Color, how: &dyn Fn(&ResidentOutcome) -> bool| {
        outcome.resident(name).is_some_and(|r| r.decision.color == color && how(r))
    };

    expect("Alice is red: her own positive test".to_owned(), color_is("Alice", Color::Red, &|r| r.diagnosis.is_some()));
    expect(
        "Bob is yellow through Bluetooth (the office)".to_owned(),
        color_is("Bob", Color::Yellow, &|r| qualifying_ble(r) && !qualifying_venue(r)),
    );
    expect(
        "Erin is yellow through her café check-in, not through Bluetooth".to_owned(),
        color_is("Erin", Color::Yellow, &|r| qualifying_venue(r) && !qualifying_ble(r) && r.venue_alerts.len() == 1),
    );
    expect(
        "Carol heard Alice in the café, too briefly and too far to count".to_owned(),
        color_is("Carol", Color::Green, &|r| {
            r.applied.exposures > 0 && r.decision.evidence.iter().any(|e| matches!(e, Evidence::BleDay { .. }))
        }),
    );
    for name in ["Dave", "Frank", "Grace"] {
        expect(format!("{name} is green"), color_is(name, Color::Green, &|r| r.venue_alerts.is_empty()));
    }
    expect(
        "Dave's phone refuses both relayed sightings and finds no contact".to_owned(),
        outcome
            .resident(outcome.relay.target)
            .is_some_and(|r| r.applied.rejected_sightings == 2 && r.applied.exposures == 0),
    );
    expect(
        "Dave's phone refuses the replayed ID as outside its interval".to_owned(),
        rejected(outcome, outcome.relay.replayed_at, Rejection::OutsideInterval),
    );
    expect(
        "Dave's phone refuses the relayed ID with tampered metadata".to_owned(),
        rejected(outcome, outcome.relay.tampered_at, Rejection::TamperedMetadata),
    );
    expect(
        "The key server refuses a second upload under one certificate".to_owned(),
        outcome.reused_certificate_refused,
    );
    expectations
}
