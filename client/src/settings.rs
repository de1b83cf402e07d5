//! What the client needs to know about its deployment, chosen once with
//! `greenlight init` and kept in the store: the key server's URL and export
//! key, the health authority's signing key, and the authority's URL when it
//! runs apart from the key server.

use greenlight_phone::{Store, StoreError, Trust};
use greenlight_protocol::signing::{TrustedKeys, VerifyingKey};

/// The deployment settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL of the key server, e.g. `https://keys.example`.
    pub server: String,
    /// Base URL of the health authority's device API (`/v1/verify`,
    /// `/v1/certificate`), e.g. `https://authority.example`; `None` when it
    /// is served with the key server (the combined deployment).
    pub authority: Option<String>,
    /// The key server's export key: it signs the index and export batches.
    pub export_key: VerifyingKey,
    /// The health authority's key: it signs trace batches, policies and
    /// certificates.
    pub authority_key: VerifyingKey,
}

impl Settings {
    /// Where the health authority's device API is: its own URL, or the key
    /// server's in a combined deployment. No trailing slash.
    pub fn authority_url(&self) -> &str {
        self.authority.as_deref().unwrap_or(&self.server).trim_end_matches('/')
    }

    /// The keys the phone trusts for what it downloads.
    pub fn trust(&self) -> Trust {
        Trust {
            export: TrustedKeys::from_keys([self.export_key]),
            authority: TrustedKeys::from_keys([self.authority_key]),
        }
    }

    /// Saves the settings.
    pub fn save(&self, store: &mut impl Store) -> Result<(), StoreError> {
        store.set_setting("server", self.server.trim_end_matches('/'))?;
        store.set_setting("authority", self.authority.as_deref().map_or("", |a| a.trim_end_matches('/')))?;
        store.set_setting("export_key", &hex::encode(self.export_key.as_bytes()))?;
        store.set_setting("authority_key", &hex::encode(self.authority_key.as_bytes()))
    }

    /// Loads the settings, or explains how to set them.
    pub fn load(store: &impl Store) -> Result<Self, String> {
        let get = |name: &'static str| {
            store.setting(name).map_err(|e| e.to_string())?.ok_or_else(|| {
                "not set up yet: run `greenlight init --server URL --server-key HEX --authority-key HEX`".to_owned()
            })
        };
        Ok(Settings {
            server: get("server")?,
            authority: store.setting("authority").map_err(|e| e.to_string())?.filter(|url| !url.is_empty()),
            export_key: parse_key(&get("export_key")?)?,
            authority_key: parse_key(&get("authority_key")?)?,
        })
    }
}

/// Parses an Ed25519 public key written as 64 hex digits.
pub fn parse_key(text: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| format!("{text:?} is not 64 hex digits"))?;
    greenlight_protocol::signing::decode_public_key(&bytes).map_err(|_| {
        format!("{text} is not a valid Ed25519 public key (small-order and non-canonical keys are refused)")
    })
}
