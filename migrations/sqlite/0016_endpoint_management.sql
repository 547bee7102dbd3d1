-- Endpoints managed through the API: a label, and a soft delete. A deleted
-- endpoint keeps its row and its deliveries (the history stays readable);
-- it is no longer listed, gets no delivery and cannot be enabled again.
ALTER TABLE notification_endpoints ADD COLUMN name TEXT;
ALTER TABLE notification_endpoints ADD COLUMN deleted_at BIGINT;
-- One endpoint's deliveries, newest first (a delivery id starts with its
-- outbox row's time-ordered id).
CREATE INDEX outbox_deliveries_endpoint ON outbox_deliveries (endpoint_id, id);
-- A workspace's dead letters, most recently dead first.
CREATE INDEX outbox_deliveries_dead ON outbox_deliveries (next_attempt_at, id) WHERE status = 'dead';
