//! The real services the town runs against: `greenlight-server` (key server,
//! health authority and staff portal) started in-process on loopback with
//! the simulation's clock, a staff member issuing upload codes through the
//! portal's pages, and the feed of signed files every phone syncs from.

use greenlight_client::settings::Settings;
use greenlight_protocol::export::{ExportBatch, Region};
use greenlight_protocol::index::{FileKind, Index, IndexEntry};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::TraceBatch;
use greenlight_server::app::{self, Running};
use greenlight_server::authority::accounts::{SESSION_IDLE_SECS, SESSION_MAX_SECS};
use greenlight_server::config::{AuthorityConfig, AuthoritySettings, Config, Mode};
use greenlight_venue::AuthorityKeys;
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
    /// The authority's public keys, as venue owners set up their tool.
    pub(crate) authority: AuthorityKeys,
    portal: Portal,
}

/// A venue case a tracer opened in the portal, waiting for the owner's
/// release.
pub(crate) struct OpenCase {
    /// The case's page in the portal.
    pub(crate) path: String,
    /// The venue's public key.
    pub(crate) venue: [u8; 32],
    /// The signed release request, as downloaded for the owner.
    pub(crate) request: Vec<u8>,
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
        let authority = AuthorityKeys::new(init.signing_public.to_bytes(), init.trace_public)
            .map_err(|e| format!("authority keys: {e}"))?;
        Ok(Services { clock, server, settings, http, authority, portal: Portal::new(&base)? })
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
        self.portal.ensure_session(now).await?;
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

    /// A tracer's round in the portal: signs in and, for every venue with
    /// revealed check-ins waiting, opens a case, signs its release request
    /// and downloads it for the owner.
    pub(crate) async fn open_cases(&mut self, now: UnixTime) -> Result<Vec<OpenCase>, String> {
        self.set_now(now);
        self.portal.ensure_session(now).await?;
        let queue = self.portal.get("/portal/venues").await?;
        let mut venues: Vec<String> = Vec::new();
        let mut rest = queue.as_str();
        while let Some(key) = between(rest, "name=\"venue\" value=\"", "\"") {
            if !venues.iter().any(|v| v == key) {
                venues.push(key.to_owned());
            }
            rest = &rest[rest.find(key).map_or(rest.len(), |i| i + key.len())..];
        }
        let mut cases = Vec::new();
        for hex_key in venues {
            let mut venue = [0u8; 32];
            hex::decode_to_slice(&hex_key, &mut venue).map_err(|e| format!("venue key on the queue page: {e}"))?;
            let (_, path) = self.portal.send_form(&[("venue", &hex_key)], "/portal/venues/open").await?;
            let path = path.ok_or("opening a venue case did not lead to its page")?;
            self.portal.send_form(&[], &format!("{path}/request")).await?;
            let request = self.portal.download(&format!("{path}/request.bin")).await?;
            cases.push(OpenCase { path, venue, request });
        }
        Ok(cases)
    }

    /// The tracer publishes a case with the owner's release bundle and the
    /// message for its visitors; returns the trace batch's sequence.
    pub(crate) async fn publish_case(
        &mut self,
        case: &OpenCase,
        bundle: &[u8],
        message: &str,
        now: UnixTime,
    ) -> Result<u64, String> {
        self.set_now(now);
        self.portal.ensure_session(now).await?;
        let text = greenlight_protocol::codec::to_base64url(bundle);
        let (page, _) = self
            .portal
            .send_form(&[("bundle", &text), ("message", message)], &format!("{}/publish", case.path))
            .await?;
        between(&page, "Published: trace batch ", " ").and_then(|n| n.parse().ok()).ok_or_else(|| {
            format!("the portal did not publish the case: {}", page.chars().take(600).collect::<String>())
        })
    }

    /// Stops the server.
    pub(crate) async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// Fake keys an export batch is padded to at least (the server's default
/// is 1,000; a town publishes far fewer keys a day than a country).
pub(crate) const MIN_BATCH_KEYS: usize = 100;

/// A staff member's browser: cookies by name, the session's CSRF token,
/// and when (on the server's clock) the session began and was last used.
struct Portal {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    csrf: String,
    session: Option<(UnixTime, UnixTime)>,
}

impl Portal {
    fn new(base: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Portal { base: base.to_owned(), client, cookies: BTreeMap::new(), csrf: String::new(), session: None })
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Result<String, String> {
        Ok(self.finish_full(response).await?.0)
    }

    /// Keeps the cookies and the CSRF token; returns the body and the
    /// redirect target.
    async fn finish_full(&mut self, response: reqwest::Response) -> Result<(String, Option<String>), String> {
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
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
        Ok((body, location))
    }

    /// A GET with the session's cookies.
    async fn send_get(&self, path: &str) -> Result<reqwest::Response, String> {
        let request = self.client.get(format!("{}{path}", self.base)).header("cookie", self.cookie_header());
        request.send().await.map_err(|e| format!("portal {path}: {e}"))
    }

