//! The venue story with the real binaries as separate processes on
//! loopback: `greenlight-server` (key server, health authority, portal; as
//! one process, and again as two with two databases); a
//! venue owner's `greenlight` creating the venue, printing the day's poster
//! sheet, running the door screen (`venue screen`) and answering the
//! authority's release request; four residents' `greenlight` clients,
//! each with its own data directory.
//!
//! The case and Erin came in half an hour ago and scanned the printed
//! sheet (the day's epoch); Frank checks in at the same venue's door
//! screen, whose epoch (the hour) is another one. The case, still checked
//! in, is diagnosed: staff issue a code in the portal, she reports and
//! reveals the visit, which ends at her report, not at her automatic
//! check-out. Dana comes in after the report. The tracer opens a case, the
//! owner releases exactly that epoch, the tracer publishes the alert. Erin
//! turns yellow with the authority's message; Frank (another epoch) and
//! Dana (after the case had left) stay green with no alert, and the case
//! is not alerted about her own visit. Before that, nothing of the
//! check-ins reached the server, and the published files name neither the
//! venue nor the message.
//!
//! Clock and radio: the `greenlight` CLI checks in at the time it runs,
//! so the two check-ins of half an hour ago are recorded in those phones'
//! stores through the client library, as the CLI recorded them then (as
//! `story.rs` writes sightings). The case's phone has no Bluetooth here
//! and no daily key: she reports her revealed visit alone. Everything else
//! is the real processes.

mod common;

use common::{
    Deployment, Dir, Process, Resident, Server, between, bin, free_port, now, run_ok, staff_portal, wait_for,
};
use greenlight_api::screen::Schedule;
use greenlight_client::checkin::{read_poster_text, verify_poster};
use greenlight_client::settings::parse_key;
use greenlight_protocol::index::{FileKind, Index};
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::UnixTime;
use greenlight_testkit::CodeKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NAME: &str = "Café Aurora";
const MESSAGE: &str =
    "Someone who was infectious visited this place while you were there: get tested if you feel unwell.";
const HOUR: u64 = 3600;

/// The venue owner's `greenlight` with its own data directory.
struct Owner {
    dir: Dir,
}

impl Owner {
    /// `greenlight venue create` with the authority's public keys as the
    /// `.pub` files `authority init` wrote.
    fn create(server: &Server, name: &str, kind: &str) -> Self {
        let owner = Owner { dir: Dir::new("owner") };
        let keys = server.dir.join("authority");
        let created = owner.ok(&[
            "venue",
            "create",
            "--name",
            name,
            "--type",
            kind,
            "--authority-key",
            keys.join("signing-key.pub").to_str().expect("UTF-8 path"),
            "--trace-key",
            keys.join("trace-key.pub").to_str().expect("UTF-8 path"),
        ]);
        assert!(created.contains(&format!("Created {name} ({kind})")), "{created}");
        owner
    }

    fn ok(&self, args: &[&str]) -> String {
        run_ok(
            Command::new(bin("greenlight"))
                .arg("--data-dir")
                .arg(&self.dir.0)
                .args(args)
                .env_remove("GREENLIGHT_AUTHORITY_KEY")
                .env_remove("GREENLIGHT_TRACE_KEY"),
        )
    }

    /// The venue key as `venue show` prints it (hex).
    fn venue_key(&self) -> String {
        let shown = self.ok(&["venue", "show"]);
        between(&shown, "venue key:      ", "\n").expect("the venue key is shown").to_owned()
    }
}

/// The door screen: `greenlight venue screen` as a process.
struct Screen {
    _process: Process,
    url: String,
}

