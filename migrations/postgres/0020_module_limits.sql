-- Limits per module (issue 22). A module's calls run under limits of its
-- own: what its uploader declared (NULL: its kind's default), each cut to
-- the host's maximum when loaded. The kind is read from the component at
-- upload (NULL for modules stored before: the host fills it when it next
-- lists them). Declared limits are fixed at a module's first upload, like
-- its labels: the same bytes uploaded with other limits are refused.
ALTER TABLE policy_modules ADD COLUMN kind TEXT
    CHECK (kind IS NULL OR kind IN ('compiled', 'python', 'javascript'));
ALTER TABLE policy_modules ADD COLUMN fuel_limit BIGINT
    CHECK (fuel_limit IS NULL OR fuel_limit > 0);
ALTER TABLE policy_modules ADD COLUMN memory_limit_bytes BIGINT
    CHECK (memory_limit_bytes IS NULL OR memory_limit_bytes > 0);
ALTER TABLE policy_modules ADD COLUMN deadline_limit_ms BIGINT
    CHECK (deadline_limit_ms IS NULL OR deadline_limit_ms > 0);
ALTER TABLE policy_modules ADD COLUMN output_limit_bytes BIGINT
    CHECK (output_limit_bytes IS NULL OR output_limit_bytes > 0);
