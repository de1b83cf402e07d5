//! Greenlight's Bluetooth LE transport.
//!
//! Not built yet: the radio interface, the simulated radio and the BlueZ
//! backend arrive with their own issue. The advertisement byte format already
//! lives in [`greenlight_protocol::advert`], which this crate will carry.
#![forbid(unsafe_code)]
