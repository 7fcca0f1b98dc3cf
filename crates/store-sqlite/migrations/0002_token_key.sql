-- Version 2: the token binding each record's tokens rows were last indexed
-- for ("<bound credential ID>|<number of revoked tokens>"), so that a write
-- that keeps the binding (every login) skips re-indexing the tokens table.
-- '?' (rows written by version 1) never matches: their next write indexes
-- in full and sets it.
ALTER TABLE accounts ADD COLUMN token_key TEXT NOT NULL DEFAULT '?';
