//! `POST /v1/publish`: a diagnosed person's keys and chosen visits, with
//! the authority's certificate (spec/protocol.md §12.2.3).

use crate::Invalid;
use greenlight_protocol::certificate::{UploadHmacKey, UploadedKey};
use greenlight_protocol::codec::{from_base64url, to_base64url};
use greenlight_protocol::daily_key::PublishedKey;
use greenlight_protocol::report::TransmissionRisk;
use greenlight_protocol::time::DayNumber;
use greenlight_protocol::trace::RevealedCheckIn;
use serde::{Deserialize, Serialize};

/// Most keys in one upload (14 days, with room for a mid-day key change):
/// the protocol's limit (spec §12.2.3).
pub const MAX_KEYS: usize = greenlight_protocol::certificate::MAX_UPLOAD_KEYS;
/// Most keys for one day in one upload (spec §12.2.3).
pub const MAX_KEYS_PER_DAY: usize = greenlight_protocol::certificate::MAX_UPLOAD_KEYS_PER_DAY;
/// Most revealed check-ins in one upload.
pub const MAX_CHECKINS: usize = 50;

/// One daily key in an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadKey {
    /// The 16-byte daily key, base64url without padding.
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "ZnJlc2gtZGFpbHkta2V5aw",
            min_length = 22,
            max_length = 22,
            pattern = "^[A-Za-z0-9_-]{21}[AQgw]$"
        )
    )]
    pub key: String,
    /// Its UTC day number (Unix seconds / 86400).
    #[cfg_attr(feature = "openapi", schema(example = 20583))]
    pub day: u32,
    /// Transmission risk level, 0 to 8.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 8, example = 5))]
    pub transmission_risk: u8,
}

impl From<&UploadedKey> for UploadKey {
    fn from(k: &UploadedKey) -> Self {
        UploadKey { key: to_base64url(&k.key.0), day: k.day.0, transmission_risk: k.transmission_risk.level() }
    }
}

impl UploadKey {
    /// The key as the protocol's type; `i` names it in the error.
    pub fn to_uploaded(&self, i: usize) -> Result<UploadedKey, Invalid> {
        let bytes = from_base64url(&self.key)
            .map_err(|_| Invalid::new("invalid_key", format!("key {i}: not unpadded base64url")))?;
        let key: [u8; 16] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| Invalid::new("invalid_key", format!("key {i}: {} bytes, expected 16", b.len())))?;
        let transmission_risk = TransmissionRisk::new(self.transmission_risk).map_err(|_| {
            Invalid::new("invalid_risk", format!("key {i}: transmission risk {} is not 0-8", self.transmission_risk))
        })?;
        Ok(UploadedKey { key: PublishedKey(key), day: DayNumber(self.day), transmission_risk })
    }
}

/// `POST /v1/publish` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The daily keys to publish (0 to 30, at most 3 per day, the last 14 days): none when only check-ins are revealed.
    pub keys: Vec<UploadKey>,
    /// Check-ins the person chose to reveal, each the base64url of a revealed
    /// check-in (spec §9.6).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = revealed_checkins_schema))]
    pub revealed_checkins: Vec<String>,
    /// The health authority's certificate, in its 202-character text form.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 202, max_length = 202, pattern = "^[A-Za-z0-9_-]{201}[AQgw]$")
    )]
    pub certificate: String,
    /// The 32-byte HMAC key the certificate's upload HMAC was made with,
    /// base64url.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")
    )]
    pub hmac_key: String,
    /// Ignored: lets clients make every request the same size.
    #[serde(default)]
    pub padding: String,
}

/// The schema of `revealed_checkins`: at most [`MAX_CHECKINS`] strings of
/// unpadded base64url (issue 19 item 9: the document says what is served).
#[cfg(feature = "openapi")]
fn revealed_checkins_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let item = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("A revealed check-in (spec §9.6) as unpadded base64url"))
        .min_length(Some(2))
        .pattern(Some("^[A-Za-z0-9_-]+$"));
    ArrayBuilder::new()
        .items(item)
        .max_items(Some(MAX_CHECKINS))
        .description(Some(
            "Check-ins the person chose to reveal, each the base64url of a revealed check-in (spec §9.6)",
        ))
        .build()
}

impl PublishRequest {
    /// The upload of `keys` and the revealed check-ins `checkins` (their
    /// bytes, spec §9.6) under `certificate`, made with `hmac_key`.
    pub fn new(keys: &[UploadedKey], checkins: &[Vec<u8>], certificate: &str, hmac_key: &UploadHmacKey) -> Self {
        PublishRequest {
            keys: keys.iter().map(UploadKey::from).collect(),
            revealed_checkins: checkins.iter().map(|c| to_base64url(c)).collect(),
            certificate: certificate.to_owned(),
            hmac_key: to_base64url(hmac_key.expose_secret()),
            padding: String::new(),
        }
    }

