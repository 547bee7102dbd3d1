-- Relations polling reads one page per spacing slot of the account. A pass
-- that needs more pages keeps its place here (the next page's cursor and
-- the newest relation it has seen) until it reaches the watermark
-- (last_relation_at), which moves only then.
ALTER TABLE linkedin_accounts ADD COLUMN relations_cursor TEXT;
ALTER TABLE linkedin_accounts ADD COLUMN relations_pass_newest BIGINT;

-- Manual resync requests. At most one is open (queued or checking) per
-- prospect: a click on a prospect with an open request joins it. A queued
-- request is served when one of the prospect's accounts may act (its
-- spacing), charging that account's spacing like any provider call.
CREATE TABLE resync_requests (
    id                   TEXT PRIMARY KEY,
    prospect_id          TEXT NOT NULL REFERENCES prospects(id),
    status               TEXT NOT NULL CHECK (status IN ('queued', 'checking', 'done', 'failed')),
    clicks               BIGINT NOT NULL CHECK (clicks >= 1),
    requested_at         BIGINT NOT NULL,
    -- The worker asking the provider, and until when its claim holds (a
    -- dead worker's request is queued again afterwards).
    checker              TEXT,
    checking_until       BIGINT,
    -- The account that asked, when, and what the provider said.
    linkedin_account_id  TEXT REFERENCES linkedin_accounts(id),
    checked_at           BIGINT,
    connected            BIGINT CHECK (connected IN (0, 1)),
    -- JSON array of the enrollment ids this resync stamped.
    stamped              TEXT,
    error                TEXT,
    CHECK (status <> 'checking' OR (checker IS NOT NULL AND checking_until IS NOT NULL AND linkedin_account_id IS NOT NULL)),
    CHECK (status <> 'done' OR (checked_at IS NOT NULL AND connected IS NOT NULL AND stamped IS NOT NULL)),
    CHECK (status <> 'failed' OR (checked_at IS NOT NULL AND error IS NOT NULL))
);
CREATE UNIQUE INDEX resync_requests_open ON resync_requests (prospect_id) WHERE status IN ('queued', 'checking');
CREATE INDEX resync_requests_prospect ON resync_requests (prospect_id, requested_at);
CREATE INDEX resync_requests_queued ON resync_requests (requested_at, id) WHERE status = 'queued';
