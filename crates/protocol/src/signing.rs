//! Ed25519 signatures and the signed-file envelope shared by export
//! batches, the index, trace batches, color policies and certificates.
//!
//! A signed file is `magic (8) ‖ body ‖ key_id (8) ‖ signature (64)`, where
//! the signature covers everything before it. The eight magic bytes differ
//! per file kind, so a signature over one kind can never be replayed as
//! another (domain separation). The key id lets a verifier hold several
//! trusted keys at once, which is how keys rotate. Ed25519 (RFC 8032) is
//! deterministic: the same body and key always give the same bytes, so a
//! re-sealed batch is byte-identical and can be content-addressed.

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, Signer};
use sha2::{Digest, Sha256};

pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of the trailer after a signed body: key id and signature.
pub const TRAILER_LEN: usize = KeyId::LEN + SIGNATURE_LEN;

/// A short, stable name for a public key: the first 8 bytes of
/// SHA-256(public key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// Encoded length.
    pub const LEN: usize = 8;

    /// The key id of `key`.
    pub fn of(key: &VerifyingKey) -> KeyId {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

/// The set of public keys a verifier trusts for one purpose (for example the
/// key server's export keys, or one health authority's signing keys).
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<(KeyId, VerifyingKey)>,
}

impl TrustedKeys {
    /// An empty set, which trusts nothing.
    pub fn new() -> Self {
        TrustedKeys::default()
    }

    /// A set trusting exactly `keys`.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        let mut set = TrustedKeys::new();
        for key in keys {
            set.insert(key);
        }
        set
    }

    /// Trusts one more key.
    pub fn insert(&mut self, key: VerifyingKey) {
        let id = KeyId::of(&key);
        if !self.keys.iter().any(|(k, _)| *k == id) {
            self.keys.push((id, key));
        }
    }

    /// The trusted key named `id`, if any.
    pub fn get(&self, id: KeyId) -> Option<&VerifyingKey> {
        self.keys.iter().find(|(k, _)| *k == id).map(|(_, key)| key)
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Decodes an Ed25519 public key under the strict rule of protocol §2.1:
/// the 32 bytes must be the canonical encoding of a curve point (y < p, and
/// no "negative zero" x) and the point must not be of small order.
///
/// Every public key read from a file, a poster or a configuration goes
/// through here, so two implementations agree on which keys exist.
pub fn decode_public_key(bytes: &[u8; 32]) -> Result<VerifyingKey> {
    let compressed = CompressedEdwardsY(*bytes);
    let point = compressed.decompress().ok_or(Error::BadPublicKey)?;
    if point.compress().to_bytes() != *bytes || point.is_small_order() {
        return Err(Error::BadPublicKey);
    }
    VerifyingKey::from_bytes(bytes).map_err(|_| Error::BadPublicKey)
}

/// Verifies an Ed25519 signature under the strict, cofactorless rule of
/// protocol §2.1: `S < ℓ`, `R` canonically encoded and not of small order,
/// the key not of small order, and `[S]B = R + [k]A` exactly (no
/// multiplication by the cofactor). The single verification every signed
/// format uses.
pub fn verify_signature(key: &VerifyingKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> Result<()> {
    // A key that fails the key rule (small order, non-canonical) verifies
    // nothing, wherever it came from.
    decode_public_key(key.as_bytes()).map_err(|_| Error::BadSignature)?;
    // `verify_strict` rejects S ≥ ℓ and a small-order R or A, and compares
    // the recomputed R with the signature's R *bytes*, so a non-canonical
    // encoding of R never verifies.
    key.verify_strict(message, &Signature::from_bytes(signature)).map_err(|_| Error::BadSignature)
}

/// Signs `message` with a domain-separation `context` prepended.
pub fn sign_with_context(key: &SigningKey, context: &[u8], message: &[u8]) -> [u8; SIGNATURE_LEN] {
    let mut signed = Vec::with_capacity(context.len() + message.len());
    signed.put(context);
    signed.put(message);
    key.sign(&signed).to_bytes()
}

/// Verifies a signature made by [`sign_with_context`], using the strict
/// RFC 8032 checks (no small-order keys, canonical encodings).
pub fn verify_with_context(
    key: &VerifyingKey,
    context: &[u8],
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<()> {
    let mut signed = Vec::with_capacity(context.len() + message.len());
    signed.put(context);
    signed.put(message);
    verify_signature(key, &signed, signature)
}

/// Wraps `body` into a signed file of kind `magic`.
pub fn seal_file(magic: &[u8; 8], body: &[u8], key: &SigningKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(magic.len() + body.len() + TRAILER_LEN);
    out.put(magic);
    out.put(body);
    out.put(&KeyId::of(&key.verifying_key()).0);
    let signature = key.sign(&out).to_bytes();
    out.put(&signature);
    out
}

/// The parts of a signed file, before its signature is checked.
#[derive(Debug, Clone, Copy)]
pub struct SignedFile<'a> {
    /// The body between the magic and the trailer.
    pub body: &'a [u8],
    /// Which key claims to have signed it.
    pub key_id: KeyId,
    signed: &'a [u8],
    signature: [u8; SIGNATURE_LEN],
}

impl<'a> SignedFile<'a> {
    /// Splits `bytes` into its parts, checking only the magic and length.
    pub fn parse(magic: &[u8; 8], bytes: &'a [u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes);
        if reader.take(magic.len())? != magic {
            return Err(Error::BadMagic);
        }
        let signed_len = bytes.len().checked_sub(SIGNATURE_LEN).ok_or(Error::Truncated)?;
        let body_len = reader.remaining().checked_sub(TRAILER_LEN).ok_or(Error::Truncated)?;
        let body = reader.take(body_len)?;
        let key_id = KeyId(reader.array()?);
        let signature = reader.array()?;
        reader.finish()?;
        Ok(SignedFile { body, key_id, signed: &bytes[..signed_len], signature })
    }

    /// Checks the signature against the trusted key the file names.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<&'a [u8]> {
        let key = trusted.get(self.key_id).ok_or(Error::BadSignature)?;
        verify_signature(key, self.signed, &self.signature)?;
        Ok(self.body)
    }
}

/// Parses and verifies a signed file in one step, returning its body.
pub fn open_file<'a>(magic: &[u8; 8], bytes: &'a [u8], trusted: &TrustedKeys) -> Result<&'a [u8]> {
    SignedFile::parse(magic, bytes)?.verify(trusted)
}
