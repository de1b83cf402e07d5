//! Venues: the owner's master secret, epochs, posters, and the authority's
//! share of each epoch's trace key.
//!
//! Each epoch (a day for a printed sheet, an hour for a screen) has its own
//! **trace key** `P = (s_o + s_a)·B` on Curve25519, published in the poster
//! as an X25519 public key (a Montgomery u-coordinate). Its secret is the sum
//! of two shares:
//!
//! - the **owner share** `s_o`, derived from the venue master secret and the
//!   epoch, which the owner can recompute and later release for that epoch
//!   only;
//! - the **authority share** `s_a`, exported from an RFC 9180 HPKE context
//!   set up to the health authority's public key. The poster carries only
//!   the encapsulation `enc`; the owner's tool forgets `s_a` as soon as `P`
//!   is computed, and only the authority can recompute it from `enc`.
//!
//! Phones seal their check-ins to `P` ([`crate::checkin`]); a trace entry
//! publishes `t = s_o + s_a` for one epoch ([`crate::trace`]). Neither party
//! alone knows `t`, and publishing it burns that epoch only: every other
//! epoch's shares are independent.

use crate::codec::{Reader, Writer, check_text, from_base64url, to_base64url};
use crate::crypto::{hkdf_expand, hkdf_extract};
use crate::error::{Error, Result};
use crate::signing::{
    SIGNATURE_LEN, SigningKey, VerifyingKey, decode_public_key, sign_with_context, verify_with_context,
};
use crate::time::{DayNumber, UnixTime};
use curve25519_dalek::{EdwardsPoint, Scalar};
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The prefix of a poster's text form (what the QR code holds).
pub const POSTER_PREFIX: &str = "GL1:";
/// Maximum venue name length in characters (Unicode scalar values): 40
/// reads as a name in any script, "朝阳区人民医院门诊部" as well as "Chez Marie".
pub const MAX_NAME_CHARS: usize = 40;
/// Maximum venue name length in UTF-8 bytes: 40 characters of three bytes
/// (every CJK ideograph in the Basic Multilingual Plane). With the address
/// at its own maximum, the longest poster (556 characters of text) fits a
/// QR code of version 22 at error-correction level Q, whose modules stay
/// 3.8 pt (1.3 mm) wide on the printed sheet (protocol §7.2).
pub const MAX_NAME_BYTES: usize = 120;
/// Maximum venue address length in characters.
pub const MAX_ADDRESS_CHARS: usize = 40;
/// Maximum venue address length in UTF-8 bytes.
pub const MAX_ADDRESS_BYTES: usize = 120;
/// Longest epoch: one day, in minutes. Phones keep a check-in day key until
/// no epoch starting on its day can still be live, so this bound is what
/// limits how long a seized phone can link its own check-ins (see
/// [`crate::checkin`]).
pub const MAX_EPOCH_MINUTES: u16 = 1440;
/// Poster format version.
pub const POSTER_VERSION: u8 = 1;

/// HKDF salt of everything derived from a venue master secret.
pub const LABEL_VENUE_SALT: &[u8] = b"greenlight/v1 venue";
/// HKDF label of the venue's Ed25519 signing key seed.
pub const LABEL_VENUE_SIGNING: &[u8] = b"greenlight/v1 venue signing key";
/// HKDF label of an epoch's owner share.
pub const LABEL_OWNER_SHARE: &[u8] = b"greenlight/v1 owner share";
/// HPKE `info` prefix for the authority share.
pub const LABEL_AUTHORITY_SHARE_INFO: &[u8] = b"greenlight/v1 authority share";
/// HPKE exporter context for the authority share.
pub const LABEL_AUTHORITY_SHARE_EXPORT: &[u8] = b"greenlight/v1 authority share scalar";
/// Signature context of posters.
pub const LABEL_POSTER_SIGNATURE: &[u8] = b"greenlight/v1 poster";

type Hpke = X25519HkdfSha256;
type HpkeKdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// A venue's time slice with its own trace key: minute-aligned start and a
/// length of 1 to 1440 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch {
    start_minute: u32,
    minutes: u16,
}

impl Epoch {
    /// Encoded length.
    pub const LEN: usize = 6;