    /// The body of a chaff upload: the same fields, nothing in them.
    pub fn chaff() -> Self {
        PublishRequest {
            keys: Vec::new(),
            revealed_checkins: Vec::new(),
            certificate: String::new(),
            hmac_key: String::new(),
            padding: String::new(),
        }
    }

    /// The revealed check-ins' bytes, each parsed and its poster's signature
    /// checked (spec §9.6), in the order given.
    pub fn revealed_bytes(&self) -> Result<Vec<Vec<u8>>, Invalid> {
        if self.revealed_checkins.len() > MAX_CHECKINS {
            return Err(Invalid::new(
                "too_many_checkins",
                format!("{} check-ins; at most {MAX_CHECKINS}", self.revealed_checkins.len()),
            ));
        }
        self.revealed_checkins
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let bytes = from_base64url(text)
                    .map_err(|_| Invalid::new("invalid_checkin", format!("check-in {i}: not unpadded base64url")))?;
                RevealedCheckIn::from_bytes(&bytes)
                    .map_err(|e| Invalid::new("invalid_checkin", format!("check-in {i}: {e}")))?;
                Ok(bytes)
            })
            .collect()
    }

    /// The HMAC key.
    pub fn hmac_key(&self) -> Result<UploadHmacKey, Invalid> {
        let bytes: [u8; 32] = from_base64url(&self.hmac_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Invalid::new("invalid_hmac_key", "hmac_key is not 32 bytes of unpadded base64url"))?;
        Ok(UploadHmacKey::from_bytes(bytes))
    }
}

/// The body of every publish response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishResponse {
    /// `accepted`, or an error code.
    pub status: String,
    /// What was wrong, for errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Filler that makes every response the same size.
    pub padding: String,
}

impl PublishResponse {
    /// The `status` of an accepted upload.
    pub const ACCEPTED: &'static str = "accepted";

    /// An answer with `status` and `message`.
    pub fn new(status: &str, message: &str) -> Self {
        PublishResponse { status: status.to_owned(), message: message.to_owned(), padding: String::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::padding::{PUBLISH_REQUEST_SIZE, padded};

    fn key(day: u32) -> UploadedKey {
        UploadedKey {
            key: PublishedKey([7; 16]),
            day: DayNumber(day),
            transmission_risk: TransmissionRisk::new(5).expect("0-8"),
        }
    }

    #[test]
    fn a_key_survives_the_round_trip() {
        let k = key(20_000);
        let json = UploadKey::from(&k);
        assert_eq!(json.key, "BwcHBwcHBwcHBwcHBwcHBw");
        assert_eq!(json.to_uploaded(0).expect("valid"), k);
    }

    #[test]
    fn bad_keys_get_the_servers_codes() {
        let mut json = UploadKey::from(&key(1));
        json.key = "AAAA".into();
        assert_eq!(json.to_uploaded(3).expect_err("short").code, "invalid_key");
        json.key = "not base64!".into();
        assert_eq!(json.to_uploaded(3).expect_err("garbage").message, "key 3: not unpadded base64url");
        let mut json = UploadKey::from(&key(1));
        json.transmission_risk = 9;
        assert_eq!(json.to_uploaded(0).expect_err("risk").code, "invalid_risk");
    }

    #[test]
    fn the_largest_upload_fits_the_padded_size() {
        let keys: Vec<_> = (0..u32::try_from(MAX_KEYS).expect("small")).map(key).collect();
        let checkin = vec![0u8; 400];
        let checkins = vec![checkin; MAX_CHECKINS];
        let hmac = UploadHmacKey::from_bytes([1; 32]);
        let request = PublishRequest::new(&keys, &checkins, &"C".repeat(202), &hmac);
        let body = padded(&request, PUBLISH_REQUEST_SIZE);
        assert_eq!(body.len(), PUBLISH_REQUEST_SIZE);
        let back: PublishRequest = serde_json::from_slice(&body).expect("parses");
        assert_eq!(back.keys, request.keys);
        assert_eq!(padded(&PublishRequest::chaff(), PUBLISH_REQUEST_SIZE).len(), PUBLISH_REQUEST_SIZE);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"{"keys":[],"certificate":"","hmac_key":"","extra":1}"#;
        assert!(serde_json::from_str::<PublishRequest>(text).is_err());
    }
}
