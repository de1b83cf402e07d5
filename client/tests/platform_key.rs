//! A store whose device key the platform holds (a phone's keystore, for
//! the mobile SDK): another key is refused at open before anything is
//! written, the right key reads everything back, and a wipe leaves no
//! store behind.

use greenlight_client::os_rng;
use greenlight_client::store::{DATABASE_FILE, SqliteStore};
use greenlight_phone::{Store as _, StoreError};
use greenlight_protocol::time::DayNumber;
use std::path::PathBuf;

struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("greenlight-platform-key-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every row of the tables a key check could touch, as SQLite holds them.
fn rows(dir: &Dir) -> Vec<(String, Vec<u8>)> {
    let db = rusqlite::Connection::open(dir.0.join(DATABASE_FILE)).expect("database");
    let mut out = Vec::new();
    for table in ["state", "daily_keys", "settings"] {
        let mut query = db.prepare(&format!("SELECT * FROM {table}")).expect("query");
        let columns = query.column_count();
        let mut found = query.query([]).expect("rows");
        while let Some(row) = found.next().expect("row") {
            let values: Vec<String> = (0..columns).map(|i| format!("{:?}", row.get_ref(i).expect("value"))).collect();
            out.push((table.to_owned(), values.join("|").into_bytes()));
        }
    }
    out
}

#[test]
fn a_store_opens_only_with_its_platform_key_and_a_wrong_key_changes_nothing() {
    let dir = Dir::new("wrong");
    let key = [7u8; 32];
    let mut phone = greenlight_phone::Phone::new(
        SqliteStore::open_with_key(&dir.0, &key).expect("a new store"),
        greenlight_client::DEVICE_CALIBRATION,
    );
    let drawn = phone.daily_key(DayNumber(20_000), &mut os_rng()).expect("a daily key");
    drop(phone);
    assert!(!dir.0.join("device.key").exists(), "the platform holds the key: no key file");
    let before = rows(&dir);

    let refused = SqliteStore::open_with_key(&dir.0, &[8u8; 32]);
    assert!(matches!(refused, Err(StoreError::Tampered)), "{refused:?}");
    assert!(rows(&dir) == before, "nothing written");

    let store = SqliteStore::open_with_key(&dir.0, &key).expect("the right key opens it");
    let (kept, _) = store.daily_key(DayNumber(20_000)).expect("read").expect("kept");
    assert_eq!(kept.expose_secret(), drawn.expose_secret());
}

#[test]
fn a_key_file_store_opened_with_another_platform_key_is_refused() {
    let dir = Dir::new("file");
    let mut phone = greenlight_client::open(&dir.0).expect("a file-key store");
    phone.daily_key(DayNumber(20_000), &mut os_rng()).expect("a daily key");
    drop(phone);
    let refused = SqliteStore::open_with_key(&dir.0, &[9u8; 32]);
    assert!(matches!(refused, Err(StoreError::Tampered)), "{refused:?}");
}

#[test]
fn wipe_removes_the_store_and_a_new_one_starts_empty() {
    let dir = Dir::new("wipe");
    let key = [3u8; 32];
    let mut phone = greenlight_phone::Phone::new(
        SqliteStore::open_with_key(&dir.0, &key).expect("a new store"),
        greenlight_client::DEVICE_CALIBRATION,
    );
    phone.daily_key(DayNumber(20_000), &mut os_rng()).expect("a daily key");
    drop(phone);
    std::fs::write(dir.0.join("unrelated"), b"kept").expect("another file");
    SqliteStore::wipe(&dir.0).expect("wiped");
    assert!(!dir.0.join(DATABASE_FILE).exists());
    assert_eq!(std::fs::read(dir.0.join("unrelated")).expect("left alone"), b"kept");
    // Another key now starts a new, empty store.
    let store = SqliteStore::open_with_key(&dir.0, &[4u8; 32]).expect("a fresh store");
    assert!(store.daily_key(DayNumber(20_000)).expect("read").is_none());
}
