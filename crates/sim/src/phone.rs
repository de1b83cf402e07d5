//! A resident's phone: its daily keys and advertisements, the sightings it
//! recorded, its sealed check-ins and visit diary, its own diagnosis, and
//! the sync that turns the key server's files into a color — the steps the
//! real client will take, kept in memory.

use crate::error::{During, SimError};
use crate::exposure::{ble_contacts, venue_exposures};
use crate::key_server::{KeyServer, Upload};
use crate::radio::TX_POWER_DBM;
use greenlight_protocol::advert::{ADVERTISEMENT_LEN, Advertisement, ServiceUuid};
use greenlight_protocol::certificate::{UPLOAD_HMAC_LEN, UploadHmacKey, UploadedKey, upload_hmac};
use greenlight_protocol::checkin::{CheckInDay, CheckInDayKey, SealedCheckIn, VenueMatcher};
use greenlight_protocol::color::{ColorDecision, ColorInputs, Diagnosis, decide};
use greenlight_protocol::daily_key::{DailyKey, Metadata};
use greenlight_protocol::export::ExportBatch;
use greenlight_protocol::index::{FileKind, Index, IndexEntry};
use greenlight_protocol::matcher::{MatchConfig, Rejection, Sighting, SightingIndex};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::report::TransmissionRisk;
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::{DayNumber, IntervalNumber, UnixTime};
use greenlight_protocol::trace::{RevealedCheckIn, TraceBatch, TraceEntry};
use greenlight_protocol::venue::{Epoch, Poster};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;

/// The service UUID every simulated phone advertises and scans for.
pub(crate) const SERVICE_UUID: ServiceUuid = ServiceUuid::PLACEHOLDER;
/// Clock error a phone allows when checking that a poster is live.
pub(crate) const POSTER_CLOCK_TOLERANCE_SECS: u64 = 120;
/// Transmission risk the walkthrough's phone gives every uploaded key. A
/// real client derives it from the days between each key and the symptom
/// onset or test; the walkthrough's keys are the test day and the day
/// before, both of high risk.
const UPLOAD_TRANSMISSION_RISK: u8 = 6;

/// Which keys a phone trusts for what.
pub(crate) struct PhoneTrust {
    /// The key server's export keys: the index and export batches.
    pub(crate) key_server: TrustedKeys,
    /// The health authority's keys: trace batches and the color policy.
    pub(crate) authority: TrustedKeys,
}

/// A visit as the diary keeps it, to reveal it after a diagnosis.
struct DiaryEntry {
    poster_text: String,
    arrival: UnixTime,
    departure: UnixTime,
}

/// A check-in as the phone reports it to its owner.
pub(crate) struct CheckedIn {
    /// The venue's name from the verified poster.
    pub(crate) venue: String,
    /// The poster's epoch.
    pub(crate) epoch: Epoch,
    /// Length of the scanned QR text.
    pub(crate) qr_chars: usize,
}

/// An upload before the authority has certified it.
pub(crate) struct PreparedUpload {
    /// What the phone sends the authority: the HMAC, never the keys.
    pub(crate) hmac: [u8; UPLOAD_HMAC_LEN],
    keys: Vec<UploadedKey>,
    revealed_checkins: Vec<Vec<u8>>,
    hmac_key: UploadHmacKey,
}

impl PreparedUpload {
    /// The released keys.
    pub(crate) fn keys(&self) -> &[UploadedKey] {
        &self.keys
    }

    /// The revealed check-ins' encodings.
    pub(crate) fn revealed_checkins(&self) -> &[Vec<u8>] {
        &self.revealed_checkins
    }

    /// The upload to send to the key server with the certificate.
    pub(crate) fn certified(self, certificate: Vec<u8>) -> Upload {
        Upload { keys: self.keys, revealed_checkins: self.revealed_checkins, hmac_key: self.hmac_key, certificate }
    }
}

/// A sighting of a published key that the matcher refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RejectedSighting {
    /// When this phone heard it.
    pub(crate) seen_at: UnixTime,
    /// The interval the ID belongs to.
    pub(crate) interval: Option<IntervalNumber>,
    /// Why it does not count.
    pub(crate) reason: Rejection,
}

/// A check-in that a published trace entry opened.
#[derive(Debug, Clone)]
pub(crate) struct VenueHit {
    /// The venue's name.
    pub(crate) venue: String,
    /// The visit as this phone recorded it.
    pub(crate) arrival: UnixTime,
    /// Its end.
    pub(crate) departure: UnixTime,
    /// The traced window.
    pub(crate) window: (UnixTime, UnixTime),
    /// Minutes of the visit inside it.
    pub(crate) overlap_minutes: u32,
    /// The authority's message for visitors.
    pub(crate) message: String,
}

