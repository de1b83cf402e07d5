//! Two-party venue tracing: release requests, the owner's release, the
//! combined trace secret, trace entries and the signed trace batch, and the
//! check-ins a diagnosed visitor may reveal.
//!
//! The flow: a diagnosed visitor reveals a check-in (the poster and the
//! times) in their upload, or a venue hands in a paper guest list. The
//! authority recomputes the authority share from the poster's `enc`, sends
//! the owner a signed [`ReleaseRequest`] for exactly the epochs concerned,
//! and the owner's tool answers with a [`ReleaseBundle`] of owner shares for
//! those epochs only. [`TraceSecret::combine`] checks that the two shares
//! open the poster's trace key, and a [`TraceEntry`] publishes the secret
//! with the exposure window and a message that only visitors can read.

use crate::codec::{Reader, Writer, check_text};
use crate::crypto::{AEAD_NONCE_LEN, AEAD_TAG_LEN, aead_open, aead_seal, hkdf_expand, hkdf_extract};
use crate::error::{Error, Result};
use crate::export::Region;
use crate::signing::{SignedFile, SigningKey, TrustedKeys, VerifyingKey, decode_public_key, open_file, seal_file};
use crate::time::UnixTime;
use crate::venue::{AuthorityShare, Epoch, OwnerShare, Poster, PosterEpoch, VenueMasterSecret};
use curve25519_dalek::{EdwardsPoint, Scalar};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Magic of a signed trace batch.
pub const TRACE_BATCH_MAGIC: &[u8; 8] = b"GL_TRACE";
/// Magic of a signed release request.
pub const RELEASE_REQUEST_MAGIC: &[u8; 8] = b"GL_RQST_";
/// Magic of a signed release bundle.
pub const RELEASE_BUNDLE_MAGIC: &[u8; 8] = b"GL_RELSE";
/// Format version of the trace formats.
pub const TRACE_VERSION: u8 = 1;
/// Longest message to visitors, in UTF-8 bytes.
pub const MAX_MESSAGE_LEN: usize = 280;
/// Most epochs in one release request.
pub const MAX_RELEASE_EPOCHS: usize = 256;
/// HKDF salt of the visitor-message key.
pub const LABEL_MESSAGE_SALT: &[u8] = b"greenlight/v1 trace message";
/// HKDF label of the visitor-message key.
pub const LABEL_MESSAGE_KEY: &[u8] = b"greenlight/v1 trace message key";

/// The secret `t = s_o + s_a` of one traced epoch. Publishing it lets the
/// epoch's visitors find their check-ins; it says nothing about any other
/// epoch.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TraceSecret(Scalar);

impl TraceSecret {
    /// Adds the two shares and checks that they open `epoch`'s trace key.
    /// A wrong or forged owner share is refused here, before anything is
    /// published.
    pub fn combine(owner: &OwnerShare, authority: &AuthorityShare, epoch: &PosterEpoch) -> Result<Self> {
        let secret = TraceSecret(owner.0 + authority.0);
        let key = EdwardsPoint::mul_base(&secret.0).to_montgomery().to_bytes();
        if bool::from(key.ct_eq(&epoch.trace_key)) { Ok(secret) } else { Err(Error::InvalidField("trace_shares")) }
    }

    /// The canonical 32-byte little-endian scalar, as a trace entry
    /// publishes it.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }
}

impl core::fmt::Debug for TraceSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TraceSecret(<secret>)")
    }
}

fn message_key(epoch: &PosterEpoch) -> zeroize::Zeroizing<[u8; 32]> {
    let hk = hkdf_extract(LABEL_MESSAGE_SALT, &[&epoch.trace_key, &epoch.share_enc]);
    hkdf_expand::<32>(&hk, &[LABEL_MESSAGE_KEY, &epoch.epoch.to_bytes()])
}

