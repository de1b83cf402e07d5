//! Reporting a diagnosis: the upload code from the health authority becomes
//! a token (`/v1/verify`), the token and an HMAC of exactly what will be
//! uploaded become a certificate (`/v1/certificate`) — the authority never
//! sees the keys — and the keys, the check-ins the person chose to reveal,
//! the HMAC key and the certificate go to the key server (`/v1/publish`),
//! which never learns who the person is.
//!
//! Every request is padded to a fixed size, so that on the network a real
//! report looks like the chaff the daemon sends on a schedule.

use crate::settings::Settings;
use crate::store::{Store, StoreError};
use greenlight_api::device::{CertificateRequest, CertificateResponse, VerifyRequest, VerifyResponse};
use greenlight_api::padding::{PUBLISH_REQUEST_SIZE, SMALL_REQUEST_SIZE, padded};
use greenlight_api::publish::{PublishRequest, PublishResponse};
use greenlight_protocol::certificate::{DayKind, UploadHmacKey, UploadedKey, upload_hmac};
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::RevealedCheckIn;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a report did not go through. Nothing was uploaded unless the last
/// step says so.
#[derive(Debug)]
pub enum ReportError {
    /// The network or a server failed.
    Network(String),
    /// The authority or key server refused, with its message.
    Refused {
        /// Which step: `verify`, `certificate` or `publish`.
        step: &'static str,
        /// The server's status code.
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// Nothing to report (no keys of the last 14 days).
    NothingToReport,
    /// The local store failed.
    Store(StoreError),
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::Network(e) => write!(f, "cannot reach the server: {e}; nothing was uploaded, try again"),
            ReportError::Refused { step, code, message } => write!(f, "{step} refused ({code}): {message}"),
            ReportError::NothingToReport => f.write_str("this device has no keys of the last 14 days to report"),
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

/// What the authority said about the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCode {
    token: String,
    /// How the diagnosis was established.
    pub report_type: ReportType,
    /// The symptom-onset or test day.
    pub day: DayNumber,
    /// Whether `day` is the symptom onset (else the test date).
    pub symptom_onset: bool,
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

/// Posts `body` padded to `size` and reads the answer as `T`; a refusal
/// becomes [`ReportError::Refused`] with the server's code and message.
async fn post<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: String,
    body: &impl Serialize,
    size: usize,
    step: &'static str,
) -> Result<T, ReportError> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(padded(body, size))
        .send()
        .await
        .map_err(|e| ReportError::Network(e.to_string()))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| ReportError::Network(e.to_string()))?;
    let unexpected = || ReportError::Network(format!("{step}: HTTP {status} with an unexpected body"));
    if !status.is_success() {
        let refusal: greenlight_api::Status = serde_json::from_str(&text).map_err(|_| unexpected())?;
        return Err(ReportError::Refused { step, code: refusal.status, message: refusal.message });
    }
    serde_json::from_str(&text).map_err(|_| unexpected())
}

/// Exchanges an upload code for a token, at the health authority.
pub async fn verify_code(http: &reqwest::Client, settings: &Settings, code: &str) -> Result<VerifiedCode, ReportError> {
    let url = format!("{}/v1/verify", settings.authority_url());
    let answer: VerifyResponse = post(http, url, &VerifyRequest::new(code), SMALL_REQUEST_SIZE, "verify").await?;
    let verified = answer.verified().map_err(|e| ReportError::Network(e.message))?;
    Ok(VerifiedCode {
        token: verified.token,
        report_type: verified.report_type,
        day: verified.day,
        symptom_onset: verified.day_kind == DayKind::SymptomOnset,
    })
}

/// The visits a report could reveal: the diary's visits of the last 14 days.
pub async fn revealable_visits(store: &Store, now: UnixTime) -> Result<Vec<RevealedCheckIn>, StoreError> {
    let oldest = now.day().minus(13).start();
    Ok(crate::checkin::visits(store).await?.into_iter().filter(|v| v.arrival >= oldest).collect())
}

/// Runs the whole report. `reveal` are the visits the person explicitly
/// agreed to reveal (see [`revealable_visits`]); pass none to reveal none.
pub async fn report(
    store: &Store,
    settings: &Settings,
    http: &reqwest::Client,
    code: &str,
    reveal: &[RevealedCheckIn],
    now: UnixTime,
) -> Result<Reported, ReportError> {
    let keys = store.unreleased_keys_since(now.day().minus(13)).await?;
    let keys: Vec<_> = keys.into_iter().filter(|(day, _)| *day <= now.day()).collect();
    if keys.is_empty() {
        return Err(ReportError::NothingToReport);
    }
    let verified = verify_code(http, settings, code).await?;

    let uploaded: Vec<UploadedKey> = keys
        .iter()
        .map(|(day, key)| UploadedKey {
            key: PublishedKey(*key.expose_secret()),
            day: *day,
            transmission_risk: transmission_risk(*day, verified.day, verified.symptom_onset),
        })
        .collect();
    let checkins: Vec<Vec<u8>> = reveal.iter().map(RevealedCheckIn::to_bytes).collect();
    let refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
    let hmac_key = UploadHmacKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    let hmac = upload_hmac(&hmac_key, &uploaded, &refs).map_err(|e| ReportError::Network(e.to_string()))?;

    let url = format!("{}/v1/certificate", settings.authority_url());
    let request = CertificateRequest::new(&verified.token, &hmac);
    let answer: CertificateResponse = post(http, url, &request, SMALL_REQUEST_SIZE, "certificate").await?;
    let certificate =
        answer.certificate.ok_or_else(|| ReportError::Network("certificate: the answer has no certificate".into()))?;

    let body = PublishRequest::new(&uploaded, &checkins, &certificate, &hmac_key);
    let url = format!("{}/v1/publish", settings.server);
    let _: PublishResponse = post(http, url, &body, PUBLISH_REQUEST_SIZE, "publish").await?;

    let days: Vec<DayNumber> = keys.iter().map(|(d, _)| *d).collect();
    store.mark_released(&days).await?;
    store.set_diagnosis(verified.day, verified.report_type.to_byte()).await?;
    Ok(Reported { days, checkins: checkins.len(), report_type: verified.report_type })
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
