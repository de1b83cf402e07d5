-- Revealed check-ins keep no arrival order (issue 19 item 1): the
-- AUTOINCREMENT id numbered them in upload order, so a copy of the
-- database told which visits came in the same upload and in which order.
-- Rows are now keyed and stored by their bytes (a WITHOUT ROWID table has
-- no hidden rowid either); the same visit revealed twice is kept once.
CREATE TABLE revealed_checkins_unordered (
    checkin       BLOB    PRIMARY KEY,
    received_hour INTEGER NOT NULL       -- the hour it was received in
) WITHOUT ROWID;
INSERT INTO revealed_checkins_unordered (checkin, received_hour)
    SELECT checkin, MIN(received_hour) FROM revealed_checkins GROUP BY checkin;
DROP TABLE revealed_checkins;
ALTER TABLE revealed_checkins_unordered RENAME TO revealed_checkins;
CREATE INDEX revealed_checkins_hour ON revealed_checkins (received_hour);
