//! Reporting a diagnosis, without the network: which keys and visits a
//! diagnosed resident uploads, the HMAC the health authority certifies, and
//! what the phone records once the upload went through.
//!
//! A driver calls [`Phone::start_report`] (refused when there is nothing to
//! report, before any code is spent), exchanges the upload code with the
//! authority, turns the draft into an [`Upload`] with the visits the
//! resident agreed to reveal ([`ReportDraft::upload`], which releases the
//! keys), has the HMAC certified and publishes; only then does
//! [`Phone::complete_report`] mark the keys released (never broadcast
//! again), record the diagnosis and remember the report: when, and which
//! of its own check-ins it revealed, so that the phone is never alerted
//! about them and a second report with nothing new says when the first
//! one was made.
//!
//! An upload may hold keys, revealed visits or both: a phone that only
//! checks in (Bluetooth off) reports its visits alone. A visit still in
//! progress is revealed as ending at the report time, never at its planned
//! automatic check-out: nobody knows yet how long the person will stay,
//! and an alert must not reach people who come after they left.

use crate::Phone;
use crate::store::{Secret, Store, StoreError};
use greenlight_protocol::certificate::{
    DAYS_AROUND_CERTIFICATE_DAY, UPLOAD_HMAC_LEN, UploadHmacKey, UploadedKey, upload_hmac,
};
use greenlight_protocol::color::Diagnosis;
use greenlight_protocol::daily_key::DailyKey;
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::RevealedCheckIn;
use rand_core::CryptoRng;

/// Why a report cannot be made. Nothing was stored.
#[derive(Debug)]
pub enum ReportError {
    /// Neither a key nor a visit of the last 14 days to report (a device
    /// that never broadcast and never checked in, or kept no diary).
    NothingToReport,
    /// This device reported at this time and has nothing new since.
    AlreadyReported(UnixTime),
    /// None of the device's keys lies within 14 days of the code's day
    /// and no visit was chosen to reveal: nothing would be uploaded.
    NothingForCodeDay(DayNumber),
    /// A visit to reveal that is not one of this phone's revealable visits
    /// (not in the diary, or older than 14 days): the resident can only
    /// agree to reveal what the phone offered.
    NotRevealable(String),
    /// The upload could not be encoded (too many keys or visits).
    Invalid(String),
    /// The local store failed.
    Store(StoreError),
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::NothingToReport => f.write_str(
                "nothing to report: this device has no Bluetooth keys of the last 14 days (it has not been \
                 broadcasting) and no visits of the last 14 days in its diary. The code was not used: report with \
                 it from the phone you carried, or tell the health authority",
            ),
            ReportError::AlreadyReported(at) => write!(
                f,
                "already reported on {} UTC: this device's keys and the visits it revealed were uploaded then, and \
                 it has nothing new to report. The code was not used",
                at.iso_minute()
            ),
            ReportError::NothingForCodeDay(day) => write!(
                f,
                "nothing to upload: none of this device's keys lies within 14 days of the code's date ({}) and no \
                 visit was chosen to reveal",
                day.iso_date()
            ),
            ReportError::NotRevealable(what) => {
                write!(f, "{what} is not one of this device's visits of the last 14 days: not revealed")
            }
            ReportError::Invalid(e) => write!(f, "cannot build the upload: {e}"),
            ReportError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReportError {}

impl From<StoreError> for ReportError {
    fn from(e: StoreError) -> Self {
        ReportError::Store(e)
    }
}

/// What the health authority said about an upload code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeFacts {
    /// How the diagnosis was established.
    pub report_type: ReportType,
    /// The symptom-onset or test day.
    pub day: DayNumber,
    /// Whether `day` is the symptom onset (else the test date).
    pub symptom_onset: bool,
}

/// How infectious the person probably was on `key_day`, from the days
/// since symptom onset (or the test date): highest from two days before
/// onset to five after, as in Corona-Warn-App's mapping; lowest far away.
pub fn transmission_risk(key_day: DayNumber, day: DayNumber, symptom_onset: bool) -> TransmissionRisk {
    let d = i64::from(key_day.0) - i64::from(day.0);
    let level = if symptom_onset {
        match d {
            -2..=5 => 8,
            -4..=-3 | 6..=9 => 5,
            _ => 2,
        }
    } else {
        match d {
            -5..=2 => 6,
            -9..=-6 => 4,
            _ => 2,
        }
    };
    TransmissionRisk::new(level).expect("levels here are at most 8")
}

/// A sealed check-in record's day and look-up tag.
type RecordId = (DayNumber, [u8; 16]);

/// A report being prepared: the keys it would publish and the visits the
/// resident may choose to reveal.
pub struct ReportDraft {
    keys: Vec<(DayNumber, DailyKey)>,
    revealable: Vec<RevealedCheckIn>,
    /// The record of each revealable visit, in the same order.
    records: Vec<RecordId>,
    now: UnixTime,
}

