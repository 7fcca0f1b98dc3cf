-- Version 6.
-- The audit log becomes a hash chain (see lockstep-store-sql's `chain`):
-- every row carries its link, SHA-256 over the row and the link before it;
-- `audit_head` holds the last row's number and link, moved in the same
-- transaction as the rows. Rows written before this version keep no link;
-- the chain begins after them (`since`).
ALTER TABLE events ADD COLUMN link TEXT;

CREATE TABLE IF NOT EXISTS audit_head (
    one   INTEGER PRIMARY KEY NOT NULL CHECK (one = 1),
    since BIGINT NOT NULL,
    -- rows from before the chain, counted as it began
    legacy BIGINT NOT NULL,
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (one, since, legacy, seq, hash)
    SELECT 1, COALESCE(MAX(id), 0) + 1, COUNT(*), COALESCE(MAX(id), 0),
           '0000000000000000000000000000000000000000000000000000000000000000'
    FROM events WHERE true
    ON CONFLICT (one) DO NOTHING;

-- Signed heads: the embedder signs (seq, link) under a key the database
-- never sees; a rewrite of the chain up to a signed row shows.
CREATE TABLE IF NOT EXISTS audit_seals (
    seq       BIGINT PRIMARY KEY NOT NULL,
    hash      TEXT NOT NULL,
    at        BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- The desk's view of an attack reads the failed password steps of a time
-- window (wrong passwords, unknown user IDs), by client: this index covers
-- exactly those rows and the query's columns.
CREATE INDEX IF NOT EXISTS events_failed_password_by_at ON events (at, client, user_id, kind)
    WHERE kind = '"UnknownUser"' OR kind LIKE '{"PasswordFailed":%';
-- and the locks set and clients flagged in it.
CREATE INDEX IF NOT EXISTS events_locked_by_at ON events (at)
    WHERE kind LIKE '{"Locked":%';
CREATE INDEX IF NOT EXISTS events_spray_by_at ON events (at)
    WHERE kind LIKE '{"SprayFlagged":%';
