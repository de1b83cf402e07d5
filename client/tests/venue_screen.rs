//! The door screen in a real headless Chromium: the page served by
//! `greenlight venue screen` shows a QR code that a phone accepts, the live
//! time, and a new code each window — and it keeps rotating from the codes
//! it holds after the venue computer is gone. The QR code is read back
//! from a screenshot of the page, as a phone's camera would.

mod common;
#[path = "../../server/tests/common/webdriver.rs"]
mod webdriver;

use common::Dir;

use greenlight_client::checkin;
use greenlight_protocol::time::UnixTime;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use webdriver::Driver;

fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
}

struct Screen(Child);

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn create_venue(dir: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .arg("--data-dir")
        .arg(dir)
        .args(["venue", "create", "--name", "Corner Shop", "--type", "shop", "--address", "High St 1"])
        .args(["--authority-key", &hex::encode(ed25519_public(7)), "--trace-key", &"42".repeat(32)])
        .output()
        .expect("greenlight runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

fn ed25519_public(seed: u8) -> [u8; 32] {
    *greenlight_protocol::signing::SigningKey::from_bytes(&[seed; 32]).verifying_key().as_bytes()
}

fn start_screen(dir: &Path) -> (Screen, String) {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .arg("--data-dir")
        .arg(dir)
        .args(["venue", "screen", "--listen", "127.0.0.1:0", "--rotate-minutes", "1", "--ahead-minutes", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the screen starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a line");
    let from = line.find("http://").unwrap_or_else(|| panic!("the screen says where it listens: {line}"));
    let url = line[from..].split_whitespace().next().expect("url").to_owned();
    (Screen(child), url)
}

/// Reads the QR code off a screenshot of the page, as a phone's camera.
async fn scan(driver: &Driver, name: &str) -> String {
    let path = driver.screenshot(name).await;
    checkin::read_poster_text(path.to_str().expect("path")).expect("the QR code on screen decodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_door_screen_shows_a_valid_rotating_qr_code_with_the_live_time_and_survives_going_offline() {
    let dir = Dir::new("screen");
    create_venue(&dir.0);
    let (screen, url) = start_screen(&dir.0);
    let driver = Driver::start("venue-screenshots").await;
    driver.go(&url).await;

    // The page fills in the venue and a code.
    driver
        .wait_for(
            "a QR code appears",
            "return !document.getElementById('qr').hidden && document.querySelector('#qr svg') !== null",
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(driver.text("h1").await, "Corner Shop");
    let page = driver
        .script(
            "const qr = document.getElementById('qr').getBoundingClientRect();
             return { lang: document.documentElement.lang, width: qr.width, height: qr.height,
                      viewport: Math.min(window.innerWidth, window.innerHeight),
                      overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
                      resources: performance.getEntriesByType('resource').map(r => new URL(r.name).origin) };",
        )
        .await;
    assert_eq!(page["lang"], "en");
    assert!(
        page["width"].as_f64().unwrap_or(0.0) >= 0.5 * page["viewport"].as_f64().unwrap_or(1e9),
        "a large QR code: {page}"
    );
    assert_eq!(page["overflow"], false, "fits the tablet: {page}");
    let origin = url.trim_end_matches('/');
    assert!(page["resources"].as_array().expect("list").iter().all(|o| o == origin), "nothing from elsewhere: {page}");

    // A phone accepts the code on screen now, and it is the current one.
    let first = scan(&driver, "01-screen").await;
    assert_eq!(json!(first), driver.script("return document.getElementById('qr').dataset.text").await);
    let poster = checkin::verify_poster(&first, now()).expect("a phone accepts the code on screen");
    assert_eq!(poster.info().name, "Corner Shop");
    assert_eq!(poster.epoch().minutes(), 60, "hourly epochs");
    assert!(poster.live_until().0 - poster.live_from().0 == 60, "each code is live for its one-minute window");

    // The clock is live: it shows this browser's time to the second and moves.
    let clock = driver.text("#clock").await;
    let local = driver
        .script("const d = new Date(); return [d.getHours(), d.getMinutes(), d.getSeconds()].map(n => String(n).padStart(2, '0')).join(':');")
        .await;
    let seconds =
        |t: &str| -> i64 { t.split(':').fold(0, |acc, part| acc * 60 + part.parse::<i64>().expect("digits")) };
    assert!((seconds(&clock) - seconds(local.as_str().expect("time"))).abs() <= 2, "{clock} vs {local}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_ne!(driver.text("#clock").await, clock, "the clock ticks");

    // The venue computer goes away. The page still rotates to the next
    // window's code from what it holds, and says it is offline.
    drop(screen);
    let shown = driver.script("return document.getElementById('qr').dataset.from").await;
    driver
        .wait_for(
            "the code rotates",
            &format!("return document.getElementById('qr').dataset.from !== {shown}"),
            Duration::from_secs(75),
        )
        .await;
    let second = scan(&driver, "02-rotated-offline").await;
    assert_ne!(second, first, "a new code");
    let next = checkin::verify_poster(&second, now()).expect("the new code is valid now");
    assert!(next.live_from() > poster.live_from());
    assert!(
        checkin::verify_poster(&first, now().plus(180)).is_err(),
        "the old code soon expires: photos of it are useless"
    );
    driver
        .wait_for(
            "the page says it is offline",
            "return document.getElementById('status').dataset.online === 'false'",
            Duration::from_secs(40),
        )
        .await;
    let status = driver.text("#status").await;
    assert!(status.starts_with("Offline: showing saved codes until"), "{status}");
    driver.screenshot("03-offline").await;
}
