//! The health authority's tables (migration `0002_authority.sql`): staff,
//! sessions, upload codes and tokens, counters, the audit log, color
//! policies, venue cases and trace batches. Same rules as the key server's
//! store: sqlx `Any`, `$N` placeholders, `BIGINT`/`BLOB`/`TEXT` columns.
//!
//! Secrets never reach this module in the clear: codes arrive as keyed
//! hashes, tokens and session cookies as SHA-256.

use crate::store::{Store, StoreError};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// A staff account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRow {
    /// Database id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Comma-separated roles.
    pub roles: String,
    /// The password was set by someone else and must be changed.
    pub must_change_password: bool,
    /// The account cannot log in.
    pub disabled: bool,
    /// Failed logins since the last success.
    pub failed_logins: i64,
    /// Logins are refused until this time.
    pub locked_until: i64,
    /// When the account was created.
    pub created_at: i64,
}

const STAFF_COLUMNS: &str =
    "id, username, password_hash, roles, must_change_password, disabled, failed_logins, locked_until, created_at";

fn staff_row(r: &AnyRow) -> Result<StaffRow, StoreError> {
    Ok(StaffRow {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        roles: r.try_get(3)?,
        must_change_password: r.try_get::<i64, _>(4)? != 0,
        disabled: r.try_get::<i64, _>(5)? != 0,
        failed_logins: r.try_get(6)?,
        locked_until: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

/// A portal session with its account.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// When the session was created.
    pub created_at: i64,
    /// Last request seen.
    pub last_seen: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    /// The account.
    pub staff: StaffRow,
}

/// An upload code as stored (never the code itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    /// Keyed hash of the code.
    pub code_hash: Vec<u8>,
    /// Random name for status checks.
    pub handle: String,
    /// `short` or `long`.
    pub kind: String,
    /// Report type byte.
    pub report_type: i64,
    /// Day kind byte.
    pub day_kind: i64,
    /// UTC day number.
    pub day: i64,
    /// Issue time.
    pub issued_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// When a phone claimed it.
    pub claimed_at: Option<i64>,
    /// When staff expired it by hand.
    pub revoked_at: Option<i64>,
    /// Staff id of the issuer.
    pub issued_by: i64,
}

const CODE_COLUMNS: &str =
    "code_hash, handle, kind, report_type, day_kind, day, issued_at, expires_at, claimed_at, revoked_at, issued_by";

fn code_row(r: &AnyRow) -> Result<CodeRow, StoreError> {
    Ok(CodeRow {
        code_hash: r.try_get(0)?,
        handle: r.try_get(1)?,
        kind: r.try_get(2)?,
        report_type: r.try_get(3)?,
        day_kind: r.try_get(4)?,
        day: r.try_get(5)?,
        issued_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
        claimed_at: r.try_get(8)?,
        revoked_at: r.try_get(9)?,
        issued_by: r.try_get(10)?,
    })
}

/// What a code carries over to its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnosis {
    /// Report type byte.
    pub report_type: i64,
    /// Day kind byte.
    pub day_kind: i64,
    /// UTC day number.
    pub day: i64,
}

/// The outcome of storing a new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewCode {
    /// Stored and counted.
    Stored,
    /// The day's quota is used up: nothing stored.
    QuotaReached,
    /// The same code or handle exists (draw another).
    Collision,
}

/// The outcome of claiming a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Claimed now; the token was stored.
    Claimed(Diagnosis),
    /// No such code.
    Unknown,
    /// Past its expiry, or expired by hand.
    Expired,
    /// Claimed before.
    Used,
}

/// The outcome of using a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// Used now.
    Used(Diagnosis),
    /// No such token.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Used before.
    AlreadyUsed,
    /// Too many failed attempts.
    Locked,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// When.
    pub at: i64,
    /// Who (the name at the time).
    pub username: String,
    /// What, as a stable action name.
    pub action: String,
    /// Details (ids and counts, never patient data).
    pub detail: String,
}

/// A stored color policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    /// Its sequence.
    pub sequence: i64,
    /// Its `issued_at`.
    pub issued_at: i64,
    /// The signed file.
    pub file: Vec<u8>,
    /// Its content address.
    pub sha256: String,
    /// Name of the staff member who signed it.
    pub created_by: String,
}

