//! The health authority: upload codes and certificates for diagnosed
//! people, venue alerts, the color policy, and the staff portal that drives
//! them — in the same binary as the key server, with its own router.
//!
//! - [`device`]: `POST /v1/verify` and `POST /v1/certificate`, the two calls
//!   a phone makes (chaff and fixed-size answers like `/v1/publish`).
//! - [`portal`]: the server-rendered staff pages under `/portal`.
//! - [`accounts`], [`codes`], [`keys`], [`store`]: staff and sessions, upload
//!   codes, the authority's secrets and `authority init`, its tables.
//!
//! The authority runs inside the key server when `greenlight-server
//! authority init` was run in the data directory (it then publishes trace
//! batches and policies through the key server's [`Publisher`] directly),
//! or alone with `greenlight-server authority serve --key-server-url URL`
//! (it then posts them to the key server's `/v1/authority/files`).
//!
//! **Architecture Invariant:** the authority stores no patient data. Codes
//! and tokens are stored as hashes next to a report type and one date; the
//! audit log names staff, actions and random handles, never a person; the
//! authority never sees keys or check-ins it certifies (only their HMAC).

pub mod accounts;
pub mod codes;
pub mod device;
pub mod error;
pub mod keys;
pub mod portal;
pub mod store;

use crate::chaff::LatencyModel;
use crate::config::AuthoritySettings;
use crate::publisher::{Listing, Publisher};
use crate::state::Clock;
use axum::Router;
use error::AuthorityError;
use greenlight_api::revealed::{AUTHORITY_HEADER, RevealedPage};
use greenlight_protocol::codec::{from_base64url, to_base64url};
use greenlight_protocol::export::Region;
use greenlight_protocol::index::FileKind;
use greenlight_protocol::time::UnixTime;
use keys::AuthorityKeys;
use std::sync::Arc;
use store::AuthorityStore;

/// Where signed trace batches and policies go.
pub enum PublishTarget {
    /// The key server in this process.
    InProcess(Arc<Publisher>),
    /// A key server elsewhere, through its `POST /v1/authority/files`.
    KeyServer {
        /// Its base URL.
        url: String,
        /// The HTTP client.
        client: reqwest::Client,
    },
}

impl PublishTarget {
    /// Lists a signed file in the key server's index; returns its content
    /// address.
    pub async fn publish(
        &self,
        kind: FileKind,
        sequence: u64,
        start: UnixTime,
        end: UnixTime,
        bytes: Vec<u8>,
        now: UnixTime,
    ) -> Result<String, AuthorityError> {
        match self {
            PublishTarget::InProcess(publisher) => {
                match publisher.publish_file(kind, sequence, start, end, bytes, now).await {
                    Ok(Listing::Listed(file) | Listing::AlreadyListed(file)) => Ok(file.sha256),
                    Ok(Listing::Conflict) => Err(AuthorityError::new(
                        axum::http::StatusCode::CONFLICT,
                        "sequence_taken",
                        format!("the key server already lists another file with sequence {sequence}"),
                    )),
                    Err(e) => Err(AuthorityError::key_server(
                        "listing an authority file failed",
                        e,
                        "the key server could not store the file; nothing was published",
                    )),
                }
            }
            PublishTarget::KeyServer { url, client } => {
                let response = client
                    .post(format!("{}/v1/authority/files", url.trim_end_matches('/')))
                    .header("content-type", "application/octet-stream")
                    .body(bytes)
                    .send()
                    .await
                    .map_err(|e| {
                        AuthorityError::key_server(
                            "publishing to the key server",
                            e,
                            format!("the key server at {url} cannot be reached"),
                        )
                    })?;
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if !status.is_success() {
                    // The key server's own refusal is meant for the sender.
                    let shown = format!("the key server refused the file ({status}): {}", text.trim());
                    return Err(AuthorityError::key_server("the key server refused a file", status, shown));
                }
                serde_json::from_str::<greenlight_api::files::ListedFile>(&text).map(|listed| listed.sha256).map_err(
                    |e| {
                        AuthorityError::key_server(
                            "reading the key server's answer",
                            e,
                            "the key server's answer is not a listed file",
                        )
                    },
                )
            }
        }
    }

    /// The highest sequence of `kind` the key server lists (0 if none or
    /// unknown).
    pub async fn last_sequence(&self, kind: FileKind) -> u64 {
        match self {
            PublishTarget::InProcess(publisher) => publisher.last_sequence(kind).await.unwrap_or(0),
            PublishTarget::KeyServer { .. } => 0,
        }
    }
}

/// Where the visits diagnosed people revealed come from: the key server
/// that received the uploads, which hands them over in batches
/// (spec/authority.md §5.1).
pub enum RevealedSource {
    /// The key server in this process, through its store.
    InProcess {
        /// The key server's database.
        store: crate::store::Store,
        /// Its batch period, seconds.
        delay_secs: u64,
    },
    /// A key server elsewhere, through its `GET /v1/authority/revealed`.
    KeyServer {
        /// Its base URL.
        url: String,
        /// The HTTP client.
        client: reqwest::Client,
    },
}

impl RevealedSource {
    /// The visits received from hour `since` on that the key server hands
    /// over now; `signing` signs the request to a key server elsewhere.
    pub async fn fetch(
        &self,
        since: u64,
        now: UnixTime,
        signing: &greenlight_protocol::signing::SigningKey,
    ) -> Result<RevealedPage, AuthorityError> {
        match self {
            RevealedSource::InProcess { store, delay_secs } => crate::revealed::page(store, since, now, *delay_secs)
                .await
                .map_err(|e| AuthorityError::unavailable("reading revealed visits", e)),
            RevealedSource::KeyServer { url, client } => {
                let request = greenlight_protocol::trace::FeedRequest { since: UnixTime(since), at: now };
                let response = client
                    .get(format!("{}/v1/authority/revealed?since={since}", url.trim_end_matches('/')))
                    .header(AUTHORITY_HEADER, to_base64url(&request.sign(signing)))
                    .send()
                    .await
                    .map_err(|e| {
                        AuthorityError::key_server(
                            "fetching revealed visits",
                            e,
                            format!("the key server at {url} cannot be reached"),
                        )
                    })?;
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if !status.is_success() {
                    let shown =
                        format!("the key server refused to hand over revealed visits ({status}): {}", text.trim());
                    return Err(AuthorityError::key_server("the key server refused the feed request", status, shown));
                }
                serde_json::from_str(&text).map_err(|e| {
                    AuthorityError::key_server(
                        "reading revealed visits",
                        e,
                        "the key server's revealed visits are not readable",
                    )
                })
            }
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
    let page = state.revealed.fetch(u64::try_from(since).unwrap_or(0), state.now(), &state.keys.signing).await?;
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
    state.store.add_revealed(&visits, next).await.map_err(|e| AuthorityError::unavailable("storing revealed visits", e))
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
    /// Where signed files are published.
    pub target: PublishTarget,
    /// Where revealed visits come from.
    pub revealed: RevealedSource,
    /// The clock.
    pub clock: Clock,
    /// Whether session cookies are marked `Secure` (not on loopback).
    pub secure_cookies: bool,
    /// Real `/v1/verify` latency, which chaff imitates.
    pub verify_latency: LatencyModel,
    /// Real `/v1/certificate` latency, which chaff imitates.
    pub certificate_latency: LatencyModel,
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