impl std::fmt::Debug for ReportDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportDraft")
            .field("days", &self.keys.iter().map(|(d, _)| d).collect::<Vec<_>>())
            .field("revealable", &self.revealable.len())
            .finish()
    }
}

/// Everything one report uploads.
#[derive(Debug)]
pub struct Upload {
    /// The released keys with their days and transmission risks.
    pub keys: Vec<UploadedKey>,
    /// The revealed check-ins, encoded as bound into the HMAC.
    pub checkins: Vec<Vec<u8>>,
    /// The HMAC key (sent to the key server, never to the authority).
    pub hmac_key: UploadHmacKey,
    /// The HMAC of keys and check-ins (sent to the authority to certify).
    pub hmac: [u8; UPLOAD_HMAC_LEN],
    /// The diagnosis the code certified, recorded once published.
    pub diagnosis: Diagnosis,
    /// The records of the revealed visits: the phone's own, never alerted
    /// about once published.
    pub revealed_records: Vec<(DayNumber, [u8; 16])>,
    /// When the report was prepared.
    pub reported_at: UnixTime,
}

impl Upload {
    /// The days whose keys it publishes.
    pub fn days(&self) -> Vec<DayNumber> {
        self.keys.iter().map(|k| k.day).collect()
    }
}

/// What a finished report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// Days whose keys were published.
    pub days: Vec<DayNumber>,
    /// Check-ins revealed.
    pub checkins: usize,
    /// The report type the certificate carries.
    pub report_type: ReportType,
    /// The day the code certified: the symptom onset or the test date.
    pub diagnosis_day: DayNumber,
    /// Whether `diagnosis_day` is the symptom onset (else the test date).
    pub symptom_onset: bool,
}

impl ReportDraft {
    /// The visits the resident may reveal: the diary's visits of the last
    /// 14 days.
    pub fn revealable(&self) -> &[RevealedCheckIn] {
        &self.revealable
    }

    /// Releases the keys (they are public from here on) and builds the
    /// upload, revealing exactly the visits in `reveal`, each of which must
    /// be one of [`ReportDraft::revealable`]. An upload needs a key within
    /// 14 days of the code's day or a visit to reveal.
    pub fn upload<R: CryptoRng + ?Sized>(
        self,
        code: &CodeFacts,
        reveal: &[RevealedCheckIn],
        rng: &mut R,
    ) -> Result<Upload, ReportError> {
        let mut revealed_records = Vec::with_capacity(reveal.len());
        for visit in reveal {
            let Some(i) = self.revealable.iter().position(|offered| offered == visit) else {
                return Err(ReportError::NotRevealable(format!(
                    "the visit to {} at {} UTC",
                    visit.poster.info().name,
                    visit.arrival.iso_minute()
                )));
            };
            revealed_records.push(self.records[i]);
        }
        // Only keys around the day the certificate is signed for are
        // accepted (spec §12.2.3); the others stay unreleased.
        let first = code.day.minus(DAYS_AROUND_CERTIFICATE_DAY);
        let last = code.day.plus(DAYS_AROUND_CERTIFICATE_DAY);
        if reveal.is_empty() && !self.keys.iter().any(|(day, _)| (first..=last).contains(day)) {
            return Err(ReportError::NothingForCodeDay(code.day));
        }
        let keys: Vec<UploadedKey> = self
            .keys
            .into_iter()
            .filter(|(day, _)| (first..=last).contains(day))
            .map(|(day, key)| UploadedKey {
                key: key.release(),
                day,
                transmission_risk: transmission_risk(day, code.day, code.symptom_onset),
            })
            .collect();
        let checkins: Vec<Vec<u8>> = reveal.iter().map(RevealedCheckIn::to_bytes).collect();
        let refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
        let hmac_key = UploadHmacKey::generate(rng);
        let hmac = upload_hmac(&hmac_key, &keys, &refs).map_err(|e| ReportError::Invalid(e.to_string()))?;
        Ok(Upload {
            keys,
            checkins,
            hmac_key,
            hmac,
            diagnosis: Diagnosis { day: code.day, report_type: code.report_type, symptom_onset: code.symptom_onset },
            revealed_records,
            reported_at: self.now,
        })
    }
}

/// What [`Secret::Reported`] holds: the time of the last report, then the
/// record of every visit revealed (`at u64 ‖ (day u32 ‖ tag [16])*`, little
/// endian).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ReportLog {
    pub(crate) at: Option<UnixTime>,
    pub(crate) revealed: Vec<RecordId>,
}

