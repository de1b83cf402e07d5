//! The device key and what it seals.
//!
//! The device key is 32 random bytes in a file readable only by its owner
//! (`device.key`, mode 0600), or supplied by the platform's keystore. Every
//! record that could say whom the phone met or where its owner went is
//! sealed with it: ChaCha20-Poly1305 with a random nonce and the record's
//! kind as associated data, so a sealed value cannot be moved to another
//! table. Without the key, the store is opaque; with it, it holds exactly
//! what the protocol says the phone must keep (spec §15.5).

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use rand_core::Rng;
use std::path::Path;
use zeroize::Zeroizing;

/// File name of the device key in the data directory.
pub const DEVICE_KEY_FILE: &str = "device.key";

/// What a sealed value is, bound into its seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A daily key.
    DailyKey,
    /// A sighting.
    Sighting,
    /// A check-in day key's secret.
    CheckInSecret,
    /// A visit-diary entry.
    Diary,
    /// A matched exposure.
    Exposure,
    /// The owner's own diagnosis.
    Diagnosis,
    /// When the owner reported and which of their visits they revealed.
    Report,
    /// A color-history entry.
    Color,
    /// The value that tells, at open, whether a platform-supplied device
    /// key is the one the store was sealed with.
    KeyCheck,
}

impl Kind {
    fn label(self) -> &'static [u8] {
        match self {
            Kind::DailyKey => b"greenlight device v1 daily key",
            Kind::Sighting => b"greenlight device v1 sighting",
            Kind::CheckInSecret => b"greenlight device v1 check-in secret",
            Kind::Diary => b"greenlight device v1 diary",
            Kind::Exposure => b"greenlight device v1 exposure",
            Kind::Diagnosis => b"greenlight device v1 diagnosis",
            Kind::Report => b"greenlight device v1 report",
            Kind::Color => b"greenlight device v1 color",
            Kind::KeyCheck => b"greenlight device v1 key check",
        }
    }
}

/// A sealed value could not be opened: wrong device key or damaged store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tampered;

impl std::fmt::Display for Tampered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a stored record does not open with this device key (wrong key or damaged store)")
    }
}

impl std::error::Error for Tampered {}

/// The device key.
pub struct Vault {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<device key>)")
    }
}

impl Vault {
    /// A vault with the given key bytes.
    pub fn from_key(key: &[u8; 32]) -> Self {
        Vault { cipher: ChaCha20Poly1305::new(key.into()) }
    }

    /// Loads the device key from `dir`, creating it (mode 0600) if absent.
    pub fn open_or_create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(DEVICE_KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} is not 32 bytes", path.display()))
                })?;
                let key = Zeroizing::new(key);
                Ok(Vault::from_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new([0u8; 32]);
                rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(key.as_mut());
                write_private(&path, key.as_ref())?;
                Ok(Vault::from_key(&key))
            }
            Err(e) => Err(e),
        }
    }

    /// Seals `plain` as a value of `kind`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, kind: Kind, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt((&nonce).into(), Payload { msg: plain, aad: kind.label() })
            .expect("records are far below the AEAD's length limit");
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a value sealed as `kind`.
    pub fn open(&self, kind: Kind, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Tampered> {
        if sealed.len() < 12 + 16 {
            return Err(Tampered);
        }
        let (nonce, ct) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| Tampered)?;
        self.cipher
            .decrypt((&nonce).into(), Payload { msg: ct, aad: kind.label() })
            .map(Zeroizing::new)
            .map_err(|_| Tampered)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_kind() {
        let vault = Vault::from_key(&[1; 32]);
        let sealed = vault.seal(Kind::Sighting, b"an id");
        assert_eq!(vault.open(Kind::Sighting, &sealed).expect("opens").as_slice(), b"an id");
        assert_eq!(vault.open(Kind::Exposure, &sealed), Err(Tampered), "not as another kind");
        assert_eq!(Vault::from_key(&[2; 32]).open(Kind::Sighting, &sealed), Err(Tampered), "not with another key");
        let mut damaged = sealed.clone();
        damaged[20] ^= 1;
        assert_eq!(vault.open(Kind::Sighting, &damaged), Err(Tampered));
        assert_ne!(vault.seal(Kind::Sighting, b"an id"), sealed, "fresh nonce every time");
    }
}
