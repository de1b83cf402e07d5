//! The key server's tables: uploaded keys, used certificate ids, revealed
//! check-ins and published files, over the shared [`Db`] (SQLite or
//! PostgreSQL, `$N` placeholders, `BIGINT`/`BLOB`/`TEXT` columns).

pub use greenlight_service::db::{Db, StoreError};
use sqlx::{Any, Executor, Row, Transaction};

/// One uploaded or padding key, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// The 16 key bytes.
    pub key: Vec<u8>,
    /// UTC day number.
    pub day: i64,
    /// Transmission risk level.
    pub transmission_risk: i64,
    /// Report type byte.
    pub report_type: i64,
}

/// A published file, as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// File kind byte (1 export, 2 trace, 3 policy).
    pub kind: i64,
    /// Sequence within its kind.
    pub sequence: i64,
    /// Start of the span it covers.
    pub start_time: i64,
    /// End of the span it covers.
    pub end_time: i64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// File size in bytes.
    pub size: i64,
}

/// An upload that passed every check, ready to store atomically.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// The certificate id, recorded so it cannot be used again.
    pub certificate_id: [u8; 16],
    /// When the certificate expires (the id can be forgotten after).
    pub certificate_expires_at: i64,
    /// Upload time, coarsened to the hour.
    pub received_hour: i64,
    /// Keys with their publication time (end of day + embargo).
    pub keys: Vec<(KeyRow, i64)>,
    /// Revealed check-ins, as uploaded.
    pub checkins: Vec<Vec<u8>>,
}

/// What storing an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored; this many keys were new (known keys are ignored).
    Stored {
        /// Keys not already known.
        new_keys: u64,
    },
    /// The certificate had been used already: nothing was stored.
    CertificateUsed,
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Key rows (real and padding).
    pub keys: u64,
    /// Revealed check-ins.
    pub checkins: u64,
    /// Expired certificate ids.
    pub certificates: u64,
    /// Published files, whose bytes the caller removes from file storage.
    pub files: Vec<FileRow>,
}

/// The key server's view of the database, cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    /// The key server's queries over `db` (connected and migrated).
    pub fn new(db: Db) -> Self {
        Store { db }
    }

    /// The database underneath.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Starts a write transaction ([`Db::begin_write`]).
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        self.db.begin_write().await
    }

    /// Stores an accepted upload in one transaction: the certificate id (a
    /// second use stores nothing), the new keys, the revealed check-ins.
    pub async fn store_upload(&self, upload: &NewUpload) -> Result<StoreOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let fresh =
            sqlx::query("INSERT INTO used_certificates (id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(upload.certificate_id.to_vec())
                // Rounded up to the hour: the id need only be remembered until
                // the certificate expires, and the exact expiry (upload + 15
                // minutes) would date the upload to the second.
                .bind(hour_ceiling(upload.certificate_expires_at))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if fresh == 0 {
            tx.rollback().await?;
            return Ok(StoreOutcome::CertificateUsed);
        }
        let mut new_keys = 0;
        for (key, publish_after) in &upload.keys {
            new_keys += sqlx::query(
                "INSERT INTO diagnosis_keys \
                 (key, day, transmission_risk, report_type, received_hour, publish_after, batch, padding) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, 0) ON CONFLICT DO NOTHING",
            )
            .bind(key.key.clone())
            .bind(key.day)
            .bind(key.transmission_risk)
            .bind(key.report_type)
            .bind(upload.received_hour)
            .bind(*publish_after)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        for checkin in &upload.checkins {
            // The same visit revealed again (a second report after a lost
            // answer) is kept once, with the hour it first came in.
            sqlx::query(
                "INSERT INTO revealed_checkins (checkin, received_hour) VALUES ($1, $2) ON CONFLICT (checkin) DO NOTHING",
            )
                .bind(checkin.clone())
                .bind(upload.received_hour)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(StoreOutcome::Stored { new_keys })
    }

    /// Every published file, ordered by kind and sequence.
    pub async fn published_files(&self) -> Result<Vec<FileRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, sequence, start_time, end_time, sha256, size FROM published_files ORDER BY kind, sequence",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(file_row).collect()
    }

    /// The keys (real and padding) sealed into export batch `sequence`.
    pub async fn batch_keys(&self, sequence: i64) -> Result<Vec<KeyRow>, StoreError> {
        batch_keys(self.db.pool(), sequence).await
    }

    /// Keys stored but not sealed yet, and how many of them are publishable
    /// at `now`.
    pub async fn pending_keys(&self, now: i64) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN publish_after <= $1 THEN 1 ELSE 0 END), 0) \
             FROM diagnosis_keys WHERE batch IS NULL",
        )
        .bind(now)
        .fetch_one(self.db.pool())
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Revealed check-ins, by hour received, then by their bytes (the
    /// order they arrived in is not kept).
    pub async fn revealed_checkins(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = sqlx::query("SELECT checkin FROM revealed_checkins ORDER BY received_hour, checkin")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Revealed check-ins received from hour `since` up to, not including,
    /// `through`, with their hour, sorted by their bytes (never by arrival):
    /// what the key server hands the health authority (spec/authority.md
    /// §5.1).
    pub async fn revealed_between(&self, since: i64, through: i64) -> Result<Vec<(Vec<u8>, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT checkin, received_hour FROM revealed_checkins \
             WHERE received_hour >= $1 AND received_hour < $2 ORDER BY checkin",
        )
        .bind(since)
        .bind(through)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// Every stored column of every row, for the privacy tests: what an
    /// attacker who copies the database gets.
    pub async fn dump(&self) -> Result<Vec<String>, StoreError> {
        self.db
            .dump_tables(&[
                (
                    "diagnosis_keys",
                    "key, day, transmission_risk, report_type, received_hour, publish_after, batch, padding",
                ),
                ("used_certificates", "id, expires_at"),
                ("revealed_checkins", "checkin, received_hour"),
                ("published_files", "kind, sequence, start_time, end_time, sha256, size"),
            ])
            .await
    }

    /// Deletes everything older than the retention period: keys of days
    /// before `oldest_day`, files whose span ended before `oldest_time`,
    /// check-ins received before it, and certificate ids expired by `now`.
    pub async fn delete_expired(&self, oldest_day: i64, oldest_time: i64, now: i64) -> Result<Deleted, StoreError> {
        let mut tx = self.begin_write().await?;
        let files = sqlx::query(
            "SELECT kind, sequence, start_time, end_time, sha256, size FROM published_files WHERE end_time < $1",
        )
        .bind(oldest_time)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(file_row)
        .collect::<Result<Vec<_>, _>>()?;
        sqlx::query("DELETE FROM published_files WHERE end_time < $1").bind(oldest_time).execute(&mut *tx).await?;
        let keys = sqlx::query("DELETE FROM diagnosis_keys WHERE day < $1")
            .bind(oldest_day)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let checkins = sqlx::query("DELETE FROM revealed_checkins WHERE received_hour < $1")
            .bind(oldest_time)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let certificates = sqlx::query("DELETE FROM used_certificates WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(Deleted { keys, checkins, certificates, files })
    }
}

fn file_row(r: &sqlx::any::AnyRow) -> Result<FileRow, StoreError> {
    Ok(FileRow {
        kind: r.try_get(0)?,
        sequence: r.try_get(1)?,
        start_time: r.try_get(2)?,
        end_time: r.try_get(3)?,
        sha256: r.try_get(4)?,
        size: r.try_get(5)?,
    })
}

async fn batch_keys<'e, E>(executor: E, sequence: i64) -> Result<Vec<KeyRow>, StoreError>
where
    E: Executor<'e, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT key, day, transmission_risk, report_type FROM diagnosis_keys WHERE batch = $1 ORDER BY key",
    )
    .bind(sequence)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyRow {
                key: r.try_get(0)?,
                day: r.try_get(1)?,
                transmission_risk: r.try_get(2)?,
                report_type: r.try_get(3)?,
            })
        })
        .collect()
}

