//! The health authority: upload codes and certificates for diagnosed
//! people, venue alerts, the color policy, and the staff portal that drives
//! them. A library of its own: it knows the key server only through the
//! HTTP contract (`greenlight-api`) and the [`KeyServer`] trait, and shares
//! with it nothing but the protocol and the services' plumbing.
//!
//! - [`device`]: `POST /v1/verify` and `POST /v1/certificate`, the two calls
//!   a phone makes (chaff and fixed-size answers like `/v1/publish`).
//! - [`portal`]: the server-rendered staff pages under `/portal`.
//! - [`accounts`], [`codes`], [`cases`], [`keys`], [`store`]: staff and
//!   sessions, upload codes (drawing and issuing them), venue cases
//!   (publishing their trace entries), the authority's secrets and
//!   `authority init`, its tables. The portal's handlers read forms and
//!   render pages; the work is in these modules.
//!
//! `greenlight-server` runs it beside its key server when `authority init`
//! was run in the data directory (through an in-process [`KeyServer`]), or
//! alone with `greenlight-server authority serve --key-server-url URL`
//! (through [`HttpKeyServer`]: `/v1/authority/files` and
//! `/v1/authority/revealed`), with its own database.
//!
//! **Architecture Invariant:** the authority stores no patient data. Codes
//! and tokens are stored as hashes next to a report type and one date; the
//! audit log names staff, actions and random handles, never a person; the
//! authority never sees keys or check-ins it certifies (only their HMAC).

pub mod accounts;
pub mod cases;
pub mod codes;
pub mod device;
pub mod error;
pub mod keys;
pub mod portal;
pub mod store;

use axum::Router;
use error::AuthorityError;
use greenlight_api::revealed::{AUTHORITY_HEADER, RevealedPage};
use greenlight_protocol::codec::{from_base64url, to_base64url};
use greenlight_protocol::export::Region;
use greenlight_protocol::index::FileKind;
use greenlight_protocol::time::UnixTime;
use greenlight_service::chaff::LatencyModel;
use greenlight_service::clock::Clock;
use keys::AuthorityKeys;
use std::sync::Arc;
use store::AuthorityStore;

/// A boxed future, for the [`KeyServer`] trait's methods.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the authority needs of a key server: list its signed files, and
/// hand it the visits diagnosed people revealed (spec/authority.md §5.1).
/// [`HttpKeyServer`] talks to one elsewhere; `greenlight-server` runs the
/// authority beside its own key server through an in-process one.
pub trait KeyServer: Send + Sync {
    /// Lists a signed trace batch or policy created at `now`; returns its
    /// content address.
    fn publish<'a>(
        &'a self,
        kind: FileKind,
        sequence: u64,
        bytes: Vec<u8>,
        now: UnixTime,
    ) -> BoxFuture<'a, Result<String, AuthorityError>>;

    /// The highest sequence of `kind` the key server lists (0 if none or
    /// unknown).
    fn last_sequence(&self, kind: FileKind) -> BoxFuture<'_, u64>;

    /// The visits received from hour `since` on that the key server hands
    /// over at `now`; `signing` signs the request where it is needed.
    fn revealed<'a>(
        &'a self,
        since: u64,
        now: UnixTime,
        signing: &'a greenlight_protocol::signing::SigningKey,
    ) -> BoxFuture<'a, Result<RevealedPage, AuthorityError>>;
}

/// A key server elsewhere: `POST /v1/authority/files` and
/// `GET /v1/authority/revealed` at its base URL.
pub struct HttpKeyServer {
    /// Its base URL, without a trailing slash.
    pub url: String,
    /// The HTTP client.
    pub client: reqwest::Client,
}

impl HttpKeyServer {
    /// The key server at `url`.
    pub fn new(url: &str) -> Self {
        HttpKeyServer { url: url.trim_end_matches('/').to_owned(), client: reqwest::Client::new() }
    }

    fn unreachable(&self, doing: &str, e: reqwest::Error) -> AuthorityError {
        AuthorityError::key_server(doing, e, format!("the key server at {} cannot be reached", self.url))
    }
}

impl KeyServer for HttpKeyServer {
    fn publish<'a>(
        &'a self,
        _kind: FileKind,
        _sequence: u64,
        bytes: Vec<u8>,
        _now: UnixTime,
    ) -> BoxFuture<'a, Result<String, AuthorityError>> {
        Box::pin(async move {
            let response = self
                .client
                .post(format!("{}/v1/authority/files", self.url))
                .header("content-type", "application/octet-stream")
                .body(bytes)
                .send()
                .await
                .map_err(|e| self.unreachable("publishing to the key server", e))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if !status.is_success() {
                // The key server's own refusal is meant for the sender.
                let shown = format!("the key server refused the file ({status}): {}", text.trim());
                return Err(AuthorityError::key_server("the key server refused a file", status, shown));
            }
            serde_json::from_str::<greenlight_api::files::ListedFile>(&text).map(|listed| listed.sha256).map_err(|e| {
                AuthorityError::key_server(
                    "reading the key server's answer",
                    e,
                    "the key server's answer is not a listed file",
                )
            })
        })
    }

    fn last_sequence(&self, _kind: FileKind) -> BoxFuture<'_, u64> {
        // Not asked over HTTP: the authority's own records and the key
        // server's refusal of a taken sequence keep sequences apart.
        Box::pin(async { 0 })
    }

    fn revealed<'a>(
        &'a self,
        since: u64,
        now: UnixTime,
        signing: &'a greenlight_protocol::signing::SigningKey,
    ) -> BoxFuture<'a, Result<RevealedPage, AuthorityError>> {
        Box::pin(async move {
            let request = greenlight_protocol::trace::FeedRequest { since: UnixTime(since), at: now };
            let response = self
                .client
                .get(format!("{}/v1/authority/revealed?since={since}", self.url))
                .header(AUTHORITY_HEADER, to_base64url(&request.sign(signing)))
                .send()
                .await
                .map_err(|e| self.unreachable("fetching revealed visits", e))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if !status.is_success() {
                let shown = format!("the key server refused to hand over revealed visits ({status}): {}", text.trim());
                return Err(AuthorityError::key_server("the key server refused the feed request", status, shown));
            }
            serde_json::from_str(&text).map_err(|e| {
                AuthorityError::key_server(
                    "reading revealed visits",
                    e,
                    "the key server's revealed visits are not readable",
                )
            })
        })
    }
}