/// What one sync verified, matched and decided.
pub(crate) struct SyncReport {
    /// Files downloaded and checked against their index entries.
    pub(crate) files: usize,
    /// Published keys downloaded.
    pub(crate) keys: usize,
    /// Of those, keys with at least one sighting of their IDs.
    pub(crate) keys_matched: usize,
    /// Sightings accepted as exposures.
    pub(crate) accepted: usize,
    /// Sightings of published keys that were refused.
    pub(crate) rejected: Vec<RejectedSighting>,
    /// Trace entries downloaded.
    pub(crate) trace_entries: usize,
    /// Check-ins this phone holds.
    pub(crate) check_ins: usize,
    /// Check-ins that a trace entry opened.
    pub(crate) venue_hits: Vec<VenueHit>,
    /// What the color was computed from.
    pub(crate) inputs: ColorInputs,
    /// The color and its explanation.
    pub(crate) decision: ColorDecision,
}

/// One resident's phone.
pub(crate) struct Phone {
    daily_keys: BTreeMap<DayNumber, DailyKey>,
    sightings: Vec<Sighting>,
    check_in_keys: BTreeMap<DayNumber, CheckInDayKey>,
    check_ins: Vec<SealedCheckIn>,
    diary: Vec<DiaryEntry>,
    diagnosis: Option<Diagnosis>,
}

impl Phone {
    /// A phone with a fresh daily key for each of `days`.
    pub(crate) fn new(days: &[DayNumber], rng: &mut ChaCha20Rng) -> Self {
        Phone {
            daily_keys: days.iter().map(|&d| (d, DailyKey::generate(rng))).collect(),
            sightings: Vec::new(),
            check_in_keys: BTreeMap::new(),
            check_ins: Vec::new(),
            diary: Vec::new(),
            diagnosis: None,
        }
    }

    /// The 31-byte packet this phone broadcasts at `now`: the ID of the
    /// current interval and its sealed metadata. `None` without a key for
    /// the day.
    pub(crate) fn advertise(&self, now: UnixTime) -> Option<[u8; ADVERTISEMENT_LEN]> {
        let schedule = self.daily_keys.get(&now.day())?.schedule(now.day());
        let id = schedule.id(now.interval().slot());
        let metadata = schedule.seal_metadata(&id, Metadata::v1(TX_POWER_DBM));
        Some(Advertisement { id, metadata }.encode(SERVICE_UUID))
    }

    /// Decodes a received packet and records the sighting.
    pub(crate) fn hear(&mut self, packet: &[u8], rssi: i8, now: UnixTime) -> Result<(), SimError> {
        let ad = Advertisement::decode(packet, SERVICE_UUID).during("phone decodes an advertisement")?;
        self.sightings.push(Sighting { id: ad.id, metadata: ad.metadata, rssi, seen_at: now });
        Ok(())
    }

    /// How many sightings the phone holds.
    pub(crate) fn sighting_count(&self) -> usize {
        self.sightings.len()
    }

    /// Scans a poster's QR text and checks in: the poster's signature and
    /// live window are checked, the visit is sealed to the epoch's trace
    /// key under the day's check-in key, and the diary keeps the poster.
    pub(crate) fn check_in(
        &mut self,
        poster_text: &str,
        arrival: UnixTime,
        departure: UnixTime,
        rng: &mut ChaCha20Rng,
    ) -> Result<CheckedIn, SimError> {
        let poster = Poster::from_text(poster_text).during("phone reads the poster")?;
        poster.check_live(arrival, POSTER_CLOCK_TOLERANCE_SECS).during("phone checks the poster is live")?;
        let day = poster.epoch().day();
        let key = self.check_in_keys.entry(day).or_insert_with(|| CheckInDayKey::generate(day, rng));
        let record = poster.check_in(key, arrival, departure, rng).during("phone seals the check-in")?;
        // A rescan of the same epoch yields the same tag: replace, not add.
        self.check_ins.retain(|r| (r.day, r.tag) != (record.day, record.tag));
        self.check_ins.push(record);
        self.diary.push(DiaryEntry { poster_text: poster_text.to_owned(), arrival, departure });
        Ok(CheckedIn { venue: poster.info().name.clone(), epoch: poster.epoch(), qr_chars: poster_text.len() })
    }

    /// After a positive test: releases the daily keys of `days` (drawing a
    /// fresh key for the rest of today, so the phone never broadcasts under
    /// a published key), reveals every diary visit, and computes the HMAC
    /// the authority will certify.
    pub(crate) fn prepare_upload(
        &mut self,
        days: &[DayNumber],
        now: UnixTime,
        rng: &mut ChaCha20Rng,
    ) -> Result<PreparedUpload, SimError> {
        let risk = TransmissionRisk::new(UPLOAD_TRANSMISSION_RISK).during("phone sets transmission risk")?;
        let mut keys = Vec::new();
        for &day in days {
            let key = self
                .daily_keys
                .remove(&day)
                .ok_or_else(|| SimError::story("phone releases its keys", "no daily key for that day"))?;
            keys.push(UploadedKey { key: key.release(), day, transmission_risk: risk });
            if day == now.day() {
                self.daily_keys.insert(day, DailyKey::generate(rng));
            }
        }
        let mut revealed_checkins = Vec::new();
        for visit in &self.diary {
            let poster = Poster::from_text(&visit.poster_text).during("phone reveals a check-in")?;
            let revealed = RevealedCheckIn { poster, arrival: visit.arrival, departure: visit.departure };
            revealed_checkins.push(revealed.to_bytes());
        }
        let hmac_key = UploadHmacKey::generate(rng);
        let refs: Vec<&[u8]> = revealed_checkins.iter().map(Vec::as_slice).collect();
        let hmac = upload_hmac(&hmac_key, &keys, &refs).during("phone computes the upload HMAC")?;
        Ok(PreparedUpload { hmac, keys, revealed_checkins, hmac_key })
    }

