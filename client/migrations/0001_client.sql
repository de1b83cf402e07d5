-- The phone's store. Everything that could say whom the phone met or where
-- its owner went is sealed with the device key (ChaCha20-Poly1305); the
-- clear columns are days (for retention) and opaque protocol records.

-- Settings chosen at `greenlight init`: server URL, its export key, the
-- authority key. Public values.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- This phone's daily keys, sealed.
CREATE TABLE daily_keys (
    day      INTEGER PRIMARY KEY,
    sealed   BLOB    NOT NULL,
    released INTEGER NOT NULL DEFAULT 0
);

-- What the phone heard: ID, metadata, RSSI, time — sealed.
CREATE TABLE sightings (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    day    INTEGER NOT NULL,
    sealed BLOB    NOT NULL
);
CREATE INDEX sightings_day ON sightings (day);

-- Check-in day keys: the public key stays; the secret (sealed) is erased
-- after the next day ends.
CREATE TABLE checkin_days (
    day    INTEGER PRIMARY KEY,
    public BLOB NOT NULL,
    secret BLOB
);

-- Sealed check-ins (protocol records: unlinkable until traced).
CREATE TABLE checkins (
    day    INTEGER NOT NULL,
    tag    BLOB    NOT NULL,
    record BLOB    NOT NULL,
    PRIMARY KEY (day, tag)
) WITHOUT ROWID;

-- The visit diary (on by default): the poster and times of each visit,
-- sealed, so that a diagnosed person can reveal them.
CREATE TABLE diary (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    day    INTEGER NOT NULL,
    tag    BLOB    NOT NULL,
    sealed BLOB    NOT NULL
);

-- Exposures found by matching, sealed.
CREATE TABLE exposures (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    day    INTEGER NOT NULL,
    sealed BLOB    NOT NULL
);

-- Published files already applied, by kind: how far sync got.
CREATE TABLE synced (
    kind     INTEGER PRIMARY KEY,
    sequence INTEGER NOT NULL
);

-- Small values: last sync, index ETag, clock floor, own diagnosis (sealed),
-- current policy file.
CREATE TABLE state (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
