//! Sealing export batches and keeping the signed index current.
//!
//! Sealing is one database transaction: claim every unsealed key whose
//! embargo has passed, add padding keys that clone real keys' metadata,
//! record the file. Only after the commit are the bytes written to file
//! storage. Because the rows (padding included) are durable and Ed25519 is
//! deterministic, a crash between the commit and the write is repaired at
//! the next start by re-sealing from the rows, which gives the same bytes
//! under the same name. A crash before the commit leaves the keys unsealed
//! for the next batch. Either way every accepted key is published exactly
//! once. A write that fails while the server runs (storage full or
//! read-only) is repaired the same way by the next export run.

use crate::files::FileStore;
use crate::store::{FileRow, KeyRow, Sealing, Store};
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::export::{ExportBatch, ExportRecord, Region};
use greenlight_protocol::index::{FileKind, Index, IndexEntry, content_address};
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::signing::SigningKey;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_service::db::StoreError;
use rand_core::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// Name under which the current index is also written to file storage.
pub const INDEX_FILE: &str = "index";

/// Why publishing failed.
#[derive(Debug)]
pub enum PublishError {
    /// The database failed.
    Store(StoreError),
    /// File storage failed.
    Files(std::io::Error),
    /// Stored rows do not form a valid file (a bug or tampered database).
    Invalid(String),
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::Store(e) => write!(f, "{e}"),
            PublishError::Files(e) => write!(f, "file storage error: {e}"),
            PublishError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for PublishError {}

impl From<StoreError> for PublishError {
    fn from(e: StoreError) -> Self {
        PublishError::Store(e)
    }
}

/// The signed index as served: bytes and ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIndex {
    /// The signed file.
    pub bytes: Vec<u8>,
    /// Its content address, used as the ETag.
    pub etag: String,
    /// When it was signed (its `generated_at`).
    pub generated_at: UnixTime,
}

/// The index is signed again when it is this old, even if nothing changed
/// (issue 18 item 15): a phone's freshness is the signed time of the newest
/// index it accepted, so an index never older than this (plus one export
/// interval) is what lets a phone that syncs stay green, and an old index
/// replayed or a `304` forever cannot.
pub const INDEX_REFRESH_SECS: u64 = 30 * 60;

/// What one sealing run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Sequence of the new batch.
    pub sequence: u64,
    /// Real keys in it.
    pub keys: usize,
    /// Padding keys added.
    pub padding: usize,
    /// The file as listed in the index.
    pub file: FileRow,
}

/// The outcome of [`Publisher::publish_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// Newly listed.
    Listed(FileRow),
    /// The same file was listed before.
    AlreadyListed(FileRow),
    /// Another file already has this kind and sequence.
    Conflict,
}

/// Seals batches and maintains the index.
pub struct Publisher {
    store: Store,
    files: Arc<dyn FileStore>,
    key: SigningKey,
    region: Region,
    min_batch_keys: usize,
    default_span_secs: u64,
    index: RwLock<Arc<SignedIndex>>,
    /// A batch was committed but its file or the index could not be written:
    /// the next index rebuild restores the file first.
    needs_repair: AtomicBool,
}

impl Publisher {
    /// The public half of the export key: phones trust it for the index
    /// and the export batches.
    pub fn verifying_key(&self) -> greenlight_protocol::signing::VerifyingKey {
        self.key.verifying_key()
    }

    /// A publisher signing with `key`. Batches are padded to at least
    /// `min_batch_keys` records (plus up to 10 % random jitter); a first
    /// batch covers `default_span_secs` before its end.
    pub fn new(
        store: Store,
        files: Arc<dyn FileStore>,
        key: SigningKey,
        region: Region,
        min_batch_keys: usize,
        default_span_secs: u64,
    ) -> Self {
        Publisher {
            store,
            files,
            key,
            region,
            min_batch_keys,
            default_span_secs: default_span_secs.max(1),
            index: RwLock::new(Arc::new(SignedIndex {
                bytes: Vec::new(),
                etag: String::new(),
                generated_at: UnixTime(0),
            })),
            needs_repair: AtomicBool::new(false),
        }
    }

