//! The pass at the door (issue 25 item 1) in a real headless Chromium at a
//! phone's width: the page `greenlight pass --serve` serves shows the
//! colour with its word and the same end as `greenlight status --json`, a
//! clock that ticks and a bar that moves, the venue just checked in to,
//! red after a report, stale (never green) on a phone that never synced,
//! and "not live" once the phone stops answering. Nothing on the page
//! identifies the resident or the phone. Screenshots are kept in
//! `target/pass-screenshots/`.

mod common;
#[path = "../../server/tests/common/webdriver.rs"]
mod webdriver;

use common::{Dir, greenlight};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::venue::{AuthorityShareKey, Epoch, Poster, VenueInfo, VenueKind, VenueMasterSecret};
use greenlight_testkit::{CodeKind, TestServer};
use rand_core::SeedableRng;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use webdriver::Driver;

const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// A phone held upright (CSS pixels).
const PHONE: &str = "--window-size=390,844";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

fn set_up(dir: &Path, server: &TestServer) {
    let export = server.data_dir().join("export-key.pub");
    let signing = greenlight_server::authority::keys::authority_dir(server.data_dir()).join("signing-key.pub");
    let (ok, out, err) = greenlight(
        dir,
        &[
            "init",
            "--server",
            &server.base,
            "--server-key",
            export.to_str().expect("path"),
            "--authority-key",
            signing.to_str().expect("path"),
        ],
    );
    assert!(ok, "{out}{err}");
}

/// A day poster of a restaurant whose epoch began an hour ago.
fn poster() -> Poster {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let authority = AuthorityShareKey::generate(&mut rng);
    let venue = VenueMasterSecret::generate(&mut rng);
    let epoch = Epoch::new(UnixTime((now() / 60 - 60) * 60), 1440).expect("epoch");
    let opened = venue.open_epoch(epoch, &authority.public_key(), &mut rng).expect("open");
    let info =
        VenueInfo { name: "朝阳区人民医院门诊部".into(), address: "Gate 3".into(), kind: VenueKind::Care };
    venue.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster")
}

/// `greenlight pass --serve`, stopped when dropped.
struct PassPage(Child);

impl Drop for PassPage {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_pass(dir: &Path) -> (PassPage, String) {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .arg("--data-dir")
        .arg(dir)
        .args(["pass", "--serve"])
        .env_remove("GREENLIGHT_HOME")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the pass page starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a line");
    let from = line.find("http://127.0.0.1:").unwrap_or_else(|| panic!("it says where the pass is: {line}"));
    let url = line[from..].split_whitespace().next().expect("url").to_owned();
    (PassPage(child), url)
}

/// What `greenlight status --json` says.
fn status(dir: &Path) -> Value {
    let (ok, out, err) = greenlight(dir, &["status", "--json"]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).expect("JSON")
}

/// The page's colour, word and end, as a guard and a script read them.
async fn shown(driver: &Driver) -> (String, String, Option<u64>) {
    let v = driver
        .script(
            "const p = document.getElementById('pass');
             return [p.dataset.color, document.getElementById('word').textContent, p.dataset.until];",
        )
        .await;
    let until = v[2].as_str().filter(|s| !s.is_empty()).map(|s| s.parse().expect("a number"));
    (v[0].as_str().unwrap_or("").to_owned(), v[1].as_str().unwrap_or("").to_owned(), until)
}

/// Checks the page as a guard and a privacy reviewer would: the word is
/// shown in large type beside the colour, the clock ticks, the bar moves,
/// the text is readable (WCAG AA), it fits the phone, and nothing on it
/// identifies the resident or the phone (no keys, no server address, no
/// data directory, no long hex or base64 runs, no image, QR code, form
/// or frame).
async fn check_pass_page(driver: &Driver, what: &str, secrets: &[&str]) {
    let report = driver.page_report().await;
    assert_eq!(report["lang"], "en", "{what}: the page says its language");
    assert_eq!((report["main"].as_u64(), report["h1"].as_u64()), (Some(1), Some(1)), "{what}: one main, one h1");
    assert_eq!(report["low_contrast"], json!([]), "{what}: text contrast at WCAG AA");
    assert_eq!(report["overflow"], false, "{what}: fits a phone's width");
    let base = driver.script("return location.origin").await;
    for resource in report["resources"].as_array().expect("list") {
        let url = resource.as_str().expect("url");
        assert!(url.starts_with(base.as_str().expect("origin")), "{what}: {url} is not from the phone itself");
    }

    let page = driver
        .script(
            "return {
               text: document.documentElement.innerText,
               html: document.documentElement.outerHTML,
               media: document.querySelectorAll('img, svg, canvas, video, iframe, form, input, object, embed').length,
               word_px: parseFloat(getComputedStyle(document.getElementById('word')).fontSize),
               storage: Object.keys(localStorage).length + Object.keys(sessionStorage).length + document.cookie.length,
             };",
        )
        .await;
    assert_eq!(page["media"], 0, "{what}: no image, QR code, form or frame");
    assert_eq!(page["storage"], 0, "{what}: nothing kept in the browser");
    assert!(page["word_px"].as_f64().expect("size") >= 48.0, "{what}: the word is large");
    let html = page["html"].as_str().expect("html");
    for secret in secrets {
        assert!(!html.contains(secret), "{what}: the page shows {secret}");
    }
    let long_run = regex_lite_run(html);
    assert!(long_run.is_none(), "{what}: a long hex or base64 run is on the page: {long_run:?}");