    /// The epoch starting at `start` (a whole minute) and lasting `minutes`.
    pub fn new(start: UnixTime, minutes: u16) -> Result<Self> {
        if !start.0.is_multiple_of(60) {
            return Err(Error::InvalidField("epoch_start"));
        }
        let start_minute = u32::try_from(start.minutes()).map_err(|_| Error::InvalidField("epoch_start"))?;
        Epoch::from_parts(start_minute, minutes)
    }

    fn from_parts(start_minute: u32, minutes: u16) -> Result<Self> {
        if minutes == 0 || minutes > MAX_EPOCH_MINUTES {
            return Err(Error::InvalidField("epoch_minutes"));
        }
        if start_minute.checked_add(u32::from(minutes)).is_none() {
            return Err(Error::InvalidField("epoch_start"));
        }
        Ok(Epoch { start_minute, minutes })
    }

    /// First second of the epoch.
    pub fn start(&self) -> UnixTime {
        UnixTime::from_minutes(self.start_minute)
    }

    /// First second after the epoch.
    pub fn end(&self) -> UnixTime {
        UnixTime::from_minutes(self.start_minute + u32::from(self.minutes))
    }

    /// Length in minutes.
    pub fn minutes(&self) -> u16 {
        self.minutes
    }

    /// The UTC day the epoch starts on. Phones group their check-ins by it.
    pub fn day(&self) -> DayNumber {
        self.start().day()
    }

    /// The 6-byte encoding: start minute (u32) ‖ length (u16).
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..4].copy_from_slice(&self.start_minute.to_le_bytes());
        out[4..].copy_from_slice(&self.minutes.to_le_bytes());
        out
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let start = r.u32()?;
        let minutes = r.u16()?;
        Epoch::from_parts(start, minutes)
    }
}

/// What kind of place a venue is; phones use it for the default length of a
/// stay when the visitor does not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VenueKind {
    /// Anything else.
    Other,
    /// A shop.
    Shop,
    /// A restaurant, café or bar.
    Restaurant,
    /// A bus, train or station.
    Transit,
    /// An office or workplace.
    Workplace,
    /// A concert, class, service or other event.
    Event,
    /// A gym, cinema or other leisure venue.
    Leisure,
    /// A school or university.
    Education,
    /// A clinic or care home.
    Care,
}

impl VenueKind {
    /// Every kind, in wire order.
    pub const ALL: [VenueKind; 9] = [
        VenueKind::Other,
        VenueKind::Shop,
        VenueKind::Restaurant,
        VenueKind::Transit,
        VenueKind::Workplace,
        VenueKind::Event,
        VenueKind::Leisure,
        VenueKind::Education,
        VenueKind::Care,
    ];

    /// The wire value.
    pub fn to_byte(self) -> u8 {
        u8::try_from(VenueKind::ALL.iter().position(|k| *k == self).expect("every kind is listed")).expect("9 kinds")
    }

    /// Parses the wire value.
    pub fn from_byte(b: u8) -> Result<Self> {
        VenueKind::ALL.get(usize::from(b)).copied().ok_or(Error::InvalidField("venue_kind"))
    }

    /// A lower-case name for command lines and pages.
    pub fn as_str(self) -> &'static str {
        match self {
            VenueKind::Other => "other",
            VenueKind::Shop => "shop",
            VenueKind::Restaurant => "restaurant",
            VenueKind::Transit => "transit",
            VenueKind::Workplace => "workplace",
            VenueKind::Event => "event",
            VenueKind::Leisure => "leisure",
            VenueKind::Education => "education",
            VenueKind::Care => "care",
        }
    }

    /// The typical stay in minutes, used for automatic check-out.
    pub fn typical_stay_minutes(self) -> u16 {
        match self {
            VenueKind::Shop | VenueKind::Transit => 30,
            VenueKind::Restaurant | VenueKind::Care => 90,
            VenueKind::Event | VenueKind::Leisure => 120,
            VenueKind::Other => 60,
            VenueKind::Workplace | VenueKind::Education => 480,
        }
    }
}

