//! Thin wrappers over the RustCrypto primitives, so that each construction
//! in the protocol reads as its specification does.

use crate::error::{Error, Result};
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Length of a ChaCha20-Poly1305 nonce.
pub(crate) const AEAD_NONCE_LEN: usize = 12;
/// Length of a ChaCha20-Poly1305 tag.
pub(crate) const AEAD_TAG_LEN: usize = 16;

/// HKDF-SHA256 Extract with `salt` over the concatenation of `ikm` parts.
pub(crate) fn hkdf_extract(salt: &[u8], ikm: &[&[u8]]) -> Hkdf<Sha256> {
    let mut extract = hkdf::HkdfExtract::<Sha256>::new(Some(salt));
    for part in ikm {
        extract.input_ikm(part);
    }
    extract.finalize().1
}

/// HKDF-SHA256 Expand of `N` bytes with the concatenation of `info` parts.
pub(crate) fn hkdf_expand<const N: usize>(hkdf: &Hkdf<Sha256>, info: &[&[u8]]) -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    hkdf.expand_multi_info(info, out.as_mut()).expect("outputs here are at most 64 bytes, far below HKDF's limit");
    out
}

/// ChaCha20-Poly1305 (RFC 8439) encryption; the tag is appended.
pub(crate) fn aead_seal(key: &[u8; 32], nonce: &[u8; AEAD_NONCE_LEN], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(nonce.into(), Payload { msg, aad })
        .expect("messages here are far below the AEAD's length limit")
}

/// ChaCha20-Poly1305 decryption; any tampering gives [`Error::BadMac`].
pub(crate) fn aead_open(
    key: &[u8; 32],
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    ChaCha20Poly1305::new(key.into())
        .decrypt(nonce.into(), Payload { msg: ciphertext, aad })
        .map(Zeroizing::new)
        .map_err(|_| Error::BadMac)
}
