//! The staff portal in a real headless Chromium, driven over the WebDriver
//! protocol (plain JSON to `chromedriver`): a staff member logs in, issues
//! a long upload code and sees it with its QR code, finds it in the audit
//! log, and publishes a color policy that the key server then lists. Every
//! step leaves a screenshot in `target/portal-screenshots/`.
//!
//! Chromium and ChromeDriver are Debian's (`server/tests/setup-chromium.sh`
//! installs them). A missing browser fails the test: it is never skipped.

mod common;

use base64::Engine as _;
use common::{ADMIN_PASSWORD, Db, TestServer};
use greenlight_protocol::index::{FileKind, Index};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::signing::TrustedKeys;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key under which an element reference is returned.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
}

/// `chromedriver` on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
    client: reqwest::Client,
    session: String,
    profile: common::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let missing = || {
            panic!(
                "the portal browser test needs Debian's Chromium and ChromeDriver (/usr/bin/chromium, \
                 /usr/bin/chromedriver); install them with `bash server/tests/setup-chromium.sh`"
            )
        };
        let chromedriver = find_program("chromedriver").unwrap_or_else(missing);
        let chromium = find_program("chromium").unwrap_or_else(missing);
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}");
        let profile = common::TempDir::new("chromium-profile");
        let mut driver = Driver { child, url, client, session: String::new(), profile };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = driver.client.get(format!("{}/status", driver.url)).send().await;
            if let Ok(response) = ready {
                let status: Value = response.json().await.unwrap_or(Value::Null);
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            // A tablet in portrait.
            "--window-size=820,1180".to_owned(),
            format!("--user-data-dir={}", driver.profile.0.display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        }}});
        let created = driver.call("POST", "/session", capabilities).await;
        driver.session = created["sessionId"].as_str().expect("a session id").to_owned();
        driver
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).json(&body),
        };
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let value: Value = response.json().await.expect("JSON");
        assert!(status.is_success(), "WebDriver {method} {path} failed: {value}");
        value["value"].clone()
    }

    fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    async fn go(&self, url: &str) {
        self.call("POST", &self.at("/url"), json!({ "url": url })).await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self.call("POST", &self.at("/element"), json!({ "using": "css selector", "value": css })).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    async fn fill(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call("POST", &self.at(&format!("/element/{id}/clear")), json!({})).await;
        self.call("POST", &self.at(&format!("/element/{id}/value")), json!({ "text": text })).await;
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call("POST", &self.at(&format!("/element/{id}/click")), json!({})).await;
    }

    /// Clicks something that loads a new page (a link, a submit button)
    /// and waits until the new page has replaced the old one.
    async fn follow(&self, css: &str) {
        self.script("document.documentElement.dataset.leaving = '1'; return null;").await;
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = self
                .script("return !document.documentElement.dataset.leaving && document.readyState === 'complete';")
                .await;
            if done == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "clicking {css} did not load a new page within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.call("GET", &self.at(&format!("/element/{id}/text")), Value::Null).await.as_str().unwrap_or("").to_owned()
    }

    async fn script(&self, script: &str) -> Value {
        self.call("POST", &self.at("/execute/sync"), json!({ "script": script, "args": [] })).await
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call("GET", &self.at("/screenshot"), Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().expect("base64")).expect("PNG");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").join("portal-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write screenshot");
        path
    }

    /// What a person using assistive technology or a slow network would
    /// notice: the page's language, landmarks, labels, and that nothing was
    /// loaded from anywhere (no external or even local assets).
    async fn check_page(&self, what: &str) {
        let report = self
            .script(
                "const unlabeled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                   .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                   .map(e => e.id || e.name);
                 return {
                   lang: document.documentElement.lang,
                   main: document.querySelectorAll('main').length,
                   h1: document.querySelectorAll('h1').length,
                   unlabeled: unlabeled,
                   resources: performance.getEntriesByType('resource').map(r => r.name),
                   overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
                 };",
            )
            .await;
        assert_eq!(report["lang"], "en", "{what}: the page says its language");
        assert_eq!((report["main"].as_u64(), report["h1"].as_u64()), (Some(1), Some(1)), "{what}: one main, one h1");
        assert_eq!(report["unlabeled"], json!([]), "{what}: every field has a label");
        assert_eq!(report["resources"], json!([]), "{what}: no assets are fetched");
        assert_eq!(report["overflow"], false, "{what}: fits a tablet's width without scrolling sideways");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_log_in_issue_a_code_see_it_audited_and_publish_a_policy_in_chromium() {
    let server = TestServer::start_with_authority(Db::Sqlite).await;
    let driver = Driver::start().await;
    let base = &server.base;

    driver.go(&format!("{base}/portal")).await;
    driver.check_page("login").await;
    driver.screenshot("01-login").await;
    driver.fill("#username", "admin").await;
    driver.fill("#password", ADMIN_PASSWORD).await;
    driver.follow("form[action='/portal/login'] button").await;
    assert!(driver.text("main").await.contains("You are logged in as admin"));
    driver.screenshot("02-home").await;

    // Issue a long code for a test taken yesterday.
    driver.follow("nav a[href='/portal/codes']").await;
    driver.check_page("codes").await;
    driver.screenshot("03-codes").await;
    driver.click("input[name=kind][value=long]").await;
    driver.click("input[name=day_kind][value='2']").await;
    driver.follow("form[action='/portal/codes'][method=post] button").await;
    let code = driver.text("#issued-code").await;
    let handle = driver.text("#code-handle").await;
    assert_eq!(code.len(), 19, "16 characters in groups of four: {code}");
    assert_eq!(
        driver.script("return document.querySelectorAll('.qr svg').length").await,
        json!(1),
        "the long code has a QR code"
    );
    driver.check_page("code issued").await;
    driver.screenshot("04-code-issued").await;
    // The code is real: a phone can claim it.
    let verified: Value = server
        .client
        .post(format!("{base}/v1/verify"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(verified["status"], "ok", "{verified}");
    assert_eq!(verified["day_kind"], "test_date");

    // The audit log shows who issued which code.
    driver.follow("nav a[href='/portal/audit']").await;
    let log = driver.text("#audit-log").await;
    let line = log.lines().find(|l| l.contains("code issued")).unwrap_or_else(|| panic!("issuing is audited: {log}"));
    assert!(line.contains("admin") && line.contains(&handle), "{line}");
    assert!(!log.contains(&code) && !log.contains(&code.replace('-', "")), "the code itself is never logged");
    driver.check_page("audit").await;
    driver.screenshot("05-audit-log").await;

    // Publish a policy: a wrong value first, then a good one.
    driver.follow("nav a[href='/portal/policy']").await;
    driver.check_page("policy").await;
    driver.fill("#red_days", "40").await;
    driver.follow("form[action='/portal/policy'] button").await;
    assert!(driver.text("#red_days-error").await.contains("1 to 28"));
    driver.screenshot("06-policy-error").await;
    driver.fill("#red_days", "7").await;
    driver.follow("form[action='/portal/policy'] button").await;
    let notice = driver.text("[role=status]").await;
    assert!(notice.contains("Policy 1 is signed"), "{notice}");
    driver.screenshot("07-policy-published").await;

    let bytes = server.get("/v1/index").await.bytes().await.expect("index");
    let index = Index::verify(&bytes, &TrustedKeys::from_keys([server.export_key()])).expect("signed");
    let entry = &index.entries_after(FileKind::ColorPolicy, 0)[0];
    let file = server.get(&format!("/v1/files/{}", hex::encode(entry.sha256))).await.bytes().await.expect("file");
    let authority = TrustedKeys::from_keys([server.authority_state().keys.signing.verifying_key()]);
    let policy = ColorPolicy::verify(&file, &authority).expect("signed by the authority");
    assert_eq!(policy.params().red_days, 7);

    driver.follow("header form button").await;
    assert!(driver.text("main").await.contains("User name"), "logged out");
    driver.call("DELETE", &driver.at(""), Value::Null).await;
}
