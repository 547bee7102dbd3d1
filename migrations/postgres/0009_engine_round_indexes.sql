-- Every engine round (each poll, each wake-up) asks three questions of the
-- whole queue and every enrollment; without these each was a scan, whose
-- cost grew with every enrollment ever made (docs/BENCHMARKS.md,
-- simulation):
-- which claimed jobs lost their worker (the reclaim);
CREATE INDEX campaign_send_jobs_processing ON campaign_send_jobs (lease_expires_at)
    WHERE status = 'processing';
-- which enrollments of a running campaign have not started;
CREATE INDEX enrollments_pending ON enrollments (campaign_id)
    WHERE workflow_state = 'pending';
-- and which waits have fallen due.
CREATE INDEX enrollments_waiting ON enrollments (next_run_at)
    WHERE workflow_state IN ('waiting_accept', 'active');
