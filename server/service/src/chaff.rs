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

#[cfg(test)]
mod tests {
    use super::*;

    /// The delay follows the real requests' recent latency: after a run of
    /// real requests taking 80 ms, chaff waits between half and one and a
    /// half times that, spread over the whole range (not a constant an
    /// observer could tell apart).
    #[test]
    fn chaff_waits_around_the_recent_real_latency() {
        let model = LatencyModel::default();
        for _ in 0..200 {
            model.record(Duration::from_millis(80));
        }
        let delays: Vec<f64> = (0..2_000).map(|_| model.delay().as_secs_f64() * 1e3).collect();
        // The average approaches 80 ms from the model's start value and may
        // still be a fraction of a microsecond above it: allow 10 µs.
        assert!(delays.iter().all(|d| (39.99..=120.01).contains(d)), "within ±50 % of 80 ms");
        let below = delays.iter().filter(|d| **d < 80.0).count();
        assert!((800..=1_200).contains(&below), "about half below the average: {below} of 2000");
        let (min, max) = delays.iter().fold((f64::MAX, 0.0f64), |(lo, hi), d| (lo.min(*d), hi.max(*d)));
        assert!(min < 45.0 && max > 115.0, "spread over the range: {min:.1}–{max:.1} ms");

        // A slower server is imitated too.
        for _ in 0..200 {
            model.record(Duration::from_millis(300));
        }
        let mean = (0..2_000).map(|_| model.delay().as_secs_f64() * 1e3).sum::<f64>() / 2_000.0;
        assert!((270.0..=330.0).contains(&mean), "mean {mean:.1} ms follows the new latency");
    }
}