/// A revealed check-in waiting for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCheckIn {
    /// Row id in `revealed_checkins`.
    pub id: i64,
    /// The revealed check-in's bytes.
    pub bytes: Vec<u8>,
    /// Upload hour.
    pub received_hour: i64,
}

/// A venue case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    /// Case number.
    pub id: i64,
    /// The venue's public key.
    pub venue_key: Vec<u8>,
    /// The venue's name (from its poster or the paper form).
    pub venue_name: String,
    /// `revealed` or `paper`.
    pub source: String,
    /// Creation time.
    pub created_at: i64,
    /// The signed release request, once made.
    pub request: Option<Vec<u8>>,
    /// Sequence of the trace batch that published it.
    pub published: Option<i64>,
}

const CASE_COLUMNS: &str = "id, venue_key, venue_name, source, created_at, request, published";

fn case_row(r: &AnyRow) -> Result<CaseRow, StoreError> {
    Ok(CaseRow {
        id: r.try_get(0)?,
        venue_key: r.try_get(1)?,
        venue_name: r.try_get(2)?,
        source: r.try_get(3)?,
        created_at: r.try_get(4)?,
        request: r.try_get(5)?,
        published: r.try_get(6)?,
    })
}

/// One epoch of a case with its exposure window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseEpoch {
    /// 70-byte poster epoch.
    pub epoch: Vec<u8>,
    /// Window start (Unix seconds, whole minutes).
    pub window_start: i64,
    /// Window end.
    pub window_end: i64,
}

/// A published trace batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceBatchRow {
    /// Its sequence.
    pub sequence: i64,
    /// Its `created_at`.
    pub created_at: i64,
    /// Number of entries.
    pub entries: i64,
    /// Its content address.
    pub sha256: String,
    /// The signed file.
    pub file: Vec<u8>,
}

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
    store: Store,
}

impl AuthorityStore {
    /// Wraps the shared store.
    pub fn new(store: Store) -> Self {
        AuthorityStore { store }
    }

    fn pool(&self) -> &AnyPool {
        self.store.pool()
    }

    // ---- staff -------------------------------------------------------------

