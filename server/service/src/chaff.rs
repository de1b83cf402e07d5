//! Chaff: dummy uploads that phones send on a schedule so that a real
//! report cannot be told apart on the network. The server answers them with
//! the same status, headers and body size as a real success, after a delay
//! drawn around the recent real latency, and never touches the database.

use rand_core::Rng;
use std::sync::Mutex;
use std::time::Duration;

pub use greenlight_api::CHAFF_HEADER;

/// A moving average of real publish latencies.
#[derive(Debug)]
pub struct LatencyModel {
    average_micros: Mutex<f64>,
}

impl Default for LatencyModel {
    fn default() -> Self {
        // Until real requests are seen, assume 20 ms.
        LatencyModel { average_micros: Mutex::new(20_000.0) }
    }
}

impl LatencyModel {
    /// Records a real request's handling time.
    pub fn record(&self, took: Duration) {
        let mut avg = self.average_micros.lock().unwrap_or_else(|e| e.into_inner());
        // Exponential moving average over roughly the last 20 requests.
        *avg += (took.as_secs_f64() * 1e6 - *avg) / 20.0;
    }

    /// How long a chaff answer should wait: the average with ±50 % jitter.
    pub fn delay(&self) -> Duration {
        let avg = *self.average_micros.lock().unwrap_or_else(|e| e.into_inner());
        let jitter = f64::from(rand_core::UnwrapErr(getrandom::SysRng).next_u32()) / f64::from(u32::MAX);
        Duration::from_secs_f64((avg * (0.5 + jitter)).max(0.0) / 1e6)
    }
}
