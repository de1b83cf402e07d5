-- Key server schema, PostgreSQL. Times are Unix seconds; nothing here can
-- identify an uploader: no address, no device, no exact upload time.

-- Daily keys from diagnosed people, and the padding keys added when sealing.
CREATE TABLE diagnosis_keys (
    key               BYTEA  PRIMARY KEY,    -- 16 bytes
    day               BIGINT NOT NULL,       -- UTC day number of the key
    transmission_risk BIGINT NOT NULL,       -- 0..=8
    report_type       BIGINT NOT NULL,       -- 1 confirmed test, 2 clinical
    received_hour     BIGINT NOT NULL,       -- upload time, coarsened to the hour
    publish_after     BIGINT NOT NULL,       -- end of the key's day + embargo
    batch             BIGINT,                -- export batch sequence, once sealed
    padding           BIGINT NOT NULL DEFAULT 0 -- 1 for a fake key added when sealing
);
CREATE INDEX diagnosis_keys_unsealed ON diagnosis_keys (batch, publish_after);
CREATE INDEX diagnosis_keys_day ON diagnosis_keys (day);

-- Certificate ids already used, kept until the certificate expires.
CREATE TABLE used_certificates (
    id         BYTEA  PRIMARY KEY,           -- 16 bytes
    expires_at BIGINT NOT NULL
);

-- Check-ins revealed by diagnosed visitors, for the authority's review.
CREATE TABLE revealed_checkins (
    id            BIGSERIAL PRIMARY KEY,
    checkin       BYTEA  NOT NULL,
    received_hour BIGINT NOT NULL
);

-- Every signed, content-addressed file the index lists.
CREATE TABLE published_files (
    kind       BIGINT NOT NULL,              -- 1 export, 2 trace, 3 policy
    sequence   BIGINT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time   BIGINT NOT NULL,
    sha256     TEXT   NOT NULL,              -- hex content address
    size       BIGINT NOT NULL,
    PRIMARY KEY (kind, sequence)
);
