-- lockstep's embedded store, version 1.
-- accounts: one row per user; `record` is the serialized record, `version`
-- the compare-and-swap counter (authoritative over the record's own copy).
CREATE TABLE IF NOT EXISTS accounts (
    user_id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    record  TEXT NOT NULL
);

-- Every token ID ever bound, in one table: the primary key makes a token
-- bound to at most one account, and a revoked row is never bound again.
CREATE TABLE IF NOT EXISTS tokens (
    credential_id TEXT PRIMARY KEY NOT NULL,
    owner         TEXT NOT NULL REFERENCES accounts (user_id),
    revoked       INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

-- The token directory: seeds sealed with the embedder's keyring.
CREATE TABLE IF NOT EXISTS token_seeds (
    credential_id TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    sealed        BLOB NOT NULL
);

-- The append-only audit log.
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    operator_id TEXT,
    kind        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, at, id);
