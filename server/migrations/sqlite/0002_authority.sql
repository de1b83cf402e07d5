-- Health-authority schema, SQLite. Times are Unix seconds. Nothing here
-- names a patient: upload codes and tokens are stored only as keyed or
-- plain hashes with the report type and one date, and the audit log says
-- who did what, never to whom.

-- Staff accounts. `roles` is a comma-separated subset of
-- admin,issuer,tracer,auditor; `password_hash` an argon2id PHC string.
CREATE TABLE staff (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    username             TEXT    NOT NULL UNIQUE,
    password_hash        TEXT    NOT NULL,
    roles                TEXT    NOT NULL,
    must_change_password INTEGER NOT NULL,
    disabled             INTEGER NOT NULL DEFAULT 0,
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL
);

-- Portal sessions: the cookie's token is only stored as its SHA-256.
CREATE TABLE staff_sessions (
    token_hash BLOB    PRIMARY KEY,
    staff_id   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- Upload codes, as HMAC-SHA256 under the authority's code key. `handle` is
-- a random name staff use to check or expire a code without knowing it.
CREATE TABLE upload_codes (
    code_hash   BLOB    PRIMARY KEY,
    handle      TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,            -- short | long
    report_type INTEGER NOT NULL,            -- 1 confirmed test, 2 clinical
    day_kind    INTEGER NOT NULL,            -- 1 symptom onset, 2 test date
    day         INTEGER NOT NULL,            -- UTC day number
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    claimed_at  INTEGER,
    revoked_at  INTEGER,
    issued_by   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX upload_codes_issued ON upload_codes (issued_at);

-- Tokens handed out for claimed codes, as SHA-256; single use.
CREATE TABLE verification_tokens (
    token_hash  BLOB    PRIMARY KEY,
    report_type INTEGER NOT NULL,
    day_kind    INTEGER NOT NULL,
    day         INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    failures    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Every staff action: who, what, when.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    staff_id INTEGER,
    username TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    detail   TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Counters: per UTC day (codes issued, claimed, certificates) and per hour
-- (failed short-code verifications, for the guessing budget).
CREATE TABLE authority_counters (
    period  INTEGER NOT NULL,
    counter TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (period, counter)
) WITHOUT ROWID;

-- Every signed color policy, kept for good.
CREATE TABLE color_policies (
    sequence   INTEGER PRIMARY KEY,
    issued_at  INTEGER NOT NULL,
    file       BLOB    NOT NULL,
    sha256     TEXT    NOT NULL,
    created_by INTEGER NOT NULL
);

-- Revealed check-ins (key server table `revealed_checkins`) already reviewed.
CREATE TABLE checkin_reviews (
    checkin_id  INTEGER PRIMARY KEY,
    case_id     INTEGER,                     -- NULL when dismissed
    reviewed_by INTEGER NOT NULL,
    reviewed_at INTEGER NOT NULL
);

-- Venue tracing cases: a venue, the epochs to trace, the release request.
CREATE TABLE venue_cases (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    venue_key  BLOB    NOT NULL,             -- the venue's Ed25519 public key
    venue_name TEXT    NOT NULL,
    source     TEXT    NOT NULL,             -- revealed | paper
    created_at INTEGER NOT NULL,
    created_by INTEGER NOT NULL,
    request    BLOB,                         -- signed release request
    published  INTEGER                       -- trace batch sequence
);
CREATE TABLE venue_case_epochs (
    case_id      INTEGER NOT NULL,
    epoch        BLOB    NOT NULL,           -- 70-byte poster epoch (epoch, P, enc)
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    PRIMARY KEY (case_id, epoch)
);

-- Every signed trace batch the authority published.
CREATE TABLE trace_batches (
    sequence   INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    entries    INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,
    file       BLOB    NOT NULL,
    created_by INTEGER NOT NULL
);
