//! Sync over HTTP: fetch the signed index (conditionally, with its ETag),
//! then each file the core asks for, and hand the bytes to the core, which
//! verifies, matches and stores each file in one step (see
//! [`greenlight_phone::sync`]). An interrupted sync resumes where it
//! stopped; a rejected file changes nothing.

use crate::Phone;
use crate::settings::Settings;
use greenlight_phone::sync::verify_index;
use greenlight_protocol::time::UnixTime;
use std::time::Duration;

pub use greenlight_phone::SCAN_PERIOD_SECS;

/// Why a sync failed.
#[derive(Debug)]
pub enum SyncError {
    /// The server could not be reached or answered an error.
    Network(String),
    /// The core refused a file (hash, signature, format, rollback) or the
    /// local store failed.
    Phone(greenlight_phone::SyncError),
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Network(e) => write!(f, "cannot reach the key server: {e}"),
            SyncError::Phone(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SyncError {}

impl From<greenlight_phone::SyncError> for SyncError {
    fn from(e: greenlight_phone::SyncError) -> Self {
        SyncError::Phone(e)
    }
}

impl From<greenlight_phone::StoreError> for SyncError {
    fn from(e: greenlight_phone::StoreError) -> Self {
        SyncError::Phone(greenlight_phone::SyncError::Store(e))
    }
}

impl SyncError {
    /// Whether the local store failed (the daemon stops on it; anything
    /// else is retried later).
    pub fn is_store(&self) -> bool {
        matches!(self, SyncError::Phone(greenlight_phone::SyncError::Store(_)))
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The index had not changed since the last sync.
    pub unchanged: bool,
    /// Files downloaded and applied.
    pub files: usize,
    /// Published keys checked.
    pub keys: usize,
    /// Exposures found.
    pub exposures: usize,
    /// Sightings of published keys refused (relayed, replayed, tampered).
    pub rejected_sightings: usize,
}

/// Progress of a long sync, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Files done.
    pub done: usize,
    /// Files to do.
    pub total: usize,
}

async fn get(http: &reqwest::Client, url: &str, what: &str) -> Result<reqwest::Response, SyncError> {
    let response = http.get(url).send().await.map_err(|e| SyncError::Network(e.to_string()))?;
    if !response.status().is_success() {
        return Err(SyncError::Network(format!("{what}: HTTP {}", response.status())));
    }
    Ok(response)
}

/// Syncs once. `now` is the phone's clock; `progress` is told after each file.
pub async fn sync(
    phone: &mut Phone,
    settings: &Settings,
    http: &reqwest::Client,
    now: UnixTime,
    progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport, SyncError> {
    let trust = settings.trust();
    let mut request = http.get(format!("{}/v1/index", settings.server));
    if let Some(etag) = phone.index_etag()?.as_deref().and_then(|e| std::str::from_utf8(e).ok()) {
        request = request.header("If-None-Match", etag);
    }
    let response = request.send().await.map_err(|e| SyncError::Network(e.to_string()))?;
    if response.status() == reqwest::StatusCode::NOT_MODIFIED {
        phone.sync_unchanged(now)?;
        return Ok(SyncReport { unchanged: true, ..SyncReport::default() });
    }
    if !response.status().is_success() {
        return Err(SyncError::Network(format!("index: HTTP {}", response.status())));
    }
    let etag = response.headers().get("etag").map(|v| v.as_bytes().to_vec());
    let bytes = response.bytes().await.map_err(|e| SyncError::Network(e.to_string()))?;
    let mut plan = phone.begin_sync(&verify_index(&bytes, &trust)?)?;
    while let Some(entry) = plan.next_file() {
        let hash = hex::encode(entry.sha256);
        let url = format!("{}/v1/files/{hash}", settings.server);
        let bytes = get(http, &url, &format!("file {hash}"))
            .await?
            .bytes()
            .await
            .map_err(|e| SyncError::Network(e.to_string()))?;
        phone.apply_next(&mut plan, &bytes, &trust, now)?;
        let (done, total) = plan.progress();
        progress(Progress { done, total });
    }
    let (applied, _) = phone.finish_sync(plan, etag.as_deref(), now)?;
    Ok(SyncReport {
        unchanged: false,
        files: applied.files,
        keys: applied.keys,
        exposures: applied.exposures,
        rejected_sightings: applied.rejected_sightings,
    })
}

/// Syncs, retrying network failures with exponential backoff (1, 2, 4, …
/// seconds, `attempts` tries in all). Rejected files are not retried.
pub async fn sync_with_retry(
    phone: &mut Phone,
    settings: &Settings,
    http: &reqwest::Client,
    now: impl Fn() -> UnixTime,
    attempts: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport, SyncError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        match sync(phone, settings, http, now(), progress).await {
            Err(SyncError::Network(e)) if attempt < attempts => {
                eprintln!("sync: {e}; retrying in {}s", delay.as_secs());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(300));
                attempt += 1;
            }
            result => return result,
        }
    }
}
