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
    /// The server could not be reached or failed; trying again later may
    /// help.
    Network(String),
    /// The server cannot be used as given, and retrying cannot help: the
    /// URL is not valid, the TLS connection failed (certificate, protocol),
    /// or the server refused the request (HTTP 4xx).
    Unusable(String),
    /// The core refused a file (hash, signature, format, rollback) or the
    /// local store failed.
    Phone(greenlight_phone::SyncError),
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Network(e) => write!(f, "cannot reach the key server: {e}"),
            SyncError::Unusable(e) => write!(f, "cannot use the key server: {e}"),
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

/// A failed request in plain words, and whether trying again may help.
/// Library text ("error sending request for url …", "builder error") is
/// replaced by what went wrong: an invalid address, no answer, a refused
/// connection, an unknown host, a failed TLS handshake.
pub fn explain(e: &reqwest::Error) -> (String, bool) {
    let host = e
        .url()
        .map(|u| format!("{}{}", u.host_str().unwrap_or("?"), u.port().map(|p| format!(":{p}")).unwrap_or_default()))
        .unwrap_or_else(|| "the server".into());
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(inner) = source {
        chain.push(inner.to_string());
        source = inner.source();
    }
    let innermost = chain.last().cloned().unwrap_or_default();
    let all = chain.join(": ").to_lowercase();
    if e.is_builder() {
        return (format!("the address is not a valid URL ({innermost})"), false);
    }
    if e.is_timeout() {
        return (format!("{host} did not answer in time"), true);
    }
    // rustls reports a failed handshake (a certificate not trusted, a
    // server that does not speak TLS) as invalid data or in its own words
    // ("invalid peer certificate", "received corrupt message", "received
    // fatal alert") under the connect error.
    let invalid_data = {
        let mut source: Option<&dyn std::error::Error> = Some(e);
        let mut found = false;
        while let Some(inner) = source {
            found |=
                inner.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData);
            source = inner.source();
        }
        found
    };
    let https = e.url().is_some_and(|u| u.scheme() == "https");
    let tls_words = ["certificate", "tls", "handshake", "corrupt message", "peer ", "alert"];
    if https && (invalid_data || tls_words.iter().any(|w| all.contains(w))) {
        return (format!("the secure (TLS) connection to {host} failed: {innermost}"), false);
    }
    if all.contains("connection refused") {
        return (format!("nothing answers at {host} (connection refused): is the server running?"), true);
    }
    if all.contains("dns") || all.contains("lookup") || all.contains("name or service not known") {
        return (format!("cannot find the host {host} (check the address and the network)"), true);
    }
    if e.is_connect() {
        return (format!("cannot connect to {host}: {innermost}"), true);
    }
    (format!("the connection to {host} failed: {innermost}"), true)
}

/// A failed request as a [`SyncError`]: retried or not as [`explain`] says.
pub fn network_error(e: &reqwest::Error) -> SyncError {
    match explain(e) {
        (message, true) => SyncError::Network(message),
        (message, false) => SyncError::Unusable(message),
    }
}

/// An HTTP error status as a [`SyncError`]: 4xx (but 408 and 429) will
/// not change by retrying, 5xx may.
fn status_error(status: reqwest::StatusCode, what: &str) -> SyncError {
    let message = format!("{what}: the server answered HTTP {status}");
    if status.is_client_error()
        && status != reqwest::StatusCode::REQUEST_TIMEOUT
        && status != reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        SyncError::Unusable(message)
    } else {
        SyncError::Network(message)
    }
}

async fn get(http: &reqwest::Client, url: &str, what: &str) -> Result<reqwest::Response, SyncError> {
    let response = http.get(url).send().await.map_err(|e| network_error(&e))?;
    if !response.status().is_success() {
        return Err(status_error(response.status(), what));
    }
    Ok(response)
}

/// Fetches the key server's index and verifies it with the export key:
/// what `greenlight init` checks once, so that a wrong address or key is
/// found at set-up rather than at the first sync.
pub async fn check_server(settings: &Settings, http: &reqwest::Client) -> Result<(), SyncError> {
    let response = get(http, &format!("{}/v1/index", settings.server), "the index").await?;
    let bytes = response.bytes().await.map_err(|e| network_error(&e))?;
    // Only the anchors at set-up: they carry no validity window, so the
    // time does not matter.
    verify_index(&bytes, &settings.trust().keyring(), UnixTime(0))?;
    Ok(())
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
    let response = request.send().await.map_err(|e| network_error(&e))?;
    if response.status() == reqwest::StatusCode::NOT_MODIFIED {
        phone.sync_unchanged(now)?;
        return Ok(SyncReport { unchanged: true, ..SyncReport::default() });
    }
    if !response.status().is_success() {
        return Err(status_error(response.status(), "the index"));
    }
    let etag = response.headers().get("etag").map(|v| v.as_bytes().to_vec());
    let bytes = response.bytes().await.map_err(|e| network_error(&e))?;
    let index = match verify_index(&bytes, &phone.keyring(&trust)?, now) {
        Ok(index) => index,
        // An index signed by a key this phone does not know: perhaps the
        // export key was rotated while it slept. The region's newest key
        // set (signed by the root key the phone holds) says (spec §2.3).
        Err(first) => {
            let set = http.get(format!("{}/v1/trust", settings.server)).send().await.map_err(|e| network_error(&e))?;
            if !set.status().is_success() {
                return Err(first.into());
            }
            let set = set.bytes().await.map_err(|e| network_error(&e))?;
            if !phone.accept_key_set(&set, &trust, now)? {
                return Err(first.into());
            }
            verify_index(&bytes, &phone.keyring(&trust)?, now)?
        }
    };
    let mut plan = phone.begin_sync(&index, now)?;
    while let Some(entry) = plan.next_file() {
        let hash = hex::encode(entry.sha256);
        let url = format!("{}/v1/files/{hash}", settings.server);
        let bytes = get(http, &url, &format!("file {hash}")).await?.bytes().await.map_err(|e| network_error(&e))?;
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
/// seconds, `attempts` tries in all). Rejected files, and failures that
/// retrying cannot mend ([`SyncError::Unusable`]), are not retried.
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