/// One published trace: an epoch's secret, when the case was there, and a
/// message for visitors.
///
/// `epoch (6) ‖ secret [32] ‖ window start u32 (minute) ‖ window end u32 ‖
/// nonce [12] ‖ length u16 ‖ ChaCha20-Poly1305 ciphertext`. The message key
/// comes from the poster's trace key and `enc`, which only people who saw
/// the poster have: the public secret alone does not reveal it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// The traced epoch.
    pub epoch: Epoch,
    secret: [u8; 32],
    /// Start of the exposure window.
    pub window_start: UnixTime,
    /// End of the exposure window.
    pub window_end: UnixTime,
    nonce: [u8; AEAD_NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl TraceEntry {
    /// Publishes `secret` for `epoch` with an exposure window (whole minutes)
    /// and a message for visitors.
    pub fn new<R: CryptoRng + ?Sized>(
        secret: &TraceSecret,
        epoch: &PosterEpoch,
        window_start: UnixTime,
        window_end: UnixTime,
        message: &str,
        rng: &mut R,
    ) -> Result<Self> {
        if !window_start.0.is_multiple_of(60) || !window_end.0.is_multiple_of(60) || window_start >= window_end {
            return Err(Error::InvalidField("window"));
        }
        u32::try_from(window_end.minutes()).map_err(|_| Error::InvalidField("window"))?;
        check_text(message, MAX_MESSAGE_LEN, "message")?;
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut entry = TraceEntry {
            epoch: epoch.epoch,
            secret: secret.0.to_bytes(),
            window_start,
            window_end,
            nonce,
            ciphertext: Vec::new(),
        };
        entry.ciphertext = aead_seal(&message_key(epoch), &nonce, &entry.header(), message.as_bytes());
        Ok(entry)
    }

    /// The published secret as a scalar.
    pub(crate) fn secret(&self) -> Scalar {
        Option::<Scalar>::from(Scalar::from_canonical_bytes(self.secret)).expect("checked on construction")
    }

    /// The published secret's bytes (for display and sorting).
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }

    fn header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Epoch::LEN + 40);
        out.put(&self.epoch.to_bytes());
        out.put(&self.secret);
        out.put_u32(u32::try_from(self.window_start.minutes()).expect("checked on construction"));
        out.put_u32(u32::try_from(self.window_end.minutes()).expect("checked on construction"));
        out
    }

    /// Decrypts the message with the keys from the poster a visitor saw.
    pub fn open_message(&self, epoch: &PosterEpoch) -> Result<String> {
        let plain = aead_open(&message_key(epoch), &self.nonce, &self.header(), &self.ciphertext)?;
        let text = core::str::from_utf8(&plain).map_err(|_| Error::BadEncoding)?;
        check_text(text, MAX_MESSAGE_LEN, "message")?;
        Ok(text.to_owned())
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put(&self.header());
        out.put(&self.nonce);
        out.put_u16(u16::try_from(self.ciphertext.len()).expect("messages are short"));
        out.put(&self.ciphertext);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let epoch = Epoch::read(r)?;
        let secret: [u8; 32] = r.array()?;
        if bool::from(Scalar::from_canonical_bytes(secret).is_none()) {
            return Err(Error::InvalidField("trace_secret"));
        }
        let window_start = UnixTime::from_minutes(r.u32()?);
        let window_end = UnixTime::from_minutes(r.u32()?);
        if window_start >= window_end {
            return Err(Error::InvalidField("window"));
        }
        let nonce = r.array()?;
        let len = usize::from(r.u16()?);
        if !(AEAD_TAG_LEN..=AEAD_TAG_LEN + MAX_MESSAGE_LEN).contains(&len) {
            return Err(Error::InvalidField("message"));
        }
        let ciphertext = r.take(len)?.to_vec();
        Ok(TraceEntry { epoch, secret, window_start, window_end, nonce, ciphertext })
    }

    /// The standalone encoding of one entry.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// Parses [`TraceEntry::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let entry = TraceEntry::read(&mut r)?;
        r.finish()?;
        Ok(entry)
    }
}

/// A signed file of trace entries, published through the key server's index.
/// Entries are sorted by their (random) secret, so the order reveals nothing
/// about when or in which sequence cases were handled.
///
/// Body: `version u8 ‖ region (u8 len) ‖ sequence u64 ‖ created_at u64 ‖
/// count u32 ‖ entries`, inside the `GL_TRACE` envelope signed by the
/// health authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceBatch {
    /// Region code, as in export batches.
    pub region: Region,
    /// Append-only sequence number.
    pub sequence: u64,
    /// When the authority signed the batch.
    pub created_at: UnixTime,
    /// The entries, sorted by secret.
    pub entries: Vec<TraceEntry>,
}

