//! Sync without the network: verified bytes in, exposures out.
//!
//! A driver fetches the signed index and hands it to
//! [`Phone::begin_sync`], which refuses an index older than one already seen
//! and lists the files not applied yet ([`SyncPlan`]). The driver fetches
//! each in turn and hands its bytes to [`Phone::apply_next`]: the file is
//! checked against the index's hash and its signature, matched locally, and
//! its exposures and the new sync position are stored in one atomic step,
//! so an interrupted sync resumes where it stopped and a file is never
//! half-applied. [`Phone::finish_sync`] then moves the clock floor, forgets
//! what is past the retention window and records the color.
//!
//! Matching rules (spec §6): a published key matches the sightings of its
//! IDs inside each ID's interval plus the clock tolerance, only if its day
//! had ended plus the embargo by the batch's publication time (the smaller
//! of its signed end and now); each scan window in which the key was heard
//! becomes one contact with the mean attenuation heard in it, computed
//! with this phone's own RSSI correction (spec §6.4).

use crate::report::ReportLog;
use crate::store::{Exposure, Store, StoreError};
use crate::{Phone, time_state};
use greenlight_protocol::checkin::{SealedCheckIn, VenueMatcher};
use greenlight_protocol::color::ColorDecision;
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::export::{ExportBatch, Region};
use greenlight_protocol::index::{FileKind, Index, IndexEntry};
use greenlight_protocol::matcher::{KeyMatch, MatchConfig, Sighting, SightingIndex};
use greenlight_protocol::policy::{ColorPolicy, POLICY_MAGIC};
use greenlight_protocol::report::TransmissionRisk;
use greenlight_protocol::signing::{KeyId, SignedFile, TrustedKeys};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::{TRACE_BATCH_MAGIC, TraceBatch, TraceEntry};
use greenlight_protocol::trust::{KEY_SET_MAGIC, KeySet, Keyring, Purpose};
use std::collections::HashSet;

/// State name of the clock floor: the newest index generation time seen.
pub(crate) const CLOCK_FLOOR: &str = "clock_floor";
/// State name of the last completed sync.
pub(crate) const LAST_SYNC: &str = "last_sync";

/// How far after the phone's clock an index may be signed and still be
/// accepted (spec §11.3): clocks disagree by seconds to minutes, a server
/// an hour or more ahead is wrong.
pub const INDEX_CLOCK_TOLERANCE_SECS: u64 = 10 * 60;
/// State name of the index's ETag, for a conditional fetch.
const INDEX_ETAG: &str = "index_etag";
/// State name of the newest verified policy (its signed bytes).
const POLICY: &str = "policy";
/// State name of the newest accepted key set (its signed bytes).
const KEY_SET: &str = "key_set";
/// State name of the region of the newest index applied (its code).
pub(crate) const REGION: &str = "region";

/// The keys a phone is set up with (its anchors): the key server's export
/// key and the health authority's root key. Every other key comes from the
/// region's key set (spec §2.3): [`Phone::keyring`] joins the two.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The key server's export keys: the index and export batches, until a
    /// key set names the export keys.
    pub export: TrustedKeys,
    /// The health authority's (root) keys: key sets; before any key set,
    /// also trace batches and policies.
    pub authority: TrustedKeys,
}

impl Trust {
    /// The anchors alone, before any key set.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(self.export.clone(), self.authority.clone())
    }
}

