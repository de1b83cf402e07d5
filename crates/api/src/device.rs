//! The health authority's device API: `POST /v1/verify` exchanges an
//! upload code for a token, `POST /v1/certificate` a token and the upload's
//! HMAC for a signed certificate (spec/authority.md §3).

use crate::Invalid;
use greenlight_protocol::certificate::{self, UPLOAD_HMAC_LEN};
use greenlight_protocol::codec::{from_base64url, to_base64url};
use greenlight_protocol::report;
use greenlight_protocol::time::DayNumber;
use serde::{Deserialize, Serialize};

/// What the diagnosis rests on, as the JSON names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportType {
    /// A positive laboratory test.
    ConfirmedTest,
    /// A clinical diagnosis without a test.
    ClinicalDiagnosis,
}

impl From<report::ReportType> for ReportType {
    fn from(t: report::ReportType) -> Self {
        match t {
            report::ReportType::ConfirmedTest => ReportType::ConfirmedTest,
            report::ReportType::ClinicalDiagnosis => ReportType::ClinicalDiagnosis,
        }
    }
}

impl From<ReportType> for report::ReportType {
    fn from(t: ReportType) -> Self {
        match t {
            ReportType::ConfirmedTest => report::ReportType::ConfirmedTest,
            ReportType::ClinicalDiagnosis => report::ReportType::ClinicalDiagnosis,
        }
    }
}

/// What the date of a diagnosis is, as the JSON names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// The day symptoms began.
    SymptomOnset,
    /// The day of the (positive) test.
    TestDate,
}

impl From<certificate::DayKind> for DayKind {
    fn from(k: certificate::DayKind) -> Self {
        match k {
            certificate::DayKind::SymptomOnset => DayKind::SymptomOnset,
            certificate::DayKind::TestDate => DayKind::TestDate,
        }
    }
}

impl From<DayKind> for certificate::DayKind {
    fn from(k: DayKind) -> Self {
        match k {
            DayKind::SymptomOnset => certificate::DayKind::SymptomOnset,
            DayKind::TestDate => certificate::DayKind::TestDate,
        }
    }
}

/// The upload code in what a person gave: the code as typed, or the link
/// its QR code holds (`greenlight://report?r=REGION&c=CODE`, parameters in
/// any order, `r` optional). Apps and the command line accept both.
pub fn upload_code(input: &str) -> Result<String, Invalid> {
    let input = input.trim();
    let scheme = "greenlight://";
    if !input.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme)) {
        return Ok(input.to_owned());
    }
    let bad = || {
        Invalid::new("invalid_link", format!("{input:?} is not a report link (greenlight://report?r=REGION&c=CODE)"))
    };
    let rest = &input[scheme.len()..];
    let (target, query) = rest.split_once('?').ok_or_else(bad)?;
    if !target.trim_end_matches('/').eq_ignore_ascii_case("report") {
        return Err(bad());
    }
    let code = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "c")
        .map(|(_, value)| value.replace("%20", " ").replace('+', " "))
        .filter(|code| !code.trim().is_empty())
        .ok_or_else(bad)?;
    Ok(code)
}

/// Checks, without spending it, that `code` has the shape of an upload
/// code: 8 digits or 16 characters of Crockford's base32 (`I`, `L` and `O`
/// read as digits), spaces and dashes ignored, letters in either case. The
/// authority alone knows whether it is valid.
pub fn check_upload_code(code: &str) -> Result<(), Invalid> {
    let cleaned: Vec<char> = code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let short = cleaned.len() == 8 && cleaned.iter().all(char::is_ascii_digit);
    let long =
        cleaned.len() == 16 && cleaned.iter().all(|c| c.is_ascii_alphanumeric() && !c.eq_ignore_ascii_case(&'U'));
    if short || long {
        return Ok(());
    }
    Err(Invalid::new(
        "invalid_code",
        format!(
            "{:?} is not an upload code: the health authority gives 8 digits (1234 5678) or 16 letters and digits \
             (ABCD-EFGH-JKMN-PQRS); check what you typed",
            code.trim()
        ),
    ))
}

/// `POST /v1/verify` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The upload code: 8 digits or 16 characters; spaces and dashes are
    /// ignored, letters may be lower case.
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "1234 5678",
            max_length = 64,
            pattern = "^[ -]*(([0-9][ -]*){8}|([0-9A-HJKMNP-TV-Za-hjkmnp-tv-z][ -]*){16})$"
        )
    )]
    pub code: String,
    /// 32 random bytes the phone draws once per report and sends with every
    /// attempt of it (unpadded base64url). A retry whose first answer was
    /// lost gets the same token back, while it is valid; without it, the
    /// first answer is the only one (spec/authority.md §3.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")
    )]
    pub request_id: Option<String>,
    /// Ignored: lets clients make every request the same size.
    #[serde(default)]
    pub padding: String,
}