impl TraceBatch {
    /// A batch of `entries` (sorted here; a secret twice is refused).
    /// The sequence starts at 1 (protocol §9.5): the index never lists 0.
    pub fn new(region: Region, sequence: u64, created_at: UnixTime, mut entries: Vec<TraceEntry>) -> Result<Self> {
        if sequence == 0 {
            return Err(Error::InvalidField("sequence"));
        }
        entries.sort_by_key(|e| e.secret);
        if entries.windows(2).any(|w| w[0].secret == w[1].secret) {
            return Err(Error::InvalidField("entries"));
        }
        Ok(TraceBatch { region, sequence, created_at, entries })
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u8(TRACE_VERSION);
        self.region.write(&mut out);
        out.put_u64(self.sequence);
        out.put_u64(self.created_at.0);
        out.put_u32(u32::try_from(self.entries.len()).expect("batches are bounded"));
        for entry in &self.entries {
            entry.write(&mut out);
        }
        out
    }

    /// Signs the batch with the authority's key.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        seal_file(TRACE_BATCH_MAGIC, &self.body(), key)
    }

    /// Verifies and parses a signed batch.
    pub fn verify(bytes: &[u8], authority: &TrustedKeys) -> Result<Self> {
        let body = open_file(TRACE_BATCH_MAGIC, bytes, authority)?;
        let mut r = Reader::new(body);
        let version = r.u8()?;
        if version != TRACE_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let region = Region::read(&mut r)?;
        let sequence = r.u64()?;
        if sequence == 0 {
            return Err(Error::InvalidField("sequence"));
        }
        let created_at = UnixTime(r.u64()?);
        let count = r.u32()?;
        let mut entries = Vec::new();
        for _ in 0..count {
            entries.push(TraceEntry::read(&mut r)?);
        }
        r.finish()?;
        if entries.windows(2).any(|w| w[0].secret >= w[1].secret) {
            return Err(Error::InvalidField("entries"));
        }
        Ok(TraceBatch { region, sequence, created_at, entries })
    }
}

/// The authority's signed request to a venue owner: release the owner
/// shares of exactly these epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// The venue asked.
    pub venue: VerifyingKey,
    /// When the authority made the request.
    pub issued_at: UnixTime,
    /// The epochs, strictly ascending.
    pub epochs: Vec<Epoch>,
}

impl ReleaseRequest {
    /// A request for `epochs` (sorted and deduplicated here; 1 to 256).
    pub fn new(venue: VerifyingKey, issued_at: UnixTime, mut epochs: Vec<Epoch>) -> Result<Self> {
        epochs.sort();
        epochs.dedup();
        if epochs.is_empty() || epochs.len() > MAX_RELEASE_EPOCHS {
            return Err(Error::InvalidField("epochs"));
        }
        Ok(ReleaseRequest { venue, issued_at, epochs })
    }

    /// Signs the request with the authority's key.
    pub fn sign(&self, authority: &SigningKey) -> Vec<u8> {
        let mut body = Vec::new();
        body.put_u8(TRACE_VERSION);
        body.put(self.venue.as_bytes());
        body.put_u64(self.issued_at.0);
        body.put_u16(u16::try_from(self.epochs.len()).expect("at most 256 epochs"));
        for epoch in &self.epochs {
            body.put(&epoch.to_bytes());
        }
        seal_file(RELEASE_REQUEST_MAGIC, &body, authority)
    }

    /// Verifies a request against the authority keys the owner trusts.
    pub fn verify(bytes: &[u8], authority: &TrustedKeys) -> Result<Self> {
        let body = open_file(RELEASE_REQUEST_MAGIC, bytes, authority)?;
        let mut r = Reader::new(body);
        let version = r.u8()?;
        if version != TRACE_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let venue = decode_public_key(&r.array()?)?;
        let issued_at = UnixTime(r.u64()?);
        let count = usize::from(r.u16()?);
        let mut epochs = Vec::with_capacity(count.min(MAX_RELEASE_EPOCHS));
        for _ in 0..count {
            epochs.push(Epoch::read(&mut r)?);
        }
        r.finish()?;
        if epochs.is_empty() || epochs.len() > MAX_RELEASE_EPOCHS || epochs.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidField("epochs"));
        }
        Ok(ReleaseRequest { venue, issued_at, epochs })
    }
}

/// One released epoch: its public keys and the owner share.
#[derive(Clone)]
pub struct EpochRelease {
    /// The epoch and its public keys, from the owner's log.
    pub epoch: PosterEpoch,
    /// The owner share of that epoch.
    pub owner_share: OwnerShare,
}

