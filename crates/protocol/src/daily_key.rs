//! Daily keys and everything derived from them: the identifier key, the
//! metadata key, the 144 ephemeral IDs of a day, and the authenticated
//! metadata that rides beside each ID.
//!
//! ```text
//! prk          = HKDF-Extract(salt = "greenlight/v1 daily key", ikm = daily key)
//! id key       = HKDF-Expand(prk, "greenlight/v1 id key" ‖ LE32(day), 32)
//! metadata key = HKDF-Expand(prk, "greenlight/v1 metadata key" ‖ LE32(day), 32)
//! ID[slot]     = ChaCha20(id key, nonce = 0^12, counter = 0) keystream bytes [16·slot, 16·slot + 16)
//! ```
//!
//! Binding the day into both labels means a key republished under another
//! day yields unrelated IDs: nobody can move a key in time. Because ChaCha20
//! is seekable, the ID of one slot costs one 64-byte block (which holds four
//! IDs), so the matcher derives only the blocks that could match a sighting.

use crate::error::{Error, Result};
use crate::time::{DayNumber, INTERVALS_PER_DAY};
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use hkdf::{Hkdf, HkdfExtract};
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a daily key in bytes.
pub const DAILY_KEY_LEN: usize = 16;
/// Length of an ephemeral ID in bytes.
pub const EPHEMERAL_ID_LEN: usize = 16;
/// Length of the encrypted, authenticated metadata in bytes.
pub const METADATA_LEN: usize = 4;
/// IDs per ChaCha20 block.
pub const IDS_PER_BLOCK: u8 = 4;
/// ChaCha20 blocks that hold one day of IDs.
pub const BLOCKS_PER_DAY: u8 = 36;

/// HKDF-Extract salt for daily keys.
pub const LABEL_DAILY_KEY_SALT: &[u8] = b"greenlight/v1 daily key";
/// HKDF-Expand label of the identifier key.
pub const LABEL_ID_KEY: &[u8] = b"greenlight/v1 id key";
/// HKDF-Expand label of the metadata key.
pub const LABEL_METADATA_KEY: &[u8] = b"greenlight/v1 metadata key";
/// HMAC label of the metadata encryption mask.
pub const LABEL_METADATA_MASK: &[u8] = b"greenlight/v1 metadata mask";
/// HMAC label of the metadata authentication tag.
pub const LABEL_METADATA_TAG: &[u8] = b"greenlight/v1 metadata tag";

/// A phone's secret key for one UTC day: 16 uniformly random bytes.
///
/// It stays on the phone unless its owner is diagnosed and uploads it, which
/// consumes it ([`DailyKey::release`]): a released key is public from then
/// on, and the type system keeps the phone from broadcasting under it again.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DailyKey([u8; DAILY_KEY_LEN]);

impl DailyKey {
    /// Draws a fresh key from the caller's cryptographic RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; DAILY_KEY_LEN];
        rng.fill_bytes(&mut key);
        DailyKey(key)
    }

    /// Restores a key from its bytes (for example from the phone's sealed store).
    pub fn from_bytes(bytes: [u8; DAILY_KEY_LEN]) -> Self {
        DailyKey(bytes)
    }

    /// The secret bytes, for sealing into the phone's store.
    pub fn expose_secret(&self) -> &[u8; DAILY_KEY_LEN] {
        &self.0
    }

    /// The key schedule of this key for `day`.
    pub fn schedule(&self, day: DayNumber) -> KeySchedule {
        KeySchedule::derive(&self.0, day)
    }

    /// Releases the key for publication after a diagnosis.
    pub fn release(self) -> PublishedKey {
        PublishedKey(self.0)
    }
}

impl ConstantTimeEq for DailyKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for DailyKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for DailyKey {}

impl core::fmt::Debug for DailyKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DailyKey(<secret>)")
    }
}

