//! Shared pieces of the fuzz targets: fixed keys, and re-signing a fuzzed
//! body so that the parser behind a signature check is reached at all.
//!
//! A signed file's body is only parsed after its signature verifies, and a
//! fuzzer never forges Ed25519. So targets take the fuzzed bytes as a signed
//! file, keep its body, seal that body again with a key the target trusts,
//! and parse the result: every byte of the body reaches the parser. Ed25519
//! signatures are deterministic, so a parsed value that re-signs to the same
//! bytes proves the codec's promise of one encoding per value.

#![forbid(unsafe_code)]

use ed25519_dalek::SigningKey;
use greenlight_protocol::signing::{SignedFile, TrustedKeys, seal_file};

/// The key every re-sealed file is signed with.
pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// A set trusting exactly [`key`].
pub fn trusted() -> TrustedKeys {
    TrustedKeys::from_keys([key().verifying_key()])
}

/// The body of `data` read as a signed file of kind `magic`, or else all of
/// `data`, sealed again with [`key`].
pub fn reseal(magic: &[u8; 8], data: &[u8]) -> Vec<u8> {
    let body = SignedFile::parse(magic, data).map_or(data, |file| file.body);
    seal_file(magic, body, &key())
}
