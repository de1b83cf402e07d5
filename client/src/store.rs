//! The phone's local store: one SQLite file in the data directory. Values
//! that could say whom the phone met or where its owner went are sealed by
//! the [`Vault`]; see `migrations/0001_client.sql` for what is kept.

use crate::vault::{Kind, Tampered, Vault};
use greenlight_protocol::checkin::{CheckInDay, CheckInDayKey, SealedCheckIn};
use greenlight_protocol::daily_key::{DailyKey, EncryptedMetadata, EphemeralId};
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, Sqlite};
use std::path::{Path, PathBuf};

/// File name of the database in the data directory.
pub const DATABASE_FILE: &str = "greenlight.db";

/// Why a store operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// The database failed.
    Database(sqlx::Error),
    /// A sealed value does not open.
    Tampered,
    /// A stored value does not parse.
    Corrupt(String),
    /// The file system failed.
    Io(std::io::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Database(e) => write!(f, "local database error: {e}"),
            StoreError::Tampered => f.write_str(&Tampered.to_string()),
            StoreError::Corrupt(what) => write!(f, "local store is damaged: {what}"),
            StoreError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(e.into())
    }
}

impl From<Tampered> for StoreError {
    fn from(_: Tampered) -> Self {
        StoreError::Tampered
    }
}

/// A match found by sync, kept (sealed) until it leaves the lookback window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exposure {
    /// Time near a diagnosed person's phone.
    Ble {
        /// Day of the published key.
        day: u32,
        /// Attenuation in dB.
        attenuation_db: u8,
        /// Seconds this sighting stands for.
        seconds: u32,
        /// The key's transmission risk.
        transmission_risk: u8,
    },
    /// A visit overlapping a traced visit.
    Venue {
        /// UTC day of the overlap.
        day: u32,
        /// Arrival (Unix seconds).
        start: u64,
        /// Departure (Unix seconds).
        end: u64,
        /// Minutes inside the traced window.
        overlap_minutes: u32,
        /// The venue's name, from the opened check-in.
        venue: String,
        /// The authority's message to visitors.
        message: String,
    },
}

impl Exposure {
    fn day(&self) -> u32 {
        match self {
            Exposure::Ble { day, .. } | Exposure::Venue { day, .. } => *day,
        }
    }
}

/// A change of color, kept in the (sealed) color history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColorChange {
    /// When the phone computed it (Unix seconds).
    pub at: u64,
    /// `green`, `yellow`, `red` or `stale`.
    pub color: String,
    /// Until when it holds, if it ends by itself.
    pub until: Option<u64>,
}

/// One visit in the diary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiaryEntry {
    /// Row id.
    pub id: i64,
    /// The record's look-up tag (links the diary to its sealed check-in).
    pub tag: [u8; 16],
    /// The revealed-check-in encoding: poster, arrival, departure.
    pub revealed: Vec<u8>,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    vault: std::sync::Arc<Vault>,
    dir: PathBuf,
}

