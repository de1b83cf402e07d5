//! Upload certificates: the health authority's signed permission to upload
//! one specific set of keys and check-ins, and the HMAC that binds them.
//!
//! The flow (after GAEN's verification protocol):
//!
//! 1. The phone draws a fresh [`UploadHmacKey`] and computes
//!    [`upload_hmac`] over the daily keys and revealed check-ins it is
//!    about to upload.
//! 2. It sends only the HMAC (with its one-time-code token) to the health
//!    authority, which signs a [`Certificate`] binding the HMAC to the
//!    report type and the symptom-onset or test date. The authority never
//!    sees the keys, and the HMAC key hides them from it: without the key,
//!    the HMAC says nothing about what it covers.
//! 3. The phone uploads keys, check-ins, HMAC key and certificate to the
//!    key server, which calls [`Certificate::verify`] and then
//!    [`VerifiedCertificate::check_upload`]. A certificate stolen in
//!    transit is useless for any other upload.
//!
//! A certificate is a signed file (see [`crate::signing`]) of kind
//! [`CERTIFICATE_MAGIC`], 151 bytes long, whose 71-byte body is
//!
//! ```text
//! format_version u8 (= 1) ‖ report_type u8 ‖ day_kind u8 ‖ day u32 ‖ upload_hmac [32]
//!   ‖ issued_at u64 ‖ expires_at u64 ‖ certificate_id [16]
//! ```
//!
//! all integers little-endian. **Single use is the key server's job**: it
//! records each accepted `certificate_id` until the certificate expires
//! and refuses a second upload under the same id. Authorities should keep
//! certificates short-lived (minutes), so that this record stays small and
//! a leaked certificate is soon worthless.

use crate::codec::{Reader, Writer, from_base64url, to_base64url};
use crate::daily_key::{DAILY_KEY_LEN, PublishedKey};
use crate::error::{Error, Result};
use crate::report::{ReportType, TransmissionRisk};
use crate::signing::{KeyId, SignedFile, SigningKey, TRAILER_LEN, TrustedKeys, seal_file};
use crate::time::{DayNumber, UnixTime};
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The magic bytes that open a signed certificate.
pub const CERTIFICATE_MAGIC: [u8; 8] = *b"GL_CERT_";
/// The certificate body format this implementation reads and writes.
pub const CERTIFICATE_FORMAT_VERSION: u8 = 1;
/// Length of a certificate body.
pub const CERTIFICATE_BODY_LEN: usize = 3 + 4 + UPLOAD_HMAC_LEN + 8 + 8 + CertificateId::LEN;
/// Length of a signed certificate: magic, body, key id and signature.
pub const SIGNED_CERTIFICATE_LEN: usize = CERTIFICATE_MAGIC.len() + CERTIFICATE_BODY_LEN + TRAILER_LEN;
/// Length of the text form of a signed certificate (unpadded base64url).
pub const CERTIFICATE_TEXT_LEN: usize = (SIGNED_CERTIFICATE_LEN * 4).div_ceil(3);
/// How far a verifier's clock may lag the authority's: a certificate is
/// accepted from this many seconds before its `issued_at`.
pub const CLOCK_SKEW_SECS: u64 = 60;
/// Domain-separation prefix of the upload HMAC message.
pub const LABEL_UPLOAD_HMAC: &[u8] = b"greenlight/v1 upload";
/// Length of an upload HMAC (HMAC-SHA256).
pub const UPLOAD_HMAC_LEN: usize = 32;
/// Length of an [`UploadHmacKey`].
pub const UPLOAD_HMAC_KEY_LEN: usize = 32;
/// Encoded length of one [`UploadedKey`] in the HMAC message.
const UPLOADED_KEY_LEN: usize = DAILY_KEY_LEN + 4 + 1;

/// Which date of the diagnosis a certificate carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// The day symptoms began.
    SymptomOnset,
    /// The day of the (positive) test, for people without symptoms.
    TestDate,
}

impl DayKind {
    /// The wire value: 1 symptom onset, 2 test date.
    pub fn to_byte(self) -> u8 {
        match self {
            DayKind::SymptomOnset => 1,
            DayKind::TestDate => 2,
        }
    }

    /// Parses the wire value.
    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            1 => Ok(DayKind::SymptomOnset),
            2 => Ok(DayKind::TestDate),
            _ => Err(Error::InvalidField("day_kind")),
        }
    }
}

