-- The health authority keeps its own copy of the visits diagnosed people
-- revealed, handed over by the key server in batches (spec/authority.md
-- §5.1), so that it works the same in its own database and process as
-- beside the key server. Until now the review queue read the key server's
-- `revealed_checkins`; those rows are copied with their ids, so reviews
-- already made keep pointing at the same visits.
CREATE TABLE authority_revealed (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    checkin       BLOB    NOT NULL UNIQUE,   -- the revealed check-in (§9.6)
    received_hour INTEGER NOT NULL           -- the hour the key server received it
);

INSERT INTO authority_revealed (id, checkin, received_hour)
    SELECT MIN(id), checkin, MIN(received_hour) FROM revealed_checkins GROUP BY checkin;

-- How far the key server's batches have been handed over: the next `since`.
CREATE TABLE authority_revealed_cursor (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    since INTEGER NOT NULL
);

INSERT INTO authority_revealed_cursor (id, since)
    SELECT 1, COALESCE(MAX(received_hour), 0) FROM revealed_checkins;
