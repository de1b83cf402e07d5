//! The pass page: the resident's colour as a guard at a door reads it, served
//! by the daemon (and by `greenlight pass --serve`) on the loopback
//! interface only.
//!
//! The page (`/`, with `/pass.js` and `/pass.css`) asks `/pass.json` every
//! few seconds for the core's [`Pass`] and draws it: the colour with its
//! word, the region, when it ends, and a live clock with seconds beside a
//! moving bar, so a screenshot or a recording is obvious at a glance. A page
//! that cannot reach this process shows "not live", never the last colour.
//! Below, for the resident: the explanation in plain words, the visits and
//! the colour history.
//!
//! What the page holds is only what [`Pass`] holds — no name, no key, no
//! identifier, nothing a photo of it could be reused for. The server answers
//! only requests addressed to the loopback host it listens on (a web page
//! elsewhere cannot reach it through DNS rebinding), sends a strict
//! Content-Security-Policy (scripts, styles and requests from itself only,
//! no images, frames or forms) and asks that nothing be cached.

use crate::Phone;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use greenlight_phone::{ColorChange, Pass, Store};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::RevealedCheckIn;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file in the data directory where a running daemon writes the pass
/// page's address (`greenlight pass` reads it).
pub const URL_FILE: &str = "pass.url";

const PAGE: &str = include_str!("pass.html");
const SCRIPT: &str = include_str!("pass.js");
const STYLE: &str = include_str!("pass.css");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the page shows, as JSON: the pass, the explanation's lines, the
/// visits and the colour history.
pub fn to_json(pass: &Pass, visits: &[Value], history: &[ColorChange]) -> Value {
    let d = &pass.decision;
    json!({
        "now": pass.at.0,
        "color": d.color.as_str(),
        "word": pass.word(),
        "admits": pass.admits(),
        "until": d.until.map(|t| t.0),
        "stale": d.stale,
        "region": pass.region.as_ref().map(|r| r.as_str()),
        "fresh_as_of": pass.fresh_as_of.map(|t| t.0),
        "policy_sequence": d.policy_sequence,
        "headline": d.to_string().lines().next().unwrap_or_default(),
        "explanation": d.evidence_lines(),
        "check_in": pass.check_in.as_ref().map(visit_json),
        "visits": visits,
        "history": history.iter().map(|c| json!({ "at": c.at, "color": c.color, "until": c.until })).collect::<Vec<_>>(),
    })
}

fn visit_json(v: &RevealedCheckIn) -> Value {
    let info = v.poster.info();
    json!({
        "venue": info.name,
        "address": info.address,
        "kind": info.kind.as_str(),
        "arrival": v.arrival.0,
        "departure": v.departure.0,
    })
}

/// The pass at `now` with the visits (newest first) and the colour
/// history (newest first), as the page and `greenlight pass --json` show it.
pub fn current(phone: &Phone, now: UnixTime) -> Result<Value, String> {
    let pass = phone.pass(now).map_err(|e| e.to_string())?;
    let visits: Vec<Value> = phone.visits().map_err(|e| e.to_string())?.iter().rev().map(visit_json).collect();
    let mut history = phone.store().color_history().map_err(|e| e.to_string())?;
    history.reverse();
    Ok(to_json(&pass, &visits, &history))
}

/// The page's state: the phone it reads (its own handle on the store) and
/// the clock.
pub struct PassPage {
    phone: Mutex<Phone>,
    clock: Box<dyn Fn() -> UnixTime + Send + Sync>,
    /// The address the page is served on: requests naming another host are
    /// refused.
    hosts: Vec<String>,
}

