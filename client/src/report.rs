//! Reporting a diagnosis over HTTP: the upload code from the health
//! authority becomes a token (`/v1/verify`), the token and an HMAC of
//! exactly what will be uploaded become a certificate (`/v1/certificate`) —
//! the authority never sees the keys — and the keys, the check-ins the
//! person chose to reveal, the HMAC key and the certificate go to the key
//! server (`/v1/publish`), which never learns who the person is. What is
//! uploaded, and what the phone records afterwards, is the core's
//! ([`greenlight_phone::report`]).
//!
//! Every request is padded to a fixed size, so that on the network a real
//! report looks like the chaff the daemon sends on a schedule.

use crate::os_rng;
use crate::settings::Settings;
use greenlight_api::device::{CertificateRequest, CertificateResponse, REQUEST_ID_LEN, VerifyRequest, VerifyResponse};
use greenlight_api::padding::{PUBLISH_REQUEST_SIZE, SMALL_REQUEST_SIZE, padded};
use greenlight_api::publish::{PublishRequest, PublishResponse};
use greenlight_phone::report::CodeFacts;
use greenlight_phone::{Phone, Store};
use greenlight_protocol::certificate::DayKind;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::RevealedCheckIn;
use rand_core::Rng as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use greenlight_phone::report::{Reported, transmission_risk};

/// Why a report did not go through. Nothing was uploaded unless the last
/// step says so.
#[derive(Debug)]
pub enum ReportError {
    /// The network or a server failed.
    Network(String),
    /// The authority or key server refused, with its message, or the
    /// phone itself refused the code as typed (step `code`).
    Refused {
        /// Which step: `code` (checked on the phone, nothing sent),
        /// `verify`, `certificate` or `publish`.
        step: &'static str,
        /// The server's status code.
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// The core refused: nothing to report, a visit not offered, the store.
    Phone(greenlight_phone::ReportError),
    /// The upload was sent, but no answer came back, even to the retries:
    /// it may have been published.
    Unconfirmed(String),
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::Network(e) => write!(
                f,
                "cannot reach the server: {e}; nothing was uploaded. Try again; if the code is then refused as \
                 used, ask the health authority for a new one"
            ),
            ReportError::Unconfirmed(e) => write!(
                f,
                "the upload was sent but its answer was lost, three times ({e}): it may have been published. \
                 Your phone has not recorded the report. Reporting again needs a new code from the health \
                 authority; keys and visits already published are not stored twice"
            ),
            ReportError::Refused { step, code, message } => write!(f, "{step} refused ({code}): {message}"),
            ReportError::Phone(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReportError {}

impl From<greenlight_phone::ReportError> for ReportError {
    fn from(e: greenlight_phone::ReportError) -> Self {
        ReportError::Phone(e)
    }
}

impl From<greenlight_phone::StoreError> for ReportError {
    fn from(e: greenlight_phone::StoreError) -> Self {
        ReportError::Phone(greenlight_phone::ReportError::Store(e))
    }
}

impl ReportError {
    /// Whether there was nothing to report.
    pub fn is_nothing_to_report(&self) -> bool {
        matches!(self, ReportError::Phone(greenlight_phone::ReportError::NothingToReport))
    }
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
        .map_err(|e| ReportError::Network(crate::sync::explain(&e).0))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| ReportError::Network(crate::sync::explain(&e).0))?;
    let unexpected = || ReportError::Network(format!("{step}: HTTP {status} with an unexpected body"));
    if !status.is_success() {
        let refusal: greenlight_api::Status = serde_json::from_str(&text).map_err(|_| unexpected())?;
        return Err(ReportError::Refused { step, code: refusal.status, message: refusal.message });
    }
    serde_json::from_str(&text).map_err(|_| unexpected())
}

/// [`post`], sent again when no answer comes back (up to
/// [`PUBLISH_ATTEMPTS`] times in all). Each step is safe to send again: the
/// same code with the same request id gets the same token, the same token
/// with the same upload HMAC a certificate with the same id, and the same
/// upload is stored once (issue 19 item 6).
async fn post_again<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: String,
    body: &impl Serialize,
    size: usize,
    step: &'static str,
) -> Result<T, ReportError> {
    let mut attempt = 0;
    loop {
        match post(http, url.clone(), body, size, step).await {
            Err(ReportError::Network(_)) if attempt + 1 < PUBLISH_ATTEMPTS => {
                attempt += 1;
                pause_before_retry(attempt).await;
            }
            outcome => return outcome,
        }
    }
}

/// Exchanges an upload code for a token and what the code certifies, at
/// the health authority. `request_id` is drawn once per report: a request
/// whose answer was lost is sent again with it and gets the same token.
pub async fn verify_code(
    http: &reqwest::Client,
    settings: &Settings,
    code: &str,
    request_id: &[u8; REQUEST_ID_LEN],
) -> Result<(String, CodeFacts), ReportError> {
    let url = format!("{}/v1/verify", settings.authority_url());
    let request = VerifyRequest::with_request_id(code, request_id);
    let answer: VerifyResponse = post_again(http, url, &request, SMALL_REQUEST_SIZE, "verify").await?;
    let verified = answer.verified().map_err(|e| ReportError::Network(e.message))?;
    let facts = CodeFacts {
        report_type: verified.report_type,
        day: verified.day,
        symptom_onset: verified.day_kind == DayKind::SymptomOnset,
    };
    Ok((verified.token, facts))
}

/// How many times each step of a report is sent when its answer is lost.
pub const PUBLISH_ATTEMPTS: u32 = 3;

/// The wait before retry `attempt`: 1 s, then 2 s.
async fn pause_before_retry(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_secs(u64::from(attempt))).await;
}

