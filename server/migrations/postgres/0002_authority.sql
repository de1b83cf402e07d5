-- Health-authority schema, PostgreSQL. Times are Unix seconds. Nothing here
-- names a patient: upload codes and tokens are stored only as keyed or
-- plain hashes with the report type and one date, and the audit log says
-- who did what, never to whom.

-- Staff accounts. `roles` is a comma-separated subset of
-- admin,issuer,tracer,auditor; `password_hash` an argon2id PHC string.
CREATE TABLE staff (
    id                   BIGSERIAL PRIMARY KEY,
    username             TEXT    NOT NULL UNIQUE,
    password_hash        TEXT    NOT NULL,
    roles                TEXT    NOT NULL,
    must_change_password BIGINT NOT NULL,
    disabled             BIGINT NOT NULL DEFAULT 0,
    failed_logins        BIGINT NOT NULL DEFAULT 0,
    locked_until         BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL
);

-- Portal sessions: the cookie's token is only stored as its SHA-256.
CREATE TABLE staff_sessions (
    token_hash BYTEA    PRIMARY KEY,
    staff_id   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- Upload codes, as HMAC-SHA256 under the authority's code key. `handle` is
-- a random name staff use to check or expire a code without knowing it.
CREATE TABLE upload_codes (
    code_hash   BYTEA    PRIMARY KEY,
    handle      TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,            -- short | long
    report_type BIGINT NOT NULL,            -- 1 confirmed test, 2 clinical
    day_kind    BIGINT NOT NULL,            -- 1 symptom onset, 2 test date
    day         BIGINT NOT NULL,            -- UTC day number
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    claimed_at  BIGINT,
    revoked_at  BIGINT,
    issued_by   BIGINT NOT NULL
);
CREATE INDEX upload_codes_issued ON upload_codes (issued_at);

-- Tokens handed out for claimed codes, as SHA-256; single use.
CREATE TABLE verification_tokens (
    token_hash  BYTEA    PRIMARY KEY,
    report_type BIGINT NOT NULL,
    day_kind    BIGINT NOT NULL,
    day         BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    failures    BIGINT NOT NULL DEFAULT 0
);

-- Every staff action: who, what, when.
CREATE TABLE audit_log (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT NOT NULL,
    staff_id BIGINT,
    username TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    detail   TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Counters: per UTC day (codes issued, claimed, certificates) and per hour
-- (failed short-code verifications, for the guessing budget).
CREATE TABLE authority_counters (
    period  BIGINT NOT NULL,
    counter TEXT    NOT NULL,
    count   BIGINT NOT NULL,
    PRIMARY KEY (period, counter)
);

-- Every signed color policy, kept for good.
CREATE TABLE color_policies (
    sequence   BIGINT PRIMARY KEY,
    issued_at  BIGINT NOT NULL,
    file       BYTEA    NOT NULL,
    sha256     TEXT    NOT NULL,
    created_by BIGINT NOT NULL
);

-- Revealed check-ins (key server table `revealed_checkins`) already reviewed.
CREATE TABLE checkin_reviews (
    checkin_id  BIGINT PRIMARY KEY,
    case_id     BIGINT,                     -- NULL when dismissed
    reviewed_by BIGINT NOT NULL,
    reviewed_at BIGINT NOT NULL
);

-- Venue tracing cases: a venue, the epochs to trace, the release request.
CREATE TABLE venue_cases (
    id         BIGSERIAL PRIMARY KEY,
    venue_key  BYTEA    NOT NULL,             -- the venue's Ed25519 public key
    venue_name TEXT    NOT NULL,
    source     TEXT    NOT NULL,             -- revealed | paper
    created_at BIGINT NOT NULL,
    created_by BIGINT NOT NULL,
    request    BYTEA,                         -- signed release request
    published  BIGINT                       -- trace batch sequence
);
CREATE TABLE venue_case_epochs (
    case_id      BIGINT NOT NULL,
    epoch        BYTEA    NOT NULL,           -- 70-byte poster epoch (epoch, P, enc)
    window_start BIGINT NOT NULL,
    window_end   BIGINT NOT NULL,
    PRIMARY KEY (case_id, epoch)
);

-- Every signed trace batch the authority published.
CREATE TABLE trace_batches (
    sequence   BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    entries    BIGINT NOT NULL,
    sha256     TEXT    NOT NULL,
    file       BYTEA    NOT NULL,
    created_by BIGINT NOT NULL
);
