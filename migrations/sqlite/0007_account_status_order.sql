-- Account-status webhooks apply in the order they were received, whichever
-- instance processes them and whenever: each account keeps the receipt time
-- and inbox row of the status delivery last applied (or the time the engine
-- or the API last set its status, with no row), and a delivery applies only
-- if it is newer. The inbox id (UUIDv7) orders deliveries received in the
-- same millisecond.
ALTER TABLE linkedin_accounts ADD COLUMN status_observed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE linkedin_accounts ADD COLUMN status_inbox_id TEXT NOT NULL DEFAULT '';
