-- The dashboard's reads (issue 21): every list is a keyset page and every
-- counter an index range, so a campaign of 100,000 prospects reads in
-- milliseconds on both backends.

-- A campaign's counters (enrolled, invited, accepted, replied, late
-- accepts, follow-ups sent) from one index-only range: accepted and replied
-- follow from linkedin_status (CHECK constraints tie them to the stamps).
-- Its prefix serves everything enrollments_campaign served.
CREATE INDEX enrollments_campaign_counts ON enrollments
    (campaign_id, linkedin_status, workflow_state, invited_at, late_accept_observed_at,
     late_accept_followup_sent_at, followup_sent_at);
DROP INDEX enrollments_campaign;

-- The prospects table: a campaign's enrollments in id order, all of them,
-- by linkedin status, accepted (connected or replied), or late accepts.
CREATE INDEX enrollments_campaign_page ON enrollments (campaign_id, id);
CREATE INDEX enrollments_campaign_status_page ON enrollments (campaign_id, linkedin_status, id);
CREATE INDEX enrollments_campaign_accepted ON enrollments (campaign_id, id)
    WHERE linkedin_accepted_at IS NOT NULL;
CREATE INDEX enrollments_campaign_late ON enrollments (campaign_id, id)
    WHERE late_accept_observed_at IS NOT NULL;

-- A workspace's late accepts, most recently observed first.
CREATE INDEX enrollments_late_observed ON enrollments (late_accept_observed_at, id)
    WHERE late_accept_observed_at IS NOT NULL;

-- Traces of one kind in a workspace: its tile's count and its list.
CREATE INDEX traces_workspace_kind ON traces (workspace_id, kind, created_at, id);
-- A prospect's timeline (and the late accepts' list): the traces and
-- skips of its enrollments.
CREATE INDEX traces_enrollment ON traces (enrollment_id, created_at);
CREATE INDEX skips_enrollment ON skips (enrollment_id, created_at);

-- The policy-failures tile: a workspace's decisions that took the
-- fail-safe default, by time.
CREATE INDEX policy_decisions_failures ON policy_decisions (workspace_id, decided_at)
    WHERE error_kind IS NOT NULL;

-- An account's next scheduled action (its earliest pending job).
CREATE INDEX campaign_send_jobs_account_pending ON campaign_send_jobs (linkedin_account_id, run_at)
    WHERE status = 'pending';
-- A campaign's jobs counted by status (its stats), index-only.
CREATE INDEX campaign_send_jobs_campaign_status ON campaign_send_jobs (campaign_id, status);
