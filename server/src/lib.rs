//! The Greenlight key server: accepts authorized uploads, seals signed
//! append-only export batches, and serves them as immutable,
//! content-addressed files behind a small signed index.
//!
//! `main.rs` parses the configuration and calls [`app::start`]; everything
//! else lives in this library so tests can run the server in-process.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod authority;
pub mod chaff;
pub mod config;
pub mod files;
pub mod metrics;
pub mod padding;
pub mod publisher;
pub mod revealed;
pub mod state;
pub mod store;
