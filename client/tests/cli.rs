//! The `greenlight` command line as a person uses it: set-up errors,
//! checking in from the QR text and from a photo of the poster, refusing
//! stale and forged posters, the diary, check-out, status and wipe.

use greenlight_protocol::time::UnixTime;
use greenlight_protocol::venue::{AuthorityTraceKey, Epoch, Poster, VenueInfo, VenueKind, VenueMasterSecret};
use rand_core::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::Command;

fn greenlight(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("GREENLIGHT_HOME")
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

/// A poster of a day-long epoch that started `hours_ago` hours ago (whole minutes).
fn poster(hours_ago: u64) -> Poster {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let authority = AuthorityTraceKey::generate(&mut rng);
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

#[test]
fn a_visit_from_qr_photo_to_check_out_and_wipe() {
    let dir = temp("visit");
    // Never synced: stale, never a silent green.
    let (ok, out, _) = greenlight(&dir, &["status"]);
    assert!(ok && out.starts_with("STALE"), "{out}");
    let (ok, out, _) = greenlight(&dir, &["status", "--json"]);
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["color"], "stale");

    let (ok, _, err) =
        greenlight(&dir, &["init", "--server", "http://127.0.0.1:9", "--server-key", "abcd", "--authority-key", "00"]);
    assert!(!ok && err.contains("64 hex digits"), "{err}");

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

#[test]
fn stale_and_forged_posters_are_refused_with_a_reason() {
    let dir = temp("refuse");
    let yesterday = poster(30);
    let (ok, _, err) = greenlight(&dir, &["checkin", &yesterday.to_text()]);
    assert!(!ok && err.contains("expired"), "{err}");
    let mut forged = poster(1).to_text();
    forged.replace_range(40..41, if &forged[40..41] == "A" { "B" } else { "A" });
    let (ok, _, err) = greenlight(&dir, &["checkin", &forged]);
    assert!(!ok && err.contains("not a genuine Greenlight poster"), "{err}");
    let (ok, _, err) = greenlight(&dir, &["checkin", "hello"]);
    assert!(!ok && err.contains("not a genuine"), "{err}");
    let (ok, out, _) = greenlight(&dir, &["visits"]);
    assert!(ok && out.contains("No visits"), "nothing was stored: {out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ble_doctor_says_what_is_missing() {
    // These machines have no Bluetooth (and CI gives the binary no system
    // bus): the doctor must say so, not pretend.
    let dir = temp("doctor");
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
#[test]
fn a_full_or_closed_output_is_an_error_not_a_panic() {
    let dir = temp("output");
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

#[test]
fn a_device_is_calibrated_once_and_advertises_what_it_was_set_to() {
    let dir = temp("calibration");
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
