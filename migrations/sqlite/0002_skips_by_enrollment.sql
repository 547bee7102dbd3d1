-- Resolving an enrollment's open skips (every enqueue does) looked them up
-- by scanning the table: index the open ones by (enrollment, step).
CREATE INDEX skips_enrollment_open ON skips (enrollment_id, step_index) WHERE resolved_at IS NULL;
