//! State shared by every request handler and background job.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::publisher::Publisher;
use crate::store::Store;
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trust::{Keyring, Purpose};
use greenlight_service::chaff::LatencyModel;
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::{Arc, Mutex};

pub use greenlight_service::clock::{Clock, system_clock};

/// Failed upload attempts per certificate id: uploads are limited per
/// certificate, never per address (the server keeps no addresses).
#[derive(Debug, Default)]
pub struct Attempts {
    failures: Mutex<HashMap<[u8; 16], (u32, UnixTime)>>,
}

impl Attempts {
    /// Failures recorded for certificate `id`.
    pub fn failures(&self, id: &[u8; 16]) -> u32 {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).get(id).map_or(0, |(n, _)| *n)
    }

    /// Records a failure for certificate `id`, remembered until it expires.
    pub fn fail(&self, id: [u8; 16], expires_at: UnixTime) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(id).or_insert((0, expires_at)).0 += 1;
    }

    /// Forgets certificates expired by `now`.
    pub fn prune(&self, now: UnixTime) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, (_, expires)| *expires > now);
    }
}

/// Everything a handler needs.
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Sealing and the index.
    pub publisher: Arc<Publisher>,
    /// The health authority's root keys (`--authority-key`) and the newest
    /// key set they signed (protocol §2.3): which keys sign certificates,
    /// feed requests, trace batches and policies.
    pub keyring: RwLock<Keyring>,
    /// The signed bytes of the key set in `keyring`, served at `/v1/trust`.
    pub key_set_file: RwLock<Option<Vec<u8>>>,
    /// Metrics.
    pub metrics: Metrics,
    /// Real publish latency, which chaff imitates.
    pub latency: LatencyModel,
    /// Failed attempts per certificate.
    pub attempts: Attempts,
    /// The clock.
    pub clock: Clock,
}

impl AppState {
    /// The current time.
    pub fn now(&self) -> UnixTime {
        (self.clock)()
    }

    /// The authority keys trusted for `purpose` at `now`.
    pub fn authority_keys(&self, purpose: Purpose, now: UnixTime) -> TrustedKeys {
        self.keyring.read().unwrap_or_else(|e| e.into_inner()).trusted(purpose, now)
    }

    /// Adopts a key set the authority published, if a trusted root key
    /// signed it for this region and it is newer than the one in use: from
    /// then on it decides which keys sign certificates, feed requests,
    /// trace batches and policies (protocol §2.3).
    pub fn adopt_key_set(&self, bytes: &[u8], now: UnixTime) {
        let mut ring = self.keyring.write().unwrap_or_else(|e| e.into_inner());
        match ring.accept(bytes, &self.config.region, now) {
            Ok(true) => {
                let set = ring.key_set().expect("just accepted");
                tracing::info!(sequence = set.sequence, keys = set.entries().len(), "adopted the authority's key set");
                *self.key_set_file.write().unwrap_or_else(|e| e.into_inner()) = Some(bytes.to_vec());
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "a listed key set was not adopted"),
        }
    }

    /// Whether any health authority is trusted (`--authority-key`, or the
    /// authority in the same data directory).
    pub fn trusts_an_authority(&self) -> bool {
        !self.authority_keys(Purpose::Root, self.now()).is_empty()
    }
}
