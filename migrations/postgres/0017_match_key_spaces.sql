-- Match keys per key space: a match module decides the keys prospects are
-- stored under, so each module (by sha256) has its own space, and two
-- modules' identical keys no longer collide. The candidate look-up reads
-- the space of the module that derived the signal's keys. Existing keys
-- go to the space of the module that stamped them. SQLite cannot change
-- a primary key in place: the table is rebuilt (both dialects alike).
-- The primary key leads with the prospect, so a page's replace or delete
-- probes it by prospect even while the statistics think a new space is
-- empty (led by the space, both indexes tied and PostgreSQL read a whole
-- space per page); the look-up reads (key_space, key).
CREATE TABLE match_keys_spaced (
    key_space    TEXT NOT NULL,
    prospect_id  TEXT NOT NULL REFERENCES prospects(id),
    key          TEXT NOT NULL,
    PRIMARY KEY (prospect_id, key_space, key)
);
INSERT INTO match_keys_spaced (key_space, prospect_id, key)
    SELECT policy_sha256, prospect_id, key FROM match_keys;
DROP TABLE match_keys;
ALTER TABLE match_keys_spaced RENAME TO match_keys;
CREATE INDEX match_keys_space_key ON match_keys (key_space, key);

-- Re-key jobs: a match module's keys computed for every prospect of a
-- scope ('' global, else a workspace id), in pages, before the module
-- decides. `cursor` is the last prospect id done, so a restart resumes.
-- One running job per (scope, mode): a newer change of the scope cancels
-- the older job, so two jobs never race to switch one scope.
CREATE TABLE rekey_jobs (
    id             TEXT PRIMARY KEY,
    scope          TEXT NOT NULL,
    module_sha256  TEXT NOT NULL,
    from_sha256    TEXT,
    mode           TEXT NOT NULL CHECK (mode IN ('active', 'shadow')),
    action         TEXT NOT NULL CHECK (action IN ('assign', 'promote', 'rollback', 'unassign', 'startup')),
    bind_sha256    TEXT,
    refuse         INTEGER NOT NULL CHECK (refuse IN (0, 1)),
    actor          TEXT,
    status         TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    phase          TEXT NOT NULL CHECK (phase IN ('fill', 'sweep')),
    cursor         TEXT NOT NULL DEFAULT '',
    done           BIGINT NOT NULL DEFAULT 0,
    failures       BIGINT NOT NULL DEFAULT 0,
    total          BIGINT NOT NULL DEFAULT 0,
    first_failure  TEXT,
    error          TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    finished_at    BIGINT
);
CREATE UNIQUE INDEX rekey_jobs_one_running ON rekey_jobs (scope, mode) WHERE status = 'running';
CREATE INDEX rekey_jobs_created ON rekey_jobs (created_at, id);
