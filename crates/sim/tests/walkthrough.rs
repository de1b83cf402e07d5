//! Runs the real `greenlight-sim` binary and checks what a person reading
//! its output would notice: each resident's color and why, the exit
//! status, and that the relay attacker's replay and tampering were caught.
//! The walkthrough runs the resident core, the in-process server, its
//! portal and the venue tool, so these are end-to-end runs of all of them.

use serde_json::Value;
use std::process::{Command, Output};

/// One run of the binary with `args`.
struct SimRun {
    output: Output,
}

impl SimRun {
    fn new(args: &[&str]) -> Self {
        let output =
            Command::new(env!("CARGO_BIN_EXE_greenlight-sim")).args(args).output().expect("greenlight-sim runs");
        SimRun { output }
    }

    fn stdout(&self) -> String {
        String::from_utf8(self.output.stdout.clone()).expect("stdout is UTF-8")
    }

    fn assert_success(&self) {
        assert!(
            self.output.status.success(),
            "exit status {:?}\nstderr:\n{}",
            self.output.status,
            String::from_utf8_lossy(&self.output.stderr)
        );
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout()).expect("--json prints one JSON document")
    }
}

fn resident<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["residents"]
        .as_array()
        .expect("residents is a list")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} is listed"))
}

fn color_of<'a>(doc: &'a Value, name: &str) -> &'a str {
    resident(doc, name)["color"].as_str().expect("color is text")
}

#[test]
fn every_resident_gets_the_color_of_the_story_whatever_the_seed() {
    for seed in ["1", "20260511"] {
        let run = SimRun::new(&["walkthrough", "--json", "--seed", seed]);
        run.assert_success();
        let doc = run.json();
        assert_eq!(doc["seed"].as_u64().map(|s| s.to_string()).as_deref(), Some(seed));
        let colors: Vec<(&str, &str)> = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace"]
            .into_iter()
            .map(|name| (name, color_of(&doc, name)))
            .collect();
        assert_eq!(
            colors,
            [
                ("Alice", "red"),
                ("Bob", "yellow"),
                ("Carol", "green"),
                ("Dave", "green"),
                ("Erin", "yellow"),
                ("Frank", "green"),
                ("Grace", "green"),
            ],
            "seed {seed}"
        );
        assert_eq!(doc["all_hold"], true, "seed {seed}");
    }
}

#[test]
fn yellow_says_why_bob_through_bluetooth_and_erin_through_the_cafe_trace() {
    let run = SimRun::new(&["walkthrough", "--json"]);
    run.assert_success();
    let doc = run.json();
    let explanation = |name: &str| resident(&doc, name)["explanation"].as_str().expect("text").to_owned();
    let bob = explanation("Bob");
    assert!(bob.contains("Bluetooth contact, 180 weighted min (needs 15)"), "{bob}");
    assert!(bob.contains("— qualifies"), "{bob}");
    let erin = explanation("Erin");
    assert!(erin.contains("overlapping a traced visit by 30 min (needs 10 for this kind) — qualifies"), "{erin}");
    assert!(
        erin.contains("3 weighted min (needs 15)") && erin.contains("below the threshold"),
        "her Bluetooth contact was across the room: {erin}"
    );
    assert_eq!(resident(&doc, "Erin")["check_ins_traced"], 1);
    // Frank was at the café the next day: another epoch, not traced.
    assert_eq!(
        (resident(&doc, "Frank")["check_ins"].as_u64(), resident(&doc, "Frank")["check_ins_traced"].as_u64()),
        (Some(1), Some(0))
    );
    let carol = resident(&doc, "Carol")["reason"].as_str().expect("text").to_owned();
    assert_eq!(carol, "Bluetooth: 5 min, 0 weighted (needs 15)");
}

#[test]
fn the_narration_reports_the_relay_replay_and_the_tampered_metadata() {
    let run = SimRun::new(&["walkthrough"]);
    run.assert_success();
    let text = run.stdout();
    // Descriptions wrap at 80 columns; compare on single spaces.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("heard 12:04, outside its interval 10:00–10:10: replay"), "{text}");
    assert!(flat.contains("heard 10:14 in its interval 10:10–10:20, tag fails: tampered"), "{text}");
    assert!(flat.contains("Dave green"), "{text}");
    assert!(flat.contains("no contact; 2 relayed sightings refused"), "{text}");
    assert!(flat.contains("greenlight-server on a loopback port"), "{text}");
    assert!(flat.contains("sent again (as after a lost answer) is recognised: 200 already_accepted"), "{text}");
    assert!(
        flat.contains("Other keys sent under the same certificate are refused (HTTP 403, hmac_mismatch)"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 80), "a line is wider than 80 columns:\n{text}");
}

#[test]
fn the_same_seed_gives_byte_identical_output() {
    // The server draws its own keys and codes; the narration shows none of
    // them, so the story's text depends on the seed alone.
    let first = SimRun::new(&["walkthrough", "--seed", "7"]);
    let second = SimRun::new(&["walkthrough", "--seed", "7"]);
    first.assert_success();
    assert_eq!(first.stdout(), second.stdout());
    let other = SimRun::new(&["walkthrough", "--seed", "8"]);
    assert_ne!(first.stdout(), other.stdout(), "the phones' keys come from the seed");
}
