#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod calibration;
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
