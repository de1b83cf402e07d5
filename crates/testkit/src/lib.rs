//! Greenlight's test kit: what every suite that runs the real key server
//! in-process needs, written once.
//!
//! - [`config`]: the one loopback [`Config`](greenlight_server::config::Config)
//!   of the key server ([`loopback_config`], and [`LoopbackConfig`] for the
//!   knobs callers turn: region, trusted authority keys, padding, timeout).
//! - [`server`]: [`TestServer`], the key server (and, when asked, its
//!   health authority after `authority init`) started in-process on
//!   `127.0.0.1:0` on a temporary directory, with a fresh SQLite or
//!   PostgreSQL database or a given one, and a [`TestClock`] the caller
//!   moves; plus the pieces it is made of ([`TempDir`], [`TestDatabase`]).
//! - [`portal`]: [`Portal`], a staff member's browser for the health
//!   authority's portal on reqwest's cookie jar and form encoding: log in,
//!   keep the CSRF token, get pages, post forms, see redirects, download
//!   files, and the steps staff take (issue a code, open a venue case,
//!   sign its release request, publish it).
//! - [`proxy`]: [`LosingProxy`], which forwards requests to a real server
//!   and loses the answers to the first few of one path.
//!
//! Users: the server's, the client's and the end-to-end test suites, the
//! client's memory benchmark, the JSON fuzz targets, and the town
//! simulation, which runs its staff through the portal with this client.
//! That is why nothing here panics on what a server answers: the portal
//! client returns [`PortalError`], the server [`ServerError`]. (The few
//! test conveniences that panic say so under `# Panics`.)

pub mod config;
pub mod portal;
pub mod proxy;
pub mod server;

pub use config::{LoopbackConfig, loopback_config};
pub use portal::{CodeKind, IssuedCode, Page, Portal, PortalError, between};
pub use proxy::LosingProxy;
pub use server::{
    AuthorityKeys, Db, ServerError, TempDir, TestClock, TestDatabase, TestServer, TestServerBuilder, postgres_admin_url,
};
