//! Sync: fetch the signed index, download only what is new, verify every
//! file, match locally, and record what was found.
//!
//! Each downloaded file is applied in one transaction together with the new
//! sync position, so an interrupted sync resumes where it stopped and a
//! file is never half-applied. A file that fails its hash or signature is
//! rejected and reported; nothing from it is kept.

use crate::settings::Settings;
use crate::store::{Exposure, Store, StoreError};
use greenlight_protocol::checkin::VenueMatcher;
use greenlight_protocol::export::ExportBatch;
use greenlight_protocol::index::{FileKind, Index, IndexEntry};
use greenlight_protocol::matcher::{MatchConfig, SightingIndex};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::{TraceBatch, TraceEntry};
use std::collections::BTreeMap;
use std::time::Duration;

/// Seconds between scans of the daemon's duty cycle; each sighting stands
/// for this much time near the other phone.
pub const SCAN_PERIOD_SECS: u64 = 300;

/// Why a sync failed.
#[derive(Debug)]
pub enum SyncError {
    /// The server could not be reached or answered an error.
    Network(String),
    /// A file failed its hash, signature or format: rejected, not applied.
    Rejected(String),
    /// The local store failed.
    Store(StoreError),
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Network(e) => write!(f, "cannot reach the key server: {e}"),
            SyncError::Rejected(e) => write!(f, "rejected a file from the key server: {e}"),
            SyncError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SyncError {}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Store(e)
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

/// Syncs once. `now` is the phone's clock; `progress` is told after each file.
pub async fn sync(
    store: &Store,
    settings: &Settings,
    http: &reqwest::Client,
    now: UnixTime,
    progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let etag = store.state("index_etag").await?;
    let mut request = http.get(format!("{}/v1/index", settings.server));
    if let Some(etag) = etag.as_deref().and_then(|e| std::str::from_utf8(e).ok()) {
        request = request.header("If-None-Match", etag);
    }
    let response = request.send().await.map_err(|e| SyncError::Network(e.to_string()))?;
    if response.status() == reqwest::StatusCode::NOT_MODIFIED {
        store.set_state("last_sync", &now.0.to_le_bytes()).await?;
        housekeeping(store, now).await?;
        report.unchanged = true;
        return Ok(report);
    }
    if !response.status().is_success() {
        return Err(SyncError::Network(format!("index: HTTP {}", response.status())));
    }
    let new_etag = response.headers().get("etag").map(|v| v.as_bytes().to_vec());
    let bytes = response.bytes().await.map_err(|e| SyncError::Network(e.to_string()))?;
    let index =
        Index::verify(&bytes, &settings.export_keys()).map_err(|e| SyncError::Rejected(format!("the index: {e}")))?;
    // A stale cache or a replayed index cannot roll the phone back.
    let floor = store.time_state("clock_floor").await?.unwrap_or_default();
    if index.generated_at() < floor {
        return Err(SyncError::Rejected(format!(
            "the index is older ({}) than one already seen ({})",
            index.generated_at().iso_minute(),
            floor.iso_minute()
        )));
    }

    let mut todo: Vec<IndexEntry> = Vec::new();
    for kind in [FileKind::ColorPolicy, FileKind::TraceBatch, FileKind::ExportBatch] {
        todo.extend_from_slice(index.entries_after(kind, store.synced(kind.to_byte()).await?));
    }
    let total = todo.len();
    let mut sightings: Option<SightingIndex> = None;
    for (done, entry) in todo.iter().enumerate() {
        let url = format!("{}/v1/files/{}", settings.server, hex::encode(entry.sha256));
        let response = http.get(&url).send().await.map_err(|e| SyncError::Network(e.to_string()))?;
        if !response.status().is_success() {
            return Err(SyncError::Network(format!("file {}: HTTP {}", hex::encode(entry.sha256), response.status())));
        }
        let bytes = response.bytes().await.map_err(|e| SyncError::Network(e.to_string()))?;
        let name = format!("{:?} #{}", entry.kind, entry.sequence);
        entry.check(&bytes).map_err(|_| SyncError::Rejected(format!("{name} does not match the index")))?;
        let kind = entry.kind.to_byte();
        match entry.kind {
            FileKind::ColorPolicy => {
                let policy = ColorPolicy::verify(&bytes, &settings.authority_keys())
                    .map_err(|e| SyncError::Rejected(format!("{name}: {e}")))?;
                let newer = match current_policy(store).await? {
                    Some(current) => policy.supersedes(&current),
                    None => true,
                };
                let state: Vec<(&str, &[u8])> = if newer { vec![("policy", &bytes)] } else { Vec::new() };
                store.apply(kind, entry.sequence, &[], &state).await?;
            }
            FileKind::TraceBatch => {
                let batch = TraceBatch::verify(&bytes, &settings.authority_keys())
                    .map_err(|e| SyncError::Rejected(format!("{name}: {e}")))?;
                let matcher = VenueMatcher::new(&store.checkin_days().await?, store.checkins().await?);
                let exposures = venue_exposures(&matcher, &batch.entries);
                report.exposures += exposures.len();
                store.apply(kind, entry.sequence, &exposures, &[]).await?;
            }
            FileKind::ExportBatch => {
                let batch = ExportBatch::verify(&bytes, &settings.export_keys())
                    .map_err(|e| SyncError::Rejected(format!("{name}: {e}")))?;
                if sightings.is_none() {
                    sightings = Some(SightingIndex::new(store.sightings().await?, MatchConfig::default()));
                }
                let index = sightings.as_ref().expect("built above");
                // Publication time: the smaller of the signed end and now (spec §6.2).
                let published_at = batch.end().min(now);
                let keys = batch.records().iter().map(|r| (r.key, r.day));
                let (matches, stats) = index.match_keys(keys, published_at);
                report.keys += usize::try_from(stats.keys).unwrap_or(usize::MAX);
                let mut exposures = Vec::new();
                for m in &matches {
                    report.rejected_sightings += m.rejected.len();
                    let record = &batch.records()[m.key];
                    exposures.extend(contacts(index, m, record.transmission_risk.level()));
                }
                report.exposures += exposures.len();
                store.apply(kind, entry.sequence, &exposures, &[]).await?;
            }
        }
        report.files += 1;
        progress(Progress { done: done + 1, total });
    }
    let floor = floor.max(index.generated_at());
    store.set_state("clock_floor", &floor.0.to_le_bytes()).await?;
    if let Some(etag) = new_etag {
        store.set_state("index_etag", &etag).await?;
    }
    store.set_state("last_sync", &now.0.to_le_bytes()).await?;
    housekeeping(store, now).await?;
    crate::status::status_and_record(store, now).await?;
    Ok(report)
}

/// Keeps only what the protocol says to keep: 14 days of everything, and
/// check-in day keys' secrets only until no epoch of their day can be live
/// (spec §8.1). Runs after every successful sync.
pub async fn housekeeping(store: &Store, now: UnixTime) -> Result<(), StoreError> {
    store.retention(now, RETENTION_DAYS).await?;
    store.erase_old_checkin_secrets(now).await?;
    Ok(())
}

/// Days the phone keeps keys, sightings, check-ins and exposures.
pub const RETENTION_DAYS: u32 = 14;

/// Turns a key's verified sightings into contacts: one per scan window in
/// which the phone heard it, with the mean attenuation heard in that window.
/// Public so that the town simulation scores its phones' matches exactly as
/// a phone does.
pub fn contacts(index: &SightingIndex, m: &greenlight_protocol::matcher::KeyMatch, risk: u8) -> Vec<Exposure> {
    let mut windows: BTreeMap<u64, Vec<i32>> = BTreeMap::new();
    for verified in &m.sightings {
        let s = &index.sightings()[verified.sighting];
        let attenuation = i32::from(verified.metadata.tx_power) - i32::from(s.rssi);
        windows.entry(s.seen_at.0 / SCAN_PERIOD_SECS).or_default().push(attenuation.max(0));
    }
    windows
        .values()
        .map(|a| {
            let mean = a.iter().sum::<i32>() / i32::try_from(a.len()).unwrap_or(1);
            Exposure::Ble {
                day: m.day.0,
                attenuation_db: u8::try_from(mean.clamp(0, 255)).unwrap_or(u8::MAX),
                seconds: u32::try_from(SCAN_PERIOD_SECS).unwrap_or(u32::MAX),
                transmission_risk: risk,
            }
        })
        .collect()
}

/// Opens the check-ins that `entries` trace and turns each into an
/// exposure: the visit, its minutes inside the traced window and the
/// authority's message. Public so that the town simulation matches its
/// phones' check-ins exactly as a phone does.
pub fn venue_exposures(matcher: &VenueMatcher, entries: &[TraceEntry]) -> Vec<Exposure> {
    matcher
        .match_entries(entries)
        .into_iter()
        .map(|m| {
            // The overlap starts at the later of arrival and the traced window.
            let start = m.visit.arrival.max(entries[m.entry].window_start);
            Exposure::Venue {
                day: start.day().0,
                start: m.visit.arrival.0,
                end: m.visit.departure.0,
                overlap_minutes: m.overlap_minutes,
                venue: m.visit.info.name.clone(),
                message: m.message,
            }
        })
        .collect()
}

/// The newest verified policy the phone holds.
pub async fn current_policy(store: &Store) -> Result<Option<ColorPolicy>, StoreError> {
    let Some(bytes) = store.state("policy").await? else { return Ok(None) };
    // It was verified when stored; parse the body again without trusting a key.
    let file = greenlight_protocol::signing::SignedFile::parse(&greenlight_protocol::policy::POLICY_MAGIC, &bytes)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    ColorPolicy::decode_body(file.body).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Syncs, retrying network failures with exponential backoff (1, 2, 4, …
/// seconds, `attempts` tries in all). Rejected files are not retried.
pub async fn sync_with_retry(
    store: &Store,
    settings: &Settings,
    http: &reqwest::Client,
    now: impl Fn() -> UnixTime,
    attempts: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport, SyncError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        match sync(store, settings, http, now(), progress).await {
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
