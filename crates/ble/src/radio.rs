//! The radio interface the client is written against: advertise one
//! payload at a time, scan with a duty cycle, receive a stream of sightings.
//!
//! Two backends implement it: [`crate::sim::SimRadio`] (a device in a
//! simulated world) and, with the `bluez` feature, `crate::bluez::BluezRadio`
//! (the machine's Bluetooth adapter through BlueZ).
//!
//! The contract every backend keeps:
//!
//! - **Advertising.** [`Radio::advertise`] broadcasts exactly one payload,
//!   replacing the previous one. A payload different from the current one
//!   goes out from a fresh random device address, so address and ephemeral
//!   ID always rotate together (spec §4.3); the caller calls it once per
//!   interval with that interval's advertisement.
//! - **Scanning.** [`Radio::scan`] listens for one `window` every `period`
//!   ([`ScanDutyCycle`]). Each window yields at most one [`Sighting`] per
//!   distinct advertisement heard in it, carrying the mean RSSI of the
//!   packets received and the time of the first, so one sighting stands for
//!   one scan (spec §6.4 leaves that aggregation to the client; doing it here
//!   keeps a phone's store at one record per neighbour per scan). Only
//!   advertisements with our service UUID and exactly 20 bytes of service
//!   data become sightings; anything else is ignored.
//! - **Stopping.** Dropping the [`Sightings`] stream stops the scan.

use crate::doctor::Missing;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::Stream;
use greenlight_protocol::advert::Advertisement;
use greenlight_protocol::matcher::Sighting;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;

/// When a scanner listens: for `window` at the start of every `period`.
///
/// Scanning costs battery, so phones listen briefly and often enough that
/// anyone nearby for a few minutes is heard: Google's implementation scans
/// for 4 s every 3.5–5 min, iOS about 2 s every 5 min (PRIOR-ART §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScanDutyCycle {
    window: Duration,
    period: Duration,
}

/// Why a [`ScanDutyCycle`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidDutyCycle(&'static str);

impl fmt::Display for InvalidDutyCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid scan duty cycle: {}", self.0)
    }
}

impl std::error::Error for InvalidDutyCycle {}

impl ScanDutyCycle {
    /// 4 s every 5 min, the duty cycle of Google's Exposure Notifications
    /// (4 s every 210–300 s) at its longest period.
    pub const DEFAULT: ScanDutyCycle =
        ScanDutyCycle { window: Duration::from_secs(4), period: Duration::from_secs(300) };

    /// Listens for `window` every `period`.
    ///
    /// The window must be longer than zero and no longer than the period;
    /// the period must be a whole number of seconds (simulated time runs in
    /// seconds).
    pub fn new(window: Duration, period: Duration) -> Result<Self, InvalidDutyCycle> {
        if window.is_zero() {
            return Err(InvalidDutyCycle("the scan window is empty"));
        }
        if window > period {
            return Err(InvalidDutyCycle("the scan window is longer than its period"));
        }
        if period.subsec_nanos() != 0 {
            return Err(InvalidDutyCycle("the period is not a whole number of seconds"));
        }
        Ok(ScanDutyCycle { window, period })
    }

    /// Listens all the time, reporting once per `period`.
    pub fn continuous(period: Duration) -> Result<Self, InvalidDutyCycle> {
        ScanDutyCycle::new(period, period)
    }

    /// How long each scan listens.
    pub fn window(self) -> Duration {
        self.window
    }

    /// How often a scan starts.
    pub fn period(self) -> Duration {
        self.period
    }

    /// The period in whole seconds (at least 1).
    pub fn period_secs(self) -> u64 {
        self.period.as_secs()
    }

    /// Whether the radio listens all the time.
    pub fn is_continuous(self) -> bool {
        self.window == self.period
    }
}

impl Default for ScanDutyCycle {
    fn default() -> Self {
        ScanDutyCycle::DEFAULT
    }
}

/// What went wrong with a radio.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RadioError {
    /// Bluetooth LE cannot be used on this machine; says what is missing.
    Unavailable(Missing),
    /// The Bluetooth stack failed an operation that should have worked.
    Stack {
        /// What the radio was doing, in a few words.
        operation: &'static str,
        /// The stack's own message.
        message: String,
    },
}

