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
use crate::kdf::SaltedHkdf;
use crate::time::{DayNumber, INTERVALS_PER_DAY};
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherCore, StreamCipherSeek};
use chacha20::variants::Ietf;
use chacha20::{ChaCha20, ChaChaCore, R20};
use hkdf::Hkdf;
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

/// A ChaCha20 block of the ID keystream: four IDs.
pub(crate) type IdBlock = chacha20::cipher::Block<ChaChaCore<R20, Ietf>>;

/// The ID-key derivation of [`KeySchedule`] for the matcher: the salt's
/// HMAC states computed once ([`SaltedHkdf`]), then six SHA-256
/// compressions per key, and the keystream written block-wise by
/// ChaCha20's core so its widest SIMD backend does several blocks at once.
/// Published keys are public: nothing here is wiped.
#[derive(Clone, Copy)]
pub(crate) struct IdKeyDeriver {
    hkdf: SaltedHkdf,
}

impl IdKeyDeriver {
    pub(crate) fn new() -> Self {
        IdKeyDeriver { hkdf: SaltedHkdf::new(LABEL_DAILY_KEY_SALT) }
    }

    /// The day's ID keystream under `key`.
    pub(crate) fn keystream(&self, key: &[u8; DAILY_KEY_LEN], day: DayNumber) -> IdKeystream {
        let id_key: [u8; 32] = self.hkdf.derive(key, &[LABEL_ID_KEY, &day.0.to_le_bytes()]);
        IdKeystream(ChaChaCore::new(&id_key.into(), &[0u8; 12].into()))
    }
}

/// The ID keystream of one key and day, seekable by block.
pub(crate) struct IdKeystream(ChaChaCore<R20, Ietf>);

impl IdKeystream {
    /// Writes blocks `first..first + out.len()` of the day's keystream
    /// (IDs `4·first..`) to `out`.
    ///
    /// # Panics
    /// If the blocks reach past the day's 36.
    pub(crate) fn blocks(&mut self, first: u8, out: &mut [IdBlock]) {
        assert!(usize::from(first) + out.len() <= usize::from(BLOCKS_PER_DAY), "past the day's keystream");
        self.0.set_block_pos(u32::from(first));
        self.0.write_keystream_blocks(out);
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
        let schedule = PublishedKey(key).schedule(day);
        let mut stream = IdKeyDeriver::new().keystream(&key, day);
        let mut blocks = [IdBlock::default(); 3];
        stream.blocks(33, &mut blocks);
        for (i, id) in blocks.iter().flat_map(|b| b.chunks_exact(EPHEMERAL_ID_LEN)).enumerate() {
            assert_eq!(id, schedule.id(132 + u8::try_from(i).expect("< 12")).0, "slot {}", 132 + i);
        }
        stream.blocks(0, &mut blocks[..1]);
        assert_eq!(&blocks[0][..16], schedule.id(0).0);
    }

    #[test]
    #[should_panic(expected = "past the day")]
    fn the_keystream_ends_with_the_day() {
        IdKeyDeriver::new().keystream(&[9; 16], DayNumber(1)).blocks(34, &mut [IdBlock::default(); 3]);
    }

    /// ChaCha20's block function as RFC 8439 §2.3 writes it: a check of the
    /// SIMD backends (AVX-512, AVX2, NEON) that does not go through them.
    fn rfc8439_block(key: &[u8; 32], counter: u32, nonce: &[u8; 12]) -> [u8; 64] {
        fn quarter_round(w: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
            for (x, y, z, r) in [(a, b, d, 16), (c, d, b, 12), (a, b, d, 8), (c, d, b, 7)] {
                w[x] = w[x].wrapping_add(w[y]);
                w[z] = (w[z] ^ w[x]).rotate_left(r);
            }
        }
        let word = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
        let mut state = [0u32; 16];
        state[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        for (i, chunk) in key.chunks_exact(4).enumerate() {
            state[4 + i] = word(chunk);
        }
        state[12] = counter;
        for (i, chunk) in nonce.chunks_exact(4).enumerate() {
            state[13 + i] = word(chunk);
        }
        let mut w = state;
        for _ in 0..10 {
            quarter_round(&mut w, 0, 4, 8, 12);
            quarter_round(&mut w, 1, 5, 9, 13);
            quarter_round(&mut w, 2, 6, 10, 14);
            quarter_round(&mut w, 3, 7, 11, 15);
            quarter_round(&mut w, 0, 5, 10, 15);
            quarter_round(&mut w, 1, 6, 11, 12);
            quarter_round(&mut w, 2, 7, 8, 13);
            quarter_round(&mut w, 3, 4, 9, 14);
        }
        let mut out = [0u8; 64];
        for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(&w[i].wrapping_add(state[i]).to_le_bytes());
        }
        out
    }