impl core::fmt::Debug for EpochRelease {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EpochRelease").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

/// The owner's answer to a release request, signed with the venue key.
#[derive(Debug, Clone)]
pub struct ReleaseBundle {
    /// The venue releasing.
    pub venue: VerifyingKey,
    /// The released epochs, strictly ascending (the request's order).
    pub releases: Vec<EpochRelease>,
}

impl VenueMasterSecret {
    /// Answers `request`: the owner shares of exactly the requested epochs,
    /// never the master secret. `log` holds the epochs this venue opened
    /// (their public keys); an epoch missing from it, or a request for
    /// another venue, is refused.
    pub fn release(&self, request: &ReleaseRequest, log: &[PosterEpoch]) -> Result<Vec<u8>> {
        let venue = self.public_key();
        if request.venue != venue {
            return Err(Error::InvalidField("venue"));
        }
        let mut body = Vec::new();
        body.put_u8(TRACE_VERSION);
        body.put(venue.as_bytes());
        body.put_u16(u16::try_from(request.epochs.len()).expect("at most 256 epochs"));
        for epoch in &request.epochs {
            let public = log.iter().find(|p| p.epoch == *epoch).ok_or(Error::InvalidField("epoch"))?;
            public.write(&mut body);
            body.put(self.owner_share(epoch).to_bytes().as_ref());
        }
        let signed = seal_file(RELEASE_BUNDLE_MAGIC, &body, &self.signing_key());
        body.zeroize();
        Ok(signed)
    }
}

impl ReleaseBundle {
    /// Parses a bundle and checks its signature against the venue key it
    /// names. (What makes a release trustworthy is [`TraceSecret::combine`]:
    /// only the true owner share opens the poster's trace key.)
    pub fn verify(bytes: &[u8]) -> Result<Self> {
        let file = SignedFile::parse(RELEASE_BUNDLE_MAGIC, bytes)?;
        let mut r = Reader::new(file.body);
        let version = r.u8()?;
        if version != TRACE_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let venue = decode_public_key(&r.array()?)?;
        file.verify(&TrustedKeys::from_keys([venue]))?;
        let count = usize::from(r.u16()?);
        let mut releases = Vec::with_capacity(count.min(MAX_RELEASE_EPOCHS));
        for _ in 0..count {
            let epoch = PosterEpoch::read(&mut r)?;
            let owner_share = OwnerShare::from_bytes(r.array()?)?;
            releases.push(EpochRelease { epoch, owner_share });
        }
        r.finish()?;
        // Strictly ascending epochs, as the request lists them: one encoding
        // per bundle, and no epoch twice.
        if releases.is_empty()
            || releases.len() > MAX_RELEASE_EPOCHS
            || releases.windows(2).any(|w| w[0].epoch.epoch >= w[1].epoch.epoch)
        {
            return Err(Error::InvalidField("epochs"));
        }
        Ok(ReleaseBundle { venue, releases })
    }
}

/// A check-in that a diagnosed visitor chooses to reveal in their upload:
/// the poster they scanned (from their visit diary) and their times.
///
/// `poster length u16 ‖ poster bytes ‖ arrival u32 (minute) ‖ departure u32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealedCheckIn {
    /// The poster, signature-checked.
    pub poster: Poster,
    /// Arrival.
    pub arrival: UnixTime,
    /// Departure.
    pub departure: UnixTime,
}

impl RevealedCheckIn {
    /// The encoding bound into the upload HMAC and sent to the authority.
    pub fn to_bytes(&self) -> Vec<u8> {
        let poster = self.poster.to_bytes();
        let mut out = Vec::with_capacity(poster.len() + 10);
        out.put_u16(u16::try_from(poster.len()).expect("posters are short"));
        out.put(&poster);
        out.put_u32(u32::try_from(self.arrival.minutes()).unwrap_or(u32::MAX));
        out.put_u32(u32::try_from(self.departure.minutes()).unwrap_or(u32::MAX));
        out
    }