/// A random 16-byte name for one certificate. The key server accepts each
/// id once; 128 random bits make collisions between honest certificates
/// negligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CertificateId(pub [u8; 16]);

impl CertificateId {
    /// Encoded length.
    pub const LEN: usize = 16;

    /// Draws a fresh id from the caller's cryptographic RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut id = [0u8; Self::LEN];
        rng.fill_bytes(&mut id);
        CertificateId(id)
    }
}

/// What the health authority certifies about an upload. Every value of this
/// type has `issued_at < expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    report_type: ReportType,
    day_kind: DayKind,
    day: DayNumber,
    upload_hmac: [u8; UPLOAD_HMAC_LEN],
    issued_at: UnixTime,
    expires_at: UnixTime,
    certificate_id: CertificateId,
}

impl Certificate {
    /// A certificate for an upload whose [`upload_hmac`] is `upload_hmac`,
    /// valid in `[issued_at, expires_at)`. Fails unless
    /// `issued_at < expires_at`.
    pub fn new(
        report_type: ReportType,
        day_kind: DayKind,
        day: DayNumber,
        upload_hmac: [u8; UPLOAD_HMAC_LEN],
        issued_at: UnixTime,
        expires_at: UnixTime,
        certificate_id: CertificateId,
    ) -> Result<Self> {
        if issued_at >= expires_at {
            return Err(Error::InvalidField("expires_at"));
        }
        Ok(Certificate { report_type, day_kind, day, upload_hmac, issued_at, expires_at, certificate_id })
    }

    /// How the diagnosis was established; the key server stamps this on
    /// every uploaded key (the phone cannot choose it).
    pub fn report_type(&self) -> ReportType {
        self.report_type
    }

    /// Whether [`Certificate::day`] is a symptom-onset or a test date.
    pub fn day_kind(&self) -> DayKind {
        self.day_kind
    }

    /// The symptom-onset or test day, from which transmission risks follow.
    pub fn day(&self) -> DayNumber {
        self.day
    }

    /// The HMAC of the upload this certificate allows.
    pub fn upload_hmac(&self) -> &[u8; UPLOAD_HMAC_LEN] {
        &self.upload_hmac
    }

    /// When the authority issued the certificate.
    pub fn issued_at(&self) -> UnixTime {
        self.issued_at
    }

    /// The first second at which the certificate is no longer accepted.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// The id the key server uses to accept the certificate only once.
    pub fn certificate_id(&self) -> CertificateId {
        self.certificate_id
    }

    /// The body of the signed file.
    pub fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CERTIFICATE_BODY_LEN);
        out.put_u8(CERTIFICATE_FORMAT_VERSION);
        out.put_u8(self.report_type.to_byte());
        out.put_u8(self.day_kind.to_byte());
        out.put_u32(self.day.0);
        out.put(&self.upload_hmac);
        out.put_u64(self.issued_at.0);
        out.put_u64(self.expires_at.0);
        out.put(&self.certificate_id.0);
        out
    }

    /// Decodes a body written by [`Certificate::encode_body`], strictly.
    pub fn decode_body(body: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(body);
        let version = reader.u8()?;
        if version != CERTIFICATE_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let report_type = ReportType::from_byte(reader.u8()?)?;
        let day_kind = DayKind::from_byte(reader.u8()?)?;
        let day = DayNumber(reader.u32()?);
        let upload_hmac = reader.array()?;
        let issued_at = UnixTime(reader.u64()?);
        let expires_at = UnixTime(reader.u64()?);
        let certificate_id = CertificateId(reader.array()?);
        reader.finish()?;
        Certificate::new(report_type, day_kind, day, upload_hmac, issued_at, expires_at, certificate_id)
    }

    /// Seals the certificate with an authority signing key.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        seal_file(&CERTIFICATE_MAGIC, &self.encode_body(), key)
    }

    /// The signed certificate in its text form for JSON: unpadded base64url
    /// of the signed file.
    pub fn sign_text(&self, key: &SigningKey) -> String {
        to_base64url(&self.sign(key))
    }

    /// Checks a signed certificate: the signature against the trusted
    /// authority keys first, then the body, then the time window at `now`
    /// ([`Error::NotYetValid`] before `issued_at` minus
    /// [`CLOCK_SKEW_SECS`], [`Error::Expired`] from `expires_at` on).
    ///
    /// It does not check single use: the caller (the key server) must
    /// refuse a [`Certificate::certificate_id`] it has accepted before.
    pub fn verify(bytes: &[u8], trusted: &TrustedKeys, now: UnixTime) -> Result<VerifiedCertificate> {
        let file = SignedFile::parse(&CERTIFICATE_MAGIC, bytes)?;
        let certificate = Certificate::decode_body(file.verify(trusted)?)?;
        if now < certificate.issued_at.minus(CLOCK_SKEW_SECS) {
            return Err(Error::NotYetValid);
        }
        if now >= certificate.expires_at {
            return Err(Error::Expired);
        }
        Ok(VerifiedCertificate { certificate, signed_by: file.key_id })
    }

    /// [`Certificate::verify`] for the text form.
    pub fn verify_text(text: &str, trusted: &TrustedKeys, now: UnixTime) -> Result<VerifiedCertificate> {
        Certificate::verify(&Certificate::parse_text(text)?, trusted, now)
    }

    /// Decodes the text form into the signed file, without checking the
    /// signature. Strict: exactly [`CERTIFICATE_TEXT_LEN`] characters of
    /// canonical unpadded base64url (no padding, whitespace or `+/`), and
    /// the certificate magic.
    pub fn parse_text(text: &str) -> Result<Vec<u8>> {
        if text.len() != CERTIFICATE_TEXT_LEN {
            return Err(Error::BadEncoding);
        }
        let bytes = from_base64url(text)?;
        SignedFile::parse(&CERTIFICATE_MAGIC, &bytes)?;
        Ok(bytes)
    }
}