/// Why a sync step failed. Nothing of the failing step was stored.
#[derive(Debug)]
pub enum SyncError {
    /// A file failed its hash, signature or format, or would roll the
    /// phone back: rejected, not applied.
    Rejected(String),
    /// The driver called out of order (a file that is not the next one, a
    /// finish before every file).
    OutOfOrder(String),
    /// The local store failed.
    Store(StoreError),
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Rejected(e) => write!(f, "rejected a file from the key server: {e}"),
            SyncError::OutOfOrder(e) => write!(f, "sync steps out of order: {e}"),
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

/// Verifies a downloaded index with the export keys trusted at `now` (see
/// [`Phone::keyring`]).
pub fn verify_index(bytes: &[u8], keys: &Keyring, now: UnixTime) -> Result<Index, SyncError> {
    Index::verify(bytes, &keys.trusted(Purpose::Export, now))
        .map_err(|e| SyncError::Rejected(format!("the index: {e}")))
}

/// A file checked against its index entry and verified.
#[derive(Debug, Clone)]
pub enum VerifiedFile {
    /// A color policy, with its signed bytes (kept to be re-read).
    Policy(ColorPolicy, Vec<u8>),
    /// A trace batch (venue alerts).
    Trace(TraceBatch),
    /// An export batch (published keys).
    Export(ExportBatch),
    /// The region's key set, with its signed bytes.
    KeySet(KeySet, Vec<u8>),
    /// A file signed by a key the key set lists for its kind but whose
    /// window has ended (a retired or revoked key): skipped, never applied
    /// (spec §2.3).
    Retired(FileKind),
}

impl VerifiedFile {
    /// Checks `bytes` against `entry`'s hash and verifies its signature
    /// with the keys `keys` trusts at `now` for the file's kind (spec
    /// §2.3): export batches with the export keys, policies with the policy
    /// keys, trace batches with the tracing keys, key sets with the root
    /// keys. Verification depends only on the bytes and the keyring, so
    /// phones with the same keyring may share the result.
    pub fn verify(entry: &IndexEntry, bytes: &[u8], keys: &Keyring, now: UnixTime) -> Result<Self, SyncError> {
        let name = format!("{:?} #{}", entry.kind, entry.sequence);
        entry.check(bytes).map_err(|_| SyncError::Rejected(format!("{name} does not match the index")))?;
        let magic = match entry.kind {
            FileKind::ColorPolicy => POLICY_MAGIC,
            FileKind::TraceBatch => *TRACE_BATCH_MAGIC,
            FileKind::ExportBatch => greenlight_protocol::export::EXPORT_MAGIC,
            FileKind::KeySet => KEY_SET_MAGIC,
        };
        let purpose = Purpose::signing(&magic).expect("every listed kind has a signing purpose");
        if retired(keys, purpose, &magic, bytes, now) {
            return Ok(VerifiedFile::Retired(entry.kind));
        }
        let rejected = |e: greenlight_protocol::Error| SyncError::Rejected(format!("{name}: {e}"));
        let trusted = keys.trusted(purpose, now);
        let file = match entry.kind {
            FileKind::ColorPolicy => {
                VerifiedFile::Policy(ColorPolicy::verify(bytes, &trusted).map_err(rejected)?, bytes.to_vec())
            }
            FileKind::TraceBatch => VerifiedFile::Trace(TraceBatch::verify(bytes, &trusted).map_err(rejected)?),
            FileKind::ExportBatch => VerifiedFile::Export(ExportBatch::verify(bytes, &trusted).map_err(rejected)?),
            FileKind::KeySet => {
                VerifiedFile::KeySet(KeySet::verify(bytes, &trusted).map_err(rejected)?, bytes.to_vec())
            }
        };
        // The file's own signed fields must say what its index entry says
        // (spec §11.4): a file listed under another number or span would
        // make the phone skip, or believe it had, the file really there.
        let (sequence, span) = match &file {
            VerifiedFile::Policy(policy, _) => (u64::from(policy.sequence()), None),
            VerifiedFile::Trace(batch) => (batch.sequence, None),
            VerifiedFile::Export(batch) => (batch.sequence(), Some((batch.start(), batch.end()))),
            VerifiedFile::KeySet(set, _) => (set.sequence, None),
            VerifiedFile::Retired(_) => return Ok(file),
        };
        if sequence != entry.sequence {
            return Err(SyncError::Rejected(format!("{name}: the file says it is #{sequence}")));
        }
        if span.is_some_and(|span| span != (entry.start, entry.end)) {
            return Err(SyncError::Rejected(format!("{name}: the file covers another span than its index entry")));
        }
        Ok(file)
    }

    /// The region a file names, if its format carries one.
    fn region(&self) -> Option<&Region> {
        match self {
            VerifiedFile::Policy(..) | VerifiedFile::Retired(_) => None,
            VerifiedFile::Trace(batch) => Some(&batch.region),
            VerifiedFile::Export(batch) => Some(batch.region()),
            VerifiedFile::KeySet(set, _) => Some(&set.region),
        }
    }

