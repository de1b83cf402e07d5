//! Staff accounts and their portal sessions (tables `staff`, `staff_sessions`).

use super::*;

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

impl AuthorityStore {
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
}
