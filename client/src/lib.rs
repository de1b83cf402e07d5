//! The Greenlight resident client: the core a phone app embeds, and the
//! `greenlight` command line and daemon built on it.
//!
//! It keeps the phone's state in a sealed local store, syncs with the key
//! server (verifying every file), matches locally, and derives the color
//! with its explanation from the authority's signed policy.
#![forbid(unsafe_code)]

pub mod checkin;
pub mod daemon;
pub mod home;
pub mod report;
pub mod settings;
pub mod status;
pub mod store;
pub mod sync;
pub mod vault;
