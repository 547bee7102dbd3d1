-- Uploads compile off the request path (issue 22): a module is stored as
-- soon as its bytes pass the cheap checks, `compiling`; a background
-- worker validates it as the loader does and marks it `ready` (it may be
-- bound) or `failed` (with the loader's message). Modules stored before
-- were validated within their upload: they are ready.
ALTER TABLE policy_modules ADD COLUMN compile_status TEXT NOT NULL DEFAULT 'ready'
    CHECK (compile_status IN ('compiling', 'ready', 'failed'));
ALTER TABLE policy_modules ADD COLUMN compile_error TEXT;
ALTER TABLE policy_modules ADD COLUMN compile_ms BIGINT;
ALTER TABLE policy_modules ADD COLUMN compiled_at BIGINT;
-- The scope of the module's first upload ('' global, else a workspace's
-- id), whose labels it keeps; NULL for the modules stored before, whose
-- first binding tells.
ALTER TABLE policy_modules ADD COLUMN upload_scope TEXT;

-- The compile worker's queue: the modules still compiling, oldest first.
CREATE INDEX policy_modules_compiling ON policy_modules (created_at, sha256)
    WHERE compile_status = 'compiling';

-- Every scope a module was uploaded for (a module is stored once; the
-- same bytes may come from several workspaces): a workspace token sees
-- the modules uploaded for its scope before any is bound.
CREATE TABLE policy_module_uploads (
    sha256       TEXT NOT NULL REFERENCES policy_modules(sha256),
    scope        TEXT NOT NULL,
    uploaded_at  BIGINT NOT NULL,
    uploaded_by  TEXT,
    PRIMARY KEY (sha256, scope)
);
CREATE INDEX policy_module_uploads_scope ON policy_module_uploads (scope, sha256);
