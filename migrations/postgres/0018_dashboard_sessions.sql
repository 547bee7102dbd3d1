-- Dashboard sign-ins. The cookie carries a random secret; only its sha256
-- is stored. A session remembers the sha256 of the token it was opened
-- with, so rotating the admin or API token, or revoking a workspace
-- token, ends its sessions at their next request.
CREATE TABLE dashboard_sessions (
    id_sha256     TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('admin', 'api', 'workspace')),
    workspace_id  TEXT,
    token_sha256  TEXT NOT NULL,
    csrf          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    CHECK ((kind = 'workspace') = (workspace_id IS NOT NULL)),
    CHECK (expires_at > created_at)
);
-- Expired sessions are deleted a batch at a time at sign-in.
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