/// A certificate whose signature and time window have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCertificate {
    certificate: Certificate,
    signed_by: KeyId,
}

impl VerifiedCertificate {
    /// The certified claims.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The authority key that signed it.
    pub fn signed_by(&self) -> KeyId {
        self.signed_by
    }

    /// Checks that `keys` and `revealed_checkins`, with the phone's
    /// `hmac_key`, are exactly the upload this certificate allows: the
    /// [`upload_hmac`] is recomputed and compared in constant time.
    ///
    /// Fails with [`Error::BadMac`] if anything differs, and with
    /// [`Error::InvalidField`] if the upload is too large to encode.
    pub fn check_upload(
        &self,
        hmac_key: &UploadHmacKey,
        keys: &[UploadedKey],
        revealed_checkins: &[&[u8]],
    ) -> Result<()> {
        let mac = upload_hmac(hmac_key, keys, revealed_checkins)?;
        if bool::from(mac.ct_eq(&self.certificate.upload_hmac)) { Ok(()) } else { Err(Error::BadMac) }
    }
}

/// The phone's one-time key for the upload HMAC: 32 random bytes, drawn
/// fresh for every upload, sent to the key server with the upload and never
/// to the health authority.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct UploadHmacKey([u8; UPLOAD_HMAC_KEY_LEN]);

impl UploadHmacKey {
    /// Draws a fresh key from the caller's cryptographic RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; UPLOAD_HMAC_KEY_LEN];
        rng.fill_bytes(&mut key);
        UploadHmacKey(key)
    }

    /// A key from its bytes (as received by the key server).
    pub fn from_bytes(bytes: [u8; UPLOAD_HMAC_KEY_LEN]) -> Self {
        UploadHmacKey(bytes)
    }

    /// The secret bytes, for sending with the upload.
    pub fn expose_secret(&self) -> &[u8; UPLOAD_HMAC_KEY_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for UploadHmacKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("UploadHmacKey(<secret>)")
    }
}

/// Most keys in one upload (spec §12.2.3): 14 days with room for key
/// changes within a day.
pub const MAX_UPLOAD_KEYS: usize = 30;
/// Most keys for one day in one upload.
pub const MAX_UPLOAD_KEYS_PER_DAY: usize = 3;
/// How many days before or after the certificate's signed day a key may be
/// (spec §12.2.3).
pub const DAYS_AROUND_CERTIFICATE_DAY: u32 = 14;

/// The rule of spec §12.2.3 an upload's key list breaks, with the position
/// of the first key that breaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKeysError {
    /// More than [`MAX_UPLOAD_KEYS`].
    TooManyKeys,
    /// A key for a day after today.
    FutureKey(usize),
    /// A key for a day before the retention window.
    OldKey(usize),
    /// The same key twice.
    DuplicateKey(usize),
    /// More than [`MAX_UPLOAD_KEYS_PER_DAY`] keys for one day.
    TooManyKeysPerDay(usize),
    /// A key more than [`DAYS_AROUND_CERTIFICATE_DAY`] days before or after
    /// the certificate's signed day.
    OutsideCertificateDays(usize),
}

