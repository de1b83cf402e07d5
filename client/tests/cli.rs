//! The `greenlight` command line as a person uses it: set-up and its
//! errors, checking in from the QR text, from a screenshot of the QR code
//! and from a phone's photo of the printed poster, refusing stale and
//! forged posters, missing files, non-images and photos without a poster,
//! the diary,
//! check-out, status, network errors, reporting with the QR link, and wipe.
//! The key server with its health authority runs in-process on loopback.

#[path = "common/camera.rs"]
mod camera;
mod common;

use common::greenlight;

use greenlight_protocol::time::UnixTime;
use greenlight_protocol::venue::{AuthorityShareKey, Epoch, Poster, VenueInfo, VenueKind, VenueMasterSecret};
use greenlight_testkit::{CodeKind, TestServer};
use rand_core::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::Command;

const ADMIN_PASSWORD: &str = "correct horse battery staple";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

/// A poster of a day-long epoch that started `hours_ago` hours ago (whole minutes).
fn poster(hours_ago: u64) -> Poster {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let authority = AuthorityShareKey::generate(&mut rng);
    let venue = VenueMasterSecret::generate(&mut rng);
    let start = UnixTime((now() / 60 - hours_ago * 60) * 60);
    let epoch = Epoch::new(start, 1440).expect("epoch");
    let opened = venue.open_epoch(epoch, &authority.public_key(), &mut rng).expect("open");
    let info = VenueInfo { name: "Café Aurora".into(), address: "Main St 5".into(), kind: VenueKind::Restaurant };
    venue.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster")
}

