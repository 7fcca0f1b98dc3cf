-- Version 4.
-- Token changes are now explicit in every write (bind, revoke), applied to
-- the tokens table directly; the record no longer remembers which binding
-- its rows were indexed for.
ALTER TABLE accounts DROP COLUMN token_key;

-- The audit log is read a page at a time per user, in the order written.
DROP INDEX IF EXISTS events_by_user;
CREATE INDEX IF NOT EXISTS events_by_user_seq ON events (user_id, id);

-- The store's own ID, bound into every token secret it seals, so that a
-- sealed row copied into another store does not open there.
CREATE TABLE IF NOT EXISTS store_meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO store_meta (name, value) VALUES ('store_id', lower(hex(randomblob(16))))
    ON CONFLICT (name) DO NOTHING;
