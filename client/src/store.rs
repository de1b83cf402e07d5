//! The phone's sealed store: one SQLite file in the data directory,
//! implementing the core's [`greenlight_phone::Store`]. Values that could
//! say whom the phone met or where its owner went are sealed by the
//! [`Vault`]; see `migrations/0001_client.sql` for what is kept.
//!
//! The schema version is SQLite's `user_version`. Stores written before
//! this (by the sqlx-based client) carry their applied migrations in
//! `_sqlx_migrations` and are adopted at that version; a store from a
//! newer Greenlight is refused with [`StoreError::NewerVersion`] and left
//! untouched.

use crate::vault::{Kind, Tampered, Vault};
use greenlight_phone::store::{CheckInDayState, ColorChange, DiaryEntry, Exposure, Secret, StoreError};
use greenlight_protocol::checkin::{CheckInDay, CheckInDayKey, SealedCheckIn};
use greenlight_protocol::daily_key::{DailyKey, EncryptedMetadata, EphemeralId};
use greenlight_protocol::index::FileKind;
use greenlight_protocol::matcher::Sighting;
use greenlight_protocol::time::{DayNumber, UnixTime};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// File name of the database in the data directory.
pub const DATABASE_FILE: &str = "greenlight.db";

/// The schema, one migration per version, applied in order.
const MIGRATIONS: [&str; 2] =
    [include_str!("../migrations/0001_client.sql"), include_str!("../migrations/0002_color_history.sql")];

/// The newest schema version this client knows.
pub const SCHEMA_VERSION: u32 = 2;

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn tampered(_: Tampered) -> StoreError {
    StoreError::Tampered
}

/// The sealed SQLite store. Cloning shares one connection.
#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Mutex<Connection>>,
    vault: Arc<Vault>,
    dir: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating) the store in `dir` with its device key. The
    /// directory is made private to the user.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = open_database(dir)?;
        let vault = Vault::open_or_create(dir).map_err(backend)?;
        Ok(SqliteStore { db: Arc::new(Mutex::new(db)), vault: Arc::new(vault), dir: dir.to_owned() })
    }

    /// Opens (creating) the store in `dir` with a device key the platform
    /// holds (a phone's keystore) instead of the `device.key` file. A
    /// store sealed with another key is refused with
    /// [`StoreError::Tampered`] before anything is written; a new store
    /// records a sealed check value so that later opens can tell.
    pub fn open_with_key(dir: &Path, key: &[u8; 32]) -> Result<Self, StoreError> {
        let db = open_database(dir)?;
        let vault = Vault::from_key(key);
        let check: Option<Vec<u8>> = db
            .query_row("SELECT value FROM state WHERE name = ?1", [KEY_CHECK], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        match check {
            Some(sealed) => {
                vault.open(Kind::KeyCheck, &sealed).map_err(tampered)?;
            }
            None => {
                // A store from before key checks (or from the file key):
                // the key must open what is already sealed.
                let sealed: Option<Vec<u8>> = db
                    .query_row("SELECT sealed FROM daily_keys LIMIT 1", [], |r| r.get(0))
                    .optional()
                    .map_err(backend)?;
                if let Some(sealed) = sealed {
                    vault.open(Kind::DailyKey, &sealed).map_err(tampered)?;
                }
                set_state(&db, KEY_CHECK, &vault.seal(Kind::KeyCheck, KEY_CHECK.as_bytes()))?;
            }
        }
        Ok(SqliteStore { db: Arc::new(Mutex::new(db)), vault: Arc::new(vault), dir: dir.to_owned() })
    }

    /// Deletes the store in `dir` for good: its database (with SQLite's
    /// journal files) and the device key file, if any. Every handle on the
    /// store must be dropped first. Other files in `dir` are left alone.
    pub fn wipe(dir: &Path) -> Result<(), StoreError> {
        for name in [DATABASE_FILE, "greenlight.db-wal", "greenlight.db-shm", crate::vault::DEVICE_KEY_FILE] {
            match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(backend(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (every write is one statement or one transaction).
        self.db.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the key of `day` was released.
    pub fn is_released(&self, day: DayNumber) -> Result<bool, StoreError> {
        use greenlight_phone::Store as _;
        Ok(self.daily_key(day)?.is_some_and(|(_, released)| released))
    }

    /// A time kept in the state table.
    pub fn time_state(&self, name: &str) -> Result<Option<UnixTime>, StoreError> {
        use greenlight_phone::Store as _;
        Ok(self
            .state(name)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(|b| UnixTime(u64::from_le_bytes(b))))
    }
}

/// The state entry holding the sealed key check ([`SqliteStore::open_with_key`]).
const KEY_CHECK: &str = "device_key_check";

/// Opens the database in `dir` (made private to the user) at the current
/// schema; refuses a newer one without writing.
fn open_database(dir: &Path) -> Result<Connection, StoreError> {
    std::fs::create_dir_all(dir).map_err(backend)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(backend)?;
    }
    let db = Connection::open(dir.join(DATABASE_FILE)).map_err(backend)?;
    db.busy_timeout(std::time::Duration::from_secs(10)).map_err(backend)?;
    db.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    migrate(&db)?;
    Ok(db)
}

/// Brings the schema to [`SCHEMA_VERSION`], adopting a store the sqlx-based
/// client wrote; refuses a newer one.
fn migrate(db: &Connection) -> Result<(), StoreError> {
    let mut version: u32 = db.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(backend)?;
    if version == 0 {
        let sqlx: bool = db
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = '_sqlx_migrations'", [], |r| r.get::<_, i64>(0))
            .map_err(backend)?
            > 0;
        if sqlx {
            let applied: Option<i64> = db
                .query_row("SELECT max(version) FROM _sqlx_migrations WHERE success", [], |r| r.get(0))
                .map_err(backend)?;
            version = applied.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        }
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerVersion { found: version, known: SCHEMA_VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let to = i + 1;
        db.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {to}; COMMIT;")).map_err(|e| {
            let _ = db.execute_batch("ROLLBACK");
            backend(e)
        })?;
    }
    if version == SCHEMA_VERSION {
        // Adopted from sqlx: record the version the SQLite way.
        db.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(backend)?;
    }
    Ok(())
}

fn day_of(v: i64) -> Result<DayNumber, StoreError> {
    u32::try_from(v).map(DayNumber).map_err(|_| StoreError::Corrupt(format!("day {v}")))
}

fn secret_kind(which: Secret) -> Kind {
    match which {
        Secret::ActiveVisit | Secret::Continued => Kind::Diary,
        Secret::Diagnosis => Kind::Diagnosis,
        Secret::Reported => Kind::Report,
    }
}

fn set_state(db: &Connection, name: &str, value: &[u8]) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO state (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )
    .map_err(backend)?;
    Ok(())
}

impl SqliteStore {
    /// Every row `sql` selects with `params`, each read by `row`.
    fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let db = self.db();
        let mut statement = db.prepare(sql).map_err(backend)?;
        statement.query_map(params, row).map_err(backend)?.collect::<Result<_, _>>().map_err(backend)
    }

    fn open_daily_key(&self, sealed: &[u8]) -> Result<DailyKey, StoreError> {
        let plain = self.vault.open(Kind::DailyKey, sealed).map_err(tampered)?;
        let bytes: [u8; 16] =
            plain.as_slice().try_into().map_err(|_| StoreError::Corrupt("daily key length".into()))?;
        Ok(DailyKey::from_bytes(bytes))
    }
}