    /// The current signed index.
    pub fn index(&self) -> Arc<SignedIndex> {
        self.index.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs a file-storage call off the async threads (storage is blocking
    /// I/O, local or remote).
    async fn with_files<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn FileStore) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, PublishError> {
        let files = self.files.clone();
        tokio::task::spawn_blocking(move || call(files.as_ref()))
            .await
            .map_err(|e| PublishError::Invalid(format!("file task failed: {e}")))?
            .map_err(PublishError::Files)
    }

    /// The bytes of a published file, by content address.
    pub async fn file(&self, name: &str) -> Result<Option<Vec<u8>>, PublishError> {
        let name = name.to_owned();
        self.with_files(move |files| files.get(&name)).await
    }

    async fn put(&self, name: String, bytes: Vec<u8>) -> Result<(), PublishError> {
        self.with_files(move |files| files.put(&name, &bytes)).await
    }

    /// Seals one export batch of every key publishable at `now`, if any.
    pub async fn seal(&self, now: UnixTime) -> Result<Option<Sealed>, PublishError> {
        if self.needs_repair.load(Ordering::SeqCst) {
            self.rebuild_index(now).await?;
        }
        let mut sealing = Sealing::begin(&self.store).await?;
        let (sequence, last_end) = sealing.next_sequence(i64::from(FileKind::ExportBatch.to_byte())).await?;
        let now_i = to_i64(now.0)?;
        // The batch ends now, and every record in it is embargo-safe at that
        // end (spec §10.4): the one time a phone checks the records against.
        let end = now_i;
        let real = sealing.claim_publishable(sequence, end).await?;
        if real.is_empty() {
            sealing.rollback().await?;
            let signed_at = self.index.read().unwrap_or_else(|e| e.into_inner()).generated_at;
            if now.0.saturating_sub(signed_at.0) >= INDEX_REFRESH_SECS {
                self.rebuild_index(now).await?;
            }
            return Ok(None);
        }
        tracing::debug!(sequence, keys = real.len(), "sealing an export batch");
        let padding = self.padding_for(&real);
        sealing.add_padding(sequence, hour(now_i), &padding).await?;
        let rows = sealing.batch_keys(sequence).await?;
        let start = last_end.map(|last| last.min(end - 1)).unwrap_or(end - to_i64(self.default_span_secs)?).max(0);
        let bytes = self.export_file(sequence, start, end, &rows)?;
        let file = file_row(FileKind::ExportBatch, sequence, start, end, &bytes)?;
        sealing.record_file(&file).await?;
        sealing.commit().await?;
        // The rows are durable now: should storage fail, the batch is only
        // unlisted until a later run restores its file from them.
        if let Err(e) = self.put(file.sha256.clone(), bytes).await {
            self.needs_repair.store(true, Ordering::SeqCst);
            return Err(e);
        }
        if let Err(e) = self.rebuild_index(now).await {
            self.needs_repair.store(true, Ordering::SeqCst);
            return Err(e);
        }
        Ok(Some(Sealed {
            sequence: u64::try_from(sequence).unwrap_or(0),
            keys: real.len(),
            padding: rows.len() - real.len(),
            file,
        }))
    }

    /// Fake keys with metadata cloned from real ones, so that neither the
    /// number of uploads nor the distribution of days and risks shows.
    fn padding_for(&self, real: &[KeyRow]) -> Vec<KeyRow> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let jitter = usize::try_from(rng.next_u32()).unwrap_or(0) % (self.min_batch_keys / 10 + 1);
        let target = real.len().max(self.min_batch_keys) + jitter;
        (real.len()..target)
            .map(|_| {
                let model = &real[usize::try_from(rng.next_u32()).unwrap_or(0) % real.len()];
                let mut key = vec![0u8; 16];
                rng.fill_bytes(&mut key);
                KeyRow { key, ..model.clone() }
            })
            .collect()
    }

