-- Key server schema, SQLite. Times are Unix seconds; nothing here can
-- identify an uploader: no address, no device, no exact upload time.

-- Daily keys from diagnosed people, and the padding keys added when sealing.
CREATE TABLE diagnosis_keys (
    key               BLOB    PRIMARY KEY,   -- 16 bytes
    day               INTEGER NOT NULL,      -- UTC day number of the key
    transmission_risk INTEGER NOT NULL,      -- 0..=8
    report_type       INTEGER NOT NULL,      -- 1 confirmed test, 2 clinical
    received_hour     INTEGER NOT NULL,      -- upload time, coarsened to the hour
    publish_after     INTEGER NOT NULL,      -- end of the key's day + embargo
    batch             INTEGER,               -- export batch sequence, once sealed
    padding           INTEGER NOT NULL DEFAULT 0 -- 1 for a fake key added when sealing
) WITHOUT ROWID;
CREATE INDEX diagnosis_keys_unsealed ON diagnosis_keys (batch, publish_after);
CREATE INDEX diagnosis_keys_day ON diagnosis_keys (day);

-- Certificate ids already used, kept until the certificate expires.
CREATE TABLE used_certificates (
    id         BLOB    PRIMARY KEY,          -- 16 bytes
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Check-ins revealed by diagnosed visitors, for the authority's review.
CREATE TABLE revealed_checkins (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    checkin       BLOB    NOT NULL,
    received_hour INTEGER NOT NULL
);

-- Every signed, content-addressed file the index lists.
CREATE TABLE published_files (
    kind       INTEGER NOT NULL,             -- 1 export, 2 trace, 3 policy
    sequence   INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    end_time   INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,             -- hex content address
    size       INTEGER NOT NULL,
    PRIMARY KEY (kind, sequence)
) WITHOUT ROWID;