impl greenlight_phone::Store for SqliteStore {
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.db()
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(backend)
    }

    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn state(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db().query_row("SELECT value FROM state WHERE name = ?1", [name], |r| r.get(0)).optional().map_err(backend)
    }

    fn set_state(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        set_state(&self.db(), name, value)
    }

    fn secret(&self, which: Secret) -> Result<Option<Vec<u8>>, StoreError> {
        match self.state(which.name())? {
            Some(sealed) if !sealed.is_empty() => {
                Ok(Some(self.vault.open(secret_kind(which), &sealed).map_err(tampered)?.to_vec()))
            }
            _ => Ok(None),
        }
    }

    fn set_secret(&mut self, which: Secret, value: &[u8]) -> Result<(), StoreError> {
        let sealed = if value.is_empty() { Vec::new() } else { self.vault.seal(secret_kind(which), value) };
        self.set_state(which.name(), &sealed)
    }

    fn daily_key(&self, day: DayNumber) -> Result<Option<(DailyKey, bool)>, StoreError> {
        let row: Option<(Vec<u8>, i64)> = self
            .db()
            .query_row("SELECT sealed, released FROM daily_keys WHERE day = ?1", [i64::from(day.0)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(backend)?;
        row.map(|(sealed, released)| Ok((self.open_daily_key(&sealed)?, released == 1))).transpose()
    }

    fn add_daily_key(&mut self, day: DayNumber, key: &DailyKey) -> Result<(), StoreError> {
        let sealed = self.vault.seal(Kind::DailyKey, key.expose_secret());
        self.db()
            .execute(
                "INSERT INTO daily_keys (day, sealed) VALUES (?1, ?2) ON CONFLICT (day) DO NOTHING",
                params![i64::from(day.0), sealed],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn unreleased_keys_since(&self, first: DayNumber) -> Result<Vec<(DayNumber, DailyKey)>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = self.rows(
            "SELECT day, sealed FROM daily_keys WHERE day >= ?1 AND released = 0 ORDER BY day",
            [i64::from(first.0)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        rows.into_iter().map(|(day, sealed)| Ok((day_of(day)?, self.open_daily_key(&sealed)?))).collect()
    }

    fn mark_released(&mut self, days: &[DayNumber]) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(backend)?;
        for day in days {
            tx.execute("UPDATE daily_keys SET released = 1 WHERE day = ?1", [i64::from(day.0)]).map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn add_sightings(&mut self, sightings: &[Sighting]) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(backend)?;
        {
            let mut insert = tx.prepare("INSERT INTO sightings (day, sealed) VALUES (?1, ?2)").map_err(backend)?;
            for s in sightings {
                let mut plain = Vec::with_capacity(29);
                plain.extend_from_slice(&s.id.0);
                plain.extend_from_slice(&s.metadata.0);
                plain.push(s.rssi.to_le_bytes()[0]);
                plain.extend_from_slice(&s.seen_at.0.to_le_bytes());
                insert
                    .execute(params![i64::from(s.seen_at.day().0), self.vault.seal(Kind::Sighting, &plain)])
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)
    }

    fn sightings(&self) -> Result<Vec<Sighting>, StoreError> {
        let db = self.db();
        let mut statement = db.prepare("SELECT sealed FROM sightings ORDER BY id").map_err(backend)?;
        let mut rows = statement.query([]).map_err(backend)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            let sealed: Vec<u8> = row.get(0).map_err(backend)?;
            let plain = self.vault.open(Kind::Sighting, &sealed).map_err(tampered)?;
            if plain.len() != 29 {
                return Err(StoreError::Corrupt("sighting length".into()));
            }
            let mut id = [0u8; 16];
            id.copy_from_slice(&plain[..16]);
            let mut meta = [0u8; 4];
            meta.copy_from_slice(&plain[16..20]);
            let mut t = [0u8; 8];
            t.copy_from_slice(&plain[21..29]);
            out.push(Sighting {
                id: EphemeralId(id),
                metadata: EncryptedMetadata(meta),
                rssi: i8::from_le_bytes([plain[20]]),
                seen_at: UnixTime(u64::from_le_bytes(t)),
            });
        }
        Ok(out)
    }

    fn checkin_day_key(&self, day: DayNumber) -> Result<CheckInDayState, StoreError> {
        let row: Option<Option<Vec<u8>>> = self
            .db()
            .query_row("SELECT secret FROM checkin_days WHERE day = ?1", [i64::from(day.0)], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        Ok(match row {
            None => CheckInDayState::Absent,
            Some(None) => CheckInDayState::Erased,
            Some(Some(sealed)) => {
                let plain = self.vault.open(Kind::CheckInSecret, &sealed).map_err(tampered)?;
                let secret: [u8; 32] =
                    plain.as_slice().try_into().map_err(|_| StoreError::Corrupt("check-in day key".into()))?;
                CheckInDayState::Live(CheckInDayKey::from_bytes(day, secret))
            }
        })
    }

    fn add_checkin_day_key(&mut self, key: &CheckInDayKey) -> Result<(), StoreError> {
        let sealed = self.vault.seal(Kind::CheckInSecret, key.expose_secret().as_ref());
        self.db()
            .execute(
                "INSERT INTO checkin_days (day, public, secret) VALUES (?1, ?2, ?3) ON CONFLICT (day) DO NOTHING",
                params![i64::from(key.day().0), key.public().public.to_vec(), sealed],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn checkin_days(&self) -> Result<Vec<CheckInDay>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> =
            self.rows("SELECT day, public FROM checkin_days", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.into_iter()
            .map(|(day, public)| {
                let public: [u8; 32] =
                    public.try_into().map_err(|_| StoreError::Corrupt("check-in day public key".into()))?;
                Ok(CheckInDay { day: day_of(day)?, public })
            })
            .collect()
    }

    fn erase_checkin_secrets_through(&mut self, last: DayNumber) -> Result<u64, StoreError> {
        let n = self
            .db()
            .execute(
                "UPDATE checkin_days SET secret = NULL WHERE day <= ?1 AND secret IS NOT NULL",
                [i64::from(last.0)],
            )
            .map_err(backend)?;
        Ok(n as u64)
    }

    fn save_checkin(&mut self, record: &SealedCheckIn, diary: Option<&[u8]>) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(backend)?;
        let (day, tag) = (i64::from(record.day.0), record.tag.to_vec());
        tx.execute(
            "INSERT INTO checkins (day, tag, record) VALUES (?1, ?2, ?3) ON CONFLICT (day, tag) DO UPDATE SET record = excluded.record",
            params![day, tag, record.to_bytes()],
        )
        .map_err(backend)?;
        tx.execute("DELETE FROM diary WHERE day = ?1 AND tag = ?2", params![day, tag]).map_err(backend)?;
        if let Some(revealed) = diary {
            tx.execute(
                "INSERT INTO diary (day, tag, sealed) VALUES (?1, ?2, ?3)",
                params![day, tag, self.vault.seal(Kind::Diary, revealed)],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn checkins(&self) -> Result<Vec<SealedCheckIn>, StoreError> {
        let rows: Vec<Vec<u8>> = self.rows("SELECT record FROM checkins", [], |r| r.get(0))?;
        rows.iter().map(|r| SealedCheckIn::from_bytes(r).map_err(|e| StoreError::Corrupt(e.to_string()))).collect()
    }

    fn diary(&self) -> Result<Vec<DiaryEntry>, StoreError> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> =
            self.rows("SELECT tag, sealed FROM diary ORDER BY id", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.into_iter()
            .map(|(tag, sealed)| {
                let tag: [u8; 16] = tag.try_into().map_err(|_| StoreError::Corrupt("diary tag".into()))?;
                let revealed = self.vault.open(Kind::Diary, &sealed).map_err(tampered)?.to_vec();
                Ok(DiaryEntry { tag, revealed })
            })
            .collect()
    }

    fn clear_diary(&mut self) -> Result<(), StoreError> {
        self.db().execute("DELETE FROM diary", []).map_err(backend)?;
        Ok(())
    }

    fn exposures(&self) -> Result<Vec<Exposure>, StoreError> {
        let rows: Vec<Vec<u8>> = self.rows("SELECT sealed FROM exposures ORDER BY id", [], |r| r.get(0))?;
        rows.iter()
            .map(|sealed| {
                let plain = self.vault.open(Kind::Exposure, sealed).map_err(tampered)?;
                serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(format!("exposure: {e}")))
            })
            .collect()
    }

    fn synced(&self, kind: FileKind) -> Result<u64, StoreError> {
        let row: Option<i64> = self
            .db()
            .query_row("SELECT sequence FROM synced WHERE kind = ?1", [i64::from(kind.to_byte())], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        Ok(row.map_or(0, |s| u64::try_from(s).unwrap_or(0)))
    }

    fn apply(
        &mut self,
        kind: FileKind,
        sequence: u64,
        exposures: &[Exposure],
        state: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        let sequence = i64::try_from(sequence).map_err(|_| StoreError::Corrupt("sequence".into()))?;
        let sealed: Vec<(i64, Vec<u8>)> = exposures
            .iter()
            .map(|e| {
                let plain = serde_json::to_vec(e).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((i64::from(e.day()), self.vault.seal(Kind::Exposure, &plain)))
            })
            .collect::<Result<_, StoreError>>()?;
        let mut db = self.db();
        let tx = db.transaction().map_err(backend)?;
        for (day, sealed) in sealed {
            tx.execute("INSERT INTO exposures (day, sealed) VALUES (?1, ?2)", params![day, sealed]).map_err(backend)?;
        }
        tx.execute(
            "INSERT INTO synced (kind, sequence) VALUES (?1, ?2) ON CONFLICT (kind) DO UPDATE SET sequence = excluded.sequence",
            params![i64::from(kind.to_byte()), sequence],
        )
        .map_err(backend)?;
        for (name, value) in state {
            set_state(&tx, name, value)?;
        }
        tx.commit().map_err(backend)
    }

    fn add_color(&mut self, change: &ColorChange) -> Result<(), StoreError> {
        let plain = serde_json::to_vec(change).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.db()
            .execute(
                "INSERT INTO color_history (day, sealed) VALUES (?1, ?2)",
                params![i64::from(change.day().0), self.vault.seal(Kind::Color, &plain)],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn color_history(&self) -> Result<Vec<ColorChange>, StoreError> {
        let rows: Vec<Vec<u8>> = self.rows("SELECT sealed FROM color_history ORDER BY id", [], |r| r.get(0))?;
        rows.iter()
            .map(|sealed| {
                let plain = self.vault.open(Kind::Color, sealed).map_err(tampered)?;
                serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(format!("color history: {e}")))
            })
            .collect()
    }

    fn forget_before(&mut self, oldest: DayNumber) -> Result<u64, StoreError> {
        let oldest = i64::from(oldest.0);
        let mut db = self.db();
        let tx = db.transaction().map_err(backend)?;
        let mut deleted = 0;
        for table in ["daily_keys", "sightings", "checkin_days", "checkins", "diary", "exposures", "color_history"] {
            deleted += tx.execute(&format!("DELETE FROM {table} WHERE day < ?1"), [oldest]).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(deleted as u64)
    }
}
