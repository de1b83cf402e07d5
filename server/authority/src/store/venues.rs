//! Venue tracing: the revealed visits the key server handed over
//! (`authority_revealed`, its cursor, `checkin_reviews`), venue cases and
//! their epochs, and the trace batches published.

use super::*;
use crate::keys::CodeKey;

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

impl AuthorityStore {
    /// Where the next request for revealed visits starts (`since`).
    pub async fn revealed_cursor(&self) -> Result<i64, StoreError> {
        let since: Option<i64> = sqlx::query_scalar("SELECT since FROM authority_revealed_cursor WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        Ok(since.unwrap_or(0))
    }

    /// Keeps a batch of revealed visits handed over by the key server (one
    /// copy of each) and moves the cursor to `next`, in one transaction;
    /// returns how many visits were new.
    ///
    /// A visit deleted after its review (see [`Self::review_checkins`]) is
    /// remembered by its keyed digest (`done`) and not queued again.
    pub async fn add_revealed(&self, visits: &[(Vec<u8>, i64)], next: i64, done: &CodeKey) -> Result<u64, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let mut added = 0;
        for (checkin, hour) in visits {
            let reviewed = sqlx::query("SELECT 1 FROM authority_revealed_done WHERE digest = $1")
                .bind(done.done_visit(checkin).to_vec())
                .fetch_optional(&mut *tx)
                .await?;
            if reviewed.is_some() {
                continue;
            }
            added += sqlx::query(
                "INSERT INTO authority_revealed (checkin, received_hour) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(checkin.clone())
            .bind(*hour)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        sqlx::query(
            "INSERT INTO authority_revealed_cursor (id, since) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET since = excluded.since",
        )
        .bind(next)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Revealed check-ins nobody has reviewed yet, oldest first.
    pub async fn pending_checkins(&self) -> Result<Vec<PendingCheckIn>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.checkin, c.received_hour FROM authority_revealed c \
             LEFT JOIN checkin_reviews r ON r.checkin_id = c.id WHERE r.checkin_id IS NULL ORDER BY c.id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok(PendingCheckIn { id: r.try_get(0)?, bytes: r.try_get(1)?, received_hour: r.try_get(2)? }))
            .collect()
    }

    /// Marks check-ins as reviewed: into `case_id`, where they are kept
    /// until the case is published, or dismissed (`None`), which deletes
    /// them now (issue 19 item 1): a dismissed visit serves no purpose, and
    /// only its keyed digest is kept, so that the key server handing it over
    /// again does not queue it again. Returns how many were reviewed.
    pub async fn review_checkins(
        &self,
        ids: &[i64],
        case_id: Option<i64>,
        staff_id: i64,
        now: i64,
        done: &CodeKey,
    ) -> Result<u64, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let mut n = 0;
        if case_id.is_none() {
            for id in ids {
                n += forget_visits(&mut tx, "c.id = $1", *id, done).await?;
            }
            tx.commit().await?;
            return Ok(n);
        }
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

    /// Records a published trace batch and marks the case published, and
    /// deletes the revealed visits the case was opened from.
    pub async fn insert_trace_batch(
        &self,
        batch: &TraceBatchRow,
        case_id: i64,
        staff_id: i64,
        done: &CodeKey,
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
        // The case is closed: the visits it was opened from served their
        // purpose and are deleted; the case keeps its epochs and windows.
        forget_visits(&mut tx, "r.case_id = $1", case_id, done).await?;
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
}

/// Deletes the revealed visits `condition` selects (over
/// `authority_revealed c LEFT JOIN checkin_reviews r`, with `$1` bound to
/// `value`) and their reviews, keeping each one's keyed digest until the
/// key server forgets it; returns how many were deleted.
async fn forget_visits(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    condition: &str,
    value: i64,
    done: &CodeKey,
) -> Result<u64, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT c.id, c.checkin, c.received_hour FROM authority_revealed c \
         LEFT JOIN checkin_reviews r ON r.checkin_id = c.id WHERE {condition}"
    )))
    .bind(value)
    .fetch_all(&mut **tx)
    .await?;
    let mut n = 0;
    for row in &rows {
        let (id, checkin, hour): (i64, Vec<u8>, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        sqlx::query(
            "INSERT INTO authority_revealed_done (digest, received_hour) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(done.done_visit(&checkin).to_vec())
        .bind(hour)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM checkin_reviews WHERE checkin_id = $1").bind(id).execute(&mut **tx).await?;
        n += sqlx::query("DELETE FROM authority_revealed WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(n)
}
