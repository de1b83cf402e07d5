#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Per-model calibration and the one attenuation function, defined in the
/// protocol crate (spec §6.4) so that phones without this transport use it too.
pub use greenlight_protocol::calibration;
pub mod clock;
pub mod doctor;
pub mod radio;
pub mod sim;

#[cfg(feature = "bluez")]
pub mod bluez;

pub use calibration::{Calibration, CalibrationTable, attenuation_db};
pub use clock::{Clock, SimClock, SystemClock};
pub use doctor::{DoctorReport, Missing};
pub use radio::{Radio, RadioError, ScanDutyCycle, Sightings};
