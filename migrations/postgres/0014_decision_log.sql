-- The decision log: every policy decision that changed state (resolve,
-- route, pre-flight), written in the transaction of the change it caused,
-- and every shadow decision beside it (written by the shadow worker, never
-- with state). `id` is time-ordered and is the list's cursor. A shadow row
-- names the active decision it shadows and whether it agreed; the CHECK
-- keeps those two columns on shadow rows only.
CREATE TABLE policy_decisions (
    id             TEXT PRIMARY KEY,
    decided_at     BIGINT NOT NULL,
    workspace_id   TEXT NOT NULL,
    slot           TEXT NOT NULL CHECK (slot IN ('match', 'routing', 'preflight')),
    call           TEXT NOT NULL CHECK (call IN ('resolve', 'route', 'preflight')),
    module_sha256  TEXT NOT NULL,
    mode           TEXT NOT NULL CHECK (mode IN ('active', 'shadow')),
    input          TEXT NOT NULL,
    output         TEXT NOT NULL,
    summary        TEXT NOT NULL,
    error_kind     TEXT,
    fuel           BIGINT NOT NULL CHECK (fuel >= 0),
    duration_us    BIGINT NOT NULL CHECK (duration_us >= 0),
    inbox_id       TEXT,
    enrollment_id  TEXT,
    job_id         TEXT,
    active_id      TEXT,
    active_summary TEXT,
    agrees         INTEGER CHECK (agrees IN (0, 1)),
    CHECK ((mode = 'shadow') = (active_id IS NOT NULL AND agrees IS NOT NULL AND active_summary IS NOT NULL))
);
CREATE INDEX policy_decisions_at ON policy_decisions (decided_at);
CREATE INDEX policy_decisions_scope ON policy_decisions (workspace_id, slot, mode, id);
CREATE INDEX policy_decisions_slot ON policy_decisions (slot, mode, id);
CREATE INDEX policy_decisions_enrollment ON policy_decisions (enrollment_id, id);
