//! `greenlight-server`: the key server and the health authority, two
//! libraries (`greenlight-key-server`, `greenlight-authority`) behind one
//! thin binary. By default one process runs both on one database; `authority
//! serve` runs the authority alone, talking to a key server elsewhere over
//! HTTP. This crate holds what only the binary knows: the command line
//! ([`config`]), the database migrations of both ([`connect_database`]),
//! start-up, the wiring between the two and the background jobs ([`app`]),
//! and HTTPS when given a certificate ([`tls`]).
//!
//! The two libraries are re-exported as [`key_server`] and [`authority`]
//! for tests and tools that run them in-process.
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod tls;

pub use greenlight_authority as authority;
pub use greenlight_key_server as key_server;
pub use greenlight_service::db::{Backend, Db, StoreError};

use greenlight_service::db::Migrations;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The migrations of both services' tables, per backend: every database
/// the binary opens holds both sets (a service's tables stay empty where it
/// does not run).
pub const MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

/// Connects to `url` (creating an SQLite file if needed) and brings it up to
/// the current migrations.
pub async fn connect_database(url: &str) -> Result<Db, StoreError> {
    Db::connect(url, &MIGRATIONS).await
}
