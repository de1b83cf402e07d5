-- A lost answer no longer burns a code (issue 19 item 6). A token is
-- derived from the code and the phone's request id under the code key, so
-- a /v1/verify sent again finds its token without anything new stored next
-- to the code; a used token keeps a keyed tag of the upload HMAC it was
-- certified for, so that the same upload asked again gets its certificate
-- again and any other is refused. Without the key files, the tag links
-- nothing to the key server's records.
ALTER TABLE verification_tokens ADD COLUMN upload_tag BYTEA;

-- Revealed visits are deleted once their purpose is served (issue 19
-- item 1): dismissed by a tracer, or their case published. A keyed digest
-- of each is kept until the key server forgets the visit, so that one
-- handed over again is not queued again; it names no venue and no time.
CREATE TABLE authority_revealed_done (
    digest        BYTEA   PRIMARY KEY,
    received_hour BIGINT  NOT NULL
);
