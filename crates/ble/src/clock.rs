//! Where a radio gets the time it stamps on sightings: the system clock on a
//! phone or daemon, a shared simulated clock in tests and simulations.
//!
//! The protocol crate never reads a clock; this crate does, once per
//! sighting, through [`Clock`], so that a simulation whose clock only moves
//! when the simulation says so is as deterministic as its seed.

use greenlight_protocol::time::UnixTime;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time, in whole Unix seconds.
    fn now(&self) -> UnixTime;
}

/// The machine's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        // A clock set before 1970 reads as the epoch rather than panicking.
        UnixTime(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
}

/// A clock that moves only when told to; clones share one time.
///
/// The simulated world ([`crate::sim::SharedWorld`]) owns one and moves it
/// as it advances, so every simulated radio and the code under test read
/// the same simulated time.
#[derive(Debug, Clone)]
pub struct SimClock(Arc<AtomicU64>);

impl SimClock {
    /// A clock standing at `start`.
    pub fn new(start: UnixTime) -> Self {
        SimClock(Arc::new(AtomicU64::new(start.0)))
    }

    /// Moves the clock to `t`, forwards or backwards (a phone's clock can
    /// be set back; the protocol's clock floor is the client's business).
    pub fn set(&self, t: UnixTime) {
        self.0.store(t.0, Ordering::SeqCst);
    }

    /// Moves the clock forward by `secs` seconds, saturating.
    pub fn advance(&self, secs: u64) {
        let _ = self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| Some(t.saturating_add(secs)));
    }
}

impl Clock for SimClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> UnixTime {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_of_a_sim_clock_share_its_time() {
        let clock = SimClock::new(UnixTime(1_000));
        let other = clock.clone();
        clock.advance(600);
        assert_eq!(other.now(), UnixTime(1_600));
        other.set(UnixTime(10));
        assert_eq!(clock.now(), UnixTime(10));
        clock.advance(u64::MAX);
        assert_eq!(clock.now(), UnixTime(u64::MAX));
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(SystemClock.now() > UnixTime(1_577_836_800));
    }
}
