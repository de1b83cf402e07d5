//! State shared by every request handler and background job.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::publisher::Publisher;
use crate::store::Store;
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::UnixTime;
use greenlight_service::chaff::LatencyModel;
use std::collections::HashMap;
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
    /// Authority keys whose certificates are accepted.
    pub authority_keys: TrustedKeys,
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
}
