-- Policies per team: modules carry their metadata; a binding puts a module
-- in a slot for a scope (global, or one workspace) in a mode (active or
-- shadow), at most one per (scope, slot, mode): the primary key. Every
-- change of a binding is kept in the history, which rollback reads.

ALTER TABLE policy_modules ADD COLUMN name TEXT;
ALTER TABLE policy_modules ADD COLUMN version_label TEXT;
ALTER TABLE policy_modules ADD COLUMN notes TEXT;
ALTER TABLE policy_modules ADD COLUMN uploaded_by TEXT;
ALTER TABLE policy_modules ADD COLUMN size_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE policy_modules ADD COLUMN contract_version TEXT NOT NULL DEFAULT '0.1.0';
UPDATE policy_modules SET size_bytes = LENGTH(bytes);

-- The scope is '' for global, else the workspace's id (a workspace's
-- binding goes with its workspace).
CREATE TABLE policy_bindings (
    scope        TEXT NOT NULL,
    slot         TEXT NOT NULL CHECK (slot IN ('match', 'routing', 'preflight')),
    mode         TEXT NOT NULL CHECK (mode IN ('active', 'shadow')),
    sha256       TEXT NOT NULL REFERENCES policy_modules(sha256),
    assigned_at  BIGINT NOT NULL,
    assigned_by  TEXT,
    PRIMARY KEY (scope, slot, mode)
);
INSERT INTO policy_bindings (scope, slot, mode, sha256, assigned_at, assigned_by)
    SELECT '', slot, 'active', sha256, activated_at, NULL FROM policy_assignments;
DROP TABLE policy_assignments;

CREATE TABLE policy_binding_history (
    id           TEXT PRIMARY KEY,
    scope        TEXT NOT NULL,
    slot         TEXT NOT NULL CHECK (slot IN ('match', 'routing', 'preflight')),
    mode         TEXT NOT NULL CHECK (mode IN ('active', 'shadow')),
    action       TEXT NOT NULL CHECK (action IN ('assign', 'promote', 'rollback', 'unassign')),
    from_sha256  TEXT,
    to_sha256    TEXT,
    actor        TEXT,
    at           BIGINT NOT NULL
);
CREATE INDEX policy_binding_history_scope ON policy_binding_history (scope, slot, mode, at);
CREATE INDEX policy_binding_history_at ON policy_binding_history (at, id);
