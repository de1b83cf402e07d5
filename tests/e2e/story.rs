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

use common::{Dir, Process, between, bin, free_port, run, run_ok, wait_for};
use greenlight_client::store::Store;
use greenlight_protocol::daily_key::Metadata;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "end to end staff password";

/// The server: `authority init`, then `greenlight-server` serving with
/// exports every second and no padding minimum worth waiting for.
struct Server {
    _process: Process,
    url: String,
    export_key: String,
    authority_key: String,
    _dir: Dir,
}

impl Server {
    async fn start() -> Self {
        let dir = Dir::new("server");
        let data = dir.0.to_str().expect("UTF-8 path").to_owned();
        let mut init = Command::new(bin("greenlight-server"))
            .args(["authority", "init", "--data-dir", &data, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("authority init starts");
        writeln!(init.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
        let output = init.wait_with_output().expect("authority init ends");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
        let authority_key = between(&text, "--authority-key): ", "\n").expect("the signing key is printed").to_owned();

        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let process = Process(
            Command::new(bin("greenlight-server"))
                .args(["--data-dir", &data, "--listen", &format!("127.0.0.1:{port}")])
                .args(["--export-interval", "1", "--min-batch-keys", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the server starts"),
        );
        wait_for(&format!("{url}/health")).await;
        let export_key = std::fs::read_to_string(dir.join("export-key.pub")).expect("export key").trim().to_owned();
        Server { _process: process, url, export_key, authority_key, _dir: dir }
    }
}

/// A resident's `greenlight` with its own data directory.
struct Resident {
    dir: Dir,
}

impl Resident {
    fn new(name: &str, server: &Server) -> Self {
        let resident = Resident { dir: Dir::new(name) };
        resident.ok(&[
            "init",
            "--server",
            &server.url,
            "--server-key",
            &server.export_key,
            "--authority-key",
            &server.authority_key,
        ]);
        resident
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bin("greenlight"));
        command.arg("--data-dir").arg(&self.dir.0).args(args);
        command
    }

    fn ok(&self, args: &[&str]) -> String {
        run_ok(&mut self.command(args))
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("status --json prints JSON")
    }
}

/// What the radio would have delivered: `listener` hears `speaker`'s
/// advertisements every 5 minutes for `minutes` from `from`, at `rssi`.
async fn hears(listener: &Resident, speaker: &Resident, from: UnixTime, minutes: u64, rssi: i8) {
    let speaker_store = Store::open(&speaker.dir.0).await.expect("speaker's store");
    let day = from.day();
    let schedule = speaker_store.daily_key(day).await.expect("daily key").schedule(day);
    speaker_store.close().await;
    let sightings: Vec<Sighting> = (0..minutes / 5)
        .map(|k| {
            let seen_at = from.plus(k * 300);
            let id = schedule.id(seen_at.interval().slot());
            let metadata = schedule.seal_metadata(&id, Metadata::v1(-25));
            Sighting { id, metadata, rssi, seen_at }
        })
        .collect();
    let store = Store::open(&listener.dir.0).await.expect("listener's store");
    store.add_sightings(&sightings).await.expect("sightings stored");
    store.close().await;
}

/// A staff member's browser session in the portal.
struct Portal {
    url: String,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    csrf: String,
}

impl Portal {
    async fn login(url: &str) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let mut portal = Portal { url: url.to_owned(), http, cookies: BTreeMap::new(), csrf: String::new() };
        portal.get("/portal/login").await;
        let answer = portal.post("/portal/login", &[("username", "admin"), ("password", PASSWORD)]).await;
        assert!(portal.cookies.contains_key("gl_session"), "staff login refused: {answer}");
        portal.get("/portal/codes").await;
        portal
    }

    async fn finish(&mut self, response: reqwest::Response) -> String {
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().expect("cookie").split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        let body = response.text().await.expect("body");
        if let Some(csrf) = between(&body, "name=\"csrf\" value=\"", "\"") {
            self.csrf = csrf.to_owned();
        }
        body
    }

    fn cookie(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn get(&mut self, path: &str) -> String {
        let request = self.http.get(format!("{}{path}", self.url)).header("cookie", self.cookie());
        let response = request.send().await.expect("portal answers");
        self.finish(response).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> String {
        let mut form = vec![("csrf".to_owned(), self.csrf.clone())];
        form.extend(fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{k}={}", v.bytes().map(|b| format!("%{b:02X}")).collect::<String>()))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", self.cookie())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let response = request.send().await.expect("portal answers");
        self.finish(response).await
    }

    /// Issues a short code for a test taken on `date`; returns it as shown.
    async fn issue_code(&mut self, date: &str) -> String {
        let page = self
            .post("/portal/codes", &[("kind", "short"), ("report_type", "1"), ("day_kind", "2"), ("date", date)])
            .await;
        between(&page, "id=\"issued-code\">", "<").expect("the portal shows the code").to_owned()
    }
}

fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs())
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
    let mut portal = Portal::login(&server.url).await;
    let today = now().day().iso_date().to_string();
    let code = portal.issue_code(&today).await;
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
