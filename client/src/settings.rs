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

    /// Loads the settings, or explains how to set them ([`NOT_SET_UP`]).
    pub fn load(store: &impl Store) -> Result<Self, String> {
        let get =
            |name: &'static str| store.setting(name).map_err(|e| e.to_string())?.ok_or_else(|| NOT_SET_UP.to_owned());
        Ok(Settings {
            server: get("server")?,
            authority: store.setting("authority").map_err(|e| e.to_string())?.filter(|url| !url.is_empty()),
            export_key: parse_key(&get("export_key")?)?,
            authority_key: parse_key(&get("authority_key")?)?,
        })
    }
}

/// What every resident command says on a device that `greenlight init`
/// has not set up (or that was wiped).
pub const NOT_SET_UP: &str = "not set up: run `greenlight init --server URL --server-key export-key.pub --authority-key signing-key.pub` first (the keys as files or as 64 hex digits)";

impl PartialEq for Settings {
    fn eq(&self, other: &Self) -> bool {
        self.server.trim_end_matches('/') == other.server.trim_end_matches('/')
            && self.authority_url() == other.authority_url()
            && self.export_key == other.export_key
            && self.authority_key == other.authority_key
    }
}

/// Checks a server's base URL as given to `greenlight init`: `http://` or
/// `https://`, a host, nothing after the path. Without a scheme it is an
/// error, not a guess: `http` would send reports in the clear to a remote
/// server, `https` would fail against a local test server.
pub fn parse_server_url(text: &str, flag: &str) -> Result<String, String> {
    let text = text.trim();
    let Some((scheme, _)) = text.split_once("://") else {
        return Err(format!(
            "{flag} {text:?} has no scheme: write https://{text} (or http://{text} for a server on this machine or a test network)"
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("{flag} {text:?}: only http:// and https:// servers are supported"));
    }
    let url = reqwest::Url::parse(text).map_err(|e| format!("{flag} {text:?} is not a valid URL ({e})"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{flag} {text:?} names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{flag} {text:?}: give the server's base URL, without ? or #"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// Reads a public key given on the command line: 64 hex digits, or a file
/// holding them (the server's `export-key.pub`, the authority's
/// `signing-key.pub`). A path that does not exist is said to be one.
pub fn read_key_arg(arg: &str, flag: &str) -> Result<VerifyingKey, String> {
    let path = std::path::Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
        return parse_key(&text)
            .map_err(|_| format!("{flag} {}: the file does not hold a public key (64 hex digits)", path.display()));
    }
    if looks_like_path(arg) {
        return Err(format!("{flag} {arg}: no such file"));
    }
    parse_key(arg).map_err(|e| format!("{flag}: {e} (give 64 hex digits or the key's .pub file)"))
}

/// Whether a command-line argument that is not an existing file was meant
/// as one: it has a directory separator or ends in a file extension
/// (`nope.png`, `keys/export-key.pub`). Hex, base64url and poster text
/// (`GL1:…`) have neither.
pub fn looks_like_path(arg: &str) -> bool {
    let arg = arg.trim();
    if arg.contains('/') || arg.contains('\\') {
        return true;
    }
    match arg.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty() && (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric())
        }
        None => false,
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
