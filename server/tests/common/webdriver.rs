//! A headless Chromium driven over the WebDriver protocol (plain JSON to
//! Debian's `chromedriver`), for the staff portal's and the venue screen's
//! browser tests. Shared by the server's and the client's suites (the
//! client includes this file by path). A missing browser fails the test:
//! it is never skipped (`server/tests/setup-chromium.sh` installs it).
#![allow(dead_code, unreachable_pub)]

use base64::Engine as _;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key under which an element reference is returned.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's code for the Tab key.
pub const TAB: &str = "\u{E004}";
/// WebDriver's code for the Enter key.
pub const ENTER: &str = "\u{E007}";
/// WebDriver's code for the down arrow key.
pub const ARROW_DOWN: &str = "\u{E015}";
/// WebDriver's code for the space bar.
pub const SPACE: &str = "\u{E00D}";

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
}

/// `chromedriver` on a free port, killed on drop with the browser it started.
pub struct Driver {
    child: Child,
    url: String,
    client: reqwest::Client,
    session: String,
    profile: PathBuf,
    shots: &'static str,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group, which the Chromium it
        // started belongs to: end them all, or the browser outlives the test.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Driver {
    /// Starts chromedriver and a headless Chromium the size of a tablet in
    /// portrait; screenshots go to `target/{shots}/`.
    pub async fn start(shots: &'static str) -> Driver {
        Self::start_with(shots, &[]).await
    }