    /// How many accounts exist.
    pub async fn staff_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM staff").fetch_one(self.pool()).await?.try_get(0)?)
    }

    /// Creates an account; `None` if the name is taken.
    pub async fn create_staff(
        &self,
        username: &str,
        password_hash: &str,
        roles: &str,
        must_change_password: bool,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "INSERT INTO staff (username, password_hash, roles, must_change_password, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(username.to_owned())
        .bind(password_hash.to_owned())
        .bind(roles.to_owned())
        .bind(i64::from(must_change_password))
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        })
    }

    /// The account named `username`.
    pub async fn staff_by_name(&self, username: &str) -> Result<Option<StaffRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {STAFF_COLUMNS} FROM staff WHERE username = $1")))
            .bind(username.to_owned())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(staff_row).transpose()
    }

    /// The account with id `id`.
    pub async fn staff_by_id(&self, id: i64) -> Result<Option<StaffRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {STAFF_COLUMNS} FROM staff WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(staff_row).transpose()
    }

    /// Every account, by name.
    pub async fn staff(&self) -> Result<Vec<StaffRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY username")))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(staff_row).collect()
    }

    /// Replaces an account's roles.
    pub async fn set_roles(&self, id: i64, roles: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE staff SET roles = $1 WHERE id = $2")
            .bind(roles.to_owned())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Enables or disables an account; disabling ends its sessions.
    pub async fn set_disabled(&self, id: i64, disabled: bool) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query("UPDATE staff SET disabled = $1, failed_logins = 0, locked_until = 0 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM staff_sessions WHERE staff_id = $1").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets a new password hash and ends every session of the account.
    pub async fn set_password(&self, id: i64, hash: &str, must_change: bool) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "UPDATE staff SET password_hash = $1, must_change_password = $2, failed_logins = 0, locked_until = 0 \
             WHERE id = $3",
        )
        .bind(hash.to_owned())
        .bind(i64::from(must_change))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM staff_sessions WHERE staff_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed login; locks the account until `lock_until` once
    /// `max_failures` is reached.
    pub async fn login_failed(&self, id: i64, max_failures: i64, lock_until: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE staff SET failed_logins = failed_logins + 1, \
             locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END WHERE id = $3",
        )
        .bind(max_failures)
        .bind(lock_until)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    // ---- sessions ----------------------------------------------------------

    /// Creates a session for `staff_id` and clears its failed logins.
    pub async fn create_session(
        &self,
        token_hash: &[u8],
        staff_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, staff_id, created_at, last_seen, expires_at) \
             VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(token_hash.to_vec())
        .bind(staff_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE staff SET failed_logins = 0, locked_until = 0 WHERE id = $1")
            .bind(staff_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session with this token hash, with its account.
    pub async fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRow>, StoreError> {
        let columns = STAFF_COLUMNS.split(", ").map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", ");
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns}, x.created_at, x.last_seen, x.expires_at FROM staff_sessions x \
             JOIN staff s ON s.id = x.staff_id WHERE x.token_hash = $1"
        )))
        .bind(token_hash.to_vec())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRow {
            staff: staff_row(&row)?,
            created_at: row.try_get(9)?,
            last_seen: row.try_get(10)?,
            expires_at: row.try_get(11)?,
        }))
    }

    /// Records activity on a session.
    pub async fn touch_session(&self, token_hash: &[u8], now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE staff_sessions SET last_seen = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash.to_vec())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends a session.
    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1")
            .bind(token_hash.to_vec())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    // ---- audit and counters -------------------------------------------------

    /// Appends to the audit log.
    pub async fn audit(
        &self,
        now: i64,
        staff_id: Option<i64>,
        username: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_log (at, staff_id, username, action, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(now)
            .bind(staff_id)
            .bind(username.to_owned())
            .bind(action.to_owned())
            .bind(detail.to_owned())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The newest `limit` audit entries, newest first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query("SELECT at, username, action, detail FROM audit_log ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    at: r.try_get(0)?,
                    username: r.try_get(1)?,
                    action: r.try_get(2)?,
                    detail: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Adds one to `counter` of `period`.
    pub async fn bump(&self, period: i64, counter: &str) -> Result<(), StoreError> {
        bump(self.pool(), period, counter).await
    }

    /// The value of `counter` in `period`.
    pub async fn counter(&self, period: i64, counter: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT count FROM authority_counters WHERE period = $1 AND counter = $2")
            .bind(period)
            .bind(counter.to_owned())
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => 0,
        })
    }

    /// Every counter of the periods `from..=to`, as (period, counter, count).
    pub async fn counters(&self, from: i64, to: i64) -> Result<Vec<(i64, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT period, counter, count FROM authority_counters WHERE period >= $1 AND period <= $2 \
             ORDER BY period DESC, counter",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
    }

    // ---- upload codes and tokens --------------------------------------------

    /// Stores a new code and counts it in `day`, unless the day's issuance
    /// has reached `quota` or the hash or handle exists (then nothing is
    /// stored).
    pub async fn insert_code(&self, code: &CodeRow, day: i64, quota: i64) -> Result<NewCode, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let issued: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM authority_counters WHERE period = $1 AND counter IN ($2, $3)",
        )
        .bind(day)
        .bind(counter::SHORT_ISSUED)
        .bind(counter::LONG_ISSUED)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if issued >= quota {
            tx.rollback().await?;
            return Ok(NewCode::QuotaReached);
        }
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO upload_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9) \
             ON CONFLICT DO NOTHING"
        )))
        .bind(code.code_hash.clone())
        .bind(code.handle.clone())
        .bind(code.kind.clone())
        .bind(code.report_type)
        .bind(code.day_kind)
        .bind(code.day)
        .bind(code.issued_at)
        .bind(code.expires_at)
        .bind(code.issued_by)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(NewCode::Collision);
        }
        let name = if code.kind == "short" { counter::SHORT_ISSUED } else { counter::LONG_ISSUED };
        bump(&mut *tx, day, name).await?;
        tx.commit().await?;
        Ok(NewCode::Stored)
    }

    /// The newest `limit` codes.
    pub async fn recent_codes(&self, limit: i64) -> Result<Vec<CodeRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM upload_codes ORDER BY issued_at DESC, handle LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(code_row).collect()
    }

    /// The code with this handle.
    pub async fn code_by_handle(&self, handle: &str) -> Result<Option<CodeRow>, StoreError> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CODE_COLUMNS} FROM upload_codes WHERE handle = $1")))
                .bind(handle.to_owned())
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(code_row).transpose()
    }

    /// Expires an unclaimed, unexpired code by hand; returns whether it did.
    pub async fn revoke_code(&self, handle: &str, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE upload_codes SET revoked_at = $1 \
             WHERE handle = $2 AND claimed_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(handle.to_owned())
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Claims the code with this hash at `now`: marks it used and stores a
    /// token for it, in one transaction. Only an unclaimed, unexpired code
    /// is claimed, exactly once even under concurrent requests.
    pub async fn claim_code(
        &self,
        code_hash: &[u8],
        now: i64,
        token_hash: &[u8],
        token_expires_at: i64,
    ) -> Result<Claim, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE upload_codes SET claimed_at = $1 \
             WHERE code_hash = $2 AND claimed_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(code_hash.to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CODE_COLUMNS} FROM upload_codes WHERE code_hash = $1")))
                .bind(code_hash.to_vec())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(code) = row.as_ref().map(code_row).transpose()? else {
            tx.rollback().await?;
            return Ok(Claim::Unknown);
        };
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(if code.claimed_at.is_some() { Claim::Used } else { Claim::Expired });
        }
        let diagnosis = Diagnosis { report_type: code.report_type, day_kind: code.day_kind, day: code.day };
        sqlx::query(
            "INSERT INTO verification_tokens (token_hash, report_type, day_kind, day, expires_at, used_at, failures) \
             VALUES ($1, $2, $3, $4, $5, NULL, 0)",
        )
        .bind(token_hash.to_vec())
        .bind(diagnosis.report_type)
        .bind(diagnosis.day_kind)
        .bind(diagnosis.day)
        .bind(token_expires_at)
        .execute(&mut *tx)
        .await?;
        bump(&mut *tx, now.div_euclid(86_400), counter::CLAIMED).await?;
        tx.commit().await?;
        Ok(Claim::Claimed(diagnosis))
    }

    /// Uses the token with this hash at `now` (single use), unless it has
    /// `max_failures` failed attempts.
    pub async fn use_token(&self, token_hash: &[u8], now: i64, max_failures: i64) -> Result<TokenUse, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let used = sqlx::query(
            "UPDATE verification_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 AND failures < $3",
        )
        .bind(now)
        .bind(token_hash.to_vec())
        .bind(max_failures)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row = sqlx::query(
            "SELECT report_type, day_kind, day, expires_at, used_at, failures FROM verification_tokens \
             WHERE token_hash = $1",
        )
        .bind(token_hash.to_vec())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(TokenUse::Unknown);
        };
        if used == 0 {
            tx.rollback().await?;
            let (expires_at, used_at, failures): (i64, Option<i64>, i64) =
                (row.try_get(3)?, row.try_get(4)?, row.try_get(5)?);
            return Ok(if used_at.is_some() {
                TokenUse::AlreadyUsed
            } else if failures >= max_failures {
                TokenUse::Locked
            } else if expires_at <= now {
                TokenUse::Expired
            } else {
                TokenUse::Unknown
            });
        }
        let diagnosis = Diagnosis { report_type: row.try_get(0)?, day_kind: row.try_get(1)?, day: row.try_get(2)? };
        bump(&mut *tx, now.div_euclid(86_400), counter::CERTIFIED).await?;
        tx.commit().await?;
        Ok(TokenUse::Used(diagnosis))
    }

    /// Counts a failed attempt with a token; returns the failures so far
    /// (0 if the token is unknown).
    pub async fn token_failed(&self, token_hash: &[u8]) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "UPDATE verification_tokens SET failures = failures + 1 WHERE token_hash = $1 RETURNING failures",
        )
        .bind(token_hash.to_vec())
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => 0,
        })
    }

    // ---- color policies -----------------------------------------------------

    /// Every stored policy, newest first.
    pub async fn policies(&self) -> Result<Vec<PolicyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.sequence, p.issued_at, p.file, p.sha256, COALESCE(s.username, '?') FROM color_policies p \
             LEFT JOIN staff s ON s.id = p.created_by ORDER BY p.sequence DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PolicyRow {
                    sequence: r.try_get(0)?,
                    issued_at: r.try_get(1)?,
                    file: r.try_get(2)?,
                    sha256: r.try_get(3)?,
                    created_by: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Stores a signed policy; false if its sequence is taken.
    pub async fn insert_policy(&self, row: &PolicyRow, staff_id: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO color_policies (sequence, issued_at, file, sha256, created_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(row.sequence)
        .bind(row.issued_at)
        .bind(row.file.clone())
        .bind(row.sha256.clone())
        .bind(staff_id)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    // ---- venue tracing ------------------------------------------------------

    /// Revealed check-ins nobody has reviewed yet, oldest first.
    pub async fn pending_checkins(&self) -> Result<Vec<PendingCheckIn>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.checkin, c.received_hour FROM revealed_checkins c \
             LEFT JOIN checkin_reviews r ON r.checkin_id = c.id WHERE r.checkin_id IS NULL ORDER BY c.id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok(PendingCheckIn { id: r.try_get(0)?, bytes: r.try_get(1)?, received_hour: r.try_get(2)? }))
            .collect()
    }

    /// Marks check-ins as reviewed, into `case_id` or dismissed (`None`).
    pub async fn review_checkins(
        &self,
        ids: &[i64],
        case_id: Option<i64>,
        staff_id: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let mut n = 0;
        for id in ids {
            n += sqlx::query(
                "INSERT INTO checkin_reviews (checkin_id, case_id, reviewed_by, reviewed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(*id)
            .bind(case_id)
            .bind(staff_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Opens a case with its epochs; returns its number.
    pub async fn create_case(
        &self,
        venue_key: &[u8],
        venue_name: &str,
        source: &str,
        epochs: &[CaseEpoch],
        staff_id: i64,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO venue_cases (venue_key, venue_name, source, created_at, created_by, request, published) \
             VALUES ($1, $2, $3, $4, $5, NULL, NULL) RETURNING id",
        )
        .bind(venue_key.to_vec())
        .bind(venue_name.to_owned())
        .bind(source.to_owned())
        .bind(now)
        .bind(staff_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        for epoch in epochs {
            sqlx::query(
                "INSERT INTO venue_case_epochs (case_id, epoch, window_start, window_end) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(epoch.epoch.clone())
            .bind(epoch.window_start)
            .bind(epoch.window_end)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Every case, newest first.
    pub async fn cases(&self) -> Result<Vec<CaseRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CASE_COLUMNS} FROM venue_cases ORDER BY id DESC")))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(case_row).collect()
    }

    /// One case.
    pub async fn case(&self, id: i64) -> Result<Option<CaseRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CASE_COLUMNS} FROM venue_cases WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(case_row).transpose()
    }

    /// A case's epochs, in epoch order.
    pub async fn case_epochs(&self, id: i64) -> Result<Vec<CaseEpoch>, StoreError> {
        let rows = sqlx::query(
            "SELECT epoch, window_start, window_end FROM venue_case_epochs WHERE case_id = $1 ORDER BY epoch",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok(CaseEpoch { epoch: r.try_get(0)?, window_start: r.try_get(1)?, window_end: r.try_get(2)? }))
            .collect()
    }

    /// Stores a case's signed release request.
    pub async fn set_case_request(&self, id: i64, request: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE venue_cases SET request = $1 WHERE id = $2")
            .bind(request.to_vec())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The highest trace batch sequence this authority has used.
    pub async fn last_trace_sequence(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COALESCE(MAX(sequence), 0) FROM trace_batches")
            .fetch_one(self.pool())
            .await?
            .try_get(0)?)
    }

    /// Records a published trace batch and marks the case published.
    pub async fn insert_trace_batch(
        &self,
        batch: &TraceBatchRow,
        case_id: i64,
        staff_id: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO trace_batches (sequence, created_at, entries, sha256, file, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(batch.sequence)
        .bind(batch.created_at)
        .bind(batch.entries)
        .bind(batch.sha256.clone())
        .bind(batch.file.clone())
        .bind(staff_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("UPDATE venue_cases SET published = $1 WHERE id = $2")
            .bind(batch.sequence)
            .bind(case_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every published trace batch, newest first.
    pub async fn trace_batches(&self) -> Result<Vec<TraceBatchRow>, StoreError> {
        let rows =
            sqlx::query("SELECT sequence, created_at, entries, sha256, file FROM trace_batches ORDER BY sequence DESC")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| {
                Ok(TraceBatchRow {
                    sequence: r.try_get(0)?,
                    created_at: r.try_get(1)?,
                    entries: r.try_get(2)?,
                    sha256: r.try_get(3)?,
                    file: r.try_get(4)?,
                })
            })
            .collect()
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
