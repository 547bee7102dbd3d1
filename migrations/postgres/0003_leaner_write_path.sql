-- Every accept writes an enrollment and three audit rows; each index on
-- those tables is paid on every one. Two indexes no read uses go, and the
-- inbox's pending index covers the processor's whole ORDER BY.

-- Accept counts are read per campaign through enrollments_campaign (status
-- connected/replied is the stamp, by CHECK); nothing reads accepts by time
-- across campaigns.
DROP INDEX enrollments_accepted;

-- The timeline reads events by enrollment; nothing reads them by kind.
DROP INDEX linkedin_events_kind;

-- The processor reads pending rows ORDER BY received_at, id: with the id in
-- the index PostgreSQL stops after LIMIT rows instead of sorting every row
-- of the backlog's first timestamps (2,160 rows for 128 in the bench).
DROP INDEX webhook_inbox_pending;
CREATE INDEX webhook_inbox_pending ON webhook_inbox (received_at, id) WHERE status = 'pending';