impl ReportLog {
    pub(crate) fn load<S: Store + ?Sized>(store: &S) -> Result<Self, StoreError> {
        let Some(bytes) = store.secret(Secret::Reported)? else { return Ok(ReportLog::default()) };
        let corrupt = || StoreError::Corrupt("the report log".into());
        let (at, rest) = bytes.split_first_chunk::<8>().ok_or_else(corrupt)?;
        if rest.len() % 20 != 0 {
            return Err(corrupt());
        }
        let revealed = rest
            .chunks_exact(20)
            .map(|c| {
                let (day, tag) = c.split_at(4);
                let day = DayNumber(u32::from_le_bytes(day.try_into().expect("4 bytes")));
                (day, tag.try_into().expect("16 bytes"))
            })
            .collect();
        Ok(ReportLog { at: Some(UnixTime(u64::from_le_bytes(*at))), revealed })
    }

    fn save<S: Store + ?Sized>(&self, store: &mut S) -> Result<(), StoreError> {
        let mut bytes = self.at.unwrap_or_default().0.to_le_bytes().to_vec();
        for (day, tag) in &self.revealed {
            bytes.extend_from_slice(&day.0.to_le_bytes());
            bytes.extend_from_slice(tag);
        }
        store.set_secret(Secret::Reported, &bytes)
    }
}

impl<S: Store> Phone<S> {
    /// The visits a report could reveal now: the diary's visits of the
    /// last 14 days not revealed before, as they would be revealed — a
    /// visit still in progress ends now (at least a minute after its
    /// arrival), never at its planned automatic check-out.
    pub fn revealable_visits(&self, now: UnixTime) -> Result<Vec<RevealedCheckIn>, StoreError> {
        Ok(self.revealable(now)?.into_iter().map(|(visit, _)| visit).collect())
    }

    fn revealable(&self, now: UnixTime) -> Result<Vec<(RevealedCheckIn, RecordId)>, StoreError> {
        let oldest = now.day().minus(13).start();
        let revealed = ReportLog::load(&self.store)?.revealed;
        let mut offered = Vec::new();
        for entry in self.store.diary()? {
            let mut visit = RevealedCheckIn::from_bytes(&entry.revealed)
                .map_err(|e| StoreError::Corrupt(format!("a diary entry: {e}")))?;
            let record = (visit.poster.epoch().day(), entry.tag);
            if visit.arrival < oldest || revealed.contains(&record) {
                continue;
            }
            if visit.departure > now {
                visit.departure = now.max(visit.arrival.plus(60));
            }
            offered.push((visit, record));
        }
        Ok(offered)
    }

    /// Starts a report: the unreleased keys of the last 14 days up to
    /// today, and the visits that could be revealed. Refused, before any
    /// code is spent, when there is neither: as already reported when this
    /// device reported before.
    pub fn start_report(&self, now: UnixTime) -> Result<ReportDraft, ReportError> {
        let keys: Vec<_> = self
            .store
            .unreleased_keys_since(now.day().minus(13))?
            .into_iter()
            .filter(|(d, _)| *d <= now.day())
            .collect();
        let (revealable, records) = self.revealable(now)?.into_iter().unzip();
        let draft = ReportDraft { keys, revealable, records, now };
        if draft.keys.is_empty() && draft.revealable.is_empty() {
            return Err(match ReportLog::load(&self.store)?.at {
                Some(at) => ReportError::AlreadyReported(at),
                None => ReportError::NothingToReport,
            });
        }
        Ok(draft)
    }

    /// When this device last reported, if it did.
    pub fn reported_at(&self) -> Result<Option<UnixTime>, StoreError> {
        Ok(ReportLog::load(&self.store)?.at)
    }

    /// Records a published upload: its keys are released (the phone stops
    /// broadcasting under them), the diagnosis decides the color, and the
    /// report is remembered with the records of the visits it revealed.
    pub fn complete_report(&mut self, upload: &Upload) -> Result<Reported, StoreError> {
        let days = upload.days();
        self.store.mark_released(&days)?;
        self.set_diagnosis(upload.diagnosis)?;
        let mut log = ReportLog::load(&self.store)?;
        log.at = Some(upload.reported_at);
        for record in &upload.revealed_records {
            if !log.revealed.contains(record) {
                log.revealed.push(*record);
            }
        }
        log.save(&mut self.store)?;
        // A released key must not stay cached for broadcasting.
        self.schedule = None;
        Ok(Reported {
            days,
            checkins: upload.checkins.len(),
            report_type: upload.diagnosis.report_type,
            diagnosis_day: upload.diagnosis.day,
            symptom_onset: upload.diagnosis.symptom_onset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_is_highest_around_symptom_onset() {
        let onset = DayNumber(100);
        assert_eq!(transmission_risk(DayNumber(98), onset, true).level(), 8);
        assert_eq!(transmission_risk(DayNumber(105), onset, true).level(), 8);
        assert_eq!(transmission_risk(DayNumber(106), onset, true).level(), 5);
        assert_eq!(transmission_risk(DayNumber(90), onset, true).level(), 2);
        assert_eq!(transmission_risk(DayNumber(95), onset, false).level(), 6);
    }
}
