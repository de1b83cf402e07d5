//! The Greenlight key server: accepts authorized uploads, seals signed
//! append-only export batches, serves them as immutable, content-addressed
//! files behind a small signed index, lists the health authority's signed
//! files, and hands it the visits diagnosed people revealed.
//!
//! It knows the health authority only by its public keys: it depends on
//! the HTTP contract (`greenlight-api`), the protocol and the services'
//! plumbing (`greenlight-service`), never on the authority's library. The
//! `greenlight-server` binary runs it, alone or beside the authority.
//!
//! - [`api`]: the routes and the one error type ([`api::KeyServerError`]);
//! - [`store`]: its tables; [`publisher`]: sealing and the index;
//!   [`files`]: file storage; [`revealed`]: the feed to the authority;
//! - [`state`], [`config`], [`metrics`]: what the handlers share.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod files;
pub mod metrics;
pub mod publisher;
pub mod revealed;
pub mod state;
pub mod store;