/// The sealing steps, inside one transaction.
pub struct Sealing {
    tx: Transaction<'static, Any>,
}

impl Sealing {
    /// Starts sealing.
    pub async fn begin(store: &Store) -> Result<Self, StoreError> {
        Ok(Sealing { tx: store.begin_write().await? })
    }

    /// The next sequence number of `kind` and the end of the previous file's
    /// span (for the next file's start).
    pub async fn next_sequence(&mut self, kind: i64) -> Result<(i64, Option<i64>), StoreError> {
        let row = sqlx::query("SELECT MAX(sequence), MAX(end_time) FROM published_files WHERE kind = $1")
            .bind(kind)
            .fetch_one(&mut *self.tx)
            .await?;
        let last: Option<i64> = row.try_get(0)?;
        Ok((last.unwrap_or(0) + 1, row.try_get(1)?))
    }

    /// Assigns every unsealed key publishable at `now` to batch `sequence`
    /// and returns them.
    pub async fn claim_publishable(&mut self, sequence: i64, now: i64) -> Result<Vec<KeyRow>, StoreError> {
        sqlx::query("UPDATE diagnosis_keys SET batch = $1 WHERE batch IS NULL AND publish_after <= $2")
            .bind(sequence)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        batch_keys(&mut *self.tx, sequence).await
    }

    /// Adds padding keys to batch `sequence`.
    pub async fn add_padding(&mut self, sequence: i64, received_hour: i64, keys: &[KeyRow]) -> Result<(), StoreError> {
        for key in keys {
            sqlx::query(
                "INSERT INTO diagnosis_keys \
                 (key, day, transmission_risk, report_type, received_hour, publish_after, batch, padding) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6, 1) ON CONFLICT DO NOTHING",
            )
            .bind(key.key.clone())
            .bind(key.day)
            .bind(key.transmission_risk)
            .bind(key.report_type)
            .bind(received_hour)
            .bind(sequence)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// The keys now in batch `sequence`, sorted by key.
    pub async fn batch_keys(&mut self, sequence: i64) -> Result<Vec<KeyRow>, StoreError> {
        batch_keys(&mut *self.tx, sequence).await
    }

    /// Records a published file.
    pub async fn record_file(&mut self, file: &FileRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO published_files (kind, sequence, start_time, end_time, sha256, size) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(file.kind)
        .bind(file.sequence)
        .bind(file.start_time)
        .bind(file.end_time)
        .bind(file.sha256.clone())
        .bind(file.size)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Makes everything durable at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }

    /// Abandons everything, releasing the write lock now rather than when
    /// the connection is next used.
    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.tx.rollback().await?)
    }
}

/// `t` rounded up to a whole hour.
fn hour_ceiling(t: i64) -> i64 {
    match t.rem_euclid(3600) {
        0 => t,
        r => t + (3600 - r),
    }
}
