//! The audit log and the per-period counters (tables `audit_log`,
//! `authority_counters`).

use super::*;

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

impl AuthorityStore {
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
}