impl Store {
    /// Opens (creating) the store in `dir` with its device key.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::Io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(StoreError::Io)?;
        }
        let vault = Vault::open_or_create(dir).map_err(StoreError::Io)?;
        let options = SqliteConnectOptions::new()
            .filename(dir.join(DATABASE_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool, vault: std::sync::Arc::new(vault), dir: dir.to_owned() })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Closes the database.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.get(0)))
    }

    /// Sets a setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A small state value.
    pub async fn state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query("SELECT value FROM state WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.get(0)))
    }

    /// Sets a small state value.
    pub async fn set_state(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        set_state(&self.pool, name, value).await
    }

    /// A state value sealed with the device key, such as the active visit
    /// while the diary is off; `None` if unset or cleared.
    pub async fn sealed_state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.state(name).await? {
            Some(sealed) if !sealed.is_empty() => Ok(Some(self.vault.open(Kind::Diary, &sealed)?.to_vec())),
            _ => Ok(None),
        }
    }

    /// Sets a state value sealed with the device key; an empty value clears it.
    pub async fn set_sealed_state(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let sealed = if value.is_empty() { Vec::new() } else { self.vault.seal(Kind::Diary, value) };
        self.set_state(name, &sealed).await
    }

    /// A time kept in state.
    pub async fn time_state(&self, name: &str) -> Result<Option<UnixTime>, StoreError> {
        Ok(self
            .state(name)
            .await?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(|b| UnixTime(u64::from_le_bytes(b))))
    }

    /// The daily key of `day`, drawn on first use.
    pub async fn daily_key(&self, day: DayNumber) -> Result<DailyKey, StoreError> {
        if let Some(row) = sqlx::query("SELECT sealed FROM daily_keys WHERE day = ?")
            .bind(i64::from(day.0))
            .fetch_optional(&self.pool)
            .await?
        {
            let plain = self.vault.open(Kind::DailyKey, &row.get::<Vec<u8>, _>(0))?;
            let bytes: [u8; 16] =
                plain.as_slice().try_into().map_err(|_| StoreError::Corrupt("daily key length".into()))?;
            return Ok(DailyKey::from_bytes(bytes));
        }
        let key = DailyKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
        let sealed = self.vault.seal(Kind::DailyKey, key.expose_secret());
        sqlx::query("INSERT INTO daily_keys (day, sealed) VALUES (?, ?) ON CONFLICT (day) DO NOTHING")
            .bind(i64::from(day.0))
            .bind(sealed)
            .execute(&self.pool)
            .await?;
        // Another task may have drawn it first: use whatever is stored.
        Box::pin(self.daily_key(day)).await
    }

    /// Daily keys of `days` and later that were never released, oldest first.
    pub async fn unreleased_keys_since(&self, first: DayNumber) -> Result<Vec<(DayNumber, DailyKey)>, StoreError> {
        let rows = sqlx::query("SELECT day, sealed FROM daily_keys WHERE day >= ? AND released = 0 ORDER BY day")
            .bind(i64::from(first.0))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let plain = self.vault.open(Kind::DailyKey, &r.get::<Vec<u8>, _>(1))?;
                let bytes: [u8; 16] =
                    plain.as_slice().try_into().map_err(|_| StoreError::Corrupt("daily key length".into()))?;
                Ok((day_of(r.get(0))?, DailyKey::from_bytes(bytes)))
            })
            .collect()
    }

    /// Marks daily keys as released (uploaded): they are never broadcast again.
    pub async fn mark_released(&self, days: &[DayNumber]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for day in days {
            sqlx::query("UPDATE daily_keys SET released = 1 WHERE day = ?")
                .bind(i64::from(day.0))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether the key of `day` was released.
    pub async fn is_released(&self, day: DayNumber) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT released FROM daily_keys WHERE day = ?")
            .bind(i64::from(day.0))
            .fetch_optional(&self.pool)
            .await?
            .is_some_and(|r| r.get::<i64, _>(0) == 1))
    }

    /// Records sightings (sealed), in one transaction.
    pub async fn add_sightings(&self, sightings: &[Sighting]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for s in sightings {
            let mut plain = Vec::with_capacity(29);
            plain.extend_from_slice(&s.id.0);
            plain.extend_from_slice(&s.metadata.0);
            plain.push(s.rssi.to_le_bytes()[0]);
            plain.extend_from_slice(&s.seen_at.0.to_le_bytes());
            sqlx::query("INSERT INTO sightings (day, sealed) VALUES (?, ?)")
                .bind(i64::from(s.seen_at.day().0))
                .bind(self.vault.seal(Kind::Sighting, &plain))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every stored sighting, opened.
    pub async fn sightings(&self) -> Result<Vec<Sighting>, StoreError> {
        let rows = sqlx::query("SELECT sealed FROM sightings ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let plain = self.vault.open(Kind::Sighting, &r.get::<Vec<u8>, _>(0))?;
                if plain.len() != 29 {
                    return Err(StoreError::Corrupt("sighting length".into()));
                }
                let mut id = [0u8; 16];
                id.copy_from_slice(&plain[..16]);
                let mut meta = [0u8; 4];
                meta.copy_from_slice(&plain[16..20]);
                let mut t = [0u8; 8];
                t.copy_from_slice(&plain[21..29]);
                Ok(Sighting {
                    id: EphemeralId(id),
                    metadata: EncryptedMetadata(meta),
                    rssi: i8::from_le_bytes([plain[20]]),
                    seen_at: UnixTime(u64::from_le_bytes(t)),
                })
            })
            .collect()
    }

    /// The check-in day key of `day`, drawn on first use; `None` once its
    /// secret has been erased.
    pub async fn checkin_day_key(&self, day: DayNumber) -> Result<Option<CheckInDayKey>, StoreError> {
        let row = sqlx::query("SELECT secret FROM checkin_days WHERE day = ?")
            .bind(i64::from(day.0))
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => match row.get::<Option<Vec<u8>>, _>(0) {
                None => Ok(None),
                Some(sealed) => {
                    let plain = self.vault.open(Kind::CheckInSecret, &sealed)?;
                    let secret: [u8; 32] =
                        plain.as_slice().try_into().map_err(|_| StoreError::Corrupt("day key".into()))?;
                    Ok(Some(CheckInDayKey::from_bytes(day, secret)))
                }
            },
            None => {
                let key = CheckInDayKey::generate(day, &mut rand_core::UnwrapErr(getrandom::SysRng));
                sqlx::query(
                    "INSERT INTO checkin_days (day, public, secret) VALUES (?, ?, ?) ON CONFLICT (day) DO NOTHING",
                )
                .bind(i64::from(day.0))
                .bind(key.public().public.to_vec())
                .bind(self.vault.seal(Kind::CheckInSecret, key.expose_secret().as_ref()))
                .execute(&self.pool)
                .await?;
                Box::pin(self.checkin_day_key(day)).await
            }
        }
    }

    /// Public keys of every check-in day.
    pub async fn checkin_days(&self) -> Result<Vec<CheckInDay>, StoreError> {
        let rows = sqlx::query("SELECT day, public FROM checkin_days").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let public: [u8; 32] =
                    r.get::<Vec<u8>, _>(1).try_into().map_err(|_| StoreError::Corrupt("day public key".into()))?;
                Ok(CheckInDay { day: day_of(r.get(0))?, public })
            })
            .collect()
    }

    /// Erases the secrets of check-in day keys whose time is over (spec §8.1).
    pub async fn erase_old_checkin_secrets(&self, now: UnixTime) -> Result<u64, StoreError> {
        // A key of day d is erased at the end of day d + 1.
        let last_erasable = i64::from(now.day().0) - 2;
        Ok(sqlx::query("UPDATE checkin_days SET secret = NULL WHERE day <= ? AND secret IS NOT NULL")
            .bind(last_erasable)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Stores a check-in record and its diary entry, replacing an earlier
    /// record of the same epoch (a rescan or a check-out).
    pub async fn save_checkin(&self, record: &SealedCheckIn, diary: Option<&[u8]>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO checkins (day, tag, record) VALUES (?, ?, ?) ON CONFLICT (day, tag) DO UPDATE SET record = excluded.record")
            .bind(i64::from(record.day.0))
            .bind(record.tag.to_vec())
            .bind(record.to_bytes())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM diary WHERE day = ? AND tag = ?")
            .bind(i64::from(record.day.0))
            .bind(record.tag.to_vec())
            .execute(&mut *tx)
            .await?;
        if let Some(revealed) = diary {
            sqlx::query("INSERT INTO diary (day, tag, sealed) VALUES (?, ?, ?)")
                .bind(i64::from(record.day.0))
                .bind(record.tag.to_vec())
                .bind(self.vault.seal(Kind::Diary, revealed))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every sealed check-in.
    pub async fn checkins(&self) -> Result<Vec<SealedCheckIn>, StoreError> {
        let rows = sqlx::query("SELECT record FROM checkins").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| SealedCheckIn::from_bytes(&r.get::<Vec<u8>, _>(0)).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    /// The visit diary, oldest first.
    pub async fn diary(&self) -> Result<Vec<DiaryEntry>, StoreError> {
        let rows = sqlx::query("SELECT id, tag, sealed FROM diary ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let tag: [u8; 16] =
                    r.get::<Vec<u8>, _>(1).try_into().map_err(|_| StoreError::Corrupt("diary tag".into()))?;
                let revealed = self.vault.open(Kind::Diary, &r.get::<Vec<u8>, _>(2))?.to_vec();
                Ok(DiaryEntry { id: r.get(0), tag, revealed })
            })
            .collect()
    }

    /// Deletes the whole visit diary (the user turned it off).
    pub async fn clear_diary(&self) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM diary").execute(&self.pool).await?;
        Ok(())
    }

    /// Every exposure found so far.
    pub async fn exposures(&self) -> Result<Vec<Exposure>, StoreError> {
        let rows = sqlx::query("SELECT sealed FROM exposures ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let plain = self.vault.open(Kind::Exposure, &r.get::<Vec<u8>, _>(0))?;
                serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(format!("exposure: {e}")))
            })
            .collect()
    }

    /// The last applied sequence of a file kind (0 if none).
    pub async fn synced(&self, kind: u8) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT sequence FROM synced WHERE kind = ?")
            .bind(i64::from(kind))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map_or(0, |r| u64::try_from(r.get::<i64, _>(0)).unwrap_or(0)))
    }

    /// Applies one downloaded file atomically: its exposures and the new
    /// sync position commit together or not at all.
    pub async fn apply(
        &self,
        kind: u8,
        sequence: u64,
        exposures: &[Exposure],
        state: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for exposure in exposures {
            let plain = serde_json::to_vec(exposure).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query("INSERT INTO exposures (day, sealed) VALUES (?, ?)")
                .bind(i64::from(exposure.day()))
                .bind(self.vault.seal(Kind::Exposure, &plain))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO synced (kind, sequence) VALUES (?, ?) ON CONFLICT (kind) DO UPDATE SET sequence = excluded.sequence")
            .bind(i64::from(kind))
            .bind(i64::try_from(sequence).map_err(|_| StoreError::Corrupt("sequence".into()))?)
            .execute(&mut *tx)
            .await?;
        for (name, value) in state {
            set_state(&mut *tx, name, value).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The owner's own diagnosis: day and report type byte.
    pub async fn diagnosis(&self) -> Result<Option<(DayNumber, u8)>, StoreError> {
        let Some(sealed) = self.state("diagnosis").await? else { return Ok(None) };
        let plain = self.vault.open(Kind::Diagnosis, &sealed)?;
        if plain.len() != 5 {
            return Err(StoreError::Corrupt("diagnosis".into()));
        }
        Ok(Some((DayNumber(u32::from_le_bytes([plain[0], plain[1], plain[2], plain[3]])), plain[4])))
    }

    /// Records the owner's own diagnosis.
    pub async fn set_diagnosis(&self, day: DayNumber, report_type: u8) -> Result<(), StoreError> {
        let mut plain = day.0.to_le_bytes().to_vec();
        plain.push(report_type);
        self.set_state("diagnosis", &self.vault.seal(Kind::Diagnosis, &plain)).await
    }

    /// Appends `(at, color, until)` to the color history unless the color
    /// and its end are what the last entry already says.
    pub async fn record_color(&self, at: UnixTime, color: &str, until: Option<UnixTime>) -> Result<bool, StoreError> {
        let entry = ColorChange { at: at.0, color: color.to_owned(), until: until.map(|t| t.0) };
        if let Some(last) = self.color_history().await?.pop()
            && last.color == entry.color
            && last.until == entry.until
        {
            return Ok(false);
        }
        let plain = serde_json::to_vec(&entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("INSERT INTO color_history (day, sealed) VALUES (?, ?)")
            .bind(i64::from(at.day().0))
            .bind(self.vault.seal(Kind::Color, &plain))
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    /// The color history, oldest first.
    pub async fn color_history(&self) -> Result<Vec<ColorChange>, StoreError> {
        let rows = sqlx::query("SELECT sealed FROM color_history ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let plain = self.vault.open(Kind::Color, &r.get::<Vec<u8>, _>(0))?;
                serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(format!("color history: {e}")))
            })
            .collect()
    }

    /// Deletes everything older than `days` days before `now`.
    pub async fn retention(&self, now: UnixTime, days: u32) -> Result<u64, StoreError> {
        let oldest = i64::from(now.day().minus(days).0);
        let mut tx = self.pool.begin().await?;
        let mut deleted = 0;
        for table in ["daily_keys", "sightings", "checkin_days", "checkins", "diary", "exposures", "color_history"] {
            deleted += sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE day < ?")))
                .bind(oldest)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

async fn set_state<'e, E: sqlx::Executor<'e, Database = Sqlite>>(
    executor: E,
    name: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(executor)
    .await?;
    Ok(())
}

fn day_of(v: i64) -> Result<DayNumber, StoreError> {
    u32::try_from(v).map(DayNumber).map_err(|_| StoreError::Corrupt(format!("day {v}")))
}
