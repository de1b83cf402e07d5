//! The clock both services read. Tests replace it to move through days.

use greenlight_protocol::time::UnixTime;
use std::sync::Arc;

/// The clock a service reads.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())))
}
