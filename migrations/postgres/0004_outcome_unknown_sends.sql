-- A send whose outcome is unknown (a timeout or 504 after the request left,
-- or a worker that died mid-send) is never repeated blindly: the job stays
-- active (pending, so the partial unique index still blocks any other job
-- for its step) and carries the time of the attempt, and the engine reads
-- the provider's record before it sends again.
ALTER TABLE campaign_send_jobs ADD COLUMN outcome_unknown_at BIGINT;

-- An operator's answer for a job held because the provider's record could
-- not be read: 'sent' completes it without a call, 'not_sent' lets it send.
ALTER TABLE campaign_send_jobs ADD COLUMN operator_verdict TEXT
    CHECK (operator_verdict IS NULL OR operator_verdict IN ('sent', 'not_sent'));
