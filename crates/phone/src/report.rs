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
//! again) and record the diagnosis.

use crate::Phone;
use crate::store::{Store, StoreError};
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
    /// No key of the last 14 days to report.
    NothingToReport,
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
            ReportError::NothingToReport => f.write_str("this device has no keys of the last 14 days to report"),
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

/// A report being prepared: the keys it would publish and the visits the
/// resident may choose to reveal.
pub struct ReportDraft {
    keys: Vec<(DayNumber, DailyKey)>,
    revealable: Vec<RevealedCheckIn>,
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
}

impl ReportDraft {
    /// The visits the resident may reveal: the diary's visits of the last
    /// 14 days.
    pub fn revealable(&self) -> &[RevealedCheckIn] {
        &self.revealable
    }

    /// Releases the keys (they are public from here on) and builds the
    /// upload, revealing exactly the visits in `reveal`, each of which must
    /// be one of [`ReportDraft::revealable`].
    pub fn upload<R: CryptoRng + ?Sized>(
        self,
        code: &CodeFacts,
        reveal: &[RevealedCheckIn],
        rng: &mut R,
    ) -> Result<Upload, ReportError> {
        for visit in reveal {
            if !self.revealable.contains(visit) {
                return Err(ReportError::NotRevealable(format!(
                    "the visit to {} at {} UTC",
                    visit.poster.info().name,
                    visit.arrival.iso_minute()
                )));
            }
        }
        // Only keys around the day the certificate is signed for are
        // accepted (spec §12.2.3); the others stay unreleased.
        let first = code.day.minus(DAYS_AROUND_CERTIFICATE_DAY);
        let last = code.day.plus(DAYS_AROUND_CERTIFICATE_DAY);
        if !self.keys.iter().any(|(day, _)| (first..=last).contains(day)) {
            return Err(ReportError::NothingToReport);
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
            diagnosis: Diagnosis { day: code.day, report_type: code.report_type },
        })
    }
}

impl<S: Store> Phone<S> {
    /// The visits a report could reveal: the diary's visits of the last 14
    /// days.
    pub fn revealable_visits(&self, now: UnixTime) -> Result<Vec<RevealedCheckIn>, StoreError> {
        let oldest = now.day().minus(13).start();
        Ok(self.visits()?.into_iter().filter(|v| v.arrival >= oldest).collect())
    }

    /// Starts a report: the unreleased keys of the last 14 days up to
    /// today, and the visits that could be revealed.
    pub fn start_report(&self, now: UnixTime) -> Result<ReportDraft, ReportError> {
        let keys: Vec<_> = self
            .store
            .unreleased_keys_since(now.day().minus(13))?
            .into_iter()
            .filter(|(d, _)| *d <= now.day())
            .collect();
        if keys.is_empty() {
            return Err(ReportError::NothingToReport);
        }
        Ok(ReportDraft { keys, revealable: self.revealable_visits(now)? })
    }

    /// Records a published upload: its keys are released (the phone stops
    /// broadcasting under them) and the diagnosis decides the color.
    pub fn complete_report(&mut self, upload: &Upload) -> Result<Reported, StoreError> {
        let days = upload.days();
        self.store.mark_released(&days)?;
        self.set_diagnosis(upload.diagnosis)?;
        // A released key must not stay cached for broadcasting.
        self.schedule = None;
        Ok(Reported { days, checkins: upload.checkins.len(), report_type: upload.diagnosis.report_type })
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
