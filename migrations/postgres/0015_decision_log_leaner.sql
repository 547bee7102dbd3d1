-- The decision log is written with every state change (three rows per
-- accept), so each index costs ingest: measured, the log took ingest to
-- 71 % of its rate on SQLite. The lists filter by workspace, slot and
-- mode as they walk the time index; only the enrollment look-up (a
-- prospect's timeline) needs its own.
DROP INDEX policy_decisions_scope;
DROP INDEX policy_decisions_slot;

-- Shadow decisions are written by the shadow worker, off the ingest path;
-- the agreement report reads them by module, so they get an index of
-- their own that active rows do not pay for.
CREATE INDEX policy_decisions_shadow ON policy_decisions (module_sha256, slot) WHERE mode = 'shadow';
