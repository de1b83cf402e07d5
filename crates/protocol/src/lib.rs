#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod codec;
pub mod daily_key;
pub mod error;
pub mod report;
pub mod signing;
pub mod time;

pub use error::{Error, Result};
