-- Workspace tokens: bearer tokens that open /api for one workspace only.
-- Only the sha256 of the secret is kept, so a copy of the database holds
-- no usable token; a revoked row stays, so the audit trail can name it.
CREATE TABLE workspace_tokens (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token_sha256  TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX workspace_tokens_workspace ON workspace_tokens (workspace_id, created_at);