/// The text a poster shows and a phone keeps: name, address and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VenueInfo {
    /// The venue's name: 1 to 40 characters and at most 120 bytes of UTF-8,
    /// not only white space, no control or format characters.
    pub name: String,
    /// Its address or room: at most 40 characters and 120 bytes (may be
    /// empty).
    pub address: String,
    /// What kind of place it is.
    pub kind: VenueKind,
}

impl VenueInfo {
    /// Checks the length and character rules.
    pub fn validate(&self) -> Result<()> {
        check_text(&self.name, MAX_NAME_BYTES, "venue_name")?;
        if self.name.trim().is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::InvalidField("venue_name"));
        }
        check_text(&self.address, MAX_ADDRESS_BYTES, "venue_address")?;
        if self.address.chars().count() > MAX_ADDRESS_CHARS {
            return Err(Error::InvalidField("venue_address"));
        }
        Ok(())
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.kind.to_byte());
        out.put_short_text(&self.name);
        out.put_short_text(&self.address);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let kind = VenueKind::from_byte(r.u8()?)?;
        let name = r.short_text(MAX_NAME_BYTES, "venue_name")?.to_owned();
        let address = r.short_text(MAX_ADDRESS_BYTES, "venue_address")?.to_owned();
        let info = VenueInfo { name, address, kind };
        info.validate()?;
        Ok(info)
    }
}

/// The health authority's public key for venue tracing (HPKE, X25519).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorityPublicKey(pub [u8; 32]);

/// The health authority's secret key for venue tracing. It opens the
/// authority share of any poster's epoch.
pub struct AuthorityShareKey {
    secret: <Hpke as hpke::Kem>::PrivateKey,
}

impl AuthorityShareKey {
    /// Draws a new key from the caller's RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut ikm = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ikm.as_mut());
        let (secret, _) = Hpke::derive_keypair(ikm.as_ref());
        AuthorityShareKey { secret }
    }

    /// Restores a key from its 32 secret bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        let secret = <Hpke as hpke::Kem>::PrivateKey::from_bytes(bytes).map_err(|_| Error::BadPublicKey)?;
        Ok(AuthorityShareKey { secret })
    }

    /// The 32 secret bytes, for the authority's key store.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.secret.to_bytes());
        out
    }

    /// The public key that venue tools seal authority shares to.
    pub fn public_key(&self) -> AuthorityPublicKey {
        let mut out = [0u8; 32];
        out.copy_from_slice(&Hpke::sk_to_pk(&self.secret).to_bytes());
        AuthorityPublicKey(out)
    }

    /// Recomputes the authority share of a poster's epoch from its `enc`.
    pub fn open_share(&self, venue: &VerifyingKey, epoch: &PosterEpoch) -> Result<AuthorityShare> {
        let enc = <Hpke as hpke::Kem>::EncappedKey::from_bytes(&epoch.share_enc).map_err(|_| Error::BadPublicKey)?;
        let info = authority_share_info(venue, &epoch.epoch);
        let ctx = hpke::setup_receiver::<HpkeAead, HpkeKdf, Hpke>(&OpModeR::Base, &self.secret, &enc, &info)
            .map_err(|_| Error::BadPublicKey)?;
        Ok(AuthorityShare(export_share(|out| ctx.export(LABEL_AUTHORITY_SHARE_EXPORT, out))))
    }
}

impl core::fmt::Debug for AuthorityShareKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthorityShareKey").field("public", &self.public_key()).finish_non_exhaustive()
    }
}

fn authority_share_info(venue: &VerifyingKey, epoch: &Epoch) -> Vec<u8> {
    let mut info = Vec::with_capacity(LABEL_AUTHORITY_SHARE_INFO.len() + 32 + Epoch::LEN);
    info.put(LABEL_AUTHORITY_SHARE_INFO);
    info.put(venue.as_bytes());
    info.put(&epoch.to_bytes());
    info
}

fn export_share(export: impl FnOnce(&mut [u8]) -> core::result::Result<(), hpke::HpkeError>) -> Scalar {
    let mut wide = Zeroizing::new([0u8; 64]);
    export(wide.as_mut()).expect("64 bytes is a valid HPKE export length");
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// The authority's share `s_a` of one epoch's trace secret.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AuthorityShare(pub(crate) Scalar);

impl AuthorityShare {
    /// The canonical 32-byte little-endian scalar.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }
}

/// The owner's share `s_o` of one epoch's trace secret.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct OwnerShare(pub(crate) Scalar);

impl OwnerShare {
    /// The canonical 32-byte encoding, for a release.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// Parses a canonical scalar.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self> {
        Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes))
            .map(OwnerShare)
            .ok_or(Error::InvalidField("owner_share"))
    }
}