    #[test]
    fn the_reference_block_function_meets_rfc8439() {
        // RFC 8439 §2.3.2.
        let key: [u8; 32] = core::array::from_fn(|i| u8::try_from(i).expect("< 32"));
        let nonce = [0, 0, 0, 9, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let block = rfc8439_block(&key, 1, &nonce);
        assert_eq!(
            &block[..16],
            [0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71, 0xc4]
        );
        assert_eq!(
            &block[48..],
            [0xb5, 0x12, 0x9c, 0xd1, 0xde, 0x16, 0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e]
        );
    }

    /// Every way the keystream is generated (36 blocks in one call, runs of
    /// any length from any block, one ID at a time) equals the RFC's block
    /// function, whichever SIMD backend this CPU runs.
    #[test]
    fn every_keystream_path_equals_rfc8439() {
        for seed in 0u8..8 {
            let key = [seed.wrapping_mul(37); 16];
            let day = DayNumber(20_000 + u32::from(seed));
            let schedule = PublishedKey(key).schedule(day);
            let expected: Vec<[u8; 64]> =
                (0..u32::from(BLOCKS_PER_DAY)).map(|b| rfc8439_block(&schedule.id_key, b, &[0; 12])).collect();
            let mut stream = IdKeyDeriver::new().keystream(&key, day);
            for first in 0..BLOCKS_PER_DAY {
                for len in 1..=BLOCKS_PER_DAY - first {
                    let mut blocks = vec![IdBlock::default(); usize::from(len)];
                    stream.blocks(first, &mut blocks);
                    for (i, block) in blocks.iter().enumerate() {
                        assert_eq!(block.as_slice(), expected[usize::from(first) + i], "blocks {first}+{len}");
                    }
                }
            }
            let all = schedule.all_ids();
            for slot in 0..144u8 {
                let (b, o) = (usize::from(slot / IDS_PER_BLOCK), usize::from(slot % IDS_PER_BLOCK) * EPHEMERAL_ID_LEN);
                assert_eq!(schedule.id(slot).0, expected[b][o..o + EPHEMERAL_ID_LEN], "slot {slot}");
                assert_eq!(all[usize::from(slot)].0, expected[b][o..o + EPHEMERAL_ID_LEN], "slot {slot}");
            }
        }
    }

    proptest::proptest! {
        /// The matcher's block-wise derivation equals the key schedule's
        /// one-ID-at-a-time derivation, for any key, day and block range.
        #[test]
        fn the_fast_keystream_equals_the_schedule(
            key in proptest::array::uniform16(proptest::prelude::any::<u8>()),
            day in 0u32..100_000,
            first in 0u8..BLOCKS_PER_DAY,
            len in 1u8..=BLOCKS_PER_DAY,
        ) {
            let len = len.min(BLOCKS_PER_DAY - first);
            let schedule = PublishedKey(key).schedule(DayNumber(day));
            let mut blocks = vec![IdBlock::default(); usize::from(len)];
            IdKeyDeriver::new().keystream(&key, DayNumber(day)).blocks(first, &mut blocks);
            for (i, id) in blocks.iter().flat_map(|b| b.chunks_exact(EPHEMERAL_ID_LEN)).enumerate() {
                let slot = first * IDS_PER_BLOCK + u8::try_from(i).expect("< 144");
                let expected = schedule.id(slot).0;
                proptest::prop_assert_eq!(id, expected.as_slice());
            }
        }
    }
}