/// Lists the authority's key set at the key server (protocol §2.3), so
/// that phones and the key server learn which key signs what. Run at every
/// start and retried by the server's jobs until it succeeds; `true` once
/// listed (or when there is no key set to list).
pub async fn publish_key_set(state: &AuthorityState) -> bool {
    let (Some(bytes), Some(set)) = (&state.keys.key_set, state.keys.decoded_key_set()) else { return true };
    match state.key_server.publish(FileKind::KeySet, set.sequence, bytes.clone(), state.now()).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(sequence = set.sequence, error = %e, "listing the key set at the key server failed; will retry");
            false
        }
    }
}

/// Fetches the revealed visits the key server hands over now and adds the
/// new ones to the review queue; returns how many were new. A visit that
/// does not parse is logged and left out (the key server checked it when
/// it accepted the upload).
pub async fn pull_revealed(state: &AuthorityState) -> Result<u64, AuthorityError> {
    let since = state
        .store
        .revealed_cursor()
        .await
        .map_err(|e| AuthorityError::unavailable("reading the revealed cursor", e))?;
    let page =
        state.key_server.revealed(u64::try_from(since).unwrap_or(0), state.now(), &state.keys.certificate).await?;
    let visits: Vec<(Vec<u8>, i64)> = page
        .visits
        .iter()
        .filter_map(|visit| {
            let bytes = from_base64url(&visit.checkin).ok()?;
            match greenlight_protocol::trace::RevealedCheckIn::from_bytes(&bytes) {
                Ok(_) => Some((bytes, i64::try_from(visit.received_hour).unwrap_or(0))),
                Err(e) => {
                    tracing::warn!(error = %e, "the key server handed over a revealed visit that does not parse");
                    None
                }
            }
        })
        .collect();
    let next = i64::try_from(page.next).unwrap_or(since).max(since);
    state
        .store
        .add_revealed(&visits, next, &state.keys.code)
        .await
        .map_err(|e| AuthorityError::unavailable("storing revealed visits", e))
}

/// The health authority's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthoritySettings {
    /// Lifetime of a short code, seconds.
    pub short_code_secs: u64,
    /// Lifetime of a long code, seconds.
    pub long_code_secs: u64,
    /// Codes per UTC day.
    pub daily_code_quota: u64,
    /// Failed short-code verifications allowed per hour.
    pub verify_failures_per_hour: u64,
    /// Lifetime of a verification token, seconds.
    pub token_secs: u64,
}

impl Default for AuthoritySettings {
    fn default() -> Self {
        AuthoritySettings {
            short_code_secs: 15 * 60,
            long_code_secs: 24 * 3600,
            daily_code_quota: 1000,
            verify_failures_per_hour: 100,
            token_secs: 24 * 3600,
        }
    }
}

/// Everything the authority's handlers need.
pub struct AuthorityState {
    /// Code lifetimes, quota, limits.
    pub settings: AuthoritySettings,
    /// Region of published trace batches.
    pub region: Region,
    /// The authority's tables.
    pub store: AuthorityStore,
    /// Signing, trace and code keys.
    pub keys: AuthorityKeys,
    /// The key server: where signed files are published and revealed
    /// visits come from.
    pub key_server: Arc<dyn KeyServer>,
    /// The clock.
    pub clock: Clock,
    /// Whether session cookies are marked `Secure` (not on loopback).
    pub secure_cookies: bool,
    /// Real `/v1/verify` latency, which chaff imitates.
    pub verify_latency: LatencyModel,
    /// Real `/v1/certificate` latency, which chaff imitates.
    pub certificate_latency: LatencyModel,
    /// What portal pages show once after a form was posted
    /// (redirect-after-POST).
    pub flashes: portal::flash::Flashes,
}

impl AuthorityState {
    /// The current time.
    pub fn now(&self) -> UnixTime {
        (self.clock)()
    }

    /// The current time as stored.
    pub fn now_i64(&self) -> i64 {
        i64::try_from(self.now().0).unwrap_or(i64::MAX)
    }
}

/// The authority's routes: the device API and the portal.
pub fn router(state: Arc<AuthorityState>) -> Router {
    device::router(state.clone()).merge(portal::router(state))
}
