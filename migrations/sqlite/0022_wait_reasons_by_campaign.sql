-- A held job's wait reason is its campaign's and account's state, so the
-- wait-reason pass asks each campaign once and reads its due jobs' labels
-- from this index alone: a paused campaign's due jobs stay due, and the
-- pass walked every one of them through the table to change none. The
-- claim's "campaign X's due jobs, oldest first" is this index's prefix,
-- so it replaces the one of 0011.
CREATE INDEX campaign_send_jobs_campaign_waits ON campaign_send_jobs (campaign_id, run_at, wait_reason)
    WHERE status = 'pending';
DROP INDEX campaign_send_jobs_campaign_due;
