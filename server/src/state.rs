//! State shared by every request handler and background job.

use crate::chaff::LatencyModel;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::publisher::Publisher;
use crate::store::Store;
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::UnixTime;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The clock the server reads. Tests replace it to move through days.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())))
}

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