    async fn get(&mut self, path: &str) -> Result<String, String> {
        let response = self.send_get(path).await?;
        self.finish(response).await
    }

    async fn post(&mut self, fields: &[(&str, &str)], path: &str) -> Result<String, String> {
        Ok(self.send_form(fields, path).await?.0)
    }

    /// A file download (the release request), with the session's cookies.
    async fn download(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let response = self.send_get(path).await?;
        if !response.status().is_success() {
            return Err(format!("portal {path}: HTTP {}", response.status()));
        }
        Ok(response.bytes().await.map_err(|e| e.to_string())?.to_vec())
    }

    /// Posts a form; returns the page and the redirect target.
    async fn send_form(&mut self, fields: &[(&str, &str)], path: &str) -> Result<(String, Option<String>), String> {
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
        self.finish_full(response).await
    }

    /// Signs in unless the session is still alive at `now`: staff stay
    /// signed in while they use the portal at least every half hour, for
    /// at most 12 hours (the portal's limits, with a margin).
    async fn ensure_session(&mut self, now: UnixTime) -> Result<(), String> {
        let (max, idle) = (SESSION_MAX_SECS.unsigned_abs(), SESSION_IDLE_SECS.unsigned_abs());
        let alive =
            self.session.is_some_and(|(since, last)| now.0 < since.0 + (max - 600) && now.0 < last.0 + (idle - 120));
        if !alive {
            self.login("admin", STAFF_PASSWORD).await?;
            self.session = Some((now, now));
        }
        if let Some((_, last)) = &mut self.session {
            *last = now;
        }
        Ok(())
    }

    /// Signs in through the login form.
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

/// New export and trace batches, fetched and verified as the client's sync
/// does: the signed index (with its ETag), each new file checked against
/// its index entry and its own signature (the key server's export key for
/// export batches, the health authority's key for trace batches). Every
/// phone downloads the same bytes, so the town fetches and verifies them
/// once per export run; each phone then matches them at its own sync.
pub(crate) struct Feed {
    etag: Option<String>,
    /// The last export batch fetched (0: none).
    exports: u64,
    /// The last trace batch fetched (0: none).
    traces: u64,
}

/// One verified export batch and when the phone saw it published.
pub(crate) struct Published {
    /// The batch.
    pub(crate) batch: ExportBatch,
    /// Publication time (spec §6.2): the smaller of its signed end and now.
    pub(crate) published_at: UnixTime,
}

/// What one poll of the index brought.
#[derive(Default)]
pub(crate) struct Polled {
    /// New export batches.
    pub(crate) exports: Vec<Published>,
    /// New trace batches.
    pub(crate) traces: Vec<TraceBatch>,
}

impl Feed {
    /// A feed that has seen nothing yet.
    pub(crate) fn new() -> Self {
        Feed { etag: None, exports: 0, traces: 0 }
    }

    async fn fetch(services: &Services, entry: &IndexEntry) -> Result<Vec<u8>, String> {
        let url = format!("{}/v1/files/{}", services.settings.server, hex::encode(entry.sha256));
        let response = services.http.get(&url).send().await.map_err(|e| format!("file: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{:?} #{}: HTTP {}", entry.kind, entry.sequence, response.status()));
        }
        let bytes = response.bytes().await.map_err(|e| format!("file: {e}"))?;
        entry.check(&bytes).map_err(|_| format!("{:?} #{} does not match the index", entry.kind, entry.sequence))?;
        Ok(bytes.to_vec())
    }

    /// Downloads what is new since the last call.
    pub(crate) async fn poll(&mut self, services: &Services, now: UnixTime) -> Result<Polled, String> {
        services.set_now(now);
        let settings = &services.settings;
        let mut request = services.http.get(format!("{}/v1/index", settings.server));
        if let Some(etag) = &self.etag {
            request = request.header("If-None-Match", etag);
        }
        let response = request.send().await.map_err(|e| format!("index: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Polled::default());
        }
        if !response.status().is_success() {
            return Err(format!("index: HTTP {}", response.status()));
        }
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| format!("index: {e}"))?;
        let index = Index::verify(&bytes, &settings.export_keys()).map_err(|e| format!("the index: {e}"))?;
        let mut out = Polled::default();
        for entry in index.entries_after(FileKind::TraceBatch, self.traces) {
            let bytes = Self::fetch(services, entry).await?;
            let batch = TraceBatch::verify(&bytes, &settings.authority_keys())
                .map_err(|e| format!("trace batch #{}: {e}", entry.sequence))?;
            out.traces.push(batch);
            self.traces = entry.sequence;
        }
        for entry in index.entries_after(FileKind::ExportBatch, self.exports) {
            let bytes = Self::fetch(services, entry).await?;
            let batch = ExportBatch::verify(&bytes, &settings.export_keys())
                .map_err(|e| format!("export batch #{}: {e}", entry.sequence))?;
            let published_at = batch.end().min(now);
            out.exports.push(Published { batch, published_at });
            self.exports = entry.sequence;
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
