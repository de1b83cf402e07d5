//! The venue story with the real binaries as separate processes on
//! loopback: `greenlight-server` (key server, health authority, portal; as
//! one process, and again as two with two databases); a
//! venue owner's `greenlight` creating the venue, printing today's poster
//! sheet, running the door screen (`venue screen`) and answering the
//! authority's release request; three residents' `greenlight` clients,
//! each with its own data directory.
//!
//! The case and Erin check in at the door screen's current code; Frank
//! checks in at the same venue's printed sheet, whose epoch (the day) is
//! another one than the screen's (the hour). The case is diagnosed, staff
//! issue a code in the portal, the case reports and reveals the visit; the
//! tracer opens a case, the owner releases exactly that epoch, the tracer
//! publishes the alert. Erin turns yellow with the authority's message;
//! Frank stays green. Before that, nothing of the check-ins reached the
//! server, and the published files name neither the venue nor the message.
//!
//! A traced window runs past its epoch's end (`spec/authority.md` §5), so
//! the test passes at any minute of the hour: a case and a visitor who
//! check in at the screen just before the hour still share the stay.
//!
//! Radio: the case's phone must have a daily key to report, which
//! `greenlight run` creates on a real Bluetooth radio; there is none here,
//! so the test creates today's key in her store through the client library
//! (as `story.rs` writes sightings). Everything else is the real processes.

mod common;

use common::{
    Deployment, Dir, Process, Resident, Server, between, bin, free_port, now, run_ok, staff_portal, wait_for,
};
use greenlight_api::screen::Schedule;
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
    let (case, erin, frank) =
        (Resident::new("case", &server), Resident::new("erin", &server), Resident::new("frank", &server));

    // The owner prints today's sheet and switches the door screen on.
    let sheet = owner.dir.join("today.png");
    let printed = owner.ok(&["venue", "posters", "--days", "1", "--out", sheet.to_str().expect("UTF-8 path")]);
    assert!(printed.contains("1 poster(s)"), "{printed}");
    let screen = Screen::start(&owner);
    let code = screen.current_code().await;

    // The case and Erin check in together at the screen (an hourly epoch);
    // Frank at the printed sheet (the day's epoch).
    let t = now();
    let (shared, apart, epoch_len) = (code.as_str(), sheet.to_str().expect("UTF-8 path"), HOUR);
    let epoch_start = UnixTime(t.0 - t.0 % epoch_len);
    for resident in [&case, &erin] {
        let out = resident.ok(&["checkin", shared]);
        assert!(out.contains(&format!("Checked in at {NAME}")) && out.contains("automatic check-out"), "{out}");
    }
    let out = frank.ok(&["checkin", apart]);
    assert!(out.contains(&format!("Checked in at {NAME}")), "{out}");
    let visits = erin.ok(&["visits"]);
    assert!(visits.contains(NAME), "the visit diary on Erin's device: {visits}");

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

    // The case's phone broadcast today (see the module comment).
    let mut phone = greenlight_client::open(&case.dir.0).expect("the case's store");
    phone.daily_key(now().day(), &mut greenlight_client::os_rng()).expect("today's key");
    drop(phone);

    // The case tests positive: staff issue a code in the portal; she
    // reports and reveals her visit.
    let portal = staff_portal(&server.authority_url).await;
    let code =
        portal.issue_code(CodeKind::Short, &now().day().iso_date().to_string()).await.expect("the code is shown").code;
    let reported = case.ok(&["report", "--code", &code, "--reveal", "all"]);
    assert!(reported.contains("1 visits revealed"), "{reported}");
    assert_eq!(case.status()["color"], "red", "her own diagnosis");

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

    // The owner answers with exactly the epoch the case was in.
    let bundle_file = owner.dir.join("bundle.bin");
    let released = owner.ok(&[
        "venue",
        "release",
        "--request",
        request_file.to_str().expect("UTF-8 path"),
        "--yes",
        "--out",
        bundle_file.to_str().expect("UTF-8 path"),
    ]);
    assert!(released.contains(&format!("secrets of 1 epoch(s) of {NAME}")), "{released}");
    let span = epoch_start.span_to(epoch_start.plus(epoch_len));
    assert!(released.contains(&span), "the shared epoch {span}, not Frank's: {released}");
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

    // Frank, at the same venue but in another epoch, stays green.
    frank.ok(&["sync"]);
    let status = frank.status();
    assert_eq!(status["color"], "green", "another epoch is not traced: {status}");
    assert_eq!(status["venue_alerts"].as_array().map(Vec::len), Some(0), "{status}");
    assert_eq!(case.status()["color"], "red");
    drop(screen);
}