impl PassPage {
    /// The page over `phone` (a handle of its own on the store), with the
    /// time from `clock`, for a server bound to `addr`.
    pub fn new(phone: Phone, clock: impl Fn() -> UnixTime + Send + Sync + 'static, addr: SocketAddr) -> Self {
        let port = addr.port();
        let mut hosts = vec![addr.to_string(), format!("localhost:{port}")];
        if addr.is_ipv4() {
            hosts.push(format!("127.0.0.1:{port}"));
        } else {
            hosts.push(format!("[::1]:{port}"));
        }
        PassPage { phone: Mutex::new(phone), clock: Box::new(clock), hosts }
    }

    fn json(&self) -> Result<Value, String> {
        let now = (self.clock)();
        let phone = self.phone.lock().map_err(|_| "the pass page's store lock is poisoned".to_owned())?;
        current(&phone, now)
    }

    /// The routes: `/`, `/pass.js`, `/pass.css`, `/pass.json`, `/health`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/", get(|| async { asset("text/html; charset=utf-8", PAGE) }))
            .route("/pass.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
            .route("/pass.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
            .route("/pass.json", get(pass_json))
            .route("/health", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(self.clone(), guard))
            .with_state(self)
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Refuses requests for another host (DNS rebinding) and methods other
/// than GET and HEAD; adds the security headers to every answer.
async fn guard(State(page): State<Arc<PassPage>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let mut response = if !page.hosts.iter().any(|h| h == host) {
        (StatusCode::MISDIRECTED_REQUEST, "this page answers only on its loopback address\n").into_response()
    } else if request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, "the pass page is read-only\n").into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn pass_json(State(page): State<Arc<PassPage>>) -> Response {
    match tokio::task::spawn_blocking(move || page.json()).await {
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err(e)) => {
            eprintln!("greenlight: the pass page: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, e).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Checks that `listen` is a loopback address: the pass is for this
/// device's own screen, never the network.
pub fn check_loopback(listen: SocketAddr) -> Result<(), String> {
    if listen.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "the pass page listens on this device only: {listen} is not a loopback address (use 127.0.0.1:PORT)"
        ))
    }
}

/// A pass page being served.
pub struct Served {
    /// The page's address, `http://127.0.0.1:PORT/`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
    url_file: Option<PathBuf>,
}

impl Served {
    /// Stops serving and removes the address file it wrote.
    pub fn stop(self) {
        self.task.abort();
        if let Some(file) = &self.url_file {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Binds `listen` (loopback only) and serves the pass page over `phone` in
/// a task of its own. With `data_dir`, writes the address to
/// [`URL_FILE`] there for `greenlight pass`.
pub async fn serve(
    phone: Phone,
    clock: impl Fn() -> UnixTime + Send + Sync + 'static,
    listen: SocketAddr,
    data_dir: Option<&Path>,
) -> Result<Served, String> {
    check_loopback(listen)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("the pass page cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let url = format!("http://{addr}/");
    let page = Arc::new(PassPage::new(phone, clock, addr));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, page.router()).await {
            eprintln!("greenlight: the pass page stopped: {e}");
        }
    });
    let url_file = match data_dir {
        Some(dir) => {
            let file = dir.join(URL_FILE);
            std::fs::write(&file, format!("{url}\n")).map_err(|e| format!("{}: {e}", file.display()))?;
            Some(file)
        }
        None => None,
    };
    Ok(Served { url, task, url_file })
}

/// The address of the pass page a running daemon serves, from
/// [`URL_FILE`] in `data_dir`, if it answers.
pub async fn running_url(data_dir: &Path) -> Result<Option<String>, String> {
    let file = data_dir.join(URL_FILE);
    let url = match std::fs::read_to_string(&file) {
        Ok(text) => text.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    if !url.starts_with("http://127.0.0.1:") && !url.starts_with("http://[::1]:") {
        return Err(format!("{} does not hold a loopback address: {url:?}", file.display()));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    match client.get(format!("{url}health")).send().await {
        Ok(answer) if answer.status().is_success() => Ok(Some(url)),
        // A daemon that stopped without removing its file (killed).
        _ => Ok(None),
    }
}