    fn export_file(&self, sequence: i64, start: i64, end: i64, rows: &[KeyRow]) -> Result<Vec<u8>, PublishError> {
        let records = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
        let batch = ExportBatch::new(
            self.region.clone(),
            to_u64(sequence)?,
            UnixTime(to_u64(start)?),
            UnixTime(to_u64(end)?),
            records,
        )
        .map_err(|e| PublishError::Invalid(format!("export batch {sequence} is invalid: {e}")))?;
        Ok(batch.sign(&self.key))
    }

    /// Re-seals export batches whose rows are committed but whose bytes are
    /// missing from file storage (a crash after the commit), checking that
    /// the result is byte-identical to what was recorded. Returns how many
    /// files were restored.
    pub async fn repair(&self) -> Result<usize, PublishError> {
        let mut restored = 0;
        for file in self.store.published_files().await? {
            if file.kind != i64::from(FileKind::ExportBatch.to_byte()) || self.file(&file.sha256).await?.is_some() {
                continue;
            }
            let rows = self.store.batch_keys(file.sequence).await?;
            let bytes = self.export_file(file.sequence, file.start_time, file.end_time, &rows)?;
            if content_hex(&bytes) != file.sha256 {
                return Err(PublishError::Invalid(format!(
                    "export batch {} cannot be restored byte for byte (was the export key replaced?)",
                    file.sequence
                )));
            }
            self.put(file.sha256.clone(), bytes).await?;
            restored += 1;
        }
        Ok(restored)
    }

    /// Lists a file signed elsewhere (a trace batch or color policy from the
    /// health authority) under its own sequence. Publishing the same bytes
    /// again is a no-op; other bytes under a sequence already used are
    /// refused ([`Listing::Conflict`]).
    pub async fn publish_file(
        &self,
        kind: FileKind,
        sequence: u64,
        start: UnixTime,
        end: UnixTime,
        bytes: Vec<u8>,
        now: UnixTime,
    ) -> Result<Listing, PublishError> {
        let file = file_row(kind, to_i64(sequence)?, to_i64(start.0)?, to_i64(end.0)?, &bytes)?;
        let existing = self.store.published_files().await?;
        if let Some(old) = existing.iter().find(|f| f.kind == file.kind && f.sequence == file.sequence) {
            return Ok(if old.sha256 == file.sha256 { Listing::AlreadyListed(old.clone()) } else { Listing::Conflict });
        }
        // Bytes first: a crash before the row is recorded leaves an unlisted
        // file, which is harmless; the reverse would list a missing file.
        self.put(file.sha256.clone(), bytes).await?;
        let mut sealing = Sealing::begin(&self.store).await?;
        sealing.record_file(&file).await?;
        sealing.commit().await?;
        self.rebuild_index(now).await?;
        Ok(Listing::Listed(file))
    }

    /// The highest sequence of `kind` listed (0 if none).
    pub async fn last_sequence(&self, kind: FileKind) -> Result<u64, PublishError> {
        let last = self
            .store
            .published_files()
            .await?
            .iter()
            .filter(|f| f.kind == i64::from(kind.to_byte()))
            .map(|f| f.sequence)
            .max()
            .unwrap_or(0);
        to_u64(last)
    }

    /// Signs a fresh index of every published file.
    pub async fn rebuild_index(&self, now: UnixTime) -> Result<Arc<SignedIndex>, PublishError> {
        // Never list a batch whose file a failed write left missing.
        if self.needs_repair.swap(false, Ordering::SeqCst)
            && let Err(e) = self.repair().await
        {
            self.needs_repair.store(true, Ordering::SeqCst);
            return Err(e);
        }
        let rows = self.store.published_files().await?;
        let entries = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
        let index = Index::new(self.region.clone(), now, entries)
            .map_err(|e| PublishError::Invalid(format!("index is invalid: {e}")))?;
        let bytes = index.sign(&self.key);
        let signed = Arc::new(SignedIndex { etag: content_hex(&bytes), bytes: bytes.clone(), generated_at: now });
        self.put(INDEX_FILE.to_owned(), bytes).await?;
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = signed.clone();
        Ok(signed)
    }

