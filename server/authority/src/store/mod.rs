//! The health authority's tables (migration `0002_authority.sql`): staff,
//! sessions, upload codes and tokens, counters, the audit log, color
//! policies, venue cases and trace batches. Same rules as the key server's
//! store: sqlx `Any`, `$N` placeholders, `BIGINT`/`BLOB`/`TEXT` columns.
//!
//! Secrets never reach this module in the clear: codes arrive as keyed
//! hashes, tokens and session cookies as SHA-256.

use greenlight_protocol::certificate::DayKind;
use greenlight_protocol::report::ReportType;
use greenlight_protocol::time::DayNumber;
pub use greenlight_service::db::{Db, StoreError};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

mod audit;
mod codes;
mod policies;
mod staff;
mod venues;

pub use audit::*;
pub use codes::*;
pub use policies::*;
pub use staff::*;
pub use venues::*;

/// Counter names in `authority_counters`.
pub mod counter {
    /// Short codes issued (per day).
    pub const SHORT_ISSUED: &str = "short_issued";
    /// Long codes issued (per day).
    pub const LONG_ISSUED: &str = "long_issued";
    /// Codes claimed by a phone (per day).
    pub const CLAIMED: &str = "claimed";
    /// Certificates signed (per day): each authorizes one upload.
    pub const CERTIFIED: &str = "certified";
    /// Failed verifications of short codes (per hour: the guessing budget).
    pub const SHORT_FAILURES: &str = "short_failures";
}

/// The health authority's view of the database.
#[derive(Debug, Clone)]
pub struct AuthorityStore {
    store: Db,
}

impl AuthorityStore {
    /// The authority's queries over `store` (connected and migrated).
    pub fn new(store: Db) -> Self {
        AuthorityStore { store }
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    fn pool(&self) -> &AnyPool {
        self.store.pool()
    }

    // ---- retention and privacy ------------------------------------------------

    /// Deletes what is no longer needed at `now`: sessions and tokens past
    /// their expiry, codes and counters older than `keep_secs`, audit
    /// entries older than `audit_keep_secs`. Policies and trace batches
    /// are kept (every version).
    pub async fn delete_expired(&self, now: i64, keep_secs: i64, audit_keep_secs: i64) -> Result<u64, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let mut n = 0;
        n += sqlx::query("DELETE FROM staff_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM verification_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM upload_codes WHERE expires_at <= $1")
            .bind(now - keep_secs)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Hourly periods are Unix times, daily ones day numbers: both are
        // compared in their own unit.
        n += sqlx::query("DELETE FROM authority_counters WHERE counter = $1 AND period < $2")
            .bind(counter::SHORT_FAILURES)
            .bind(now - 86_400)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Revealed visits are kept as long as the key server keeps them;
        // a case keeps its own epochs and windows.
        n += sqlx::query(
            "DELETE FROM checkin_reviews WHERE checkin_id IN \
             (SELECT id FROM authority_revealed WHERE received_hour < $1)",
        )
        .bind(now - keep_secs)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        n += sqlx::query("DELETE FROM authority_revealed WHERE received_hour < $1")
            .bind(now - keep_secs)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM authority_revealed_done WHERE received_hour < $1")
            .bind(now - keep_secs)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(now - audit_keep_secs)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Every stored column of the code, token and audit tables, as text:
    /// what someone who copies the database learns (for the privacy tests).
    pub async fn dump(&self) -> Result<Vec<String>, StoreError> {
        self.store
            .dump_tables(&[
                ("upload_codes", CODE_COLUMNS),
                ("verification_tokens", "token_hash, report_type, day_kind, day, expires_at, used_at, failures"),
                ("audit_log", "at, staff_id, username, action, detail"),
                ("staff_sessions", "token_hash, staff_id, created_at, last_seen, expires_at"),
                ("staff", "username, password_hash, roles"),
            ])
            .await
    }
}

async fn bump<'e, E>(executor: E, period: i64, counter: &str) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO authority_counters (period, counter, count) VALUES ($1, $2, 1) \
         ON CONFLICT (period, counter) DO UPDATE SET count = authority_counters.count + 1",
    )
    .bind(period)
    .bind(counter.to_owned())
    .execute(executor)
    .await?;
    Ok(())
}
