//! The real services the town runs against: `greenlight-server` (key server,
//! health authority and staff portal) started in-process on loopback with
//! the simulation's clock, a staff member issuing upload codes through the
//! portal's pages, and the feed of signed files every phone syncs from.

use greenlight_client::settings::Settings;
use greenlight_protocol::export::{ExportBatch, Region};
use greenlight_protocol::index::{FileKind, Index};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_server::app::{self, Running};
use greenlight_server::config::{AuthorityConfig, AuthoritySettings, Config, Mode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The staff member's password in the simulation's throw-away authority.
const STAFF_PASSWORD: &str = "town simulation staff password";

/// The running server and what phones need to talk to it.
pub(crate) struct Services {
    clock: Arc<AtomicU64>,
    server: Running,
    /// What every phone is set up with.
    pub(crate) settings: Settings,
    /// HTTP client for the phones (connections are pooled).
    pub(crate) http: reqwest::Client,
    portal: Portal,
}

impl Services {
    /// Initialises a health authority in `dir` (keys and an admin account)
    /// and starts the combined server on a free loopback port, on the
    /// database at `database_url`, with its clock at `now`.
    pub(crate) async fn start(dir: &Path, database_url: &str, now: UnixTime) -> Result<Self, String> {
        let clock = Arc::new(AtomicU64::new(now.0));
        let t = i64::try_from(now.0).map_err(|e| e.to_string())?;
        let password = zeroize::Zeroizing::new(STAFF_PASSWORD.to_owned());
        let init = greenlight_server::authority::keys::init(dir, database_url, "admin", Some(password), t)
            .await
            .map_err(|e| format!("authority init: {e}"))?;
        let config = Config {
            listen: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
            data_dir: dir.to_owned(),
            database_url: database_url.to_owned(),
            region: Region::new("GL-TOWN").map_err(|e| e.to_string())?,
            authority_keys: Vec::new(),
            retention_days: 14,
            export_interval: 3600,
            embargo: 7200,
            min_batch_keys: MIN_BATCH_KEYS,
            max_body: 65_536,
            request_timeout: 30,
        };
        let c = clock.clone();
        let options = AuthorityConfig {
            mode: Mode::Combined,
            settings: AuthoritySettings { daily_code_quota: 100_000, ..AuthoritySettings::default() },
        };
        let server = app::start_with(config, options, Arc::new(move || UnixTime(c.load(Ordering::SeqCst))))
            .await
            .map_err(|e| format!("server: {e}"))?;
        let base = format!("http://{}", server.addr);
        let export_key = std::fs::read_to_string(dir.join("export-key.pub")).map_err(|e| format!("export key: {e}"))?;
        let settings = Settings {
            server: base.clone(),
            export_key: greenlight_client::settings::parse_key(&export_key)?,
            authority_key: init.signing_public,
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Services { clock, server, settings, http, portal: Portal::new(&base)? })
    }

    /// Sets the server's clock.
    pub(crate) fn set_now(&self, now: UnixTime) {
        self.clock.store(now.0, Ordering::SeqCst);
    }

    /// The key server's export run (hourly in production), now.
    pub(crate) async fn seal(&self, now: UnixTime) -> Result<bool, String> {
        self.set_now(now);
        let sealed = self.server.state.publisher.seal(now).await.map_err(|e| format!("export: {e}"))?;
        Ok(sealed.is_some())
    }

    /// Staff issue a short upload code for a positive test on `test_day`,
    /// through the portal as a person would: sign in, fill in the form,
    /// read the code off the page.
    pub(crate) async fn issue_codes(&mut self, test_days: &[DayNumber], now: UnixTime) -> Result<Vec<String>, String> {
        self.set_now(now);
        self.portal.login("admin", STAFF_PASSWORD).await?;
        let mut codes = Vec::new();
        for day in test_days {
            let date = day.iso_date().to_string();
            let page = self
                .portal
                .post(&[("kind", "short"), ("report_type", "1"), ("day_kind", "2"), ("date", &date)], "/portal/codes")
                .await?;
            let code = between(&page, "id=\"issued-code\">", "<")
                .ok_or_else(|| format!("the portal showed no code: {}", page.chars().take(400).collect::<String>()))?;
            codes.push(code.to_owned());
        }
        Ok(codes)
    }

    /// Stops the server.
    pub(crate) async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// Fake keys an export batch is padded to at least (the server's default
/// is 1,000; a town publishes far fewer keys a day than a country).
pub(crate) const MIN_BATCH_KEYS: usize = 100;

/// A staff member's browser: cookies by name, the session's CSRF token.
struct Portal {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    csrf: String,
}

impl Portal {
    fn new(base: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Portal { base: base.to_owned(), client, cookies: BTreeMap::new(), csrf: String::new() })
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Result<String, String> {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().map_err(|e| e.to_string())?;
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let status = response.status();
        let body = response.text().await.map_err(|e| e.to_string())?;
        if !(status.is_success() || status.is_redirection()) {
            return Err(format!("portal: HTTP {status}"));
        }
        if let Some(csrf) = between(&body, "name=\"csrf\" value=\"", "\"") {
            self.csrf = csrf.to_owned();
        }
        Ok(body)
    }

    async fn get(&mut self, path: &str) -> Result<String, String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.finish(response).await
    }

    async fn post(&mut self, fields: &[(&str, &str)], path: &str) -> Result<String, String> {
        let mut all = vec![("csrf", self.csrf.clone())];
        all.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let body = all.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.finish(response).await
    }

    /// Signs in through the login form (sessions end after 30 idle minutes
    /// of the server's clock, which jumps: sign in before each round).
    async fn login(&mut self, username: &str, password: &str) -> Result<(), String> {
        self.cookies.clear();
        self.get("/portal/login").await?;
        self.post(&[("username", username), ("password", password)], "/portal/login").await?;
        if !self.cookies.contains_key("gl_session") {
            return Err("the portal refused the staff login".into());
        }
        // The session's CSRF token is on the pages behind the login.
        self.get("/portal/codes").await?;
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The text between `start` and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// New export batches, fetched and verified as the client's sync does:
/// the signed index (with its ETag), each new file checked against its
/// index entry and its own signature. Every phone downloads the same
/// bytes, so the town fetches and verifies them once per sync round.
pub(crate) struct Feed {
    etag: Option<String>,
    /// The last batch applied (0: none).
    synced: u64,
}

/// One verified export batch and when the phone saw it published.
pub(crate) struct Published {
    /// The batch.
    pub(crate) batch: ExportBatch,
    /// Publication time (spec §6.2): the smaller of its signed end and now.
    pub(crate) published_at: UnixTime,
}

impl Feed {
    /// A feed that has seen nothing yet.
    pub(crate) fn new() -> Self {
        Feed { etag: None, synced: 0 }
    }

    /// Downloads what is new since the last call.
    pub(crate) async fn poll(&mut self, services: &Services, now: UnixTime) -> Result<Vec<Published>, String> {
        services.set_now(now);
        let settings = &services.settings;
        let mut request = services.http.get(format!("{}/v1/index", settings.server));
        if let Some(etag) = &self.etag {
            request = request.header("If-None-Match", etag);
        }
        let response = request.send().await.map_err(|e| format!("index: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Vec::new());
        }
        if !response.status().is_success() {
            return Err(format!("index: HTTP {}", response.status()));
        }
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| format!("index: {e}"))?;
        let index = Index::verify(&bytes, &settings.export_keys()).map_err(|e| format!("the index: {e}"))?;
        let mut out = Vec::new();
        for entry in index.entries_after(FileKind::ExportBatch, self.synced) {
            let url = format!("{}/v1/files/{}", settings.server, hex::encode(entry.sha256));
            let response = services.http.get(&url).send().await.map_err(|e| format!("batch: {e}"))?;
            let bytes = response.bytes().await.map_err(|e| format!("batch: {e}"))?;
            entry.check(&bytes).map_err(|_| format!("export batch #{} does not match the index", entry.sequence))?;
            let batch = ExportBatch::verify(&bytes, &settings.export_keys())
                .map_err(|e| format!("export batch #{}: {e}", entry.sequence))?;
            let published_at = batch.end().min(now);
            out.push(Published { batch, published_at });
            self.synced = entry.sequence;
        }
        self.etag = etag;
        Ok(out)
    }
}

/// A scratch directory for the server and the reporters' phones, removed
/// when dropped.
pub(crate) struct ScratchDir(pub(crate) PathBuf);

impl ScratchDir {
    /// A fresh directory under the system's temporary directory.
    pub(crate) fn new(seed: u64) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("greenlight-sim-{}-{seed}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