/// Checks an upload's keys against the limits of spec §12.2.3, in key
/// order: at most 30 keys (none at all is allowed: an upload may reveal
/// check-ins only), no key twice, at most 3 for one day, and every day `d` with `today − retention_days ≤ d ≤ today` and, once the
/// certificate is verified, `certificate_day − 14 ≤ d ≤ certificate_day + 14`. A key server calls
/// it before verifying the certificate with `certificate_day = None` (so
/// bad input is refused without a trusted key) and after with its day.
pub fn check_upload_keys(
    keys: &[UploadedKey],
    today: DayNumber,
    retention_days: u32,
    certificate_day: Option<DayNumber>,
) -> core::result::Result<(), UploadKeysError> {
    if keys.len() > MAX_UPLOAD_KEYS {
        return Err(UploadKeysError::TooManyKeys);
    }
    let oldest = today.minus(retention_days);
    let around =
        certificate_day.map(|day| (day.minus(DAYS_AROUND_CERTIFICATE_DAY), day.plus(DAYS_AROUND_CERTIFICATE_DAY)));
    for (i, key) in keys.iter().enumerate() {
        if key.day > today {
            return Err(UploadKeysError::FutureKey(i));
        }
        if key.day < oldest {
            return Err(UploadKeysError::OldKey(i));
        }
        if around.is_some_and(|(first, last)| key.day < first || key.day > last) {
            return Err(UploadKeysError::OutsideCertificateDays(i));
        }
        let before = &keys[..i];
        if before.iter().any(|k| k.key == key.key) {
            return Err(UploadKeysError::DuplicateKey(i));
        }
        if before.iter().filter(|k| k.day == key.day).count() >= MAX_UPLOAD_KEYS_PER_DAY {
            return Err(UploadKeysError::TooManyKeysPerDay(i));
        }
    }
    Ok(())
}

/// One daily key as the phone uploads it. The report type is not here: it
/// comes from the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadedKey {
    /// The released daily key.
    pub key: PublishedKey,
    /// The day it was used on.
    pub day: DayNumber,
    /// Its transmission risk.
    pub transmission_risk: TransmissionRisk,
}

impl UploadedKey {
    fn encode(&self) -> [u8; UPLOADED_KEY_LEN] {
        let mut out = [0u8; UPLOADED_KEY_LEN];
        out[..DAILY_KEY_LEN].copy_from_slice(&self.key.0);
        out[DAILY_KEY_LEN..DAILY_KEY_LEN + 4].copy_from_slice(&self.day.0.to_le_bytes());
        out[DAILY_KEY_LEN + 4] = self.transmission_risk.level();
        out
    }
}

/// The message the upload HMAC covers:
///
/// ```text
/// "greenlight/v1 upload" ‖ u16 key count ‖ keys ‖ u16 check-in count ‖ check-ins
/// key      = key [16] ‖ day u32 ‖ transmission risk u8     (sorted bytewise)
/// check-in = u16 length ‖ bytes                            (sorted bytewise by bytes)
/// ```
///
/// Sorting makes the HMAC depend on the set of keys and check-ins, not on
/// the order a phone happens to list them in. Fails with
/// [`Error::InvalidField`] for more than 65,535 keys or check-ins, or a
/// check-in longer than 65,535 bytes.
pub fn upload_hmac_message(keys: &[UploadedKey], revealed_checkins: &[&[u8]]) -> Result<Vec<u8>> {
    let key_count = u16::try_from(keys.len()).map_err(|_| Error::InvalidField("keys"))?;
    let checkin_count = u16::try_from(revealed_checkins.len()).map_err(|_| Error::InvalidField("revealed_checkins"))?;
    let mut encoded_keys: Vec<[u8; UPLOADED_KEY_LEN]> = keys.iter().map(UploadedKey::encode).collect();
    encoded_keys.sort_unstable();
    let mut checkins = revealed_checkins.to_vec();
    checkins.sort_unstable();

    let checkin_bytes: usize = checkins.iter().map(|c| 2 + c.len()).sum();
    let mut out = Vec::with_capacity(LABEL_UPLOAD_HMAC.len() + 4 + UPLOADED_KEY_LEN * keys.len() + checkin_bytes);
    out.put(LABEL_UPLOAD_HMAC);
    out.put_u16(key_count);
    for key in &encoded_keys {
        out.put(key);
    }
    out.put_u16(checkin_count);
    for checkin in checkins {
        let len = u16::try_from(checkin.len()).map_err(|_| Error::InvalidField("revealed_checkins"))?;
        out.put_u16(len);
        out.put(checkin);
    }
    Ok(out)
}

