//! The whole story with the real binaries as separate processes on
//! loopback: `greenlight-server` (key server, health authority, portal),
//! and three residents' `greenlight` clients, each with its own data
//! directory. Alice is diagnosed, staff issue her a code in the portal,
//! she reports; Bob, who spent 45 minutes near her, syncs and turns
//! yellow; Carol, who was across the room, stays green.
//!
//! Radio: the `greenlight` command line drives only the real Bluetooth
//! radio (BlueZ); it cannot run on the simulated one. So the test writes
//! into Bob's and Carol's stores, through the client library, exactly the
//! sightings their radio would have delivered — Alice's real
//! advertisements (IDs and sealed metadata from her stored daily key) with
//! an RSSI and a time — and everything after that is the real processes.
//! (`client/tests/phones.rs` runs daemons on the simulated radio.)

mod common;

use common::{Resident, Server, now, run, staff_portal};
use greenlight_client::os_rng;
use greenlight_phone::Store as _;
use greenlight_protocol::daily_key::Metadata;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_testkit::CodeKind;
use std::time::{Duration, Instant};

/// What the radio would have delivered: `listener` hears `speaker`'s
/// advertisements every 5 minutes for `minutes` from `from`, at `rssi`.
async fn hears(listener: &Resident, speaker: &Resident, from: UnixTime, minutes: u64, rssi: i8) {
    let mut speaker = greenlight_client::open(&speaker.dir.0).expect("speaker's store");
    let day = from.day();
    let schedule = speaker.daily_key(day, &mut os_rng()).expect("daily key").schedule(day);
    drop(speaker);
    let sightings: Vec<Sighting> = (0..minutes / 5)
        .map(|k| {
            let seen_at = from.plus(k * 300);
            let id = schedule.id(seen_at.interval().slot());
            let metadata = schedule.seal_metadata(&id, Metadata::v1(-25));
            Sighting { id, metadata, rssi, seen_at }
        })
        .collect();
    let mut listener = greenlight_client::open(&listener.dir.0).expect("listener's store");
    listener.store_mut().add_sightings(&sightings).expect("sightings stored");
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diagnosis_warns_the_close_contact_through_the_real_binaries_and_not_the_stranger() {
    let server = Server::start().await;
    let (alice, bob, carol) =
        (Resident::new("alice", &server), Resident::new("bob", &server), Resident::new("carol", &server));
    for resident in [&alice, &bob, &carol] {
        assert_eq!(resident.status()["color"], "stale", "never synced: stale, not a silent green");
    }

    // Two days ago, 09:00–09:45: Bob sits next to Alice (−80 dBm from her
    // −25 dBm: 55 dB); Carol is across the room (−103 dBm: 78 dB).
    // (Two days, so that the key's day is past its embargo at any hour.)
    let meeting = DayNumber(now().day().0 - 2).start().plus(9 * 3600);
    hears(&bob, &alice, meeting, 45, -80).await;
    hears(&carol, &alice, meeting, 45, -103).await;

    // Alice tests positive today; staff give her a code in the portal.
    let portal = staff_portal(&server.url).await;
    let today = now().day().iso_date().to_string();
    let code = portal.issue_code(CodeKind::Short, &today).await.expect("the portal shows the code").code;
    let wrong = run(&mut alice.command(&["report", "--code", "00000000", "--reveal", "none"]));
    assert!(!wrong.status.success(), "a made-up code is refused");
    let said = alice.ok(&["report", "--code", &code, "--reveal", "none"]);
    assert!(!said.is_empty());
    assert_eq!(alice.status()["color"], "red", "her own diagnosis");
    let again = run(&mut alice.command(&["report", "--code", &code, "--reveal", "none"]));
    assert!(!again.status.success(), "a code works once");

    // The server exports every second; Bob's phone finds Alice's key.
    let deadline = Instant::now() + Duration::from_secs(60);
    let bob_status = loop {
        bob.ok(&["sync"]);
        let status = bob.status();
        if status["color"] == "yellow" || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(bob_status["color"], "yellow", "{bob_status}");
    let why = bob_status["explanation"].as_str().expect("explanation");
    assert!(why.contains("Bluetooth"), "the explanation names the kind of exposure: {why}");

    carol.ok(&["sync"]);
    let carol_status = carol.status();
    assert_eq!(carol_status["color"], "green", "78 dB counts a tenth: 4.5 weighted minutes: {carol_status}");
}
