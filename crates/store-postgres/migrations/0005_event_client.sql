-- Version 5.
-- Every audit event of a login step names the address it came from (the
-- peer, or the client a trusted proxy names), so that an attack can be
-- attributed. Events written before, or without a web layer, have none.
ALTER TABLE events ADD COLUMN client TEXT;
