-- Revealed check-ins keep no arrival order (issue 19 item 1): the
-- BIGSERIAL id numbered them in upload order, so a copy of the database
-- told which visits came in the same upload and in which order. Rows are
-- now keyed by their bytes; the same visit revealed twice is kept once.
CREATE TABLE revealed_checkins_unordered (
    checkin       BYTEA  PRIMARY KEY,
    received_hour BIGINT NOT NULL        -- the hour it was received in
);
INSERT INTO revealed_checkins_unordered (checkin, received_hour)
    SELECT checkin, MIN(received_hour) FROM revealed_checkins GROUP BY checkin ORDER BY checkin;
DROP TABLE revealed_checkins;
ALTER TABLE revealed_checkins_unordered RENAME TO revealed_checkins;
CREATE INDEX revealed_checkins_hour ON revealed_checkins (received_hour);
