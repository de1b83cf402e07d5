//! Shared harness for the known-answer vector tests.
//!
//! Each vector file `spec/vectors/NAME.json` is checked twice:
//! - its inputs are read back and every output recomputed and compared
//!   ("the committed vectors are asserted"), and
//! - the whole file is regenerated from a fixed seed and must equal the
//!   committed bytes ("no drift").
//!
//! Set `GREENLIGHT_BLESS=1` to rewrite the committed files after an
//! intentional format change; review the diff like any other change. It is
//! refused when `CI` is set: CI checks the committed files, it never
//! rewrites them.
#![allow(dead_code, unreachable_pub)]

use greenlight_protocol::error::Error;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Path of `spec/vectors/NAME.json` in the repository.
pub fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors").join(format!("{name}.json"))
}

/// Loads a committed vector file.
pub fn load(name: &str) -> Value {
    let path = vector_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The deterministic RNG used to generate vectors: ChaCha20 seeded with
/// SHA-256("greenlight test vectors: " ‖ label).
pub fn rng(label: &str) -> ChaCha20Rng {
    let seed: [u8; 32] = Sha256::digest(format!("greenlight test vectors: {label}")).into();
    ChaCha20Rng::from_seed(seed)
}

/// Whether `GREENLIGHT_BLESS=1` asks to rewrite the committed files.
///
/// # Panics
/// When it does and `CI` is set: a blessed run rewrites what it checks and
/// passes, so on CI it would prove nothing.
pub fn blessing() -> bool {
    let bless = std::env::var_os("GREENLIGHT_BLESS").is_some_and(|v| v == "1");
    assert!(
        !(bless && std::env::var_os("CI").is_some()),
        "GREENLIGHT_BLESS=1 is refused when CI is set: CI checks the committed vectors, it does not rewrite them \
         (bless on a developer machine and commit the reviewed diff)"
    );
    bless
}

/// Compares freshly generated vectors with the committed file, or rewrites
/// the file when `GREENLIGHT_BLESS=1` (refused on CI, see [`blessing`]).
pub fn check_or_bless(name: &str, generated: &Value) {
    let path = vector_path(name);
    let mut text = serde_json::to_string_pretty(generated).expect("JSON serialises");
    text.push('\n');
    if blessing() {
        std::fs::write(&path, &text).expect("write vectors");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} drifted from what the code generates; if the change is intended, rerun with \
         GREENLIGHT_BLESS=1 and review the diff",
        path.display()
    );
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: impl AsRef<[u8]>) -> Value {
    Value::String(::hex::encode(bytes))
}

/// Reads a hex string field of `v`.
pub fn unhex(v: &Value, field: &str) -> Vec<u8> {
    let s = v[field].as_str().unwrap_or_else(|| panic!("field {field} is not a string"));
    ::hex::decode(s).unwrap_or_else(|e| panic!("field {field} is not hex: {e}"))
}

/// Reads a hex string field of `v` as a fixed-size array.
pub fn unhex_array<const N: usize>(v: &Value, field: &str) -> [u8; N] {
    unhex(v, field).try_into().unwrap_or_else(|_| panic!("field {field} is not {N} bytes"))
}

/// Reads an unsigned integer field of `v`.
pub fn uint(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or_else(|| panic!("field {field} is not an unsigned integer"))
}

/// An RNG that records every byte it hands out, so a vector file can list
/// the randomness an operation consumed.
pub struct RecordingRng {
    inner: ChaCha20Rng,
    /// Bytes handed out since the last [`RecordingRng::take`].
    pub drawn: Vec<u8>,
}

impl RecordingRng {
    /// Records the output of `rng(label)`.
    pub fn new(label: &str) -> Self {
        RecordingRng { inner: rng(label), drawn: Vec::new() }
    }

    /// The bytes drawn since the last call, as hex.
    pub fn take(&mut self) -> Value {
        hex(std::mem::take(&mut self.drawn))
    }
}

impl rand_core::TryRng for RecordingRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        rand_core::utils::next_word_via_fill(self)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        rand_core::utils::next_word_via_fill(self)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        rand_core::Rng::fill_bytes(&mut self.inner, dst);
        self.drawn.extend_from_slice(dst);
        Ok(())
    }
}
impl rand_core::TryCryptoRng for RecordingRng {}

/// An RNG that hands out exactly the bytes a vector file recorded, and
/// panics if asked for more: replaying an operation with it must consume
/// the same randomness in the same order.
pub struct ReplayRng {
    bytes: Vec<u8>,
    at: usize,
}

impl ReplayRng {
    /// Replays the hex string `v[field]`.
    pub fn new(v: &Value, field: &str) -> Self {
        ReplayRng { bytes: unhex(v, field), at: 0 }
    }

    /// Panics unless every recorded byte was consumed.
    pub fn finish(self) {
        assert_eq!(self.at, self.bytes.len(), "operation consumed less randomness than recorded");
    }
}

impl rand_core::TryRng for ReplayRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        rand_core::utils::next_word_via_fill(self)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        rand_core::utils::next_word_via_fill(self)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let end = self.at + dst.len();
        assert!(end <= self.bytes.len(), "operation asked for more randomness than recorded");
        dst.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(())
    }
}
impl rand_core::TryCryptoRng for ReplayRng {}

/// The name a vector file gives an error: snake case, with the field or
/// version after a colon (`invalid_field:region`, `unsupported_version:2`).
pub fn error_name(error: &Error) -> String {
    match error {
        Error::Truncated => "truncated".into(),
        Error::TrailingBytes => "trailing_bytes".into(),
        Error::BadMagic => "bad_magic".into(),
        Error::UnsupportedVersion(v) => format!("unsupported_version:{v}"),
        Error::InvalidField(field) => format!("invalid_field:{field}"),
        Error::BadEncoding => "bad_encoding".into(),
        Error::BadSignature => "bad_signature".into(),
        Error::BadMac => "bad_mac".into(),
        Error::BadPublicKey => "bad_public_key".into(),
        Error::NotYetValid => "not_yet_valid".into(),
        Error::Expired => "expired".into(),
        other => format!("{other:?}"),
    }
}
