-- The heal ticks pick at most 200 rows out of every enrollment, every six
-- hours; at a million enrollments a scan of the table is seconds. Each
-- partial index holds only the rows its tick can pick:
-- late accepts whose follow-up is unsent, in the tick's order (oldest
-- change first), so the late heal reads 200 index entries and stops;
CREATE INDEX enrollments_late_unsent ON enrollments (updated_at, id)
    WHERE late_accept_observed_at IS NOT NULL AND late_accept_followup_sent_at IS NULL
      AND linkedin_replied_at IS NULL;
-- accepts still unreplied, by accept time, for the stuck heal's 1-14 day
-- range;
CREATE INDEX enrollments_accepted_unreplied ON enrollments (linkedin_accepted_at)
    WHERE linkedin_accepted_at IS NOT NULL AND linkedin_replied_at IS NULL;
-- and the follow-ups that went out, the stuck heal's "already sent" probe.
CREATE INDEX campaign_send_jobs_sent_messages ON campaign_send_jobs (enrollment_id)
    WHERE action = 'send_message' AND status = 'succeeded';