    // Live: the clock shows seconds and changes; the bar moves.
    let before = driver
        .script("return [document.getElementById('clock').textContent, document.querySelector('.sweep span').getBoundingClientRect().left]")
        .await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let after = driver
        .script("return [document.getElementById('clock').textContent, document.querySelector('.sweep span').getBoundingClientRect().left]")
        .await;
    let clock = after[0].as_str().expect("clock");
    assert!(clock.matches(':').count() == 2, "{what}: the clock shows seconds: {clock}");
    assert_ne!(before[0], after[0], "{what}: the clock ticks");
    assert_ne!(before[1], after[1], "{what}: the bar moves");
}

/// The first run of 20 or more hex or base64 characters in `text`, if any
/// (keys, identifiers, tokens).
fn regex_lite_run(text: &str) -> Option<String> {
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '+' || c == '/' {
            run.push(c);
        } else {
            // Words are letters only; a key mixes digits and letters.
            if run.len() >= 20
                && run.chars().any(|c| c.is_ascii_digit())
                && run.chars().any(|c| c.is_ascii_alphabetic())
            {
                return Some(run);
            }
            run.clear();
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pass_is_live_matches_the_status_confirms_a_check_in_and_names_nobody_in_chromium() {
    let server = TestServer::builder().authority("admin", ADMIN_PASSWORD).start().await.expect("the server starts");
    let home = Dir::new("pass");
    let dir = home.0.join("phone");
    set_up(&dir, &server);
    let export_key = std::fs::read_to_string(server.data_dir().join("export-key.pub")).expect("key");
    let dir_text = dir.to_str().expect("path").to_owned();
    let secrets = [export_key.trim(), server.base.as_str(), dir_text.as_str()];

    // Never synced: the pass says STALE, never green.
    let (_page, url) = serve_pass(&dir);
    let driver = Driver::start_with("pass-screenshots", &[PHONE]).await;
    driver.go(&url).await;
    driver
        .wait_for(
            "the pass",
            "return document.getElementById('pass').dataset.color === 'stale'",
            Duration::from_secs(10),
        )
        .await;
    let (color, word, until) = shown(&driver).await;
    assert_eq!((color.as_str(), word.as_str(), until), ("stale", "STALE", None));
    assert_eq!(status(&dir)["color"], "stale");
    check_pass_page(&driver, "stale", &secrets).await;
    driver.screenshot("1-stale-never-synced").await;

    // After a sync: green, until the moment it would turn stale, as
    // `greenlight status --json` says; the region is shown.
    let (ok, out, err) = greenlight(&dir, &["sync"]);
    assert!(ok, "{out}{err}");
    driver
        .wait_for("green", "return document.getElementById('pass').dataset.color === 'green'", Duration::from_secs(10))
        .await;
    let (color, word, until) = shown(&driver).await;
    let cli = status(&dir);
    assert_eq!((color.as_str(), word.as_str()), (cli["color"].as_str().expect("color"), "GREEN"));
    assert_eq!(until, cli["until"].as_u64(), "the same end as the command line");
    assert!(driver.text("#region").await.contains("GL-"), "the region is named");
    check_pass_page(&driver, "green", &secrets).await;
    driver.screenshot("2-green").await;

    // A check-in: the guard sees the venue and when, beside the colour.
    let (ok, out, err) = greenlight(&dir, &["checkin", &poster().to_text()]);
    assert!(ok, "{out}{err}");
    driver
        .wait_for("the check-in", "return !document.getElementById('check-in').hidden", Duration::from_secs(10))
        .await;
    assert_eq!(driver.text("#check-in-venue").await, "朝阳区人民医院门诊部");
    assert!(driver.text("#check-in-time").await.ends_with("GREEN"));
    check_pass_page(&driver, "checked in", &secrets).await;
    driver.screenshot("3-green-checked-in").await;

    // A report: red, ending when the command line says.
    let today = UnixTime(now()).day();
    let mut phone = greenlight_client::open(&dir).expect("store");
    phone.daily_key(today, &mut greenlight_client::os_rng()).expect("today's key");
    drop(phone);
    let portal = server.portal().await.expect("portal");
    portal.sign_in("admin", ADMIN_PASSWORD).await.expect("signed in");
    let code = portal.issue_code(CodeKind::Short, &today.iso_date().to_string()).await.expect("a code").code;
    let (ok, out, err) = greenlight(&dir, &["report", "--code", &code, "--reveal", "none"]);
    assert!(ok, "{out}{err}");
    driver
        .wait_for("red", "return document.getElementById('pass').dataset.color === 'red'", Duration::from_secs(10))
        .await;
    let (color, word, until) = shown(&driver).await;
    let cli = status(&dir);
    assert_eq!((color.as_str(), word.as_str()), ("red", "RED"));
    assert_eq!((cli["color"].as_str(), until), (Some("red"), cli["until"].as_u64()));
    assert!(driver.text("#until").await.contains("until"), "it says until when");
    assert!(driver.text("#explanation").await.contains("positive diagnosis"), "the explanation in words");
    check_pass_page(&driver, "red", &secrets).await;
    driver.screenshot("4-red").await;

    // The phone stops answering: within 20 s the page says it is not live
    // and shows no colour.
    drop(_page);
    driver
        .wait_for(
            "not live",
            "return document.getElementById('word').textContent === 'NOT LIVE'",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(shown(&driver).await.0, "", "no colour once not live");
    driver.screenshot("5-not-live").await;
    driver.call("DELETE", &driver.at(""), Value::Null).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pass_page_answers_only_on_loopback_with_a_strict_policy_and_the_command_says_how_to_start_it() {
    let server = TestServer::builder().authority("admin", ADMIN_PASSWORD).start().await.expect("the server starts");
    let home = Dir::new("pass-http");
    let dir = home.0.join("phone");
    set_up(&dir, &server);

    // No daemon: `greenlight pass` says how to get the page.
    let (ok, out, err) = greenlight(&dir, &["pass"]);
    assert!(!ok && err.contains("greenlight pass --serve") && err.contains("greenlight run"), "{out}{err}");
    // A non-loopback address is refused before anything listens.
    let (ok, _, err) = greenlight(&dir, &["pass", "--serve", "--listen", "0.0.0.0:0"]);
    assert!(!ok && err.contains("not a loopback address"), "{err}");
    // `--json` is what the page shows.
    let (ok, out, err) = greenlight(&dir, &["pass", "--json"]);
    assert!(ok, "{err}");
    let pass: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (pass["color"].as_str(), pass["word"].as_str(), pass["admits"].as_bool()),
        (Some("stale"), Some("STALE"), Some(false))
    );

    let (_page, url) = serve_pass(&dir);
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let page = http.get(&url).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().expect("text").to_owned();
    for rule in
        ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]
    {
        assert!(csp.contains(rule), "{rule} in {csp}");
    }
    assert_eq!(page.headers()["cache-control"], "no-store");
    let body = page.text().await.expect("body");
    assert!(!body.contains("<script>") && !body.contains(" style="), "no inline script or style");

    // A request naming another host (a web page that rebinds its name to
    // 127.0.0.1) is refused; so is anything but reading.
    let port = url.trim_end_matches('/').rsplit(':').next().expect("port");
    let rebound = http
        .get(format!("{url}pass.json"))
        .header("Host", format!("evil.example:{port}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(rebound.status(), 421);
    assert_eq!(http.post(format!("{url}pass.json")).send().await.expect("answer").status(), 405);
    let json: Value = http.get(format!("{url}pass.json")).send().await.expect("answer").json().await.expect("JSON");
    assert_eq!(json["color"], "stale");

    // The daemon serves the page as `greenlight run` does (the same call,
    // without the radio): `greenlight pass` prints its address, and once
    // the daemon stops it says again how to start one.
    let phone = greenlight_client::open(&dir).expect("store");
    let clock = || UnixTime(now());
    let served = greenlight_client::pass::serve(phone, clock, "127.0.0.1:0".parse().expect("addr"), Some(&dir))
        .await
        .expect("serves");
    let daemon_url = served.url.clone();
    let printed = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || greenlight(&dir, &["pass"])
    })
    .await
    .expect("runs");
    assert_eq!((printed.0, printed.1.trim()), (true, daemon_url.as_str()), "{}", printed.2);
    served.stop();
    assert!(!dir.join(greenlight_client::pass::URL_FILE).exists(), "the address file goes with the daemon");
    let (ok, _, err) = greenlight(&dir, &["pass"]);
    assert!(!ok && err.contains("greenlight pass --serve"), "{err}");
}
