-- Version 3: password attempts that no record counts — on user IDs that do
-- not exist (as typed, bounded) and on accounts whose password is locked.
-- Written where a known account reserves its attempt, so that every
-- password step writes as often whether the user ID exists or not.
CREATE TABLE IF NOT EXISTS attempts (
    user_id TEXT PRIMARY KEY NOT NULL,
    count   BIGINT NOT NULL,
    last_at BIGINT NOT NULL
);