/// A daily key that its owner has published: the same 16 bytes, no longer
/// secret. Export batches carry these; the matcher derives IDs from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublishedKey(pub [u8; DAILY_KEY_LEN]);

impl PublishedKey {
    /// The key schedule of this key for `day`.
    pub fn schedule(&self, day: DayNumber) -> KeySchedule {
        KeySchedule::derive(&self.0, day)
    }
}

/// A 16-byte rotating identifier, broadcast for one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EphemeralId(pub [u8; EPHEMERAL_ID_LEN]);

/// Broadcast metadata in the clear: format version and transmit power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Metadata {
    /// Protocol version: major in the high nibble, minor in the low nibble.
    pub version: u8,
    /// Calibrated transmit power at the antenna, in dBm.
    pub tx_power: i8,
}

impl Metadata {
    /// The version byte of this specification: 1.0.
    pub const VERSION_1_0: u8 = 0x10;

    /// Metadata of this protocol version with the given transmit power.
    pub fn v1(tx_power: i8) -> Self {
        Metadata { version: Self::VERSION_1_0, tx_power }
    }

    /// The major version (high nibble).
    pub fn major_version(self) -> u8 {
        self.version >> 4
    }
}

/// The 4 metadata bytes of an advertisement: 2 bytes of encrypted metadata
/// followed by a 2-byte authentication tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptedMetadata(pub [u8; METADATA_LEN]);

/// The keys derived from one daily key for one day.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeySchedule {
    id_key: [u8; 32],
    metadata_key: [u8; 32],
}

type HmacSha256 = Hmac<Sha256>;