    /// [`Driver::start`] with more Chromium flags (for instance
    /// `--ignore-certificate-errors` for a test's self-signed certificate).
    pub async fn start_with(shots: &'static str, extra_args: &[&str]) -> Driver {
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
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}");
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "greenlight-chromium-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut driver = Driver { child, url, client, session: String::new(), profile, shots };
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
            format!("--user-data-dir={}", driver.profile.display()),
        ];
        let args: Vec<String> = args.into_iter().chain(extra_args.iter().map(|a| (*a).to_owned())).collect();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        }}});
        let created = driver.call("POST", "/session", capabilities).await;
        driver.session = created["sessionId"].as_str().expect("a session id").to_owned();
        driver
    }

    pub async fn call(&self, method: &str, path: &str, body: Value) -> Value {
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

    pub fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    pub async fn go(&self, url: &str) {
        self.call("POST", &self.at("/url"), json!({ "url": url })).await;
    }

    pub async fn element(&self, css: &str) -> String {
        let found = self.call("POST", &self.at("/element"), json!({ "using": "css selector", "value": css })).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call("POST", &self.at(&format!("/element/{id}/clear")), json!({})).await;
        self.call("POST", &self.at(&format!("/element/{id}/value")), json!({ "text": text })).await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call("POST", &self.at(&format!("/element/{id}/click")), json!({})).await;
    }

    /// Clicks something that loads a new page (a link, a submit button)
    /// and waits until the new page has replaced the old one.
    pub async fn follow(&self, css: &str) {
        self.script("document.documentElement.dataset.leaving = '1'; return null;").await;
        self.click(css).await;
        self.wait_for_new_page(css).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.call("GET", &self.at(&format!("/element/{id}/text")), Value::Null).await.as_str().unwrap_or("").to_owned()
    }

    /// Presses keys as a person does, one after the other: characters,
    /// or WebDriver's key codes ([`TAB`], [`ENTER`], [`ARROW_DOWN`]).
    pub async fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [
                    json!({ "type": "keyDown", "value": c.to_string() }),
                    json!({ "type": "keyUp", "value": c.to_string() }),
                ]
            })
            .collect();
        let body = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] });
        self.call("POST", &self.at("/actions"), body).await;
    }

    /// Presses keys that load a new page (Enter on a link or in a form)
    /// and waits until the new page has replaced the old one.
    pub async fn keys_and_follow(&self, keys: &str) {
        self.script("document.documentElement.dataset.leaving = '1'; return null;").await;
        self.keys(keys).await;
        self.wait_for_new_page(keys).await;
    }

    /// Presses Tab until the focused element matches `css` (at most 40
    /// times), checking at every stop that the focus can be seen: an
    /// outline of at least 2 px that is not `none`, or the element is the
    /// skip link brought on screen. Returns how many presses it took.
    pub async fn tab_to(&self, css: &str) -> usize {
        for presses in 1..=40 {
            self.keys(TAB).await;
            let focus = self
                .script(&format!(
                    "const e = document.activeElement; const st = getComputedStyle(e); const r = e.getBoundingClientRect();
                     return {{
                       matches: e.matches({css:?}),
                       what: e.tagName + (e.id ? '#' + e.id : '') + (e.name ? '[' + e.name + ']' : '') + ' ' + (e.textContent || e.value || '').trim().slice(0, 40),
                       outline: st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2,
                       on_screen: r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0,
                       body: e === document.body,
                     }};"
                ))
                .await;
            assert_ne!(focus["body"], true, "Tab left the page looking for {css}");
            assert_eq!(focus["outline"], true, "the focus on {} cannot be seen", focus["what"]);
            assert_eq!(focus["on_screen"], true, "the focused {} is off screen", focus["what"]);
            if focus["matches"] == true {
                return presses;
            }
        }
        panic!("40 presses of Tab never reached {css}");
    }

    async fn wait_for_new_page(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = self
                .script("return !document.documentElement.dataset.leaving && document.readyState === 'complete';")
                .await;
            if done == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "{what:?} did not load a new page within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` every 200 ms until it returns something other than
    /// `null` or `false`, and returns that; fails after `within`.
    pub async fn wait_for(&self, what: &str, script: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self.script(script).await;
            if value != Value::Null && value != json!(false) {
                return value;
            }
            assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn script(&self, script: &str) -> Value {
        self.call("POST", &self.at("/execute/sync"), json!({ "script": script, "args": [] })).await
    }

    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call("GET", &self.at("/screenshot"), Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().expect("base64")).expect("PNG");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").join(self.shots);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write screenshot");
        path
    }

    /// What a person using assistive technology or a slow network would
    /// notice: the page's language, landmarks, labels, text contrast at
    /// WCAG 2.1 AA (each text's colour against the backgrounds under it),
    /// and that nothing was loaded from anywhere (no external or even local
    /// assets).
    pub async fn check_page(&self, what: &str) {
        let report = self.page_report().await;
        assert_eq!(report["lang"], "en", "{what}: the page says its language");
        assert_eq!((report["main"].as_u64(), report["h1"].as_u64()), (Some(1), Some(1)), "{what}: one main, one h1");
        assert_eq!(report["unlabeled"], json!([]), "{what}: every field has a label");
        assert_eq!(report["low_contrast"], json!([]), "{what}: text contrast at WCAG AA (4.5:1, large text 3:1)");
        assert_eq!(report["resources"], json!([]), "{what}: no assets are fetched");
        assert_eq!(report["overflow"], false, "{what}: fits a tablet's width without scrolling sideways");
    }

    /// What [`Driver::check_page`] checks, for a page with rules of its
    /// own: `lang`, `main` and `h1` counts, `unlabeled` fields,
    /// `low_contrast` texts, fetched `resources` and sideways `overflow`.
    pub async fn page_report(&self) -> Value {
        self
            .script(
                "const unlabeled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                   .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                   .map(e => e.id || e.name);
                 const rgba = s => { const m = s.match(/rgba?[(]([^)]+)[)]/); if (!m) return [0, 0, 0, 0];
                   const p = m[1].split(',').map(parseFloat); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
                 const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                   return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
                 const under = el => { const layers = [];
                   for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor);
                     if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
                   let out = [255, 255, 255];
                   for (const c of layers.reverse()) out = [0, 1, 2].map(i => c[i] * c[3] + out[i] * (1 - c[3]));
                   return out; };
                 const low_contrast = [];
                 for (const el of document.querySelectorAll('body *')) {
                   if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
                   const st = getComputedStyle(el); const r = el.getBoundingClientRect();
                   if (st.visibility === 'hidden' || r.width === 0 || r.height === 0 || r.right < 0 || r.bottom < 0) continue;
                   const bg = under(el); const fg = rgba(st.color);
                   const ink = [0, 1, 2].map(i => fg[i] * fg[3] + bg[i] * (1 - fg[3]));
                   const [a, b] = [lum(ink), lum(bg)];
                   const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
                   const size = parseFloat(st.fontSize); const bold = parseInt(st.fontWeight, 10) >= 700;
                   const large = size >= 24 || (bold && size >= 18.66);
                   if (ratio < (large ? 3 : 4.5)) low_contrast.push(el.tagName + ' \"' + el.textContent.trim().slice(0, 30) + '\" ' + ratio.toFixed(2));
                 }
                 return {
                   low_contrast: low_contrast,
                   lang: document.documentElement.lang,
                   main: document.querySelectorAll('main').length,
                   h1: document.querySelectorAll('h1').length,
                   unlabeled: unlabeled,
                   resources: performance.getEntriesByType('resource').map(r => r.name),
                   overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
                 };",
            )
            .await
    }
}