/// The public part of one epoch of a venue: its trace key and the
/// encapsulated authority share. The owner's tool keeps a log of these (they
/// are not secret) so that it can later release an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PosterEpoch {
    /// The epoch.
    pub epoch: Epoch,
    /// `P = (s_o + s_a)·B`, as an X25519 public key.
    pub trace_key: [u8; 32],
    /// HPKE encapsulation from which the authority recomputes `s_a`.
    pub share_enc: [u8; 32],
}

impl PosterEpoch {
    /// Encoded length.
    pub const LEN: usize = Epoch::LEN + 64;

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put(&self.epoch.to_bytes());
        out.put(&self.trace_key);
        out.put(&self.share_enc);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(PosterEpoch { epoch: Epoch::read(r)?, trace_key: r.array()?, share_enc: r.array()? })
    }

    /// The 70-byte encoding: epoch ‖ trace key ‖ enc.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        self.write(&mut out);
        out
    }

    /// Parses the 70-byte encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let epoch = PosterEpoch::read(&mut r)?;
        r.finish()?;
        Ok(epoch)
    }
}

/// A venue owner's root secret: 32 random bytes, kept offline.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct VenueMasterSecret([u8; 32]);

impl VenueMasterSecret {
    /// Draws a new secret from the caller's RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        VenueMasterSecret(secret)
    }

    /// Restores a secret from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        VenueMasterSecret(bytes)
    }

    /// The secret bytes, for the owner's backup.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    fn hkdf(&self) -> hkdf::Hkdf<sha2::Sha256> {
        hkdf_extract(LABEL_VENUE_SALT, &[&self.0])
    }

    /// The venue's Ed25519 signing key, which signs its posters and releases.
    pub fn signing_key(&self) -> SigningKey {
        let seed = hkdf_expand::<32>(&self.hkdf(), &[LABEL_VENUE_SIGNING]);
        SigningKey::from_bytes(&seed)
    }

    /// The venue's public key: its stable identity across posters.
    pub fn public_key(&self) -> VerifyingKey {
        self.signing_key().verifying_key()
    }

    /// The owner share of `epoch`.
    pub fn owner_share(&self, epoch: &Epoch) -> OwnerShare {
        let wide = hkdf_expand::<64>(&self.hkdf(), &[LABEL_OWNER_SHARE, &epoch.to_bytes()]);
        OwnerShare(Scalar::from_bytes_mod_order_wide(&wide))
    }

    /// Opens a new epoch: derives the owner share, seals a fresh authority
    /// share to `authority`, and returns the public result. The authority
    /// share itself is erased before this returns.
    pub fn open_epoch<R: CryptoRng>(
        &self,
        epoch: Epoch,
        authority: &AuthorityPublicKey,
        rng: &mut R,
    ) -> Result<PosterEpoch> {
        let pk = <Hpke as hpke::Kem>::PublicKey::from_bytes(&authority.0).map_err(|_| Error::BadPublicKey)?;
        let info = authority_share_info(&self.public_key(), &epoch);
        let (enc, ctx) = hpke::setup_sender_with_rng::<HpkeAead, HpkeKdf, Hpke>(&OpModeS::Base, &pk, &info, rng)
            .map_err(|_| Error::BadPublicKey)?;
        let authority_share = AuthorityShare(export_share(|out| ctx.export(LABEL_AUTHORITY_SHARE_EXPORT, out)));
        let owner_share = self.owner_share(&epoch);
        let mut secret = owner_share.0 + authority_share.0;
        let trace_key = EdwardsPoint::mul_base(&secret).to_montgomery().to_bytes();
        secret.zeroize();
        let mut share_enc = [0u8; 32];
        share_enc.copy_from_slice(&enc.to_bytes());
        Ok(PosterEpoch { epoch, trace_key, share_enc })
    }

    /// Signs a poster for `epoch`, scannable from `live_from` until
    /// `live_until` (both whole minutes inside the epoch). A printed sheet
    /// is live for its whole epoch; a screen signs a short window every few
    /// minutes.
    pub fn poster(
        &self,
        info: &VenueInfo,
        epoch: &PosterEpoch,
        live_from: UnixTime,
        live_until: UnixTime,
    ) -> Result<Poster> {
        info.validate()?;
        let offset = |t: UnixTime| -> Result<u16> {
            if !t.0.is_multiple_of(60) || t < epoch.epoch.start() || t > epoch.epoch.end() {
                return Err(Error::InvalidField("live_window"));
            }
            u16::try_from((t.0 - epoch.epoch.start().0) / 60).map_err(|_| Error::InvalidField("live_window"))
        };
        let (from, until) = (offset(live_from)?, offset(live_until)?);
        if from >= until {
            return Err(Error::InvalidField("live_window"));
        }
        let signing_key = self.signing_key();
        let mut poster = Poster {
            info: info.clone(),
            epoch: *epoch,
            live_from: from,
            live_until: until,
            venue: signing_key.verifying_key(),
            signature: [0; SIGNATURE_LEN],
        };
        poster.signature = sign_with_context(&signing_key, LABEL_POSTER_SIGNATURE, &poster.signed_bytes());
        Ok(poster)
    }
}

