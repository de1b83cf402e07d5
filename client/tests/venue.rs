//! The venue owner's tools as owners and visitors meet them: the real
//! `greenlight` binary creates a venue, prints posters and answers the
//! authority's release; phones scan the posters (decoded from the printed
//! images) and the door screen; the key server with its health authority
//! runs in-process on loopback and the tracer works through its portal.

mod common;

use common::Dir;

use greenlight_client::checkin::{self, CheckInError};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::export::Region;
use greenlight_protocol::signing::SigningKey;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::{ReleaseBundle, ReleaseRequest, TraceSecret};
use greenlight_protocol::trust::{KeyEntry, KeySet, Purpose};
use greenlight_protocol::venue::{AuthorityShareKey, Epoch, VenueInfo, VenueKind};
use greenlight_testkit::{CodeKind, LoopbackConfig, Portal, TestClock, TestServer, between};
use greenlight_venue::{AuthorityKeys, EpochUse, Venue};
use rand_core::SeedableRng;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const ADMIN_PASSWORD: &str = "correct horse battery staple";

fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
}

/// Runs `greenlight --data-dir DIR ARGS…`.
fn greenlight(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("GREENLIGHT_AUTHORITY_KEY")
        .env_remove("GREENLIGHT_TRACE_KEY")
        .output()
        .expect("greenlight runs")
}

fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "greenlight failed: {}{stdout}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn refused(output: Output) -> String {
    assert!(!output.status.success(), "greenlight should have refused: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A health authority's two public keys, as `authority init` prints them.
/// The release request a case page shows as text.
fn request_text(body: &str) -> String {
    between(body, "id=\"request-text\"", "</")
        .and_then(|t| t.rsplit('>').next())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .expect("the case page shows the request as text")
}

fn authority(seed: u8) -> (SigningKey, AuthorityShareKey) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(seed));
    (SigningKey::from_bytes(&[seed; 32]), AuthorityShareKey::generate(&mut rng))
}

/// `greenlight venue create` with the authority's keys as hex.
fn create_venue(dir: &Path, name: &str, kind: &str, authority_key: &str, trace_key: &str) -> Output {
    greenlight(
        dir,
        &[
            "venue",
            "create",
            "--name",
            name,
            "--type",
            kind,
            "--authority-key",
            authority_key,
            "--trace-key",
            trace_key,
        ],
    )
}

