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
pub mod keys;
pub mod portal;
pub mod store;

use crate::chaff::LatencyModel;
use crate::config::AuthoritySettings;
use crate::publisher::{Listing, Publisher};
use crate::state::Clock;
use axum::Router;
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
    /// address, or a message saying why not.
    pub async fn publish(
        &self,
        kind: FileKind,
        sequence: u64,
        start: UnixTime,
        end: UnixTime,
        bytes: Vec<u8>,
        now: UnixTime,
    ) -> Result<String, String> {
        match self {
            PublishTarget::InProcess(publisher) => {
                match publisher.publish_file(kind, sequence, start, end, bytes, now).await {
                    Ok(Listing::Listed(file) | Listing::AlreadyListed(file)) => Ok(file.sha256),
                    Ok(Listing::Conflict) => {
                        Err(format!("the key server already lists another file with sequence {sequence}"))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "listing an authority file failed");
                        Err("the key server could not store the file; nothing was published".into())
                    }
                }
            }
            PublishTarget::KeyServer { url, client } => {
                let response = client
                    .post(format!("{}/v1/authority/files", url.trim_end_matches('/')))
                    .header("content-type", "application/octet-stream")
                    .body(bytes)
                    .send()
                    .await
                    .map_err(|e| format!("the key server at {url} cannot be reached: {e}"))?;
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if !status.is_success() {
                    return Err(format!("the key server refused the file ({status}): {}", text.trim()));
                }
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["sha256"].as_str().map(str::to_owned))
                    .ok_or_else(|| "the key server's answer has no content address".into())
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