impl Screen {
    fn start(owner: &Owner) -> Self {
        let port = free_port();
        let process = Process(
            Command::new(bin("greenlight"))
                .arg("--data-dir")
                .arg(&owner.dir.0)
                .args(["venue", "screen", "--listen", &format!("127.0.0.1:{port}"), "--rotate-minutes", "5"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the screen starts"),
        );
        let url = format!("http://127.0.0.1:{port}");
        Screen { _process: process, url }
    }

    /// The code the screen shows now, from the page's JSON endpoint.
    async fn current_code(&self) -> String {
        wait_for(&format!("{}/health", self.url)).await;
        let schedule: Schedule = reqwest::get(format!("{}/codes", self.url))
            .await
            .expect("the screen answers")
            .json()
            .await
            .expect("the screen's schedule");
        assert_eq!(schedule.venue.name, NAME, "{schedule:?}");
        let current = schedule.codes.first().expect("a code");
        assert!(current.from <= now().0, "the first code is the current one: {current:?}");
        current.text.clone()
    }
}

/// Every file the server keeps (its database, exports, keys).
fn server_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("the server's data directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files.push((path, bytes));
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file the key server publishes once its index lists a trace
/// batch: the verified index's files, downloaded as a phone does.
async fn published_files(server: &Server) -> Vec<(FileKind, Vec<u8>)> {
    let trusted = TrustedKeys::from_keys([parse_key(&server.export_key).expect("export key")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let index = loop {
        let bytes = reqwest::get(format!("{}/v1/index", server.url)).await.expect("index").bytes().await.expect("body");
        let index = Index::verify(&bytes, &trusted).expect("a signed index");
        if index.entries().iter().any(|e| e.kind == FileKind::TraceBatch) {
            break index;
        }
        assert!(Instant::now() < deadline, "no trace batch listed within a minute");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut files = Vec::new();
    for entry in index.entries() {
        let url = format!("{}/v1/files/{}", server.url, entry.file_name());
        let bytes = reqwest::get(url).await.expect("file").bytes().await.expect("body").to_vec();
        entry.check(&bytes).expect("the file the index lists");
        files.push((entry.kind, bytes));
    }
    files
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revealed_visit_is_released_by_the_owner_and_alerts_only_that_epochs_visitors() {
    venue_story(Deployment::Combined).await;
}

/// The same story with the key server and the health authority as two
/// processes with two databases: the phones know both URLs, the revealed
/// visit reaches the tracer through the key server's feed, the trace batch
/// the key server's index through `/v1/authority/files`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_venue_story_holds_with_the_authority_in_its_own_process_and_database() {
    venue_story(Deployment::Split).await;
}

async fn venue_story(deployment: Deployment) {
    let server = Server::deploy(deployment).await;
    let owner = Owner::create(&server, NAME, "restaurant");
    let venue_key = owner.venue_key();
    let (case, erin, frank, dana) = (
        Resident::new("case", &server),
        Resident::new("erin", &server),
        Resident::new("frank", &server),
        Resident::new("dana", &server),
    );

    // The owner prints the sheet of the day the case and Erin came in
    // (half an hour ago) and today's, and switches the door screen on.
    let arrival = UnixTime((now().0 - HOUR / 2) / 60 * 60);
    let then = owner.dir.join("then.png");
    let day = arrival.day().iso_date().to_string();
    let printed =
        owner.ok(&["venue", "posters", "--from", &day, "--days", "1", "--out", then.to_str().expect("UTF-8 path")]);
    assert!(printed.contains("1 poster(s)"), "{printed}");
    let sheet = owner.dir.join("today.png");
    owner.ok(&["venue", "posters", "--days", "1", "--out", sheet.to_str().expect("UTF-8 path")]);
    let screen = Screen::start(&owner);
    let code = screen.current_code().await;

    // The case and Erin at the sheet, half an hour ago (see the module
    // comment); Frank now at the screen (an hourly epoch).
    let text = read_poster_text(then.to_str().expect("UTF-8 path")).expect("the printed sheet decodes");
    for resident in [&case, &erin] {
        let mut phone = greenlight_client::open(&resident.dir.0).expect("the resident's store");
        let poster = verify_poster(&text, arrival).expect("the sheet is live then");
        phone.check_in(&poster, arrival, &mut greenlight_client::os_rng()).expect("checked in");
    }
    let out = frank.ok(&["checkin", &code]);
    assert!(out.contains(&format!("Checked in at {NAME}")) && out.contains("automatic check-out"), "{out}");
    let visits = erin.ok(&["visits"]);
    assert!(visits.contains(NAME) && visits.contains("checked in, automatic check-out at"), "Erin's diary: {visits}");

    // Check-ins stay on the phones: the server holds nothing of them.
    let venue_bytes = hex_bytes(&venue_key);
    for (path, bytes) in server.dirs().into_iter().flat_map(server_files) {
        for (what, needle) in [
            ("the venue's name", NAME.as_bytes()),
            ("the venue key", &venue_bytes),
            ("the venue key", venue_key.as_bytes()),
        ] {
            assert!(!contains(&bytes, needle), "{} holds {what} before anyone reported", path.display());
        }
    }

    // The case tests positive: staff issue a code in the portal; still
    // checked in, she reports and reveals her visit, with no keys.
    let portal = staff_portal(&server.authority_url).await;
    let code =
        portal.issue_code(CodeKind::Short, &now().day().iso_date().to_string()).await.expect("the code is shown").code;
    let reported = case.ok(&["report", "--code", &code, "--reveal", "all"]);
    assert!(reported.contains("no Bluetooth keys") && reported.contains("1 visits revealed"), "{reported}");
    assert_eq!(case.status()["color"], "red", "her own diagnosis");

    // Dana comes in after the report, at today's sheet.
    let out = dana.ok(&["checkin", sheet.to_str().expect("UTF-8 path")]);
    assert!(out.contains(&format!("Checked in at {NAME}")), "{out}");

    // A report alone alerts no visitor: the venue's epoch is still sealed.
    erin.ok(&["sync"]);
    let status = erin.status();
    assert_eq!(status["color"], "green", "nothing traced yet: {status}");

    // The tracer (the first admin holds the role) finds the revealed visit,
    // opens a case and signs the release request.
    let queue = portal.get("/portal/venues").await.expect("the portal answers").body;
    assert!(queue.contains(NAME) && queue.contains(&venue_key), "the revealed visit waits for review: {queue}");
    // Opening the case answers 303 to its page, signing the request 303
    // (the kit checks both); the request downloads.
    let case_path = portal.open_venue_case(&venue_key).await.expect("the case page");
    let request = portal.sign_release_request(&case_path).await.expect("the signed request");
    let request_file = owner.dir.join("request.bin");
    std::fs::write(&request_file, &request).expect("the owner saves the request");
    let key_set_file = owner.dir.join("key-set.bin");
    std::fs::write(&key_set_file, portal.key_set().await.expect("the key set")).expect("the owner saves the key set");

    // The owner answers with exactly the epoch the case was in.
    let bundle_file = owner.dir.join("bundle.bin");
    let released = owner.ok(&[
        "venue",
        "release",
        "--request",
        request_file.to_str().expect("UTF-8 path"),
        "--key-set",
        key_set_file.to_str().expect("UTF-8 path"),
        "--yes",
        "--out",
        bundle_file.to_str().expect("UTF-8 path"),
    ]);
    assert!(released.contains(&format!("secrets of 1 epoch(s) of {NAME}")), "{released}");
    let span = arrival.day().start().span_to(arrival.day().end());
    assert!(released.contains(&span), "the sheet's epoch {span}, not Frank's: {released}");
    let bundle = released.lines().last().expect("the bundle as text").trim().to_owned();
    assert!(bundle_file.exists(), "the bundle is written too");

    // The tracer publishes the alert with a message.
    // The kit reads "Published: trace batch N" off the page.
    portal.publish_case(&case_path, &bundle, MESSAGE).await.expect("the case is published");

    // What the key server publishes names neither the venue nor the
    // message: only visitors' phones can open the entry.
    let files = published_files(&server).await;
    assert!(files.iter().any(|(kind, _)| *kind == FileKind::TraceBatch));
    for (kind, bytes) in &files {
        for (what, needle) in [
            ("the venue's name", NAME.as_bytes()),
            ("the message", MESSAGE.as_bytes()),
            ("the venue key", venue_bytes.as_slice()),
        ] {
            assert!(!contains(bytes, needle), "a published {kind:?} file holds {what}");
        }
    }

    // Erin, who was there in the traced epoch, turns yellow with the
    // authority's message.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        erin.ok(&["sync"]);
        let status = erin.status();
        if status["color"] == "yellow" || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(status["color"], "yellow", "{status}");
    let why = status["explanation"].as_str().expect("explanation");
    assert!(why.contains("venue visit") && why.contains("qualifies"), "the explanation names the visit: {why}");
    let alerts = status["venue_alerts"].as_array().expect("venue alerts");
    assert_eq!(alerts.len(), 1, "{status}");
    assert_eq!(alerts[0]["venue"], NAME, "{status}");
    assert_eq!(alerts[0]["message"], MESSAGE, "the authority's message reaches the visitor: {status}");

    // Frank, at the same venue but in another epoch, stays green; so does
    // Dana, who came in after the case had reported: the revealed visit
    // ended at the report, not at the case's automatic check-out.
    for (resident, why) in [(&frank, "another epoch is not traced"), (&dana, "she came after the case had left")] {
        resident.ok(&["sync"]);
        let status = resident.status();
        assert_eq!(status["color"], "green", "{why}: {status}");
        assert_eq!(status["venue_alerts"].as_array().map(Vec::len), Some(0), "{why}: {status}");
    }
    // The case is not alerted about her own visit.
    case.ok(&["sync"]);
    let status = case.status();
    assert_eq!(status["color"], "red", "{status}");
    assert_eq!(status["venue_alerts"].as_array().map(Vec::len), Some(0), "her own visit: {status}");
    let why = status["explanation"].as_str().expect("explanation");
    assert!(!why.contains("venue visit"), "her own visit is not evidence: {why}");
    drop(screen);
}