impl RadioError {
    #[cfg(feature = "bluez")]
    pub(crate) fn stack(operation: &'static str, error: impl fmt::Display) -> Self {
        RadioError::Stack { operation, message: error.to_string() }
    }
}

impl fmt::Display for RadioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RadioError::Unavailable(missing) => write!(f, "Bluetooth LE is unavailable: {missing}"),
            RadioError::Stack { operation, message } => write!(f, "Bluetooth: {operation} failed: {message}"),
        }
    }
}

impl std::error::Error for RadioError {}

impl From<Missing> for RadioError {
    fn from(missing: Missing) -> Self {
        RadioError::Unavailable(missing)
    }
}

/// A radio: one advertiser and one scanner.
///
/// The futures are `Send` so that a daemon can drive the radio from any
/// task. See the module documentation for the contract.
pub trait Radio: Send + Sync {
    /// Broadcasts `advertisement` from now on, replacing what was being
    /// broadcast; a changed payload gets a fresh random address.
    fn advertise(&self, advertisement: Advertisement) -> impl Future<Output = Result<(), RadioError>> + Send;

    /// Stops broadcasting. Stopping a radio that is not advertising is not
    /// an error.
    fn stop_advertising(&self) -> impl Future<Output = Result<(), RadioError>> + Send;

    /// Starts scanning with `duty`. Sightings arrive on the returned stream
    /// until it is dropped, which stops the scan; a second call replaces
    /// the first scan (its stream ends).
    fn scan(&self, duty: ScanDutyCycle) -> impl Future<Output = Result<Sightings, RadioError>> + Send;
}

/// The RSSI a window reports for an advertisement received `count` times
/// with RSSIs adding up to `sum`: their mean, rounded to a whole dBm (halves
/// away from zero).
pub(crate) fn mean_rssi(sum: i32, count: i32) -> i8 {
    debug_assert!(count > 0);
    let mean = (2 * sum.abs() + count) / (2 * count) * sum.signum();
    i8::try_from(mean).expect("a mean of i8 values")
}

/// The sending end of a [`Sightings`] stream, held by a backend.
pub(crate) type SightingSender = mpsc::UnboundedSender<Result<Sighting, RadioError>>;

/// The sightings of one scan, in the order the scan windows closed.
///
/// An `Err` item reports a failure the scan survived (a window that could
/// not start, say); the stream ends when the scan stops for good.
#[derive(Debug)]
pub struct Sightings {
    rx: mpsc::UnboundedReceiver<Result<Sighting, RadioError>>,
}

impl Sightings {
    pub(crate) fn channel() -> (SightingSender, Sightings) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, Sightings { rx })
    }

    /// The next sighting, or `None` once the scan has stopped.
    pub async fn recv(&mut self) -> Option<Result<Sighting, RadioError>> {
        self.rx.recv().await
    }

    /// A sighting that has already arrived, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<Sighting, RadioError>> {
        self.rx.try_recv().ok()
    }
}

impl Stream for Sightings {
    type Item = Result<Sighting, RadioError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_rssi_rounds_half_away_from_zero() {
        assert_eq!(mean_rssi(-121, 2), -61);
        assert_eq!(mean_rssi(-120, 2), -60);
        assert_eq!(mean_rssi(-200, 3), -67);
        assert_eq!(mean_rssi(7, 2), 4);
        assert_eq!(mean_rssi(0, 5), 0);
    }

    #[test]
    fn duty_cycles_are_checked() {
        let s = Duration::from_secs;
        assert_eq!(ScanDutyCycle::default().window(), s(4));
        assert_eq!(ScanDutyCycle::default().period_secs(), 300);
        assert!(ScanDutyCycle::new(Duration::ZERO, s(1)).is_err());
        assert!(ScanDutyCycle::new(s(2), s(1)).is_err());
        assert!(ScanDutyCycle::new(Duration::from_millis(500), Duration::from_millis(1500)).is_err());
        assert!(ScanDutyCycle::new(Duration::from_millis(500), s(1)).is_ok());
        assert!(ScanDutyCycle::continuous(s(10)).is_ok_and(ScanDutyCycle::is_continuous));
    }
}
