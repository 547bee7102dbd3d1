-- The first follow-up message the provider took for an enrollment, stamped
-- in the send's transaction (like a late accept's follow-up). The stuck
-- heal asks "accepted 1-14 days ago, unreplied, never followed up" of a
-- million enrollments; answered by probing the job history of each accept
-- in the range it took half a second (docs/BENCHMARKS.md, heal ticks),
-- answered by this stamp its index holds only the accepts still owed one.
ALTER TABLE enrollments ADD COLUMN followup_sent_at BIGINT;
UPDATE enrollments SET followup_sent_at = (
    SELECT MIN(COALESCE(s.completed_at, s.updated_at)) FROM campaign_send_jobs s
    WHERE s.enrollment_id = enrollments.id AND s.action = 'send_message' AND s.status = 'succeeded');
DROP INDEX enrollments_accepted_unreplied;
DROP INDEX campaign_send_jobs_sent_messages;
CREATE INDEX enrollments_owed_followup ON enrollments (linkedin_accepted_at)
    WHERE linkedin_accepted_at IS NOT NULL AND linkedin_replied_at IS NULL AND followup_sent_at IS NULL;