    /// Deletes everything older than `retention_days` days (rows and files)
    /// and re-signs the index.
    pub async fn retention(&self, now: UnixTime, retention_days: u32) -> Result<crate::store::Deleted, PublishError> {
        let oldest_day = now.day().minus(retention_days);
        let oldest_time = to_i64(now.0.saturating_sub(u64::from(retention_days) * 86_400))?;
        let deleted = self.store.delete_expired(i64::from(oldest_day.0), oldest_time, to_i64(now.0)?).await?;
        for file in &deleted.files {
            let name = file.sha256.clone();
            self.with_files(move |files| files.delete(&name)).await?;
        }
        self.rebuild_index(now).await?;
        Ok(deleted)
    }
}

fn record(row: &KeyRow) -> Result<ExportRecord, PublishError> {
    let bad = |what: &str| PublishError::Invalid(format!("stored key has an invalid {what}"));
    Ok(ExportRecord {
        key: PublishedKey(row.key.as_slice().try_into().map_err(|_| bad("length"))?),
        day: DayNumber(u32::try_from(row.day).map_err(|_| bad("day"))?),
        transmission_risk: TransmissionRisk::new(u8::try_from(row.transmission_risk).map_err(|_| bad("risk"))?)
            .map_err(|_| bad("risk"))?,
        report_type: ReportType::from_byte(u8::try_from(row.report_type).map_err(|_| bad("report type"))?)
            .map_err(|_| bad("report type"))?,
    })
}

fn entry(row: &FileRow) -> Result<IndexEntry, PublishError> {
    let bad = || PublishError::Invalid(format!("published file {}/{} is invalid", row.kind, row.sequence));
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(&row.sha256, &mut sha256).map_err(|_| bad())?;
    Ok(IndexEntry {
        kind: FileKind::from_byte(u8::try_from(row.kind).map_err(|_| bad())?).map_err(|_| bad())?,
        sha256,
        size: u32::try_from(row.size).map_err(|_| bad())?,
        start: UnixTime(to_u64(row.start_time)?),
        end: UnixTime(to_u64(row.end_time)?),
        sequence: to_u64(row.sequence)?,
    })
}

fn file_row(kind: FileKind, sequence: i64, start: i64, end: i64, bytes: &[u8]) -> Result<FileRow, PublishError> {
    Ok(FileRow {
        kind: i64::from(kind.to_byte()),
        sequence,
        start_time: start,
        end_time: end,
        sha256: content_hex(bytes),
        size: to_i64(bytes.len() as u64)?,
    })
}

/// Lower-case hex of a file's SHA-256: its name and ETag.
pub fn content_hex(bytes: &[u8]) -> String {
    hex::encode(content_address(bytes))
}

/// How long a color policy or a key set stays listed: retention deletes a
/// file once its span has ended, and phones that join later still need the
/// policy and the keys in force, so their span is long (a newer one
/// supersedes them anyway).
pub const POLICY_LISTING_SECS: u64 = 10 * 365 * 86_400;

/// The span `[start, end)` under which an authority file created at `at` is
/// listed: a trace batch's is one second (retention removes it with the
/// keys), a policy's [`POLICY_LISTING_SECS`].
pub fn listing_span(kind: FileKind, at: UnixTime) -> (UnixTime, UnixTime) {
    match kind {
        FileKind::ColorPolicy | FileKind::KeySet => (at, at.plus(POLICY_LISTING_SECS)),
        _ => (at, at.plus(1)),
    }
}

/// The start of the hour containing `t`: upload times are stored no finer.
pub fn hour(t: i64) -> i64 {
    t - t.rem_euclid(3600)
}

fn to_i64(v: u64) -> Result<i64, PublishError> {
    i64::try_from(v).map_err(|_| PublishError::Invalid(format!("time {v} out of range")))
}

fn to_u64(v: i64) -> Result<u64, PublishError> {
    u64::try_from(v).map_err(|_| PublishError::Invalid(format!("value {v} out of range")))
}
