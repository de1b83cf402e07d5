#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod advert;
pub mod calibration;
pub mod certificate;
pub mod checkin;
pub mod codec;
pub mod color;
pub mod contact;
mod crypto;
pub mod daily_key;
pub mod error;
pub mod export;
pub mod index;
pub mod kdf;
pub mod matcher;
pub mod policy;
pub mod report;
pub mod signing;
pub mod time;
pub mod trace;
pub mod trust;
pub mod venue;

pub use error::{Error, Result};