    fn kind(&self) -> FileKind {
        match self {
            VerifiedFile::Policy(..) => FileKind::ColorPolicy,
            VerifiedFile::Trace(_) => FileKind::TraceBatch,
            VerifiedFile::Export(_) => FileKind::ExportBatch,
            VerifiedFile::KeySet(..) => FileKind::KeySet,
            VerifiedFile::Retired(kind) => *kind,
        }
    }
}

/// Whether `bytes` names, as its signer, a key the accepted key set lists
/// for `purpose` but whose window has ended at `now`: a file of a retired
/// or revoked key, skipped rather than refused so that one such file left
/// listed cannot stop every later sync (spec §2.3). A key not listed at
/// all, or not valid yet, is refused as before.
fn retired(keys: &Keyring, purpose: Purpose, magic: &[u8; 8], bytes: &[u8], now: UnixTime) -> bool {
    let (Some(set), Ok(file)) = (keys.key_set(), SignedFile::parse(magic, bytes)) else { return false };
    let listed: Vec<_> = set.listed(purpose).filter(|e| KeyId::of(&e.key) == file.key_id).collect();
    !listed.is_empty() && listed.iter().all(|e| e.not_after <= now)
}

/// One sync in progress: the verified index and the files still to apply.
#[derive(Debug)]
pub struct SyncPlan {
    /// The index's signed generation time: the clock floor once done.
    generated_at: UnixTime,
    /// The index's region: every file must name it.
    region: Region,
    todo: Vec<IndexEntry>,
    next: usize,
    /// Every policy the index lists: fetched again from the first if a new
    /// key set ends the policy in use.
    policies: Vec<IndexEntry>,
    sightings: Option<SightingIndex>,
    keys: Option<HashSet<PublishedKey>>,
    checkins: Option<HashSet<(DayNumber, [u8; 16])>>,
    report: Applied,
}

impl SyncPlan {
    /// The file to fetch and apply next; `None` when every file is applied.
    pub fn next_file(&self) -> Option<&IndexEntry> {
        self.todo.get(self.next)
    }

    /// Files applied and files in all, for a progress bar.
    pub fn progress(&self) -> (usize, usize) {
        (self.next, self.todo.len())
    }

    /// What the sync has done so far.
    pub fn report(&self) -> &Applied {
        &self.report
    }

    /// Matches the rest of this sync's export batches against `sightings`
    /// instead of every stored sighting. For a caller that has learnt, from
    /// work shared by many phones (deriving each published key's IDs once),
    /// which of this phone's stored sightings carry a published ID: a key
    /// matches only sightings of its own IDs, so the result is the same.
    pub fn only_sightings(&mut self, sightings: Vec<Sighting>) {
        self.sightings = Some(SightingIndex::new(sightings, MatchConfig::default()));
    }

    /// Matches only these published keys of the rest of this sync's export
    /// batches. For a caller that has learnt, from shared work, that no
    /// other published key carries an ID of a sighting this phone stored:
    /// such a key cannot match, so the exposures are the same (only
    /// [`Applied::keys`] counts fewer keys checked).
    pub fn only_keys(&mut self, keys: impl IntoIterator<Item = PublishedKey>) {
        self.keys = Some(keys.into_iter().collect());
    }

    /// Opens the rest of this sync's trace entries only against the stored
    /// check-ins with these (day, tag): for a caller that knows the other
    /// records are at venues the batch does not trace (an entry opens only
    /// records of its own poster epoch), so the result is the same.
    pub fn only_checkins(&mut self, records: impl IntoIterator<Item = (DayNumber, [u8; 16])>) {
        self.checkins = Some(records.into_iter().collect());
    }
}

/// What applying files found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Files applied.
    pub files: usize,
    /// Published keys checked (those the matcher looked at: see
    /// [`SyncPlan::only_keys`]).
    pub keys: usize,
    /// Exposures found.
    pub exposures: usize,
    /// Sightings of published keys refused (relayed, replayed, tampered).
    pub rejected_sightings: usize,
}

