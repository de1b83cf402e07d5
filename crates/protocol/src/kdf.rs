//! HKDF-SHA256 (RFC 5869) with a fixed salt, computed straight on the
//! SHA-256 compression function, for the matcher's hot path.
//!
//! Matching derives one ID key per published key (spec §4.2): an
//! HKDF-Extract under the fixed salt `"greenlight/v1 daily key"` and one
//! HKDF-Expand block. The generic `hkdf` crate spends eight SHA-256
//! compressions on that plus its buffering. With the salt fixed, the HMAC
//! states of the salt's padded key are computed once ([`SaltedHkdf::new`]),
//! and every derivation costs six compressions and no buffering: the
//! extract's inner and outer hash, the padded PRK's inner and outer state,
//! and the expand's inner and outer hash. The output is bit-identical to the
//! `hkdf` crate's (tested below and in the matcher's property tests).
//!
//! Inputs are limited to what fits one SHA-256 block (IKM up to 55 bytes,
//! info up to 54) and the output to one HKDF block (32 bytes).
//! Intermediates are not wiped: this is for published (public) keys and for
//! benchmarks. A phone's own secret keys go through the key schedule
//! ([`crate::daily_key::DailyKey::schedule`]), which zeroizes.

use sha2::block_api::compress256;
use sha2::{Digest, Sha256};

/// The longest IKM [`SaltedHkdf::derive`] accepts: one SHA-256 block
/// less its padding.
pub const MAX_IKM_LEN: usize = 55;
/// The longest info (all parts together) [`SaltedHkdf::derive`] accepts:
/// one SHA-256 block less its padding and HKDF's counter byte.
pub const MAX_INFO_LEN: usize = 54;
/// The longest output [`SaltedHkdf::derive`] gives: one HKDF-Expand block.
pub const MAX_OUTPUT_LEN: usize = 32;

/// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];
const BLOCK_LEN: usize = 64;

/// HMAC-SHA256 (RFC 2104) under one key, its padded-key states computed once.
#[derive(Clone, Copy)]
struct HmacKey {
    /// SHA-256 state after `key ⊕ ipad`.
    inner: [u32; 8],
    /// SHA-256 state after `key ⊕ opad`.
    outer: [u32; 8],
}

impl HmacKey {
    fn new(key: &[u8]) -> Self {
        // Keys longer than a block are hashed first (RFC 2104 §2).
        let hashed;
        let key = if key.len() > BLOCK_LEN {
            hashed = Sha256::digest(key);
            hashed.as_slice()
        } else {
            key
        };
        let mut ipad = [0x36u8; BLOCK_LEN];
        let mut opad = [0x5cu8; BLOCK_LEN];
        for (i, &b) in key.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let mut inner = SHA256_IV;
        compress256(&mut inner, &[ipad]);
        let mut outer = SHA256_IV;
        compress256(&mut outer, &[opad]);
        HmacKey { inner, outer }
    }