fn temp(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("greenlight-cli-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A key server with its health authority, as an operator runs it.
async fn deployment() -> TestServer {
    TestServer::builder().authority("admin", ADMIN_PASSWORD).start().await.expect("the server starts")
}

/// The server's `export-key.pub` and the authority's `signing-key.pub`, as
/// the operator hands them out.
fn key_files(server: &TestServer) -> (String, String) {
    let export = server.data_dir().join("export-key.pub");
    let signing = greenlight_server::authority::keys::authority_dir(server.data_dir()).join("signing-key.pub");
    assert!(export.is_file() && signing.is_file(), "the server wrote its public keys");
    (export.to_str().expect("path").to_owned(), signing.to_str().expect("path").to_owned())
}

/// `greenlight init` against `server`, with its key files, as the README shows.
fn set_up(dir: &Path, server: &TestServer) {
    let (export, signing) = key_files(server);
    let (ok, out, err) =
        greenlight(dir, &["init", "--server", &server.base, "--server-key", &export, "--authority-key", &signing]);
    assert!(ok && out.starts_with("ready"), "{out}{err}");
}

/// The files a failed command must not leave behind.
fn left_behind(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_takes_key_files_checks_the_server_once_and_leaves_nothing_behind_on_failure() {
    let server = deployment().await;
    let (export, signing) = key_files(&server);
    let dir = temp("init");
    let port = server.base.trim_start_matches("http://");

    // Each mistake is found at once, said in words, and leaves nothing.
    let attempts: [(&[&str], &str); 6] = [
        (&["--server", port, "--server-key", &export, "--authority-key", &signing], "has no scheme: write https://"),
        (&["--server", &server.base, "--server-key", "export-key.pub", "--authority-key", &signing], "no such file"),
        (&["--server", &server.base, "--server-key", "abcd", "--authority-key", &signing], "64 hex digits"),
        // The two keys swapped: found before any sync, not as an attack later.
        (
            &["--server", &server.base, "--server-key", &signing, "--authority-key", &export],
            "does not sign with the --server-key given",
        ),
        // Nothing listens there: plain words, not "error sending request".
        (&["--server", "http://127.0.0.1:9", "--server-key", &export, "--authority-key", &signing], "nothing answers"),
        // A plain-HTTP server spoken to over TLS: a TLS error, not retried.
        (
            &[
                "--server",
                &server.base.replace("http://", "https://"),
                "--server-key",
                &export,
                "--authority-key",
                &signing,
            ],
            "secure (TLS) connection",
        ),
    ];
    for (args, expected) in attempts {
        let mut full = vec!["init"];
        full.extend_from_slice(args);
        let (ok, out, err) = greenlight(&dir, &full);
        assert!(!ok, "{args:?} must be refused: {out}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("error sending request") && !err.contains("builder error"), "{err}");
        assert!(left_behind(&dir).is_empty(), "{args:?} left {:?}", left_behind(&dir));
    }

    // Files as the README shows them, or the hex inside them.
    set_up(&dir, &server);
    let hex_key = std::fs::read_to_string(&export).expect("key");
    let hex_signing = std::fs::read_to_string(&signing).expect("key");
    let (ok, out, err) = greenlight(
        &dir,
        &["init", "--server", &server.base, "--server-key", hex_key.trim(), "--authority-key", hex_signing.trim()],
    );
    assert!(ok && out.contains("already set up"), "the same deployment again is fine: {out}{err}");
    let (ok, _, err) = greenlight(&dir, &["checkin", &poster(1).to_text()]);
    assert!(ok, "{err}");

    // Another deployment: refused without --force, nothing changed.
    let other = deployment().await;
    let (other_export, other_signing) = key_files(&other);
    let switch = ["init", "--server", &other.base, "--server-key", &other_export, "--authority-key", &other_signing];
    let (ok, _, err) = greenlight(&dir, &switch);
    assert!(!ok && err.contains("already set up for") && err.contains("--force"), "{err}");
    let (ok, out, _) = greenlight(&dir, &["visits"]);
    assert!(ok && out.contains("Café Aurora"), "the visit is still there: {out}");
    let (ok, out, err) = greenlight(&dir, &["sync"]);
    assert!(ok, "still synced with the first server: {out}{err}");

    // With --force the device is erased and set up for the other one.
    let mut forced = switch.to_vec();
    forced.push("--force");
    let (ok, out, err) = greenlight(&dir, &forced);
    assert!(ok && out.contains(&other.base), "{out}{err}");
    let (ok, out, _) = greenlight(&dir, &["visits"]);
    assert!(ok && out.contains("No visits"), "switching erased the old deployment's data: {out}");
    let (ok, out, err) = greenlight(&dir, &["sync"]);
    assert!(ok, "syncs with the new server: {out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_not_set_up_or_wiped_says_to_run_init_and_creates_nothing() {
    let server = deployment().await;
    let dir = temp("not-set-up");
    for _ in 0..2 {
        for args in [&["status"][..], &["status", "--json"], &["sync"], &["checkin", &poster(1).to_text()], &["visits"]]
        {
            let (ok, out, err) = greenlight(&dir, args);
            assert!(!ok, "{args:?}: {out}");
            assert!(err.contains("not set up: run `greenlight init"), "{args:?}: {err}");
            assert!(left_behind(&dir).is_empty(), "{args:?} left {:?}", left_behind(&dir));
        }
        // Set up, then wiped: the same answer again.
        set_up(&dir, &server);
        let (ok, out, _) = greenlight(&dir, &["status"]);
        assert!(ok && out.starts_with("STALE"), "set up, never synced: stale, never a silent green: {out}");
        let (ok, _, _) = greenlight(&dir, &["wipe", "--yes"]);
        assert!(ok);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_errors_are_plain_words_and_hopeless_ones_are_not_retried() {
    let server = deployment().await;
    let dir = temp("network");
    set_up(&dir, &server);
    // The server moved: its old address answers 404 for the index.
    let mut phone = greenlight_client::open(&dir).expect("store");
    let mut settings = greenlight_client::settings::Settings::load(phone.store()).expect("settings");
    settings.server = format!("{}/moved", server.base);
    settings.save(phone.store_mut()).expect("saved");
    drop(phone);
    let (ok, _, err) = greenlight(&dir, &["sync"]);
    assert!(!ok && err.contains("HTTP 404"), "{err}");
    assert!(!err.contains("retrying"), "a 404 does not change by retrying: {err}");
    // A TLS failure is not retried either, and reads as one.
    let mut phone = greenlight_client::open(&dir).expect("store");
    settings.server = server.base.replace("http://", "https://");
    settings.save(phone.store_mut()).expect("saved");
    drop(phone);
    let (ok, _, err) = greenlight(&dir, &["sync"]);
    assert!(!ok && err.contains("secure (TLS) connection to 127.0.0.1"), "{err}");
    assert!(!err.contains("retrying") && !err.contains("error sending request"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_codes_qr_link_is_accepted_where_the_code_is() {
    let server = deployment().await;
    let dir = temp("link");
    set_up(&dir, &server);
    // The device broadcast today (`greenlight run` makes the day's key).
    let mut phone = greenlight_client::open(&dir).expect("store");
    phone.daily_key(UnixTime(now()).day(), &mut greenlight_client::os_rng()).expect("today's key");
    drop(phone);

    let (ok, _, err) = greenlight(&dir, &["report", "--code", "greenlight://report?r=GL-TEST", "--reveal", "none"]);
    assert!(!ok && err.contains("is not a report link"), "{err}");

    let portal = server.portal().await.expect("portal");
    portal.sign_in("admin", ADMIN_PASSWORD).await.expect("signed in");
    let date = UnixTime(now()).day().iso_date().to_string();
    let code = portal.issue_code(CodeKind::Long, &date).await.expect("a code").code;
    // What the QR code on the staff member's screen holds.
    let normalized = greenlight_server::authority::codes::normalize(&code).expect("a valid code").1;
    let link = greenlight_server::authority::codes::link(greenlight_testkit::config::TEST_REGION, &normalized);
    let (ok, out, err) = greenlight(&dir, &["report", "--code", &link, "--reveal", "none"]);
    assert!(ok && out.starts_with("Reported"), "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_to_report_the_code_is_checked_first_and_the_message_says_what_to_do() {
    let server = deployment().await;
    let dir = temp("nothing");
    set_up(&dir, &server);
    // A mistyped code is said to be one, whatever the device holds.
    let (ok, _, err) = greenlight(&dir, &["report", "--code", "1234 567", "--reveal", "all"]);
    assert!(!ok && err.contains("\"1234 567\" is not an upload code"), "{err}");
    // A well-formed code on a device with no keys and no visits: nothing
    // to report, the code kept, and what to do.
    let (ok, _, err) = greenlight(&dir, &["report", "--code", "1234 5678", "--reveal", "all"]);
    assert!(!ok && err.contains("nothing to report"), "{err}");
    assert!(err.contains("The code was not used: report with it from the phone you carried"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_says_what_waits_for_the_embargo_and_a_second_one_when_the_first_was_made() {
    let server = deployment().await;
    let dir = temp("again");
    set_up(&dir, &server);
    // The device broadcast today (`greenlight run` makes the day's key).
    let today = UnixTime(now()).day();
    let mut phone = greenlight_client::open(&dir).expect("store");
    phone.daily_key(today, &mut greenlight_client::os_rng()).expect("today's key");
    drop(phone);

    // Staff issue a code for symptoms since two days ago.
    let portal = server.portal().await.expect("portal");
    portal.sign_in("admin", ADMIN_PASSWORD).await.expect("signed in");
    let onset = today.minus(2).iso_date().to_string();
    let code = portal.issue_code_dated(CodeKind::Short, true, &onset).await.expect("a code").code;

    let (ok, out, err) = greenlight(&dir, &["report", "--code", &code, "--reveal", "none"]);
    assert!(ok, "{out}{err}");
    // Today's key is published only once today is over plus the embargo.
    let embargo_end = today.end().plus(2 * 3600).iso_minute().to_string();
    assert!(
        out.contains(&format!("keys of 1 days uploaded, waiting for the embargo until {embargo_end} UTC")),
        "{out}"
    );
    assert!(out.contains(&format!("Your diagnosis: confirmed test, symptom onset {onset}")), "{out}");
    // The explanation below says the same of that date.
    assert!(out.contains(&format!("- {onset}: symptom onset of a positive diagnosis (confirmed test)")), "{out}");

    // A second report, with a new code: this device already reported.
    let second = portal.issue_code(CodeKind::Short, &today.iso_date().to_string()).await.expect("a code").code;
    let (ok, out, err) = greenlight(&dir, &["report", "--code", &second, "--reveal", "none"]);
    assert!(!ok && err.contains("already reported on ") && err.contains("The code was not used"), "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_from_qr_photo_to_check_out_and_wipe() {
    let server = deployment().await;
    let dir = temp("visit");
    set_up(&dir, &server);
    // Never synced: stale, never a silent green.
    let (ok, out, _) = greenlight(&dir, &["status"]);
    assert!(ok && out.starts_with("STALE"), "{out}");
    let (ok, out, _) = greenlight(&dir, &["status", "--json"]);
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["color"], "stale");

    // Check in from the QR text, then again from a photo of the poster.
    let poster = poster(1);
    let (ok, out, err) = greenlight(&dir, &["checkin", &poster.to_text()]);
    assert!(ok, "{err}");
    assert!(out.starts_with("Checked in at Café Aurora"), "{out}");
    let png = dir.join("poster.png");
    qrcode::QrCode::new(poster.to_text().as_bytes())
        .expect("fits a QR code")
        .render::<image::Luma<u8>>()
        .min_dimensions(600, 600)
        .build()
        .save(&png)
        .expect("png");
    let (ok, out, err) = greenlight(&dir, &["checkin", png.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.starts_with("Stay extended at Café Aurora"), "a rescan extends the stay: {out}");

    let (ok, out, _) = greenlight(&dir, &["visits"]);
    assert!(ok && out.contains("Café Aurora, Main St 5"), "{out}");
    assert_eq!(out.lines().count(), 1, "one visit, not two: {out}");
    let (ok, out, _) = greenlight(&dir, &["checkout"]);
    assert!(ok && out.starts_with("Checked out of Café Aurora"), "{out}");
    let (ok, out, _) = greenlight(&dir, &["checkout"]);
    assert!(ok && out.contains("not checked in"), "{out}");

    let (ok, out, _) = greenlight(&dir, &["wipe", "--yes"]);
    assert!(ok && out.contains("Erased"), "{out}");
    assert!(!dir.join("greenlight.db").exists() && !dir.join("device.key").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_forged_posters_and_missing_files_are_refused_with_a_reason() {
    let server = deployment().await;
    let dir = temp("refuse");
    set_up(&dir, &server);
    let yesterday = poster(30);
    let (ok, _, err) = greenlight(&dir, &["checkin", &yesterday.to_text()]);
    assert!(!ok && err.contains("expired"), "{err}");
    let mut forged = poster(1).to_text();
    forged.replace_range(40..41, if &forged[40..41] == "A" { "B" } else { "A" });
    let (ok, _, err) = greenlight(&dir, &["checkin", &forged]);
    assert!(!ok && err.contains("not a genuine Greenlight poster"), "{err}");
    let (ok, _, err) = greenlight(&dir, &["checkin", "hello"]);
    assert!(!ok && err.contains("not a genuine"), "{err}");
    // A photo that is not there is a missing file, not a forged poster.
    for missing in ["nope.png", "photos/poster.jpg"] {
        let (ok, _, err) = greenlight(&dir, &["checkin", missing]);
        assert!(!ok && err.contains(&format!("{missing}: no such file")), "{err}");
        assert!(!err.contains("genuine"), "{err}");
    }
    let (ok, out, _) = greenlight(&dir, &["visits"]);
    assert!(ok && out.contains("No visits"), "nothing was stored: {out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_photo_of_the_printed_poster_checks_in() {
    use camera::{Camera, Shot};
    let server = deployment().await;
    let dir = temp("photo");
    set_up(&dir, &server);
    // The sheet the venue tool prints, photographed on the café's wall with
    // the phone held a little askew: a 1600 × 1200 JPEG (quality 80) in
    // which the poster is 620 pixels wide (half the printed PNG), turned 4°.
    let poster = poster(1);
    let sheet = greenlight_venue::sheet::Sheet {
        venue: "Café Aurora".into(),
        address: "Main St 5".into(),
        kind: "restaurant".into(),
        date: "Today".into(),
        valid: "Valid 00:00–24:00 UTC".into(),
        fingerprint: "0123456789abcdef".into(),
        qr_text: poster.to_text(),
    };
    let fonts = greenlight_venue::font::Fonts::system(&[]).expect("the installed fonts load");
    let page = greenlight_venue::sheet::render_png(&sheet, &fonts).expect("the sheet renders");
    let mut camera = Camera::new(image::load_from_memory(&page).expect("a PNG").to_luma8());
    let photo = dir.join("IMG_0001.jpg");
    std::fs::write(&photo, camera.take(&Shot { frame: Some((1600, 1200)), roll: 4.0, ..Shot::at(620) }))
        .expect("photo");
    let (ok, out, err) = greenlight(&dir, &["checkin", photo.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.starts_with("Checked in at Café Aurora"), "{out}");

    // The café's menu QR code beside the poster does not hide it.
    let menu_code = qrcode::QrCode::new(b"https://cafe-aurora.example/menu")
        .expect("fits a QR code")
        .render::<image::Luma<u8>>()
        .min_dimensions(400, 400)
        .build();
    let poster_photo =
        image::load_from_memory(&camera.take(&Shot { jpeg: None, ..Shot::at(620) })).expect("photo").to_luma8();
    let mut both = image::GrayImage::from_pixel(1100, 900, image::Luma([255]));
    image::imageops::overlay(&mut both, &poster_photo, 0, 0);
    image::imageops::overlay(&mut both, &menu_code, 660, 200);
    let both_file = dir.join("IMG_0003.png");
    both.save(&both_file).expect("png");
    let (ok, out, err) = greenlight(&dir, &["checkin", both_file.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.starts_with("Stay extended at Café Aurora"), "{out}");

    // What is no poster says so, and checks in nowhere.
    let (ok, _, _) = greenlight(&dir, &["checkout"]);
    assert!(ok);
    let wall = dir.join("IMG_0002.jpg");
    let blank = image::GrayImage::from_pixel(620, 877, image::Luma([255]));
    std::fs::write(&wall, Camera::new(blank).take(&Shot { frame: Some((1600, 1200)), roll: 4.0, ..Shot::at(620) }))
        .expect("photo");
    let menu = dir.join("menu.png");
    qrcode::QrCode::new(b"https://cafe-aurora.example/menu")
        .expect("fits a QR code")
        .render::<image::Luma<u8>>()
        .min_dimensions(400, 400)
        .build()
        .save(&menu)
        .expect("png");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "table 4, by the window").expect("notes");
    for (file, expected) in [
        (&wall, "no Greenlight QR code found"),
        (&menu, "no Greenlight QR code found"),
        (&notes, "not a PNG or JPEG image"),
    ] {
        let (ok, _, err) = greenlight(&dir, &["checkin", file.to_str().expect("path")]);
        assert!(!ok && err.contains(expected), "{}: {err}", file.display());
        assert!(!err.contains("genuine"), "{err}");
    }
    let (ok, out, _) = greenlight(&dir, &["visits"]);
    assert!(ok && out.lines().count() == 1, "only the poster's visit: {out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chinese_venue_is_created_printed_photographed_and_checked_into() {
    use camera::{Camera, Shot};
    let server = deployment().await;
    let dir = temp("chinese-venue");
    set_up(&dir, &server);
    let owner = dir.join("owner");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(25);
    let trace = hex::encode(AuthorityShareKey::generate(&mut rng).public_key().0);
    let signing =
        hex::encode(greenlight_protocol::signing::SigningKey::from_bytes(&[25; 32]).verifying_key().as_bytes());
    let create = |name: &str| {
        greenlight(
            &owner,
            &[
                "venue",
                "create",
                "--name",
                name,
                "--address",
                "朝阳区工人体育场北路",
                "--type",
                "care",
                "--authority-key",
                &signing,
                "--trace-key",
                &trace,
            ],
        )
    };

    // Too long says by how much, in characters.
    let (ok, _, err) = create(&"朝阳区人民医院门诊部第一分部挂号处".repeat(3));
    assert!(!ok && err.contains("the name has 51 characters: at most 40"), "{err}");
    // 14 characters, 42 bytes: refused by the 40-byte rule this replaced.
    let name = "朝阳区人民医院门诊部第一分部";
    let (ok, out, err) = create(name);
    assert!(ok, "{err}");
    assert!(out.contains(name), "{out}");

    // Printed as PNG and PDF: no question marks anywhere.
    let png = owner.join("today.png");
    let (ok, out, err) = greenlight(&owner, &["venue", "posters", "--days", "1", "--out", png.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(!out.contains("Note: no installed font"), "Noto Sans CJK is installed (tests/run.sh): {out}");
    let pdf = owner.join("week.pdf");
    let (ok, _, err) = greenlight(&owner, &["venue", "posters", "--days", "2", "--out", pdf.to_str().expect("path")]);
    assert!(ok, "{err}");
    if let Ok(text) = Command::new("pdftotext").args(["-enc", "UTF-8"]).arg(&pdf).arg("-").output() {
        let text = String::from_utf8_lossy(&text.stdout);
        assert_eq!(text.matches(name).count(), 2, "the name on both days' pages: {text}");
    }

    // Photographed on the wall, askew, and checked into by name.
    let sheet = image::open(&png).expect("the sheet is a PNG").to_luma8();
    let photo = dir.join("IMG_0004.jpg");
    std::fs::write(&photo, Camera::new(sheet).take(&Shot { frame: Some((1600, 1200)), roll: -3.0, ..Shot::at(620) }))
        .expect("photo");
    let (ok, out, err) = greenlight(&dir, &["checkin", photo.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.starts_with(&format!("Checked in at {name}")), "{out}");
    let (ok, out, _) = greenlight(&dir, &["visits"]);
    assert!(ok && out.contains(name), "the diary shows the name: {out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ble_doctor_says_what_is_missing() {
    // These machines have no Bluetooth (and CI gives the binary no system
    // bus): the doctor must say so, not pretend.
    let server = deployment().await;
    let dir = temp("doctor");
    set_up(&dir, &server);
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(["ble", "doctor"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/greenlight-test-bus")
        .output()
        .expect("runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "no radio here: {stdout}{stderr}");
    assert!(stdout.contains("/nonexistent/greenlight-test-bus"), "it says where it looked: {stdout}");
    assert!(stderr.contains("greenlight:"), "and ends with what is missing: {stderr}");
    // The daemon refuses to start without a radio, saying why.
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .arg("--data-dir")
        .arg(&dir)
        .arg("run")
        .env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/greenlight-test-bus")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("Bluetooth:") && stderr.contains("ble doctor"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Output that cannot be written (a full disk, a closed pipe) is a clear
/// error and a failed exit, never a panic with a backtrace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_closed_output_is_an_error_not_a_panic() {
    let server = deployment().await;
    let dir = temp("output");
    set_up(&dir, &server);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["status", "--json"])
        .env_remove("GREENLIGHT_HOME")
        .stdout(full)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failed write fails the command");
    assert!(stderr.contains("greenlight: cannot write the output"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A reader that went away: the pipe's read end is closed before the
    // command writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .arg("--data-dir")
        .arg(&dir)
        .arg("status")
        .env_remove("GREENLIGHT_HOME")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("it ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("cannot write the output"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_is_calibrated_once_and_advertises_what_it_was_set_to() {
    let server = deployment().await;
    let dir = temp("calibration");
    set_up(&dir, &server);
    let (ok, out, _) = greenlight(&dir, &["calibration"]);
    assert!(ok && out.contains("-8 dBm") && out.contains("(the default)"), "{out}");

    let (ok, out, err) = greenlight(&dir, &["calibration", "--tx-power", "-12", "--rssi-correction", "3"]);
    assert!(ok, "{err}");
    assert!(out.contains("-12 dBm") && out.contains("+3 dB"), "{out}");
    let (ok, out, _) = greenlight(&dir, &["calibration"]);
    assert!(ok && out.contains("-12 dBm") && out.contains("+3 dB") && !out.contains("default"), "{out}");

    // Out of range: refused with the range, and nothing changed.
    let (ok, _, err) = greenlight(&dir, &["calibration", "--tx-power", "40", "--rssi-correction", "0"]);
    assert!(!ok && err.contains("outside -100…20 dBm"), "{err}");
    let (ok, _, err) = greenlight(&dir, &["calibration", "--tx-power", "-12"]);
    assert!(!ok && err.contains("--rssi-correction"), "both values are needed: {err}");
    let (_, out, _) = greenlight(&dir, &["calibration"]);
    assert!(out.contains("-12 dBm") && out.contains("+3 dB"), "{out}");

    // The phone opened from that directory declares −12 dBm in what it
    // broadcasts.
    let mut phone = greenlight_client::open(&dir).expect("the store opens");
    let at = UnixTime(now());
    let advert = phone.advertisement(at, &mut greenlight_client::os_rng()).expect("store").expect("broadcasting");
    let key = phone.daily_key(at.day(), &mut greenlight_client::os_rng()).expect("today's key");
    let metadata = key.schedule(at.day()).open_metadata(&advert.id, &advert.metadata).expect("its own metadata");
    assert_eq!(metadata.tx_power, -12);
    let _ = std::fs::remove_dir_all(&dir);
}
