//! Signed color policies, every version kept (table `color_policies`).

use super::*;

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

impl AuthorityStore {
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
}