/// Runs the whole report. `reveal` are the visits the person explicitly
/// agreed to reveal, from [`greenlight_phone::Phone::revealable_visits`];
/// pass none to reveal none.
pub async fn report<S: Store>(
    phone: &mut Phone<S>,
    settings: &Settings,
    http: &reqwest::Client,
    code: &str,
    reveal: &[RevealedCheckIn],
    now: UnixTime,
) -> Result<Reported, ReportError> {
    // The code as typed or as the link its QR code holds (issue 21 item 8),
    // checked on the phone first: a typing mistake is said as such, for the
    // CLI and the SDK alike, and nothing is sent.
    let refused =
        |e: greenlight_api::Invalid| ReportError::Refused { step: "code", code: e.code.into(), message: e.message };
    let code = &greenlight_api::device::upload_code(code).map_err(refused)?;
    greenlight_api::device::check_upload_code(code).map_err(refused)?;
    // Refused before the code is spent when there is nothing to report.
    let draft = phone.start_report(now)?;
    let mut request_id = [0u8; REQUEST_ID_LEN];
    os_rng().fill_bytes(&mut request_id);
    let (token, facts) = verify_code(http, settings, code, &request_id).await?;
    let upload = draft.upload(&facts, reveal, &mut os_rng())?;

    let url = format!("{}/v1/certificate", settings.authority_url());
    let request = CertificateRequest::new(&token, &upload.hmac);
    let answer: CertificateResponse = post_again(http, url, &request, SMALL_REQUEST_SIZE, "certificate").await?;
    let certificate =
        answer.certificate.ok_or_else(|| ReportError::Network("certificate: the answer has no certificate".into()))?;

    let body = PublishRequest::new(&upload.keys, &upload.checkins, &certificate, &upload.hmac_key);
    let url = format!("{}/v1/publish", settings.server);
    // A lost answer is no proof that nothing was stored: the same upload
    // is sent again (the key server answers `already_accepted` if the
    // first one went through), and only after the retries fail is the
    // outcome reported as unknown, never as "nothing was uploaded".
    match post_again::<PublishResponse>(http, url, &body, PUBLISH_REQUEST_SIZE, "publish").await {
        Ok(_) => {}
        Err(ReportError::Network(e)) => return Err(ReportError::Unconfirmed(e)),
        Err(other) => return Err(other),
    }

    Ok(phone.complete_report(&upload)?)
}