/// Length of a [`VerifyRequest::request_id`] in bytes.
pub const REQUEST_ID_LEN: usize = 32;

impl VerifyRequest {
    /// A request for `code`, without a request id.
    pub fn new(code: &str) -> Self {
        VerifyRequest { code: code.to_owned(), request_id: None, padding: String::new() }
    }

    /// A request for `code` that can be sent again after a lost answer.
    pub fn with_request_id(code: &str, request_id: &[u8; REQUEST_ID_LEN]) -> Self {
        VerifyRequest { code: code.to_owned(), request_id: Some(to_base64url(request_id)), padding: String::new() }
    }

    /// The body of a chaff request: the size of a real one.
    pub fn chaff() -> Self {
        VerifyRequest::with_request_id("00000000", &[0; REQUEST_ID_LEN])
    }

    /// The request id, if there is one; an error if it is not 32 bytes of
    /// unpadded base64url.
    pub fn request_id(&self) -> Result<Option<[u8; REQUEST_ID_LEN]>, Invalid> {
        let Some(text) = &self.request_id else { return Ok(None) };
        from_base64url(text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(Some)
            .ok_or_else(|| Invalid::new("invalid_request_id", "request_id is not 32 bytes of unpadded base64url"))
    }
}

/// The body of every `/v1/verify` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyResponse {
    /// `ok`, or an error code.
    pub status: String,
    /// What was wrong, for errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The token to exchange for a certificate (43 characters of base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Unix time after which the token is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<u64>,
    /// What the diagnosis rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_type: Option<ReportType>,
    /// What `date` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_kind: Option<DayKind>,
    /// The symptom-onset or test date, `YYYY-MM-DD` (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The same date as a UTC day number (Unix seconds / 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
    /// Filler that makes every answer the same size.
    #[serde(default)]
    pub padding: String,
}

/// What a successful `/v1/verify` tells the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The token for `/v1/certificate`.
    pub token: String,
    /// What the diagnosis rests on.
    pub report_type: report::ReportType,
    /// What `day` is.
    pub day_kind: certificate::DayKind,
    /// Symptom onset or test day.
    pub day: DayNumber,
}

impl VerifyResponse {
    /// The answer to a valid code.
    pub fn ok(
        token: String,
        token_expires_at: u64,
        report_type: report::ReportType,
        day_kind: certificate::DayKind,
        day: DayNumber,
    ) -> Self {
        VerifyResponse {
            status: "ok".into(),
            token: Some(token),
            token_expires_at: Some(token_expires_at),
            report_type: Some(report_type.into()),
            day_kind: Some(day_kind.into()),
            date: Some(day.iso_date().to_string()),
            day: Some(day.0),
            ..Default::default()
        }
    }

    /// A refusal with its code and message.
    pub fn error(status: &str, message: &str) -> Self {
        VerifyResponse { status: status.to_owned(), message: message.to_owned(), ..Default::default() }
    }

    /// The fields of a successful answer, or which one is missing.
    pub fn verified(self) -> Result<Verified, Invalid> {
        let missing = |what: &str| Invalid::new("invalid_answer", format!("verify: the answer has no valid {what}"));
        Ok(Verified {
            token: self.token.ok_or_else(|| missing("token"))?,
            report_type: self.report_type.ok_or_else(|| missing("report type"))?.into(),
            day_kind: self.day_kind.ok_or_else(|| missing("day kind"))?.into(),
            day: DayNumber(self.day.ok_or_else(|| missing("day"))?),
        })
    }
}

/// `POST /v1/certificate` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    /// The token from `/v1/verify`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$"))]
    pub token: String,
    /// HMAC-SHA256 of the upload (spec §12.1), 32 bytes as unpadded base64url.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")
    )]
    pub upload_hmac: String,
    /// Ignored: lets clients make every request the same size.
    #[serde(default)]
    pub padding: String,
}

impl CertificateRequest {
    /// A request for a certificate over `upload_hmac`.
    pub fn new(token: &str, upload_hmac: &[u8; UPLOAD_HMAC_LEN]) -> Self {
        CertificateRequest { token: token.to_owned(), upload_hmac: to_base64url(upload_hmac), padding: String::new() }
    }

    /// The body of a chaff request.
    pub fn chaff() -> Self {
        CertificateRequest { token: String::new(), upload_hmac: String::new(), padding: String::new() }
    }

    /// The HMAC, if it is 32 bytes of unpadded base64url.
    pub fn upload_hmac(&self) -> Result<[u8; UPLOAD_HMAC_LEN], Invalid> {
        from_base64url(&self.upload_hmac)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Invalid::new("invalid_hmac", "upload_hmac is not 32 bytes of unpadded base64url"))
    }
}