fn create(dir: &Path, signing: &SigningKey, trace: &AuthorityShareKey) -> Output {
    let (authority_key, trace_key) =
        (hex::encode(signing.verifying_key().as_bytes()), hex::encode(trace.public_key().0));
    create_venue(dir, "Café Aurora", "restaurant", &authority_key, &trace_key)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn a_venue_keeps_its_secret_private_refuses_to_be_replaced_and_restores_from_its_backup() {
    let (signing, trace) = authority(3);
    let dir = Dir::new("create");
    let created = ok(create(&dir.0, &signing, &trace));
    assert!(created.contains("Created Café Aurora (restaurant), venue key"), "{created}");
    let key_file = dir.0.join("venue.key");
    #[cfg(unix)]
    {
        assert_eq!(mode(&key_file), 0o600, "only the owner reads the secret");
        assert_eq!(mode(&dir.0.join("venue-backup.txt")), 0o600, "nor the backup");
    }
    let secret = std::fs::read(&key_file).expect("secret");
    let shown = ok(greenlight(&dir.0, &["venue", "show"]));
    let venue_key = between(&shown, "venue key:      ", "\n").expect("the venue key is shown").to_owned();
    assert!(!shown.contains(std::str::from_utf8(&secret).expect("hex").trim()), "show never prints the secret");
    let record = std::fs::read_to_string(dir.0.join("venue.json")).expect("record");
    assert!(!record.contains(std::str::from_utf8(&secret).expect("hex").trim()), "the public record holds no secret");

    // A second create would orphan every printed poster: refused, nothing changed.
    let again = refused(create(&dir.0, &signing, &trace));
    assert!(again.contains("a venue already exists"), "{again}");
    assert_eq!(std::fs::read(&key_file).expect("secret"), secret);

    // Bad input is explained and creates nothing.
    let elsewhere = Dir::new("bad");
    let bad_type = refused(create_venue(&elsewhere.0, "X", "pub", &"ab".repeat(32), &"cd".repeat(32)));
    assert!(bad_type.contains("unknown venue type \"pub\"") && bad_type.contains("restaurant"), "{bad_type}");
    let bad_key = refused(create_venue(&elsewhere.0, "X", "shop", "1234", &"cd".repeat(32)));
    assert!(bad_key.contains("64 hex digits"), "{bad_key}");
    // A key file that is not there is said to be missing.
    let missing = refused(create_venue(&elsewhere.0, "X", "shop", &"ab".repeat(32), "nope.pub"));
    assert!(missing.contains("nope.pub: no such file"), "{missing}");
    assert!(!elsewhere.0.join("venue.key").exists());

    // The printed backup restores the same venue on another computer.
    let backup = std::fs::read_to_string(dir.0.join("venue-backup.txt")).expect("backup");
    let restored = Dir::new("restored");
    let backup_file = restored.0.join("typed-in.txt");
    std::fs::write(&backup_file, &backup).expect("write");
    let out = ok(greenlight(
        &restored.0.join("venue"),
        &["venue", "restore", "--backup", backup_file.to_str().expect("path")],
    ));
    assert!(out.contains("Restored Café Aurora"), "{out}");
    let shown = ok(greenlight(&restored.0.join("venue"), &["venue", "show"]));
    assert!(shown.contains(&venue_key), "the same venue key: {shown}");

    // One mistyped digit is caught by the checksum.
    let line = backup.lines().find(|l| l.trim_start().starts_with("secret:")).expect("secret line");
    let digit = line.trim_end().chars().last().expect("a digit");
    let typo = if digit == '0' { '1' } else { '0' };
    let mistyped = backup.replacen(line, &format!("{}{typo}", &line[..line.len() - 1]), 1);
    std::fs::write(&backup_file, mistyped).expect("write");
    let error = refused(greenlight(
        &restored.0.join("other"),
        &["venue", "restore", "--backup", backup_file.to_str().expect("path")],
    ));
    assert!(error.contains("checksum"), "{error}");
}

#[test]
fn printed_posters_check_in_on_their_own_day_only_and_reprinting_keeps_the_epoch() {
    let (signing, trace) = authority(4);
    let dir = Dir::new("posters");
    ok(create(&dir.0, &signing, &trace));
    let today = now().day();
    let out = dir.0.join("door.png");
    let printed = ok(greenlight(&dir.0, &["venue", "posters", "--days", "3", "--out", out.to_str().expect("path")]));
    assert!(printed.contains("3 poster(s)"), "{printed}");
    let pdf = dir.0.join("door.pdf");
    ok(greenlight(&dir.0, &["venue", "posters", "--days", "3", "--out", pdf.to_str().expect("path")]));
    assert!(std::fs::read(&pdf).expect("pdf").starts_with(b"%PDF-"), "a PDF");

    let mut epochs = Vec::new();
    for i in 0..3 {
        let day = today.plus(i);
        let file = dir.0.join(format!("door-{}.png", day.iso_date()));
        // The phone reads the printed image, as from a photo of the sheet.
        let text = checkin::read_poster_text(file.to_str().expect("path")).expect("the QR code decodes");
        let noon = day.start().plus(12 * 3600);
        let poster = checkin::verify_poster(&text, noon).expect("valid on its own day");
        assert_eq!(poster.info().name, "Café Aurora");
        assert_eq!(poster.epoch().day(), day);
        for other in [day.minus(1).start().plus(12 * 3600), day.plus(1).start().plus(12 * 3600)] {
            let refused = checkin::verify_poster(&text, other).expect_err("not on another day");
            assert!(matches!(refused, CheckInError::Stale(_)), "{refused}");
        }
        epochs.push(*poster.poster_epoch());
    }
    // The PDF printed the same epochs (same trace keys): one epoch per day,
    // however often it is printed.
    let venue = Venue::open(&dir.0).expect("venue");
    assert_eq!(venue.epochs().len(), 3, "{:?}", venue.epochs());
    assert!(venue.epochs().iter().all(|e| e.purpose == EpochUse::Sheet && epochs.contains(&e.epoch)));

    // A sheet for a past day would be worthless: refused.
    let yesterday = today.minus(1).iso_date().to_string();
    let error =
        refused(greenlight(&dir.0, &["venue", "posters", "--from", &yesterday, "--out", out.to_str().expect("path")]));
    assert!(error.contains("in the past"), "{error}");
    let error =
        refused(greenlight(&dir.0, &["venue", "posters", "--out", dir.0.join("x.docx").to_str().expect("path")]));
    assert!(error.contains("pdf") && error.contains("png"), "{error}");
}

#[test]
fn a_release_covers_exactly_the_requested_epochs_and_nothing_else() {
    let (signing, trace) = authority(5);
    let dir = Dir::new("release");
    let info = VenueInfo { name: "Gym".into(), address: String::new(), kind: VenueKind::Leisure };
    let keys = AuthorityKeys::new(*signing.verifying_key().as_bytes(), trace.public_key().0).expect("keys");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let mut venue = Venue::create(&dir.0, info, keys, &mut rng).expect("create");
    let first = DayNumber(20_600);
    let posters = venue.day_posters(first, 4, first.start(), &mut rng).expect("posters");
    let wanted = vec![posters[1].epoch(), posters[3].epoch()];
    let request = ReleaseRequest::new(venue.public_key(), first.plus(5).start(), wanted.clone()).expect("request");

    // The authority signs requests with its tracing key, which its key set
    // (signed by the root key the venue was created with) names.
    let tracing = SigningKey::from_bytes(&[55; 32]);
    let now = first.plus(5).start();
    let region = Region::new("GL-TEST").expect("region");
    let set = |sequence, not_after: u64| {
        let entry = KeyEntry {
            purpose: Purpose::Tracing,
            key: tracing.verifying_key(),
            not_before: first.start(),
            not_after: UnixTime(not_after),
        };
        KeySet::new(region.clone(), sequence, first.start(), vec![entry]).expect("set")
    };
    let key_set = set(1, u64::MAX).sign(&signing);
    let signed = request.sign(&tracing);
    let (asked, bundle) = venue.release(&signed, Some(&key_set), now).expect("release");
    assert_eq!(asked.epochs, wanted);
    // Without the key set, the tool says what it needs.
    let error = venue.release(&signed, None, now).expect_err("no key set").to_string();
    assert!(error.contains("--key-set"), "{error}");
    // A key set no one the venue trusts signed, or whose tracing key has
    // been retired, verifies nothing.
    let stranger = set(1, u64::MAX).sign(&SigningKey::from_bytes(&[98; 32]));
    let error = venue.release(&signed, Some(&stranger), now).expect_err("stranger's set").to_string();
    assert!(error.contains("key set is not signed by your health authority"), "{error}");
    let retired = set(2, now.0).sign(&signing);
    let error = venue.release(&signed, Some(&retired), now).expect_err("retired key").to_string();
    assert!(error.contains("not signed by your health authority"), "{error}");
    // An authority from before key sets signs with its root key.
    venue.release(&request.sign(&signing), None, now).expect("root-signed request");
    let bundle_bytes = bundle.clone();
    let bundle = ReleaseBundle::verify(&bundle).expect("a bundle signed by the venue");
    let released: Vec<Epoch> = bundle.releases.iter().map(|r| r.epoch.epoch).collect();
    assert_eq!(released, wanted, "exactly the requested epochs");
    for release in &bundle.releases {
        // Each released share opens its epoch's trace key with the authority's share.
        let authority_share = trace.open_share(&bundle.venue, &release.epoch).expect("share");
        TraceSecret::combine(&release.owner_share, &authority_share, &release.epoch).expect("the true owner share");
    }
    // The other epochs' shares do not open them: nothing else leaked.
    let secret = std::fs::read_to_string(dir.0.join("venue.key")).expect("secret");
    let secret = hex::decode(secret.trim()).expect("hex");
    assert!(!bundle_bytes.windows(32).any(|w| w == secret.as_slice()), "the master secret is never released");
    for skipped in [&posters[0], &posters[2]] {
        let authority_share = trace.open_share(&bundle.venue, skipped.poster_epoch()).expect("share");
        for release in &bundle.releases {
            assert!(TraceSecret::combine(&release.owner_share, &authority_share, skipped.poster_epoch()).is_err());
        }
    }

    // Requests the owner must refuse: forged, for another venue, for an
    // epoch never opened here.
    let forged = request.sign(&SigningKey::from_bytes(&[99; 32]));
    assert!(
        venue
            .release(&forged, Some(&key_set), now)
            .expect_err("forged")
            .to_string()
            .contains("not signed by your health authority")
    );
    let other = greenlight_protocol::venue::VenueMasterSecret::generate(&mut rng).public_key();
    let foreign = ReleaseRequest::new(other, first.start(), wanted.clone()).expect("request").sign(&tracing);
    assert!(venue.release(&foreign, Some(&key_set), now).expect_err("foreign").to_string().contains("another venue"));
    let never = Epoch::new(first.plus(10).start(), 1440).expect("epoch");
    let unknown = ReleaseRequest::new(venue.public_key(), first.start(), vec![never]).expect("request").sign(&tracing);
    assert!(venue.release(&unknown, Some(&key_set), now).expect_err("unknown").to_string().contains("never opened"));

    // The owner's tool says when the request file is not there.
    let missing = refused(greenlight(&dir.0, &["venue", "release", "--request", "nope.bin", "--yes"]));
    assert!(missing.contains("nope.bin: no such file"), "{missing}");
}

/// The key server with its health authority, in-process on loopback, on
/// the real clock (the `greenlight` processes read it too).
struct Authority {
    server: TestServer,
    signing: String,
    trace: String,
    export: String,
}

impl Authority {
    async fn start() -> Self {
        let server = TestServer::builder()
            .clock(TestClock::wall())
            .authority("admin", ADMIN_PASSWORD)
            .loopback(LoopbackConfig::default().min_batch_keys(20))
            .start()
            .await
            .expect("server");
        let keys = server.authority_keys().expect("authority init");
        let export = hex::encode(server.export_key().expect("export key").as_bytes());
        Authority { signing: hex::encode(keys.signing.as_bytes()), trace: hex::encode(keys.trace), export, server }
    }

    fn base(&self) -> String {
        self.server.base.clone()
    }

    /// A resident's phone: `greenlight init` against this deployment.
    fn phone(&self, label: &str) -> Dir {
        let dir = Dir::new(label);
        ok(greenlight(
            &dir.0,
            &["init", "--server", &self.base(), "--server-key", &self.export, "--authority-key", &self.signing],
        ));
        dir
    }

    async fn tracer(&self) -> Portal {
        let portal = Portal::new(&self.base()).expect("portal client");
        assert_eq!(portal.login("admin", ADMIN_PASSWORD).await.expect("the portal answers").status, 303);
        portal
    }
}

fn color(phone: &Dir) -> (String, String) {
    let status: Value = serde_json::from_str(&ok(greenlight(&phone.0, &["status", "--json"]))).expect("JSON status");
    (status["color"].as_str().unwrap_or("").to_owned(), status.to_string())
}

/// The door screen as a process: `greenlight venue screen`.
struct ScreenProcess {
    child: std::process::Child,
    base: String,
}

impl ScreenProcess {
    fn start(dir: &Path, rotate: &str) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
            .arg("--data-dir")
            .arg(dir)
            // A host name, as owners write it.
            .args(["venue", "screen", "--listen", "localhost:0", "--rotate-minutes", rotate])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("screen starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
        let base = between(&line, "at ", "/ (").unwrap_or_else(|| panic!("the screen says where it is: {line}"));
        ScreenProcess { base: base.to_owned(), child }
    }

    async fn codes(&self) -> Value {
        reqwest::get(format!("{}/codes", self.base)).await.expect("codes").json().await.expect("JSON")
    }
}

impl Drop for ScreenProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diagnosed_visitor_reveals_the_owner_releases_and_only_that_epochs_visitors_are_alerted() {
    let authority = Authority::start().await;
    let owner = Dir::new("owner");
    ok(create_venue(&owner.0, "Café Aurora", "restaurant", &authority.signing, &authority.trace));
    let sheet = owner.0.join("today.png");
    ok(greenlight(&owner.0, &["venue", "posters", "--days", "1", "--out", sheet.to_str().expect("path")]));
    let (case, erin, frank, dana) =
        (authority.phone("case"), authority.phone("erin"), authority.phone("frank"), authority.phone("dana"));

    // The case and Erin came in half an hour ago and are still there:
    // they scanned the printed sheet of that day. The CLI only knows now,
    // so their phones record the scan as the CLI did then.
    let arrival = UnixTime((now().0 - 1800) / 60 * 60);
    let then = owner.0.join("then.png");
    let day = arrival.day().iso_date().to_string();
    ok(greenlight(
        &owner.0,
        &["venue", "posters", "--from", &day, "--days", "1", "--out", then.to_str().expect("path")],
    ));
    let text = checkin::read_poster_text(then.to_str().expect("path")).expect("the sheet decodes");
    for phone in [&case, &erin] {
        let mut store = greenlight_client::open(&phone.0).expect("store");
        let poster = checkin::verify_poster(&text, arrival).expect("live then");
        store.check_in(&poster, arrival, &mut greenlight_client::os_rng()).expect("checked in");
    }
    // Frank scans the door screen, whose hourly epoch is another one.
    // The screen's default port is not the key server's 8080.
    let help = ok(greenlight(&owner.0, &["venue", "screen", "--help"]));
    assert!(help.contains("[default: 127.0.0.1:8090]"), "{help}");
    let screen = ScreenProcess::start(&owner.0, "5");
    assert!(screen.base.starts_with("http://127.0.0.1:"), "localhost is looked up: {}", screen.base);
    let codes = screen.codes().await;
    let text = codes["codes"][0]["text"].as_str().expect("a code").to_owned();
    ok(greenlight(&frank.0, &["checkin", &text]));
    drop(screen);

    // The case tests positive: staff issue a code in the portal; the case,
    // still checked in, reports and reveals the visit. Her phone only
    // checked in (no Bluetooth here): the visit alone is uploaded.
    let portal = authority.tracer().await;
    let date = now().day().iso_date().to_string();
    let code = portal.issue_code(CodeKind::Short, &date).await.expect("a code is issued").code;
    let reported = ok(greenlight(&case.0, &["report", "--code", &code, "--reveal", "all"]));
    assert!(reported.contains("no Bluetooth keys") && reported.contains("1 visits revealed"), "{reported}");
    // Her phone remembers: a second report says when the first was made.
    let again = refused(greenlight(&case.0, &["report", "--code", &code, "--reveal", "all"]));
    assert!(again.contains("already reported on ") && again.contains("The code was not used"), "{again}");

    // Dana comes in after the report.
    let out = ok(greenlight(&dana.0, &["checkin", sheet.to_str().expect("path")]));
    assert!(out.contains("Checked in at Café Aurora"), "{out}");

    // The tracer opens a case from the revealed visit and signs the request.
    let venue_hex =
        between(&ok(greenlight(&owner.0, &["venue", "show"])), "venue key:      ", "\n").expect("venue key").to_owned();
    let queue = portal.get("/portal/venues").await.expect("the portal answers");
    assert!(queue.body.contains(&venue_hex), "the revealed visit waits for review");
    let case_path = portal.open_venue_case(&venue_hex).await.expect("the case page");
    // Signed (the kit checks the 303) and downloaded for the owner.
    let request = portal.sign_release_request(&case_path).await.expect("the signed request");
    let page = portal.get(&case_path).await.expect("the portal answers");
    let request_text =
        between(&page.body, "id=\"request-text\"", "</").map(|t| t.rsplit('>').next().unwrap_or("").trim().to_owned());
    let request_file = owner.0.join("request.bin");
    std::fs::write(&request_file, &request).expect("write");
    let key_set_file = owner.0.join("key-set.bin");
    std::fs::write(&key_set_file, portal.key_set().await.expect("the key set")).expect("write");
    if let Some(text) = request_text.filter(|t| !t.is_empty()) {
        assert_eq!(text, to_base64url(&request), "the portal shows the same request as text");
    }

    // The owner answers: exactly the requested epoch (the sheet's day).
    let bundle_file = owner.0.join("bundle.bin");
    let released = ok(greenlight(
        &owner.0,
        &[
            "venue",
            "release",
            "--request",
            request_file.to_str().expect("path"),
            "--key-set",
            key_set_file.to_str().expect("path"),
            "--yes",
            "--out",
            bundle_file.to_str().expect("path"),
        ],
    ));
    assert!(released.contains("secrets of 1 epoch(s)"), "{released}");
    let bundle = released.lines().last().expect("the bundle as text").trim().to_owned();
    assert_eq!(bundle, to_base64url(&std::fs::read(&bundle_file).expect("bundle")));
    // The kit reads "Published: trace batch N" off the page.
    portal.publish_case(&case_path, &bundle, "Get tested if you feel unwell.").await.expect("published");

    // Erin, there with the case, turns yellow; Frank, whose check-in was
    // in the screen's epoch, and Dana, who came after the case reported
    // (the revealed visit ends at the report, not at the case's automatic
    // check-out), stay green and get no alert.
    for phone in [&erin, &frank, &dana, &case] {
        ok(greenlight(&phone.0, &["sync"]));
    }
    let (erin_color, why) = color(&erin);
    assert_eq!(erin_color, "yellow", "{why}");
    assert!(why.contains("Get tested if you feel unwell."), "the authority's message reaches the visitor: {why}");
    let (frank_color, why) = color(&frank);
    assert_eq!(frank_color, "green", "another epoch is not traced: {why}");
    let (dana_color, why) = color(&dana);
    assert_eq!(dana_color, "green", "she came after the case had left: {why}");
    assert!(why.contains("\"venue_alerts\":[]"), "no alert at all: {why}");
    // The case is not alerted about her own visit.
    let (case_color, why) = color(&case);
    assert_eq!(case_color, "red", "{why}");
    assert!(why.contains("\"venue_alerts\":[]") && !why.contains("venue visit"), "not about her own visit: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_sheet_then_the_door_screen_make_one_visit_shown_as_checked_in() {
    let authority = Authority::start().await;
    let owner = Dir::new("two-posters");
    ok(create_venue(&owner.0, "Café Aurora", "restaurant", &authority.signing, &authority.trace));
    let sheet = owner.0.join("today.png");
    ok(greenlight(&owner.0, &["venue", "posters", "--days", "1", "--out", sheet.to_str().expect("path")]));
    let screen = ScreenProcess::start(&owner.0, "5");
    let codes = screen.codes().await;
    let code = codes["codes"][0]["text"].as_str().expect("a code").to_owned();
    drop(screen);

    // A guest scans the sheet by the door, then the screen inside.
    let guest = authority.phone("guest");
    let first = ok(greenlight(&guest.0, &["checkin", sheet.to_str().expect("path")]));
    assert!(first.contains("Checked in at Café Aurora"), "{first}");
    let second = ok(greenlight(&guest.0, &["checkin", &code]));
    assert!(second.contains("Stay extended at Café Aurora"), "one visit, continued: {second}");

    // One visit, shown as in progress with its automatic check-out.
    let visits = ok(greenlight(&guest.0, &["visits"]));
    let listed: Vec<&str> = visits.lines().filter(|l| l.contains("Café Aurora")).collect();
    assert_eq!(listed.len(), 1, "no two overlapping visits: {visits}");
    assert!(listed[0].contains(" UTC, checked in, automatic check-out at "), "{visits}");

    // Checked out, it is a visit with its real end.
    ok(greenlight(&guest.0, &["checkout"]));
    let visits = ok(greenlight(&guest.0, &["visits"]));
    assert_eq!(visits.lines().count(), 1, "{visits}");
    assert!(!visits.contains("checked in") && visits.contains(" UTC  Café Aurora"), "{visits}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_guest_list_is_traced_from_the_epochs_the_owner_prints_within_the_lists_hours() {
    let authority = Authority::start().await;
    let owner = Dir::new("paper");
    ok(create_venue(&owner.0, "Bakery", "shop", &authority.signing, &authority.trace));
    let sheet = owner.0.join("today.svg");
    ok(greenlight(&owner.0, &["venue", "posters", "--days", "2", "--out", sheet.to_str().expect("path")]));
    // Yesterday's sheet hung at the door too (printed the day before).
    let yesterday = now().day().minus(1);
    let mut venue = Venue::open(&owner.0).expect("venue");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(21);
    let poster = venue.day_posters(yesterday, 1, yesterday.start(), &mut rng).expect("yesterday's sheet").remove(0);
    drop(venue);

    // Two guests scanned it yesterday: Gina in the morning, Hugo in the
    // afternoon (their phones' clocks then; the CLI only knows now).
    let at = |h: u64| yesterday.start().plus(h * 3600);
    let (gina, hugo) = (authority.phone("gina"), authority.phone("hugo"));
    for (guest, arrival) in [(&gina, at(10)), (&hugo, at(15))] {
        let mut phone = greenlight_client::open(&guest.0).expect("store");
        let verified = checkin::verify_poster(&poster.to_text(), arrival).expect("valid yesterday");
        // A shop's visit ends by itself (its automatic check-out).
        phone.check_in(&verified, arrival, &mut rng).expect("checked in");
    }

    // No phone reported: a guest on the paper list, there from 09:30 to
    // 12:00, fell ill. The owner prints the epochs of yesterday and today
    // (only those begun), and the tracer pastes the output as it is.
    let listed = ok(greenlight(
        &owner.0,
        &["venue", "epochs", "--from", &yesterday.iso_date().to_string(), "--to", &now().day().iso_date().to_string()],
    ));
    assert_eq!(listed.lines().filter(|l| l.starts_with("GL1:")).count(), 2, "yesterday and today: {listed}");
    assert!(listed.contains("00:00 – 24:00 UTC"), "a day epoch reads as a whole day: {listed}");
    assert!(listed.lines().any(|l| l.starts_with('#')), "with the tool's comments: {listed}");
    let portal = authority.tracer().await;
    let day = yesterday.iso_date().to_string();
    let (from, until) = (format!("{day}T09:30"), format!("{day}T12:00"));
    // A window whose end comes first is refused, keeping what was typed.
    let page = portal
        .post("/portal/venues/paper", &[("epochs", &listed), ("from", &until), ("until", &from)])
        .await
        .expect("the portal answers");
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("must come after the first arrival"), "{}", page.body);
    let page = portal
        .post("/portal/venues/paper", &[("epochs", &listed), ("from", &from), ("until", &until)])
        .await
        .expect("the portal answers");
    let case_path = page.location.unwrap_or_else(|| panic!("a case is opened from the pasted output: {}", page.body));
    let page = portal.get(&case_path).await.expect("the portal answers");
    assert!(page.body.contains(&format!("{day} 09:30 – 12:00 UTC")), "the list's hours are the window: {}", page.body);
    assert!(page.body.contains(&format!("{day} 00:00 – 24:00 UTC")), "the day epoch reads as a day: {}", page.body);
    assert_eq!(portal.post(&format!("{case_path}/request"), &[]).await.expect("the portal answers").status, 303);
    let page = portal.get(&case_path).await.expect("the portal answers");
    // The page says how the request reaches the owner and what they run.
    assert!(page.body.contains("The portal does not contact the owner"), "{}", page.body);
    assert!(page.body.contains("greenlight venue release --request release-request-"), "{}", page.body);
    assert!(page.body.contains("--key-set key-set.bin"), "{}", page.body);
    let key_set = portal.key_set().await.expect("the key set downloads");
    let key_set_file = owner.0.join("key-set.bin");
    std::fs::write(&key_set_file, &key_set).expect("the owner saves the key set");
    // Without it, the owner's tool says what is missing.
    let missing = refused(greenlight(&owner.0, &["venue", "release", "--request", &request_text(&page.body), "--yes"]));
    assert!(missing.contains("--key-set key-set.bin"), "{missing}");
    let request = request_text(&page.body);
    // The owner pastes the request text.
    let released = ok(greenlight(
        &owner.0,
        &[
            "venue",
            "release",
            "--request",
            &request,
            "--key-set",
            key_set_file.to_str().expect("path"),
            "--yes",
            "--out",
            owner.0.join("b.bin").to_str().expect("path"),
        ],
    ));
    let bundle = released.lines().last().expect("bundle").trim().to_owned();
    let message = "A guest of yesterday morning fell ill.";
    let page = portal
        .post(&format!("{case_path}/publish"), &[("bundle", &bundle), ("message", message)])
        .await
        .expect("the portal answers");
    assert_eq!(page.status, 303, "{}", page.body);
    let page = portal.get(&case_path).await.expect("the portal answers");
    assert!(page.body.contains("Published: trace batch"), "{}", page.body);
    assert!(
        between(&page.body, "id=\"sent-message\">", "<") == Some(message),
        "the page shows the message sent: {}",
        page.body
    );

    // Gina, there in the morning, is alerted; Hugo, there in the
    // afternoon of the same day (same epoch), is not.
    for guest in [&gina, &hugo] {
        ok(greenlight(&guest.0, &["sync"]));
    }
    let (gina_color, why) = color(&gina);
    assert_eq!(gina_color, "yellow", "{why}");
    assert!(why.contains(message), "{why}");
    let (hugo_color, why) = color(&hugo);
    assert_eq!(hugo_color, "green", "outside the guest list's hours: {why}");
}