impl core::fmt::Debug for VenueMasterSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("VenueMasterSecret(<secret>)")
    }
}

/// A venue poster whose signature has been verified. It may still be stale:
/// phones call [`Poster::check_live`] with their clock before checking in.
///
/// Binary layout (the text form is `GL1:` ‖ base64url of it):
///
/// ```text
/// version u8 ‖ epoch (start minute u32, minutes u16) ‖ live from u16 ‖ live until u16
/// ‖ venue key [32] ‖ trace key [32] ‖ share enc [32] ‖ kind u8 ‖ name (u8 len) ‖ address (u8 len)
/// ‖ Ed25519 signature [64] over "greenlight/v1 poster" ‖ everything before it
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poster {
    info: VenueInfo,
    epoch: PosterEpoch,
    live_from: u16,
    live_until: u16,
    venue: VerifyingKey,
    signature: [u8; SIGNATURE_LEN],
}

impl Poster {
    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.put_u8(POSTER_VERSION);
        out.put(&self.epoch.epoch.to_bytes());
        out.put_u16(self.live_from);
        out.put_u16(self.live_until);
        out.put(self.venue.as_bytes());
        out.put(&self.epoch.trace_key);
        out.put(&self.epoch.share_enc);
        self.info.write(&mut out);
        out
    }

    /// The binary encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.signed_bytes();
        out.put(&self.signature);
        out
    }

    /// The text a QR code holds: `GL1:` followed by base64url.
    pub fn to_text(&self) -> String {
        format!("{POSTER_PREFIX}{}", to_base64url(&self.to_bytes()))
    }

    /// Parses a poster and verifies its signature. Does not look at the
    /// clock: see [`Poster::check_live`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != POSTER_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let epoch = Epoch::read(&mut r)?;
        let live_from = r.u16()?;
        let live_until = r.u16()?;
        if live_from >= live_until || live_until > epoch.minutes() {
            return Err(Error::InvalidField("live_window"));
        }
        let venue = decode_public_key(&r.array()?)?;
        let trace_key = r.array()?;
        let share_enc = r.array()?;
        let info = VenueInfo::read(&mut r)?;
        let signature = r.array()?;
        r.finish()?;
        let poster = Poster {
            info,
            epoch: PosterEpoch { epoch, trace_key, share_enc },
            live_from,
            live_until,
            venue,
            signature,
        };
        verify_with_context(&poster.venue, LABEL_POSTER_SIGNATURE, &poster.signed_bytes(), &poster.signature)?;
        Ok(poster)
    }

    /// Parses the text form (see [`Poster::to_text`]).
    pub fn from_text(text: &str) -> Result<Self> {
        let body = text.trim().strip_prefix(POSTER_PREFIX).ok_or(Error::BadMagic)?;
        Poster::from_bytes(&from_base64url(body)?)
    }

    /// Refuses a poster outside its live window, widened by `tolerance_secs`
    /// for clock error: a photo of yesterday's sheet or of a screen ten
    /// minutes ago is stale, and a poster for later is not valid yet.
    pub fn check_live(&self, now: UnixTime, tolerance_secs: u64) -> Result<()> {
        if now.plus(tolerance_secs) < self.live_from() {
            return Err(Error::NotYetValid);
        }
        if now.minus(tolerance_secs) >= self.live_until() {
            return Err(Error::Expired);
        }
        Ok(())
    }

    /// The venue's name, address and kind.
    pub fn info(&self) -> &VenueInfo {
        &self.info
    }

    /// The epoch and its public keys.
    pub fn poster_epoch(&self) -> &PosterEpoch {
        &self.epoch
    }

    /// The epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch.epoch
    }

    /// The venue's public key (its identity).
    pub fn venue_key(&self) -> &VerifyingKey {
        &self.venue
    }

    /// When the poster becomes scannable.
    pub fn live_from(&self) -> UnixTime {
        self.epoch.epoch.start().plus(u64::from(self.live_from) * 60)
    }

    /// When the poster stops being scannable.
    pub fn live_until(&self) -> UnixTime {
        self.epoch.epoch.start().plus(u64::from(self.live_until) * 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_whole_minutes_and_at_most_a_day() {
        assert!(Epoch::new(UnixTime(1_728_000_000), 1440).is_ok());
        assert_eq!(Epoch::new(UnixTime(1_728_000_000), 1441), Err(Error::InvalidField("epoch_minutes")));
        assert_eq!(Epoch::new(UnixTime(1_728_000_000), 0), Err(Error::InvalidField("epoch_minutes")));
        assert_eq!(Epoch::new(UnixTime(1_728_000_030), 60), Err(Error::InvalidField("epoch_start")));
        // Past the year 10136 a minute no longer fits in 32 bits.
        assert_eq!(Epoch::new(UnixTime(u64::from(u32::MAX) * 60), 1), Err(Error::InvalidField("epoch_start")));
        let epoch = Epoch::new(UnixTime(1_728_000_000), 90).expect("epoch");
        assert_eq!(epoch.end().0 - epoch.start().0, 90 * 60);
        assert_eq!(epoch.day(), DayNumber(20_000));
    }

    #[test]
    fn venue_text_is_checked() {
        let ok = VenueInfo { name: "Bäckerei".into(), address: String::new(), kind: VenueKind::Shop };
        assert!(ok.validate().is_ok());
        for (name, address) in [("", ""), ("   ", ""), ("a\nb", ""), ("ok", "tab\there")] {
            let info = VenueInfo { name: name.into(), address: address.into(), kind: VenueKind::Shop };
            assert!(info.validate().is_err(), "{name:?} / {address:?}");
        }
        let long = VenueInfo { name: "x".repeat(41), address: String::new(), kind: VenueKind::Other };
        assert_eq!(long.validate(), Err(Error::InvalidField("venue_name")));
    }

    #[test]
    fn venue_kinds_round_trip_and_unknown_kinds_are_refused() {
        for kind in VenueKind::ALL {
            assert_eq!(VenueKind::from_byte(kind.to_byte()), Ok(kind));
        }
        assert_eq!(VenueKind::from_byte(9), Err(Error::InvalidField("venue_kind")));
    }

    #[test]
    fn a_live_window_outside_the_epoch_is_refused() {
        let master = VenueMasterSecret::from_bytes([1; 32]);
        let epoch = Epoch::new(UnixTime(1_728_000_000), 60).expect("epoch");
        let opened = PosterEpoch { epoch, trace_key: [9; 32], share_enc: [9; 32] };
        let info = VenueInfo { name: "Kiosk".into(), address: String::new(), kind: VenueKind::Shop };
        let start = epoch.start();
        assert!(master.poster(&info, &opened, start, start.plus(3600)).is_ok());
        for (from, until) in [
            (start.plus(600), start.plus(600)),
            (start.minus(60), start.plus(60)),
            (start, start.plus(3660)),
            (start.plus(30), start.plus(600)),
        ] {
            assert_eq!(master.poster(&info, &opened, from, until), Err(Error::InvalidField("live_window")));
        }
    }
}
