//! Upload codes (as keyed hashes) and the verification tokens phones
//! exchange them for (tables `upload_codes`, `verification_tokens`).

use super::*;

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

pub(super) const CODE_COLUMNS: &str =
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
    /// What the diagnosis rests on.
    pub report_type: ReportType,
    /// What `day` is.
    pub day_kind: DayKind,
    /// The symptom-onset or test day.
    pub day: DayNumber,
}

impl Diagnosis {
    /// The diagnosis as stored: the report type's and day kind's wire bytes
    /// and the day number.
    fn from_stored(report_type: i64, day_kind: i64, day: i64) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} {report_type}/{day_kind}/{day}"));
        Ok(Diagnosis {
            report_type: u8::try_from(report_type)
                .ok()
                .and_then(|b| ReportType::from_byte(b).ok())
                .ok_or_else(|| corrupt("report type"))?,
            day_kind: u8::try_from(day_kind)
                .ok()
                .and_then(|b| DayKind::from_byte(b).ok())
                .ok_or_else(|| corrupt("day kind"))?,
            day: DayNumber(u32::try_from(day).map_err(|_| corrupt("day"))?),
        })
    }
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
    /// Used before, for another upload.
    AlreadyUsed,
    /// Used before for the same upload (its certificate's answer was lost):
    /// the same diagnosis, to certify again.
    Again(Diagnosis),
    /// Too many failed attempts.
    Locked,
}

impl AuthorityStore {
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
    ///
    /// What is stored says no more than its purpose needs, so that a copy of
    /// the database cannot tie a code to the upload it authorized by time:
    /// the claim's day (not its second), and the token's expiry rounded up
    /// to the hour (not claim + lifetime to the second).
    pub async fn claim_code(
        &self,
        code_hash: &[u8],
        now: i64,
        token_hash: &[u8],
        token_expires_at: i64,
    ) -> Result<Claim, StoreError> {
        let mut tx = self.store.begin_write().await?;
        // Placeholders in order: SQLite numbers them as they first appear.
        let claimed = sqlx::query(
            "UPDATE upload_codes SET claimed_at = $1 \
             WHERE code_hash = $2 AND claimed_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(day_start(now))
        .bind(code_hash.to_vec())
        .bind(now)
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
        let diagnosis = Diagnosis::from_stored(code.report_type, code.day_kind, code.day)?;
        sqlx::query(
            "INSERT INTO verification_tokens (token_hash, report_type, day_kind, day, expires_at, used_at, failures) \
             VALUES ($1, $2, $3, $4, $5, NULL, 0)",
        )
        .bind(token_hash.to_vec())
        .bind(code.report_type)
        .bind(code.day_kind)
        .bind(code.day)
        .bind(hour_ceiling(token_expires_at))
        .execute(&mut *tx)
        .await?;
        bump(&mut *tx, now.div_euclid(86_400), counter::CLAIMED).await?;
        tx.commit().await?;
        Ok(Claim::Claimed(diagnosis))
    }

    /// The diagnosis of an unexpired token with this hash, for a `/v1/verify`
    /// sent again with the request id its token was derived from (its first
    /// answer was lost). The token may have been used since.
    pub async fn token_again(&self, token_hash: &[u8], now: i64) -> Result<Option<(Diagnosis, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT report_type, day_kind, day, expires_at FROM verification_tokens \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| Ok((Diagnosis::from_stored(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)?, row.try_get(3)?)))
            .transpose()
    }

    /// Uses the token with this hash at `now` for the upload whose keyed
    /// tag is `upload_tag` (single use), unless it has `max_failures`
    /// failed attempts. The use is stored as its day, the upload as its
    /// tag, so that the same upload asked again while the token is valid
    /// is [`TokenUse::Again`] and any other [`TokenUse::AlreadyUsed`].
    pub async fn use_token(
        &self,
        token_hash: &[u8],
        upload_tag: &[u8],
        now: i64,
        max_failures: i64,
    ) -> Result<TokenUse, StoreError> {
        let mut tx = self.store.begin_write().await?;
        // Placeholders in order: SQLite numbers them as they first appear.
        let used = sqlx::query(
            "UPDATE verification_tokens SET used_at = $1, upload_tag = $2 \
             WHERE token_hash = $3 AND used_at IS NULL AND expires_at > $4 AND failures < $5",
        )
        .bind(day_start(now))
        .bind(upload_tag.to_vec())
        .bind(token_hash.to_vec())
        .bind(now)
        .bind(max_failures)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row = sqlx::query(
            "SELECT report_type, day_kind, day, expires_at, used_at, failures, upload_tag FROM verification_tokens \
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
            let tag: Option<Vec<u8>> = row.try_get(6)?;
            let live = expires_at > now;
            return Ok(if used_at.is_some() && live && tag.as_deref() == Some(upload_tag) {
                TokenUse::Again(Diagnosis::from_stored(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)?)
            } else if used_at.is_some() && live {
                TokenUse::AlreadyUsed
            } else if failures >= max_failures {
                TokenUse::Locked
            } else if expires_at <= now {
                TokenUse::Expired
            } else {
                TokenUse::Unknown
            });
        }
        let diagnosis = Diagnosis::from_stored(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)?;
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
}

/// The start of the UTC day of `t`.
fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(86_400)
}

/// `t` rounded up to a whole hour.
fn hour_ceiling(t: i64) -> i64 {
    match t.rem_euclid(3600) {
        0 => t,
        r => t + (3600 - r),
    }
}
