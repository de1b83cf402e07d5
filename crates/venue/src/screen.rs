//! `greenlight venue screen`: a full-screen page for a tablet at the door.
//!
//! The screen's epochs last an hour; inside each, the QR code changes every
//! few minutes, each code live only for its own window (plus the phones'
//! clock tolerance), so a photo of the screen is soon worthless. The page
//! shows the live time with seconds, so a guard can tell a live screen from
//! a photo at a glance.
//!
//! The page fetches the coming codes (`GET /codes`: the next hours, each
//! with its window and an SVG of its QR code) and swaps them by itself: if
//! the venue computer goes away, the page keeps working until its codes run
//! out, says so, and then shows no code rather than a stale one. Every hour
//! shown is opened and logged (see [`super::Venue::open_epochs`]) before
//! its first code leaves this process.

use super::{EpochUse, Venue, VenueError, fingerprint};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::venue::Epoch;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// How the screen rotates its codes.
#[derive(Debug, Clone, Copy)]
pub struct ScreenConfig {
    /// Minutes each code is shown: a divisor of 60.
    pub rotate_minutes: u16,
    /// How far ahead the page gets codes, in minutes (its offline reserve).
    pub ahead_minutes: u16,
}

impl Default for ScreenConfig {
    fn default() -> Self {
        ScreenConfig { rotate_minutes: 5, ahead_minutes: 120 }
    }
}

impl ScreenConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), VenueError> {
        if self.rotate_minutes == 0 || 60 % self.rotate_minutes != 0 {
            return Err(VenueError::Invalid(
                "--rotate-minutes must divide an hour: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60".into(),
            ));
        }
        if !(10..=24 * 60).contains(&self.ahead_minutes) {
            return Err(VenueError::Invalid("--ahead-minutes must be 10 to 1440".into()));
        }
        Ok(())
    }
}

pub use greenlight_api::screen::{Code, Schedule, ScreenVenue};

/// The screen's state: the venue and the codes made so far, by window.
pub struct Screen {
    venue: Mutex<Venue>,
    config: ScreenConfig,
    cache: Mutex<BTreeMap<u64, Code>>,
    clock: Box<dyn Fn() -> UnixTime + Send + Sync>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen").field("config", &self.config).finish_non_exhaustive()
    }
}

fn qr_svg(text: &str) -> Result<String, VenueError> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| VenueError::Invalid(format!("cannot make a QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    // Inline in HTML: drop the XML declaration.
    Ok(match svg.find("<svg") {
        Some(at) => svg[at..].to_owned(),
        None => svg,
    })
}

impl Screen {
    /// A screen for `venue`, reading the time from `clock`.
    pub fn new(
        venue: Venue,
        config: ScreenConfig,
        clock: impl Fn() -> UnixTime + Send + Sync + 'static,
    ) -> Result<Screen, VenueError> {
        config.validate()?;
        Ok(Screen { venue: Mutex::new(venue), config, cache: Mutex::new(BTreeMap::new()), clock: Box::new(clock) })
    }

    /// The codes from the one shown at `now` until `ahead_minutes` later,
    /// opening (and logging) the hours they fall in first.
    pub fn schedule(&self, now: UnixTime) -> Result<Schedule, VenueError> {
        let rotate = u64::from(self.config.rotate_minutes) * 60;
        let first = now.0 - now.0 % rotate;
        let last = now.0 + u64::from(self.config.ahead_minutes) * 60;
        let windows: Vec<u64> = (first..last).step_by(usize::try_from(rotate).expect("small")).collect();
        let mut venue = self.venue.lock().map_err(|_| VenueError::Corrupt("the screen's state is poisoned".into()))?;
        let mut cache = self.cache.lock().map_err(|_| VenueError::Corrupt("the screen's state is poisoned".into()))?;
        cache.retain(|from, _| *from >= first);
        let missing: Vec<u64> = windows.iter().copied().filter(|w| !cache.contains_key(w)).collect();
        if !missing.is_empty() {
            let mut hours: Vec<Epoch> = Vec::new();
            for w in &missing {
                let start = UnixTime(w - w % 3600);
                let epoch = Epoch::new(start, super::SCREEN_EPOCH_MINUTES)
                    .map_err(|e| VenueError::Invalid(format!("bad epoch: {e}")))?;
                if !hours.contains(&epoch) {
                    hours.push(epoch);
                }
            }
            let opened =
                venue.open_epochs(&hours, EpochUse::Screen, now, &mut rand_core::UnwrapErr(getrandom::SysRng))?;
            for w in missing {
                let hour = w - w % 3600;
                let epoch = opened.iter().find(|e| e.epoch.start().0 == hour).expect("every hour was opened");
                let poster = venue.poster(epoch, UnixTime(w), UnixTime(w + rotate))?;
                let text = poster.to_text();
                let svg = qr_svg(&text)?;
                cache.insert(w, Code { from: w, until: w + rotate, text, svg });
            }
        }
        let info = venue.info();
        Ok(Schedule {
            venue: ScreenVenue {
                name: info.name.clone(),
                address: info.address.clone(),
                kind: info.kind.as_str().to_owned(),
                fingerprint: fingerprint(&venue.public_key()),
            },
            now: now.0,
            codes: windows.iter().filter_map(|w| cache.get(w).cloned()).collect(),
        })
    }

    /// The page's routes: `/`, `/screen.js`, `/codes`, `/health`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/screen.js", get(script))
            .route("/codes", get(codes))
            .route("/health", get(|| async { "ok" }))
            .with_state(self)
    }
}

const PAGE: &str = include_str!("screen.html");
const SCRIPT: &str = include_str!("screen.js");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn hardened(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn page() -> Response {
    hardened(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response())
}

async fn script() -> Response {
    hardened(([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response())
}

async fn codes(State(screen): State<Arc<Screen>>) -> Response {
    let now = (screen.clock)();
    let result = tokio::task::spawn_blocking(move || screen.schedule(now)).await;
    match result {
        Ok(Ok(schedule)) => hardened(Json(schedule).into_response()),
        Ok(Err(e)) => {
            eprintln!("greenlight venue screen: {e}");
            hardened((StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response())
        }
        Err(e) => hardened((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
    }
}

/// Serves the screen on `listen` until SIGINT or SIGTERM. Calls `ready`
/// with the bound address once it accepts connections.
pub async fn serve(screen: Screen, listen: SocketAddr, ready: impl FnOnce(SocketAddr)) -> Result<(), String> {
    let screen = Arc::new(screen);
    // Open the first hours now, so a broken venue fails here, not on the tablet.
    let warm = screen.clone();
    let now = (warm.clock)();
    tokio::task::spawn_blocking(move || warm.schedule(now))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    ready(listener.local_addr().map_err(|e| e.to_string())?);
    axum::serve(listener, screen.router()).with_graceful_shutdown(shutdown()).await.map_err(|e| e.to_string())
}

async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