    /// The HMAC of the concatenation of `parts`, at most 55 bytes in all
    /// (checked by the callers).
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut block = [0u8; BLOCK_LEN];
        let mut len = 0;
        for part in parts {
            block[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        let inner = final_block(self.inner, block, len);
        let mut block = [0u8; BLOCK_LEN];
        block[..32].copy_from_slice(&inner);
        final_block(self.outer, block, 32)
    }
}

/// Finishes a SHA-256 hash whose first block (the padded HMAC key) is
/// already in `state` and whose remaining `len` bytes (at most 55) are at the
/// start of `block`.
fn final_block(mut state: [u32; 8], mut block: [u8; BLOCK_LEN], len: usize) -> [u8; 32] {
    block[len] = 0x80;
    let bits = ((BLOCK_LEN + len) as u64) * 8;
    block[BLOCK_LEN - 8..].copy_from_slice(&bits.to_be_bytes());
    compress256(&mut state, &[block]);
    let mut digest = [0u8; 32];
    for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// HKDF-SHA256 under a fixed salt, for many short derivations.
#[derive(Clone, Copy)]
pub struct SaltedHkdf {
    salt: HmacKey,
}

impl SaltedHkdf {
    /// Prepares HKDF-Extract under `salt`. RFC 5869's absent salt is
    /// 32 zero bytes (the hash length), which gives the same HMAC key as an
    /// empty salt.
    pub fn new(salt: &[u8]) -> Self {
        SaltedHkdf { salt: HmacKey::new(salt) }
    }

    /// `HKDF-Expand(HKDF-Extract(salt, ikm), info, N)`, with `info` the
    /// concatenation of its parts.
    ///
    /// # Panics
    /// If `ikm` is longer than [`MAX_IKM_LEN`], the info longer than
    /// [`MAX_INFO_LEN`] or `N` larger than [`MAX_OUTPUT_LEN`].
    pub fn derive<const N: usize>(&self, ikm: &[u8], info: &[&[u8]]) -> [u8; N] {
        assert!(ikm.len() <= MAX_IKM_LEN, "IKM longer than one SHA-256 block");
        assert!(info.iter().map(|p| p.len()).sum::<usize>() <= MAX_INFO_LEN, "info longer than one SHA-256 block");
        assert!(N <= MAX_OUTPUT_LEN, "more than one HKDF-Expand block");
        let prk = self.salt.mac(&[ikm]);
        let prk = HmacKey::new(&prk);
        // T(1) = HMAC(PRK, info ‖ 0x01).
        let mut message = [0u8; MAX_INFO_LEN + 1];
        let mut len = 0;
        for part in info {
            message[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        message[len] = 1;
        let t1 = prk.mac(&[&message[..=len]]);
        let mut out = [0u8; N];
        out.copy_from_slice(&t1[..N]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hkdf::Hkdf;
    use proptest::prelude::*;

    fn reference<const N: usize>(salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]]) -> [u8; N] {
        let mut out = [0u8; N];
        Hkdf::<Sha256>::new(salt, ikm).expand_multi_info(info, &mut out).expect("N <= 32");
        out
    }

    #[test]
    fn the_id_key_equals_the_hkdf_crate() {
        let hkdf = SaltedHkdf::new(crate::daily_key::LABEL_DAILY_KEY_SALT);
        let day = 20_000u32.to_le_bytes();
        let info: &[&[u8]] = &[crate::daily_key::LABEL_ID_KEY, &day];
        assert_eq!(
            hkdf.derive::<32>(&[7; 16], info),
            reference::<32>(Some(crate::daily_key::LABEL_DAILY_KEY_SALT), &[7; 16], info)
        );
    }

    #[test]
    fn an_absent_salt_is_32_zero_bytes() {
        // GAEN's RPIK: HKDF(salt = none, TEK, "EN-RPIK", 16).
        let hkdf = SaltedHkdf::new(&[0; 32]);
        assert_eq!(hkdf.derive::<16>(&[3; 16], &[b"EN-RPIK"]), reference::<16>(None, &[3; 16], &[b"EN-RPIK"]));
        assert_eq!(
            SaltedHkdf::new(&[]).derive::<16>(&[3; 16], &[b"EN-RPIK"]),
            reference::<16>(None, &[3; 16], &[b"EN-RPIK"])
        );
    }

    #[test]
    #[should_panic(expected = "IKM longer")]
    fn a_long_ikm_is_refused() {
        SaltedHkdf::new(b"salt").derive::<32>(&[0; MAX_IKM_LEN + 1], &[]);
    }

    #[test]
    #[should_panic(expected = "info longer")]
    fn a_long_info_is_refused() {
        SaltedHkdf::new(b"salt").derive::<32>(&[0; 16], &[&[0; 30], &[0; MAX_INFO_LEN - 29]]);
    }

    proptest! {
        #[test]
        fn equals_the_hkdf_crate(
            salt in proptest::collection::vec(any::<u8>(), 0..100),
            ikm in proptest::collection::vec(any::<u8>(), 0..=MAX_IKM_LEN),
            info in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..4),
        ) {
            let mut info = info;
            while info.iter().map(Vec::len).sum::<usize>() > MAX_INFO_LEN {
                info.pop();
            }
            let parts: Vec<&[u8]> = info.iter().map(Vec::as_slice).collect();
            let hkdf = SaltedHkdf::new(&salt);
            prop_assert_eq!(hkdf.derive::<32>(&ikm, &parts), reference::<32>(Some(&salt), &ikm, &parts));
            prop_assert_eq!(hkdf.derive::<16>(&ikm, &parts), reference::<16>(Some(&salt), &ikm, &parts));
            prop_assert_eq!(hkdf.derive::<1>(&ikm, &parts), reference::<1>(Some(&salt), &ikm, &parts));
        }
    }
}