    /// Records the phone's own confirmed diagnosis.
    pub(crate) fn record_diagnosis(&mut self, diagnosis: Diagnosis) {
        self.diagnosis = Some(diagnosis);
    }

    /// Syncs with the key server as the real client will: verifies the
    /// index, checks every file against its entry, verifies each file's
    /// signature, matches keys and trace entries locally, and decides the
    /// color at `now`.
    pub(crate) fn sync(&self, server: &KeyServer, trust: &PhoneTrust, now: UnixTime) -> Result<SyncReport, SimError> {
        let index_bytes = server.index().ok_or_else(|| SimError::story("phone syncs", "nothing published yet"))?;
        let index = Index::verify(index_bytes, &trust.key_server).during("phone verifies the index")?;
        let mut files = 0;
        let mut fetch = |entry: &IndexEntry| -> Result<&[u8], SimError> {
            let bytes = server
                .file(&entry.file_name())
                .ok_or_else(|| SimError::story("phone downloads a file", "the index lists a file nobody serves"))?;
            entry.check(bytes).during("phone checks a file against its index entry")?;
            files += 1;
            Ok(bytes)
        };

        let mut policy: Option<ColorPolicy> = None;
        for entry in index.entries_after(FileKind::ColorPolicy, 0) {
            let candidate = ColorPolicy::verify(fetch(entry)?, &trust.authority).during("phone verifies the policy")?;
            if policy.is_none_or(|current| candidate.supersedes(&current)) {
                policy = Some(candidate);
            }
        }
        let policy = policy.ok_or_else(|| SimError::story("phone syncs", "the index lists no color policy"))?;

        let mut inputs = ColorInputs { now, last_sync: Some(now), diagnosis: self.diagnosis, ..ColorInputs::default() };
        let sightings = SightingIndex::new(self.sightings.clone(), MatchConfig::default());
        let (mut keys, mut keys_matched, mut accepted, mut rejected) = (0, 0, 0, Vec::new());
        for entry in index.entries_after(FileKind::ExportBatch, 0) {
            let batch =
                ExportBatch::verify(fetch(entry)?, &trust.key_server).during("phone verifies an export batch")?;
            if batch.region() != index.region() {
                return Err(SimError::story("phone verifies an export batch", "it belongs to another region"));
            }
            keys += batch.records().len();
            let published = batch.records().iter().map(|r| (r.key, r.day));
            // The publication time is the earlier of the signed end and when
            // this phone first obtained the batch (spec §6.2): now.
            let (matches, _stats) = sightings.match_keys(published, batch.end().min(now));
            for matched in &matches {
                let record = batch.records()[matched.key];
                keys_matched += 1;
                accepted += matched.sightings.len();
                inputs.ble.extend(ble_contacts(matched, sightings.sightings(), record.transmission_risk));
                let ids = record.key.schedule(record.day).all_ids();
                for &(position, reason) in &matched.rejected {
                    let sighting = &sightings.sightings()[position];
                    let slot = ids.iter().position(|id| *id == sighting.id).and_then(|s| u8::try_from(s).ok());
                    let interval = slot.map(|s| record.day.interval(s));
                    rejected.push(RejectedSighting { seen_at: sighting.seen_at, interval, reason });
                }
            }
        }

        let mut entries: Vec<TraceEntry> = Vec::new();
        for entry in index.entries_after(FileKind::TraceBatch, 0) {
            let batch = TraceBatch::verify(fetch(entry)?, &trust.authority).during("phone verifies a trace batch")?;
            entries.extend(batch.entries);
        }
        let days: Vec<CheckInDay> = self.check_in_keys.values().map(CheckInDayKey::public).collect();
        let matcher = VenueMatcher::new(&days, self.check_ins.clone());
        let mut venue_hits = Vec::new();
        for hit in matcher.match_entries(&entries) {
            let entry = &entries[hit.entry];
            let visit = &hit.visit;
            inputs.venues.extend(venue_exposures(visit.arrival, visit.departure, entry.window_start, entry.window_end));
            venue_hits.push(VenueHit {
                venue: visit.info.name.clone(),
                arrival: visit.arrival,
                departure: visit.departure,
                window: (entry.window_start, entry.window_end),
                overlap_minutes: hit.overlap_minutes,
                message: hit.message,
            });
        }

        let decision = decide(&policy, &inputs);
        Ok(SyncReport {
            files,
            keys,
            keys_matched,
            accepted,
            rejected,
            trace_entries: entries.len(),
            check_ins: self.check_ins.len(),
            venue_hits,
            inputs,
            decision,
        })
    }
}