impl KeySchedule {
    fn derive(key: &[u8; DAILY_KEY_LEN], day: DayNumber) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(LABEL_DAILY_KEY_SALT), key);
        let day = day.0.to_le_bytes();
        let mut id_key = [0u8; 32];
        let mut metadata_key = [0u8; 32];
        hkdf.expand_multi_info(&[LABEL_ID_KEY, &day], &mut id_key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        hkdf.expand_multi_info(&[LABEL_METADATA_KEY, &day], &mut metadata_key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        KeySchedule { id_key, metadata_key }
    }

    /// The ID broadcast during `slot` (`0..144`) of the day.
    ///
    /// # Panics
    /// If `slot >= 144`.
    pub fn id(&self, slot: u8) -> EphemeralId {
        assert!(u32::from(slot) < INTERVALS_PER_DAY, "slot out of range");
        let mut id = [0u8; EPHEMERAL_ID_LEN];
        let mut cipher = id_cipher(&self.id_key);
        cipher.seek(u64::from(slot) * EPHEMERAL_ID_LEN as u64);
        cipher.apply_keystream(&mut id);
        EphemeralId(id)
    }

    /// All 144 IDs of the day, in slot order.
    pub fn all_ids(&self) -> Vec<EphemeralId> {
        let mut stream = vec![0u8; EPHEMERAL_ID_LEN * INTERVALS_PER_DAY as usize];
        id_cipher(&self.id_key).apply_keystream(&mut stream);
        stream.chunks_exact(EPHEMERAL_ID_LEN).map(|c| EphemeralId(c.try_into().expect("chunk is 16 bytes"))).collect()
    }

    /// Encrypts and authenticates `metadata` for broadcast beside `id`.
    pub fn seal_metadata(&self, id: &EphemeralId, metadata: Metadata) -> EncryptedMetadata {
        let mask = self.metadata_mac(&[LABEL_METADATA_MASK, &id.0]);
        let ct = [metadata.version ^ mask[0], metadata.tx_power.to_le_bytes()[0] ^ mask[1]];
        let tag = self.metadata_mac(&[LABEL_METADATA_TAG, &id.0, &ct]);
        EncryptedMetadata([ct[0], ct[1], tag[0], tag[1]])
    }

    /// Checks the tag of metadata received beside `id` and decrypts it.
    ///
    /// A relay that changed any bit of the metadata (to make a far device
    /// look near, say) fails here, except with probability 2⁻¹⁶ per
    /// altered advertisement, and it learns nothing about whether it
    /// succeeded because the check happens on the receiving phone, later.
    pub fn open_metadata(&self, id: &EphemeralId, sealed: &EncryptedMetadata) -> Result<Metadata> {
        let ct = [sealed.0[0], sealed.0[1]];
        let tag = self.metadata_mac(&[LABEL_METADATA_TAG, &id.0, &ct]);
        if !bool::from(tag[..2].ct_eq(&sealed.0[2..])) {
            return Err(Error::BadMac);
        }
        let mask = self.metadata_mac(&[LABEL_METADATA_MASK, &id.0]);
        Ok(Metadata { version: ct[0] ^ mask[0], tx_power: i8::from_le_bytes([ct[1] ^ mask[1]]) })
    }

    fn metadata_mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.metadata_key).expect("HMAC accepts any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

fn id_cipher(id_key: &[u8; 32]) -> ChaCha20 {
    ChaCha20::new(id_key.into(), &[0u8; 12].into())
}

/// The ID-key derivation of [`KeySchedule`], split so the matcher can reuse
/// the salted HMAC state across hundreds of thousands of keys.
#[derive(Clone)]
pub(crate) struct IdKeyDeriver {
    extract: HkdfExtract<Sha256>,
}

impl IdKeyDeriver {
    pub(crate) fn new() -> Self {
        IdKeyDeriver { extract: HkdfExtract::<Sha256>::new(Some(LABEL_DAILY_KEY_SALT)) }
    }

    /// A ChaCha20 instance positioned at the day's first ID.
    pub(crate) fn id_cipher(&self, key: &[u8; DAILY_KEY_LEN], day: DayNumber) -> ChaCha20 {
        let mut extract = self.extract.clone();
        extract.input_ikm(key);
        let (_, hkdf) = extract.finalize();
        let mut id_key = [0u8; 32];
        hkdf.expand_multi_info(&[LABEL_ID_KEY, &day.0.to_le_bytes()], &mut id_key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let cipher = id_cipher(&id_key);
        id_key.zeroize();
        cipher
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> KeySchedule {
        DailyKey::from_bytes([7; 16]).schedule(DayNumber(20_000))
    }

    #[test]
    fn seekable_ids_equal_the_full_stream() {
        let s = schedule();
        let all = s.all_ids();
        for slot in [0u8, 1, 3, 4, 71, 142, 143] {
            assert_eq!(s.id(slot), all[usize::from(slot)]);
        }
    }

    #[test]
    fn the_day_is_bound_into_the_ids() {
        let key = DailyKey::from_bytes([7; 16]);
        assert_ne!(key.schedule(DayNumber(20_000)).id(0), key.schedule(DayNumber(20_001)).id(0));
    }

    #[test]
    fn any_metadata_bit_flip_is_detected() {
        let s = schedule();
        let id = s.id(5);
        let sealed = s.seal_metadata(&id, Metadata::v1(-12));
        assert_eq!(s.open_metadata(&id, &sealed), Ok(Metadata::v1(-12)));
        for bit in 0..32 {
            let mut tampered = sealed;
            tampered.0[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(s.open_metadata(&id, &tampered), Err(Error::BadMac), "bit {bit}");
        }
        // Metadata moved onto another ID does not verify either.
        assert_eq!(s.open_metadata(&s.id(6), &sealed), Err(Error::BadMac));
    }

    #[test]
    fn matcher_derivation_equals_the_schedule() {
        let key = [9u8; 16];
        let day = DayNumber(19_999);
        let mut cipher = IdKeyDeriver::new().id_cipher(&key, day);
        let mut first = [0u8; 16];
        cipher.apply_keystream(&mut first);
        assert_eq!(EphemeralId(first), PublishedKey(key).schedule(day).id(0));
    }
}