/// HMAC-SHA256 under `key` of [`upload_hmac_message`]: what the phone sends
/// to the health authority to be certified, and what the key server
/// recomputes in [`VerifiedCertificate::check_upload`].
pub fn upload_hmac(
    key: &UploadHmacKey,
    keys: &[UploadedKey],
    revealed_checkins: &[&[u8]],
) -> Result<[u8; UPLOAD_HMAC_LEN]> {
    let message = upload_hmac_message(keys, revealed_checkins)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0).expect("HMAC accepts any key length");
    mac.update(&message);
    Ok(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_are_bound_to_the_certificate_day_and_the_limits() {
        let key = |n: u8, day: u32| UploadedKey {
            key: PublishedKey([n; 16]),
            day: DayNumber(day),
            transmission_risk: TransmissionRisk::new(5).expect("risk"),
        };
        let today = DayNumber(20_000);
        let check = |keys: &[UploadedKey], cert: Option<u32>| check_upload_keys(keys, today, 14, cert.map(DayNumber));
        assert_eq!(check(&[key(1, 19_990)], None), Ok(()));
        // No key at all is no breach: an upload of revealed check-ins alone has none.
        assert_eq!(check(&[], None), Ok(()));
        let many: Vec<_> = (0..31).map(|i| key(i, 20_000 - u32::from(i) / 3)).collect();
        assert_eq!(check(&many, None), Err(UploadKeysError::TooManyKeys));
        assert_eq!(check(&many[..30], None), Ok(()));
        assert_eq!(check(&[key(1, 20_000), key(2, 20_001)], None), Err(UploadKeysError::FutureKey(1)));
        assert_eq!(check(&[key(1, 19_986)], None), Ok(()), "14 days ago is kept");
        assert_eq!(check(&[key(1, 19_985)], None), Err(UploadKeysError::OldKey(0)));
        assert_eq!(check(&[key(1, 19_999), key(1, 19_998)], None), Err(UploadKeysError::DuplicateKey(1)));
        let four = [key(1, 19_999), key(2, 19_999), key(3, 19_999), key(4, 19_999)];
        assert_eq!(check(&four, None), Err(UploadKeysError::TooManyKeysPerDay(3)));
        // A certificate for day 19,995 allows keys from day 19,981 on; the
        // retention window (19,986) is the tighter bound here.
        assert_eq!(check(&[key(1, 19_986)], Some(19_995)), Ok(()));
        // A certificate for an old test (day 19,980) allows keys up to
        // 14 days after it, not today's.
        assert_eq!(check(&[key(1, 19_994)], Some(19_980)), Ok(()));
        assert_eq!(check(&[key(1, 19_995)], Some(19_980)), Err(UploadKeysError::OutsideCertificateDays(0)));
        // A certificate dated ahead (day 20,004) allows keys from 14 days before it.
        assert_eq!(check(&[key(1, 19_990)], Some(20_004)), Ok(()));
        assert_eq!(check(&[key(1, 19_989)], Some(20_004)), Err(UploadKeysError::OutsideCertificateDays(0)));
    }

    const T0: UnixTime = UnixTime(1_700_000_000);

    fn authority() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    fn trusted() -> TrustedKeys {
        TrustedKeys::from_keys([authority().verifying_key()])
    }

    fn uploaded(first: u8, day: u32, risk: u8) -> UploadedKey {
        UploadedKey {
            key: PublishedKey([first; 16]),
            day: DayNumber(day),
            transmission_risk: TransmissionRisk::new(risk).expect("valid risk"),
        }
    }

    fn upload() -> (UploadHmacKey, Vec<UploadedKey>, Vec<Vec<u8>>) {
        let keys = vec![uploaded(1, 20_000, 6), uploaded(2, 20_001, 8), uploaded(3, 20_002, 5)];
        let checkins = vec![b"visit one".to_vec(), b"visit two".to_vec()];
        (UploadHmacKey::from_bytes([9; 32]), keys, checkins)
    }

    fn refs(checkins: &[Vec<u8>]) -> Vec<&[u8]> {
        checkins.iter().map(Vec::as_slice).collect()
    }

    fn certificate(mac: [u8; 32]) -> Certificate {
        Certificate::new(
            ReportType::ConfirmedTest,
            DayKind::SymptomOnset,
            DayNumber(19_998),
            mac,
            T0,
            T0.plus(900),
            CertificateId([7; 16]),
        )
        .expect("valid certificate")
    }

    fn verified() -> VerifiedCertificate {
        let (key, keys, checkins) = upload();
        let mac = upload_hmac(&key, &keys, &refs(&checkins)).expect("small upload");
        Certificate::verify(&certificate(mac).sign(&authority()), &trusted(), T0).expect("fresh certificate verifies")
    }

    #[test]
    fn sizes_are_as_specified() {
        assert_eq!(CERTIFICATE_BODY_LEN, 71);
        assert_eq!(SIGNED_CERTIFICATE_LEN, 151);
        assert_eq!(CERTIFICATE_TEXT_LEN, 202);
        let signed = certificate([0; 32]).sign(&authority());
        assert_eq!(signed.len(), SIGNED_CERTIFICATE_LEN);
        assert_eq!(to_base64url(&signed).len(), CERTIFICATE_TEXT_LEN);
    }

    #[test]
    fn the_matching_upload_is_accepted() {
        let (key, keys, checkins) = upload();
        let v = verified();
        assert_eq!(v.signed_by(), KeyId::of(&authority().verifying_key()));
        assert_eq!(v.certificate().report_type(), ReportType::ConfirmedTest);
        assert_eq!(v.check_upload(&key, &keys, &refs(&checkins)), Ok(()));
    }

    #[test]
    fn any_change_to_the_upload_fails_the_mac() {
        let (key, keys, checkins) = upload();
        let v = verified();
        let check = |keys: &[UploadedKey], checkins: &[Vec<u8>]| v.check_upload(&key, keys, &refs(checkins));
        let changed_key = {
            let mut k = keys.clone();
            k[1].key.0[15] ^= 1;
            k
        };
        let changed_day = {
            let mut k = keys.clone();
            k[1].day = k[1].day.plus(1);
            k
        };
        let changed_risk = {
            let mut k = keys.clone();
            k[1].transmission_risk = TransmissionRisk::new(7).expect("valid risk");
            k
        };
        let changed_checkin = {
            let mut c = checkins.clone();
            c[0][0] ^= 1;
            c
        };
        assert_eq!(check(&changed_key, &checkins), Err(Error::BadMac));
        assert_eq!(check(&changed_day, &checkins), Err(Error::BadMac));
        assert_eq!(check(&changed_risk, &checkins), Err(Error::BadMac));
        assert_eq!(check(&keys[..2], &checkins), Err(Error::BadMac));
        assert_eq!(check(&[keys.clone(), vec![uploaded(4, 20_000, 1)]].concat(), &checkins), Err(Error::BadMac));
        assert_eq!(check(&keys, &changed_checkin), Err(Error::BadMac));
        assert_eq!(check(&keys, &checkins[..1]), Err(Error::BadMac));
        assert_eq!(check(&keys, &[]), Err(Error::BadMac));
        // Moving a byte between two check-ins keeps the concatenation but
        // not the message: lengths are part of it.
        let shifted = vec![b"visit on".to_vec(), b"evisit two".to_vec()];
        assert_eq!(check(&keys, &shifted), Err(Error::BadMac));
        let other_key = UploadHmacKey::from_bytes([8; 32]);
        assert_eq!(v.check_upload(&other_key, &keys, &refs(&checkins)), Err(Error::BadMac));
    }

    #[test]
    fn the_mac_depends_on_the_set_not_the_order() {
        let (key, mut keys, mut checkins) = upload();
        let before = upload_hmac(&key, &keys, &refs(&checkins)).expect("small upload");
        keys.reverse();
        checkins.reverse();
        assert_eq!(upload_hmac(&key, &keys, &refs(&checkins)), Ok(before));
        assert_eq!(verified().check_upload(&key, &keys, &refs(&checkins)), Ok(()));
    }

    #[test]
    fn message_layout() {
        let keys = [uploaded(0xaa, 0x0102_0304, 3)];
        let message = upload_hmac_message(&keys, &[b"xy"]).expect("small upload");
        let mut expected = b"greenlight/v1 upload".to_vec();
        expected.extend_from_slice(&[1, 0]);
        expected.extend_from_slice(&[0xaa; 16]);
        expected.extend_from_slice(&[4, 3, 2, 1, 3]);
        expected.extend_from_slice(&[1, 0, 2, 0, b'x', b'y']);
        assert_eq!(message, expected);
    }

    #[test]
    fn oversized_uploads_are_refused_not_truncated() {
        let key = UploadHmacKey::from_bytes([1; 32]);
        let long = vec![0u8; 65_536];
        assert_eq!(upload_hmac(&key, &[], &[&long]), Err(Error::InvalidField("revealed_checkins")));
        let many = vec![uploaded(1, 1, 1); 65_536];
        assert_eq!(upload_hmac(&key, &many, &[]), Err(Error::InvalidField("keys")));
    }

    #[test]
    fn time_window_is_enforced_with_skew() {
        let signed = certificate([0; 32]).sign(&authority());
        let at = |t: UnixTime| Certificate::verify(&signed, &trusted(), t).map(|_| ());
        assert_eq!(at(T0.minus(CLOCK_SKEW_SECS + 1)), Err(Error::NotYetValid));
        assert_eq!(at(T0.minus(CLOCK_SKEW_SECS)), Ok(()));
        assert_eq!(at(T0.plus(899)), Ok(()));
        assert_eq!(at(T0.plus(900)), Err(Error::Expired));
    }

    #[test]
    fn signature_is_checked_before_time() {
        let signed = certificate([0; 32]).sign(&authority());
        let other = TrustedKeys::from_keys([SigningKey::from_bytes(&[6; 32]).verifying_key()]);
        assert_eq!(Certificate::verify(&signed, &other, T0.plus(10_000)), Err(Error::BadSignature));
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let body = certificate([0; 32]).encode_body();
        let as_index = seal_file(b"GL_INDEX", &body, &authority());
        assert_eq!(Certificate::verify(&as_index, &trusted(), T0), Err(Error::BadMagic));
    }

    #[test]
    fn invalid_bodies_are_rejected() {
        let base = certificate([0; 32]);
        assert_eq!(
            Certificate::new(
                ReportType::ConfirmedTest,
                DayKind::TestDate,
                DayNumber(1),
                [0; 32],
                T0,
                T0,
                CertificateId([0; 16]),
            ),
            Err(Error::InvalidField("expires_at"))
        );
        for (at, byte, err) in [
            (0, 2, Error::UnsupportedVersion(2)),
            (1, 3, Error::InvalidField("report_type")),
            (2, 0, Error::InvalidField("day_kind")),
        ] {
            let mut body = base.encode_body();
            body[at] = byte;
            assert_eq!(Certificate::decode_body(&body), Err(err));
        }
        // expires_at equal to issued_at.
        let mut body = base.encode_body();
        let issued = body[39..47].to_vec();
        body[47..55].copy_from_slice(&issued);
        assert_eq!(Certificate::decode_body(&body), Err(Error::InvalidField("expires_at")));
    }

    #[test]
    fn text_form_round_trips_and_is_strict() {
        let cert = certificate([3; 32]);
        let text = cert.sign_text(&authority());
        let v = Certificate::verify_text(&text, &trusted(), T0).expect("valid text");
        assert_eq!(v.certificate(), &cert);
        for bad in [
            format!("{text}="),
            format!(" {text}"),
            text[1..].to_owned(),
            text.replace('-', "+").replace('_', "/"),
            String::new(),
        ] {
            if bad != text {
                assert!(Certificate::parse_text(&bad).is_err(), "{bad:?} was accepted");
            }
        }
        // The last character carries 4 padding bits that must be zero.
        let mut last_bits = text.clone();
        let last = last_bits.pop().expect("non-empty");
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let pos = alphabet.find(last).expect("base64url character");
        last_bits.push(alphabet.as_bytes()[pos ^ 1].into());
        assert_eq!(Certificate::parse_text(&last_bits), Err(Error::BadEncoding));
    }

    #[test]
    fn hmac_key_debug_is_redacted() {
        let key = UploadHmacKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "UploadHmacKey(<secret>)");
    }
}
