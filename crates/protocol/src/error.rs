//! The one error type of the protocol crate.
//!
//! Every fallible function here returns [`Error`]. Errors from untrusted
//! input are values, never panics: the property tests feed truncated,
//! extended and bit-flipped encodings to every decoder and require an `Err`.

use core::fmt;

/// Why a protocol operation failed.
///
/// The variants are coarse on purpose: callers show them to people or turn
/// them into HTTP status codes, and finer detail about *which* check on a
/// secret failed would only help an attacker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before the structure was complete.
    Truncated,
    /// Bytes were left over after a complete structure.
    TrailingBytes,
    /// The input does not start with the expected magic bytes or prefix.
    BadMagic,
    /// The format version is not one this implementation understands.
    UnsupportedVersion(u8),
    /// A field holds a value outside its documented range.
    InvalidField(&'static str),
    /// A textual encoding (base64url, UTF-8) is malformed.
    BadEncoding,
    /// An Ed25519 signature did not verify, or was made by an unknown key.
    BadSignature,
    /// A message authentication code or AEAD tag did not verify.
    BadMac,
    /// A public key is not acceptable (low order, non-canonical, identity).
    BadPublicKey,
    /// The object is valid but its time window has not started yet.
    NotYetValid,
    /// The object is valid but its time window has passed.
    Expired,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("input is truncated"),
            Error::TrailingBytes => f.write_str("unexpected bytes after the end of the input"),
            Error::BadMagic => f.write_str("input is not of the expected kind (bad magic)"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            Error::InvalidField(name) => write!(f, "field `{name}` holds an invalid value"),
            Error::BadEncoding => f.write_str("malformed text encoding"),
            Error::BadSignature => f.write_str("signature does not verify"),
            Error::BadMac => f.write_str("authentication tag does not verify"),
            Error::BadPublicKey => f.write_str("public key is not acceptable"),
            Error::NotYetValid => f.write_str("not valid yet"),
            Error::Expired => f.write_str("no longer valid"),
        }
    }
}

impl std::error::Error for Error {}

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