impl<S: Store> Phone<S> {
    /// The ETag of the index last applied, for a conditional fetch.
    pub fn index_etag(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.store.state(INDEX_ETAG)?.filter(|etag| !etag.is_empty()))
    }

    /// Starts a sync with a verified index (see [`verify_index`]) at the
    /// phone's `now`: refuses an index older than one already seen (a stale
    /// cache or a replay cannot roll the phone back) and one signed more
    /// than [`INDEX_CLOCK_TOLERANCE_SECS`] after `now` (a server clock
    /// ahead, or this phone's behind, must not raise the clock floor past
    /// the true time and lock the phone out of every later index), and
    /// lists the files not applied yet: policies, then trace batches, then
    /// export batches.
    pub fn begin_sync(&mut self, index: &Index, now: UnixTime) -> Result<SyncPlan, SyncError> {
        if index.generated_at().0 > now.0.saturating_add(INDEX_CLOCK_TOLERANCE_SECS) {
            return Err(SyncError::Rejected(format!(
                "the index is dated {}, ahead of this device's clock ({}): check the date and time of this \
                 device; if they are right, the key server's clock is wrong and nothing from it is applied",
                index.generated_at().iso_minute(),
                now.iso_minute()
            )));
        }
        let floor = self.clock_floor()?;
        if index.generated_at() < floor {
            return Err(SyncError::Rejected(format!(
                "the index is older ({}) than one already seen ({})",
                index.generated_at().iso_minute(),
                floor.iso_minute()
            )));
        }
        let mut todo = Vec::new();
        // Key sets first: they decide which keys verify the rest.
        for kind in [FileKind::KeySet, FileKind::ColorPolicy, FileKind::TraceBatch, FileKind::ExportBatch] {
            todo.extend_from_slice(index.entries_after(kind, self.store.synced(kind)?));
        }
        Ok(SyncPlan {
            generated_at: index.generated_at(),
            region: index.region().clone(),
            todo,
            next: 0,
            policies: index.entries_after(FileKind::ColorPolicy, 0).to_vec(),
            sightings: None,
            keys: None,
            checkins: None,
            report: Applied::default(),
        })
    }

    /// Verifies the next file's bytes and applies it (see
    /// [`Phone::apply_verified`]).
    pub fn apply_next(
        &mut self,
        plan: &mut SyncPlan,
        bytes: &[u8],
        trust: &Trust,
        now: UnixTime,
    ) -> Result<Applied, SyncError> {
        let entry = plan.next_file().ok_or_else(|| SyncError::OutOfOrder("every file is already applied".into()))?;
        let file = VerifiedFile::verify(entry, bytes, &self.keyring(trust)?, now)?;
        self.apply_verified(plan, &entry.clone(), &file, now)
    }

    /// Applies the plan's next file, already verified against `entry`:
    /// matches it and stores its exposures with the new sync position in
    /// one step. `now` is the phone's clock.
    pub fn apply_verified(
        &mut self,
        plan: &mut SyncPlan,
        entry: &IndexEntry,
        file: &VerifiedFile,
        now: UnixTime,
    ) -> Result<Applied, SyncError> {
        if plan.next_file() != Some(entry) || file.kind() != entry.kind {
            return Err(SyncError::OutOfOrder(format!(
                "{:?} #{} is not the next file of this sync",
                entry.kind, entry.sequence
            )));
        }
        if file.region().is_some_and(|region| region != &plan.region) {
            return Err(SyncError::Rejected(format!(
                "{:?} #{} is a file of region {}, listed in the index of {}",
                entry.kind,
                entry.sequence,
                file.region().map_or("", Region::as_str),
                &plan.region
            )));
        }
        let mut applied = Applied { files: 1, ..Applied::default() };
        match file {
            VerifiedFile::Retired(kind) => self.store.apply(*kind, entry.sequence, &[], &[])?,
            VerifiedFile::KeySet(set, bytes) => {
                let newer = self.key_set()?.is_none_or(|current| set.sequence > current.sequence);
                let state: Vec<(&str, &[u8])> = if newer { vec![(KEY_SET, bytes)] } else { Vec::new() };
                self.store.apply(entry.kind, entry.sequence, &[], &state)?;
                if newer && self.retire_untrusted_policy(now)? {
                    // The policy in use ended with its key: this sync
                    // fetches every listed policy again, in place of those
                    // it planned, and keeps the newest a trusted key signed.
                    let rest = plan.todo.split_off(plan.next + 1);
                    plan.todo.extend(plan.policies.iter().copied());
                    plan.todo.extend(rest.into_iter().filter(|e| e.kind != FileKind::ColorPolicy));
                }
            }
            VerifiedFile::Policy(policy, bytes) => {
                let newer = match self.policy()? {
                    Some(current) => policy.supersedes(&current),
                    None => true,
                };
                let state: Vec<(&str, &[u8])> = if newer { vec![(POLICY, bytes)] } else { Vec::new() };
                self.store.apply(entry.kind, entry.sequence, &[], &state)?;
            }
            VerifiedFile::Trace(batch) => {
                let mut records: Vec<SealedCheckIn> = match &plan.checkins {
                    // No record at a traced venue: nothing to read.
                    Some(only) if only.is_empty() => Vec::new(),
                    _ => self.store.checkins()?,
                };
                if let Some(only) = &plan.checkins {
                    records.retain(|r| only.contains(&(r.day, r.tag)));
                }
                // The visits this phone revealed in its own report are the
                // case's, not an exposure (spec §8.3).
                let own = ReportLog::load(&self.store)?.revealed;
                records.retain(|r| !own.contains(&(r.day, r.tag)));
                let exposures = if records.is_empty() {
                    Vec::new()
                } else {
                    let days = self.store.checkin_days()?;
                    venue_exposures(&VenueMatcher::new(&days, records), &batch.entries, now)
                };
                applied.exposures = exposures.len();
                self.store.apply(entry.kind, entry.sequence, &exposures, &[])?;
            }
            VerifiedFile::Export(batch) => {
                if plan.sightings.is_none() {
                    plan.sightings = Some(SightingIndex::new(self.store.sightings()?, MatchConfig::default()));
                }
                let index = plan.sightings.as_ref().expect("built above");
                // Publication time: the smaller of the signed end and now (spec §6.2).
                let published_at = batch.end().min(now);
                let records: Vec<usize> = match &plan.keys {
                    Some(only) => {
                        (0..batch.records().len()).filter(|&i| only.contains(&batch.records()[i].key)).collect()
                    }
                    None => (0..batch.records().len()).collect(),
                };
                let keys = records.iter().map(|&i| (batch.records()[i].key, batch.records()[i].day));
                let (matches, stats) = index.match_keys(keys, published_at);
                applied.keys = usize::try_from(stats.keys).unwrap_or(usize::MAX);
                let mut exposures = Vec::new();
                for m in &matches {
                    applied.rejected_sightings += m.rejected.len();
                    let record = &batch.records()[records[m.key]];
                    exposures.extend(contacts(index, m, record.transmission_risk.level(), self.calibration));
                }
                applied.exposures = exposures.len();
                self.store.apply(entry.kind, entry.sequence, &exposures, &[])?;
            }
        }
        plan.next += 1;
        plan.report.files += applied.files;
        plan.report.keys += applied.keys;
        plan.report.exposures += applied.exposures;
        plan.report.rejected_sightings += applied.rejected_sightings;
        Ok(applied)
    }

    /// Ends a sync whose every file was applied: the index's time becomes
    /// the clock floor, its `etag` is kept for the next conditional fetch,
    /// the sync time is recorded, the past is forgotten and the color is
    /// computed and recorded.
    pub fn finish_sync(
        &mut self,
        plan: SyncPlan,
        etag: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<(Applied, ColorDecision), SyncError> {
        if let Some(entry) = plan.next_file() {
            return Err(SyncError::OutOfOrder(format!(
                "{:?} #{} and later files are not applied yet",
                entry.kind, entry.sequence
            )));
        }
        let floor = self.clock_floor()?.max(plan.generated_at);
        self.store.set_state(CLOCK_FLOOR, &floor.0.to_le_bytes())?;
        if let Some(etag) = etag {
            self.store.set_state(INDEX_ETAG, etag)?;
        }
        self.store.set_state(REGION, plan.region.as_str().as_bytes())?;
        Ok((plan.report, self.synced_at(now)?))
    }

    /// Records a sync that found the index unchanged (HTTP 304).
    pub fn sync_unchanged(&mut self, now: UnixTime) -> Result<ColorDecision, StoreError> {
        self.synced_at(now)
    }

    fn synced_at(&mut self, now: UnixTime) -> Result<ColorDecision, StoreError> {
        self.store.set_state(LAST_SYNC, &now.0.to_le_bytes())?;
        self.housekeeping(now)?;
        self.status_and_record(now)
    }

    /// When the last sync completed, by this phone's clock (a `304`
    /// included): when the phone last heard from the key server. It is
    /// not what keeps the phone fresh: [`Phone::fresh_as_of`] is.
    pub fn last_sync(&self) -> Result<Option<UnixTime>, StoreError> {
        time_state(&self.store, LAST_SYNC)
    }

    /// How fresh what the phone knows is, at `now` (spec §11.3, issue 18
    /// item 15): the signed time of the newest index it has applied, capped
    /// at `now`; `None` before the first sync. Neither a `304` nor an old
    /// index replayed nor the phone's clock at the time of a sync moves it,
    /// so a phone whose syncs "succeed" against a server that never signs a
    /// new index, or whose clock runs ahead, turns stale.
    pub fn fresh_as_of(&self, now: UnixTime) -> Result<Option<UnixTime>, StoreError> {
        if self.last_sync()?.is_none() {
            return Ok(None);
        }
        Ok(Some(self.clock_floor()?.min(now)))
    }

    /// The newest verified policy the phone holds.
    pub fn policy(&self) -> Result<Option<ColorPolicy>, StoreError> {
        let Some(bytes) = self.store.state(POLICY)?.filter(|b| !b.is_empty()) else { return Ok(None) };
        // It was verified when stored; parse the body again without a key.
        let file = SignedFile::parse(&POLICY_MAGIC, &bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        ColorPolicy::decode_body(file.body).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The newest key set this phone accepted (spec §2.3), if any.
    pub fn key_set(&self) -> Result<Option<KeySet>, StoreError> {
        let Some(bytes) = self.store.state(KEY_SET)?.filter(|b| !b.is_empty()) else { return Ok(None) };
        // It was verified when stored; parse the body again without a key.
        let file = SignedFile::parse(&KEY_SET_MAGIC, &bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        KeySet::decode_body(file.body).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// [`Phone::key_set`], decoded again only when its stored bytes differ
    /// from those decoded last (the same bytes decode to the same set).
    fn key_set_cached(&mut self) -> Result<Option<KeySet>, StoreError> {
        let Some(bytes) = self.store.state(KEY_SET)?.filter(|b| !b.is_empty()) else { return Ok(None) };
        if let Some((cached, set)) = &self.key_set
            && *cached == bytes
        {
            return Ok(Some(set.clone()));
        }
        let file = SignedFile::parse(&KEY_SET_MAGIC, &bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let set = KeySet::decode_body(file.body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.key_set = Some((bytes, set.clone()));
        Ok(Some(set))
    }

    /// What this phone trusts: its anchors `trust` and the newest key set it
    /// accepted. Drivers verify the index and files with it.
    pub fn keyring(&self, trust: &Trust) -> Result<Keyring, StoreError> {
        let mut keys = trust.keyring();
        if let Some(set) = self.key_set()? {
            keys.restore(set);
        }
        Ok(keys)
    }

    /// Accepts a key set fetched outside a sync (`GET /v1/trust`, for a
    /// phone that slept through an export key's rotation and can no longer
    /// verify the index, spec §2.3): verified with the root keys trusted at
    /// `now`, kept if newer than the one held. Returns whether it was new.
    pub fn accept_key_set(&mut self, bytes: &[u8], trust: &Trust, now: UnixTime) -> Result<bool, SyncError> {
        let mut keys = self.keyring(trust)?;
        let rejected = |e: greenlight_protocol::Error| SyncError::Rejected(format!("the key set: {e}"));
        // The region of the set held, else the one the fetched set names
        // (a root key is its region's alone).
        let region = match keys.key_set() {
            Some(held) => held.region.clone(),
            None => {
                KeySet::decode_body(SignedFile::parse(&KEY_SET_MAGIC, bytes).map_err(rejected)?.body)
                    .map_err(rejected)?
                    .region
            }
        };
        let newer = keys.accept(bytes, &region, now).map_err(rejected)?;
        if newer {
            self.store.set_state(KEY_SET, bytes)?;
            self.retire_untrusted_policy(now)?;
        }
        Ok(newer)
    }

    /// Drops the policy in use if the accepted key set no longer trusts the
    /// key that signed it (spec §2.3, §13.3): the built-in default applies
    /// until the next sync, which fetches the listed policies again from
    /// the first and keeps the newest one a trusted key signed. (A stolen
    /// policy key's policy with sequence 2³²−1 ends with the key.)
    /// Returns whether it dropped one.
    pub(crate) fn retire_untrusted_policy(&mut self, now: UnixTime) -> Result<bool, StoreError> {
        let Some(set) = self.key_set_cached()? else { return Ok(false) };
        let Some(bytes) = self.store.state(POLICY)?.filter(|b| !b.is_empty()) else { return Ok(false) };
        let mut keys = Keyring::default();
        keys.restore(set);
        if keys.signer_trusted(&POLICY_MAGIC, &bytes, now) {
            return Ok(false);
        }
        // The next sync fetches the index again even if it is unchanged.
        self.store.apply(FileKind::ColorPolicy, 0, &[], &[(POLICY, &[]), (INDEX_ETAG, &[])])?;
        Ok(true)
    }
}

/// Turns a key's verified sightings into contacts by the protocol's one
/// rule ([`greenlight_protocol::contact::key_contacts`], spec §6.4): one
/// per scan window in which the phone heard it, with the floor of the mean
/// attenuation heard in that window, each attenuation the sender's
/// advertised power minus this phone's calibrated RSSI, capped at 255.
pub fn contacts(
    index: &SightingIndex,
    m: &KeyMatch,
    risk: u8,
    receiver: greenlight_protocol::calibration::Calibration,
) -> Vec<Exposure> {
    // The risk comes from a decoded export record, so it is in range.
    let Ok(level) = TransmissionRisk::new(risk) else { return Vec::new() };
    greenlight_protocol::contact::key_contacts(index, m, level, receiver)
        .into_iter()
        .map(|c| Exposure::Ble {
            day: c.day.0,
            attenuation_db: c.attenuation_db,
            seconds: c.seconds,
            transmission_risk: risk,
        })
        .collect()
}

/// Opens the check-ins that `entries` trace and turns each into an
/// exposure: the visit, its minutes inside the traced window and the
/// authority's message. `now` is the phone's clock (spec §8.3): a visit
/// that began at or after the window's end was not there with the case and
/// gives no exposure, and a visit still in progress counts only up to now,
/// never up to its planned automatic check-out.
pub fn venue_exposures(matcher: &VenueMatcher, entries: &[TraceEntry], now: UnixTime) -> Vec<Exposure> {
    matcher
        .match_entries(entries)
        .into_iter()
        .filter(|m| m.visit.arrival.minutes() < entries[m.entry].window_end.minutes())
        .map(|m| {
            let entry = &entries[m.entry];
            let mut visit = m.visit;
            if visit.departure > now {
                visit.departure = now.max(visit.arrival);
            }
            // The protocol's one rule for the overlap and its day (spec §8.3, §14.1).
            let exposure = visit.exposure(entry.window_start, entry.window_end);
            Exposure::Venue {
                day: exposure.day.0,
                start: exposure.start.0,
                end: exposure.end.0,
                overlap_minutes: u32::from(exposure.overlap_minutes),
                venue_kind: exposure.kind.to_byte(),
                venue: visit.info.name,
                message: m.message,
            }
        })
        .collect()
}

/// The built-in default policy (the recommended one, version 0), for a
/// phone that has no signed policy: it has not synced yet (it is stale
/// then anyway), or no policy was published.
pub(crate) fn fallback_policy() -> ColorPolicy {
    ColorPolicy::recommended(0, UnixTime(0))
}