/// The body of every `/v1/certificate` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateResponse {
    /// `ok`, or an error code.
    pub status: String,
    /// What was wrong, for errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The signed certificate in its 202-character text form (spec §12.2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Unix time at which the certificate expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Filler that makes every answer the same size.
    #[serde(default)]
    pub padding: String,
}

impl CertificateResponse {
    /// The answer carrying a certificate.
    pub fn ok(certificate: String, expires_at: u64) -> Self {
        CertificateResponse {
            status: "ok".into(),
            certificate: Some(certificate),
            expires_at: Some(expires_at),
            ..Default::default()
        }
    }

    /// A refusal with its code and message.
    pub fn error(status: &str, message: &str) -> Self {
        CertificateResponse { status: status.to_owned(), message: message.to_owned(), ..Default::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_link_of_a_long_code_gives_the_code() {
        assert_eq!(upload_code("greenlight://report?r=DE&c=ABCD2345EFGH6789").expect("a code"), "ABCD2345EFGH6789");
        assert_eq!(upload_code(" GREENLIGHT://report/?c=abcd&r=DE ").expect("a code"), "abcd");
        assert_eq!(upload_code("1234 5678").expect("a code"), "1234 5678", "a typed code is passed as it is");
        for bad in
            ["greenlight://report?r=DE", "greenlight://report", "greenlight://verify?c=1", "greenlight://report?c="]
        {
            assert_eq!(upload_code(bad).expect_err("refused").code, "invalid_link", "{bad}");
        }
    }
    use crate::padding::{SMALL_REQUEST_SIZE, VERIFY_RESPONSE_SIZE, padded};

    #[test]
    fn only_the_shape_of_an_upload_code_passes_the_local_check() {
        for good in ["1234 5678", "12345678", "abcd-efgh-jkmn-pqrs", "ABCDEFGHJKMNPQRS", "0000-1111-IL0O-2222"] {
            assert!(check_upload_code(good).is_ok(), "{good}");
        }
        for bad in ["1234567", "123456789", "1234 567a", "ABCD-EFGH-JKMN-PQRU", "ABCD-EFGH-JKMN-PQR", "", "é2345678"] {
            let refused = check_upload_code(bad).expect_err("refused");
            assert_eq!(refused.code, "invalid_code", "{bad}");
            assert!(refused.message.contains("is not an upload code"), "{bad}: {}", refused.message);
        }
    }

    #[test]
    fn a_verify_answer_names_its_enums_as_the_spec_does() {
        let answer = VerifyResponse::ok(
            "t".into(),
            9,
            report::ReportType::ClinicalDiagnosis,
            certificate::DayKind::SymptomOnset,
            DayNumber(20_000),
        );
        let json: serde_json::Value = serde_json::from_slice(&padded(&answer, VERIFY_RESPONSE_SIZE)).expect("JSON");
        assert_eq!(json["report_type"], "clinical_diagnosis");
        assert_eq!(json["day_kind"], "symptom_onset");
        assert_eq!(json["date"], "2024-10-04");
        let back: VerifyResponse = serde_json::from_value(json).expect("parses");
        let verified = back.verified().expect("complete");
        assert_eq!(verified.report_type, report::ReportType::ClinicalDiagnosis);
        assert_eq!(verified.day, DayNumber(20_000));
    }

    #[test]
    fn an_unknown_report_type_is_refused() {
        let text = r#"{"status":"ok","token":"t","report_type":"self_report","day_kind":"test_date","day":1}"#;
        assert!(serde_json::from_str::<VerifyResponse>(text).is_err());
        let text = r#"{"status":"ok","report_type":"confirmed_test","day_kind":"test_date","day":1}"#;
        let answer: VerifyResponse = serde_json::from_str(text).expect("parses");
        assert_eq!(answer.verified().expect_err("no token").message, "verify: the answer has no valid token");
    }

    #[test]
    fn requests_pad_to_one_size_and_chaff_looks_the_same() {
        for body in [
            padded(&VerifyRequest::new("ABCD-EFGH-JKLM-NPQR"), SMALL_REQUEST_SIZE),
            padded(&VerifyRequest::chaff(), SMALL_REQUEST_SIZE),
            padded(&CertificateRequest::new(&"t".repeat(43), &[9; 32]), SMALL_REQUEST_SIZE),
            padded(&CertificateRequest::chaff(), SMALL_REQUEST_SIZE),
        ] {
            assert_eq!(body.len(), SMALL_REQUEST_SIZE);
        }
        let request = CertificateRequest::new("t", &[9; 32]);
        assert_eq!(request.upload_hmac().expect("32 bytes"), [9; 32]);
        assert_eq!(CertificateRequest::chaff().upload_hmac().expect_err("empty").code, "invalid_hmac");
    }
}
