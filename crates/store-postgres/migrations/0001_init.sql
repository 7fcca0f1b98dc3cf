-- lockstep's PostgreSQL store, version 1 (in the connection's schema).
-- accounts: one row per user; `record` is the serialized record, `version`
-- the compare-and-swap counter (authoritative over the record's own copy).
CREATE TABLE IF NOT EXISTS accounts (
    user_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    record  TEXT NOT NULL
);

-- Every token ID ever bound, in one table: the primary key makes a token
-- bound to at most one account, and a revoked row is never bound again.
-- (Two tables checked one after the other would race at read committed.)
-- `revoked` is an integer, as in the SQLite schema, so both stores run
-- the same queries.
CREATE TABLE IF NOT EXISTS tokens (
    credential_id TEXT PRIMARY KEY,
    owner         TEXT NOT NULL REFERENCES accounts (user_id),
    revoked       BIGINT NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

-- The token directory: seeds sealed with the embedder's keyring.
CREATE TABLE IF NOT EXISTS token_seeds (
    credential_id TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    sealed        BYTEA NOT NULL
);

-- The append-only audit log.
CREATE TABLE IF NOT EXISTS events (
    id          BIGSERIAL PRIMARY KEY,
    user_id     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    operator_id TEXT,
    kind        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, at, id);
