-- The claim asks for the due jobs of the running campaigns of the accounts
-- that may act now. Most accounts wait out their spacing at any moment and
-- a paused campaign's jobs stay due; read through the queue's due index,
-- every claim walked all of those to return the few it may take. This
-- index answers "campaign X's due jobs, oldest first" directly.
CREATE INDEX campaign_send_jobs_campaign_due ON campaign_send_jobs (campaign_id, run_at)
    WHERE status = 'pending';