    /// Parses and checks a revealed check-in (poster signature, times in
    /// order).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let len = usize::from(r.u16()?);
        let poster = Poster::from_bytes(r.take(len)?)?;
        let arrival = UnixTime::from_minutes(r.u32()?);
        let departure = UnixTime::from_minutes(r.u32()?);
        r.finish()?;
        if departure <= arrival {
            return Err(Error::InvalidField("departure"));
        }
        Ok(RevealedCheckIn { poster, arrival, departure })
    }

    /// The arrival and departure of an encoded revealed check-in, read
    /// without parsing its poster (nor checking its signature, which costs
    /// an Ed25519 verification): for a phone that looks through its own
    /// diary for the visits around a time. The framing is checked as
    /// [`RevealedCheckIn::from_bytes`] checks it.
    pub fn times_from_bytes(bytes: &[u8]) -> Result<(UnixTime, UnixTime)> {
        let mut r = Reader::new(bytes);
        let len = usize::from(r.u16()?);
        r.take(len)?;
        let arrival = UnixTime::from_minutes(r.u32()?);
        let departure = UnixTime::from_minutes(r.u32()?);
        r.finish()?;
        if departure <= arrival {
            return Err(Error::InvalidField("departure"));
        }
        Ok((arrival, departure))
    }
}

/// Magic of a signed feed request.
pub const FEED_REQUEST_MAGIC: &[u8; 8] = b"GL_FEED_";
/// Longest a feed request is accepted before or after its `at`, in seconds.
pub const FEED_REQUEST_SKEW_SECS: u64 = 300;

/// The health authority's signed request for the revealed check-ins a key
/// server holds (spec §9.7): `since u64 ‖ at u64`, in a signed file of
/// kind [`FEED_REQUEST_MAGIC`]. The key server hands revealed visits only
/// to a holder of a trusted authority key, and only for a request made
/// within [`FEED_REQUEST_SKEW_SECS`] of its own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRequest {
    /// Hand over what was received from this time on.
    pub since: UnixTime,
    /// When the request was made.
    pub at: UnixTime,
}

impl FeedRequest {
    /// Signs the request.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        let mut body = Vec::with_capacity(16);
        body.put_u64(self.since.0);
        body.put_u64(self.at.0);
        seal_file(FEED_REQUEST_MAGIC, &body, key)
    }

    /// Checks the signature against `trusted` and the time against `now`.
    pub fn verify(bytes: &[u8], trusted: &TrustedKeys, now: UnixTime) -> Result<Self> {
        let body = open_file(FEED_REQUEST_MAGIC, bytes, trusted)?;
        let mut r = Reader::new(body);
        let request = FeedRequest { since: UnixTime(r.u64()?), at: UnixTime(r.u64()?) };
        r.finish()?;
        if request.at.0 > now.0.saturating_add(FEED_REQUEST_SKEW_SECS) {
            return Err(Error::NotYetValid);
        }
        if request.at.0.saturating_add(FEED_REQUEST_SKEW_SECS) < now.0 {
            return Err(Error::Expired);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod feed_tests {
    use super::*;

    #[test]
    fn a_feed_request_is_accepted_only_signed_by_a_trusted_key_and_fresh() {
        let authority = SigningKey::from_bytes(&[1; 32]);
        let stranger = SigningKey::from_bytes(&[2; 32]);
        let trusted = TrustedKeys::from_keys([authority.verifying_key()]);
        let request = FeedRequest { since: UnixTime(7_200), at: UnixTime(1_000_000) };
        let bytes = request.sign(&authority);
        assert_eq!(bytes.len(), 8 + 16 + 8 + 64);
        assert_eq!(FeedRequest::verify(&bytes, &trusted, UnixTime(1_000_300)), Ok(request));
        assert_eq!(FeedRequest::verify(&bytes, &trusted, UnixTime(999_700)), Ok(request));
        assert_eq!(FeedRequest::verify(&bytes, &trusted, UnixTime(1_000_301)), Err(Error::Expired));
        assert_eq!(FeedRequest::verify(&bytes, &trusted, UnixTime(999_699)), Err(Error::NotYetValid));
        assert!(FeedRequest::verify(&request.sign(&stranger), &trusted, UnixTime(1_000_000)).is_err());
        let mut tampered = bytes.clone();
        tampered[9] ^= 1;
        assert_eq!(FeedRequest::verify(&tampered, &trusted, UnixTime(1_000_000)), Err(Error::BadSignature));
        let mut other_kind = bytes;
        other_kind[..8].copy_from_slice(TRACE_BATCH_MAGIC);
        assert!(FeedRequest::verify(&other_kind, &trusted, UnixTime(1_000_000)).is_err());
    }
}
