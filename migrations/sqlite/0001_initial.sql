-- Accord's schema, version 1. Written once in the SQL both SQLite and
-- PostgreSQL accept; migrations/{sqlite,postgres}/0001_initial.sql are
-- generated from this file by scripts/gen-migrations (only type names
-- differ: BLOB is BLOB or BYTEA). Times are integer milliseconds since
-- the Unix epoch, UTC; ids are UUIDv7 strings.
--
-- Idempotency lives here: unique keys, partial unique indexes and CHECK
-- constraints, so that code can insert with ON CONFLICT DO NOTHING instead
-- of checking first.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  BIGINT NOT NULL
);

CREATE TABLE linkedin_accounts (
    id                   TEXT PRIMARY KEY,
    workspace_id         TEXT NOT NULL REFERENCES workspaces(id),
    -- Unipile's account_id: what webhooks and the REST API name.
    provider_account_id  TEXT NOT NULL UNIQUE,
    -- Our own member id (ACo…): a message from it is our own echo.
    own_member_id        TEXT,
    display_name         TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('connected', 'disconnected', 'restricted', 'connecting')),
    time_zone            TEXT NOT NULL,
    warmup_started_at    BIGINT NOT NULL,
    daily_invite_cap     BIGINT NOT NULL CHECK (daily_invite_cap >= 0),
    weekly_invite_cap    BIGINT NOT NULL CHECK (weekly_invite_cap >= 0),
    daily_message_cap    BIGINT NOT NULL CHECK (daily_message_cap >= 0),
    weekly_message_cap   BIGINT NOT NULL CHECK (weekly_message_cap >= 0),
    min_spacing_ms       BIGINT NOT NULL CHECK (min_spacing_ms >= 0),
    -- The account's next allowed provider action (per-account spacing).
    next_action_at       BIGINT NOT NULL DEFAULT 0,
    -- Circuit breaker: consecutive transient provider failures, and when
    -- the breaker closes again.
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    breaker_open_until   BIGINT,
    -- Relations polling: the newest relation seen, and the next poll.
    last_relation_at     BIGINT,
    next_poll_at         BIGINT NOT NULL DEFAULT 0,
    status_changed_at    BIGINT NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE INDEX linkedin_accounts_workspace ON linkedin_accounts (workspace_id);

CREATE TABLE campaigns (
    id                   TEXT PRIMARY KEY,
    workspace_id         TEXT NOT NULL REFERENCES workspaces(id),
    linkedin_account_id  TEXT NOT NULL REFERENCES linkedin_accounts(id),
    name                 TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status               TEXT NOT NULL CHECK (status IN ('draft', 'running', 'paused', 'completed', 'stopped')),
    -- JSON array of steps (validated by the host before it is written).
    steps                TEXT NOT NULL,
    -- Sending window in the campaign's time zone: minutes after midnight,
    -- and ISO weekdays (1 = Monday) as a comma-separated list.
    window_start_minute  BIGINT NOT NULL CHECK (window_start_minute BETWEEN 0 AND 1439),
    window_end_minute    BIGINT NOT NULL CHECK (window_end_minute BETWEEN 1 AND 1440),
    window_days          TEXT NOT NULL,
    time_zone            TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    CHECK (window_start_minute < window_end_minute)
);
CREATE INDEX campaigns_workspace ON campaigns (workspace_id, status);
CREATE INDEX campaigns_account ON campaigns (linkedin_account_id, status);

CREATE TABLE prospects (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces(id),
    full_name           TEXT,
    profile_url         TEXT,
    member_id           TEXT,
    sales_nav_lead_url  TEXT,
    public_identifier   TEXT,
    created_at          BIGINT NOT NULL,
    CHECK (profile_url IS NOT NULL OR member_id IS NOT NULL OR sales_nav_lead_url IS NOT NULL)
);
CREATE INDEX prospects_workspace ON prospects (workspace_id);

CREATE TABLE enrollments (
    id                            TEXT PRIMARY KEY,
    campaign_id                   TEXT NOT NULL REFERENCES campaigns(id),
    prospect_id                   TEXT NOT NULL REFERENCES prospects(id),
    linkedin_account_id           TEXT NOT NULL REFERENCES linkedin_accounts(id),
    linkedin_status               TEXT NOT NULL CHECK (linkedin_status IN
        ('not_invited', 'invited', 'connected', 'replied', 'condition_skipped', 'unreachable')),
    workflow_state                TEXT NOT NULL CHECK (workflow_state IN
        ('pending', 'active', 'waiting_accept', 'timed_out', 'condition_skipped', 'completed', 'stopped')),
    step_index                    BIGINT NOT NULL DEFAULT 0 CHECK (step_index >= 0),
    -- When the current step is due (a wait's end, a wait_accept timeout).
    next_run_at                   BIGINT,
    invited_provider_id           TEXT,
    invited_at                    BIGINT,
    linkedin_accepted_at          BIGINT,
    accept_source                 TEXT,
    accept_strategy               TEXT,
    linkedin_replied_at           BIGINT,
    late_accept_observed_at       BIGINT,
    -- Set by the worker when the late follow-up is sent, not at enqueue.
    late_accept_followup_sent_at  BIGINT,
    created_at                    BIGINT NOT NULL,
    updated_at                    BIGINT NOT NULL,
    UNIQUE (campaign_id, prospect_id),
    -- The status flip and the stamp are one fact: connected or replied
    -- exactly when the accept is stamped.
    CHECK ((linkedin_status IN ('connected', 'replied')) = (linkedin_accepted_at IS NOT NULL)),
    CHECK ((linkedin_status = 'replied') = (linkedin_replied_at IS NOT NULL)),
    CHECK (linkedin_accepted_at IS NULL OR accept_source IS NOT NULL),
    CHECK (late_accept_followup_sent_at IS NULL OR late_accept_observed_at IS NOT NULL)
);
CREATE INDEX enrollments_prospect ON enrollments (prospect_id);
CREATE INDEX enrollments_campaign ON enrollments (campaign_id, linkedin_status);
CREATE INDEX enrollments_due ON enrollments (next_run_at) WHERE next_run_at IS NOT NULL;
CREATE INDEX enrollments_late ON enrollments (late_accept_observed_at)
    WHERE late_accept_observed_at IS NOT NULL AND late_accept_followup_sent_at IS NULL;
CREATE INDEX enrollments_accepted ON enrollments (linkedin_accepted_at) WHERE linkedin_accepted_at IS NOT NULL;

-- What was sent to whom (send_invite outcomes).
CREATE TABLE invites (
    id                  TEXT PRIMARY KEY,
    enrollment_id       TEXT NOT NULL REFERENCES enrollments(id),
    linkedin_account_id TEXT NOT NULL REFERENCES linkedin_accounts(id),
    provider_id         TEXT NOT NULL,
    invitation_id       TEXT,
    sent_at             BIGINT NOT NULL,
    UNIQUE (enrollment_id)
);
CREATE INDEX invites_provider ON invites (linkedin_account_id, provider_id);

-- The match policy's index keys per prospect; matching never scans.
CREATE TABLE match_keys (
    prospect_id     TEXT NOT NULL REFERENCES prospects(id),
    key             TEXT NOT NULL,
    policy_sha256   TEXT NOT NULL,
    PRIMARY KEY (prospect_id, key)
);
CREATE INDEX match_keys_key ON match_keys (key);

-- Every webhook, raw, written before the 200 goes out.
CREATE TABLE webhook_inbox (
    id            TEXT PRIMARY KEY,
    natural_key   TEXT NOT NULL UNIQUE,
    event         TEXT NOT NULL,
    body          TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'processed', 'ignored', 'failed')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    outcome       TEXT,
    error         TEXT,
    processed_at  BIGINT
);
CREATE INDEX webhook_inbox_pending ON webhook_inbox (received_at) WHERE status = 'pending';

-- The audit log: every state change writes one row in its transaction.
CREATE TABLE linkedin_events (
    id                   TEXT PRIMARY KEY,
    workspace_id         TEXT NOT NULL,
    linkedin_account_id  TEXT,
    enrollment_id        TEXT,
    kind                 TEXT NOT NULL,
    source               TEXT,
    strategy             TEXT,
    detail               TEXT NOT NULL DEFAULT '{}',
    occurred_at          BIGINT NOT NULL
);
CREATE INDEX linkedin_events_enrollment ON linkedin_events (enrollment_id, occurred_at);
CREATE INDEX linkedin_events_kind ON linkedin_events (kind, occurred_at);

-- Decisions worth explaining: bridge misses, orphan webhooks, policy
-- failures.
CREATE TABLE traces (
    id                   TEXT PRIMARY KEY,
    workspace_id         TEXT,
    linkedin_account_id  TEXT,
    enrollment_id        TEXT,
    kind                 TEXT NOT NULL,
    signal               TEXT,
    detail               TEXT NOT NULL DEFAULT '{}',
    module_sha256        TEXT,
    created_at           BIGINT NOT NULL
);
CREATE INDEX traces_kind ON traces (kind, created_at);
CREATE INDEX traces_workspace ON traces (workspace_id, created_at);

-- The job queue. At most one active job per (enrollment, step).
CREATE TABLE campaign_send_jobs (
    id                   TEXT PRIMARY KEY,
    enrollment_id        TEXT NOT NULL REFERENCES enrollments(id),
    campaign_id          TEXT NOT NULL REFERENCES campaigns(id),
    linkedin_account_id  TEXT NOT NULL REFERENCES linkedin_accounts(id),
    step_index           BIGINT NOT NULL CHECK (step_index >= 0),
    action               TEXT NOT NULL CHECK (action IN ('send_invite', 'send_message')),
    source               TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'succeeded', 'failed', 'cancelled')),
    run_at               BIGINT NOT NULL,
    attempts             BIGINT NOT NULL DEFAULT 0,
    -- Why a pending job waits (window, cap, ramp, spacing, account, campaign).
    wait_reason          TEXT,
    lease_owner          TEXT,
    lease_expires_at     BIGINT,
    -- Incremented on every claim: a stale worker's completion is refused.
    fence                BIGINT NOT NULL DEFAULT 0,
    claimed_at           BIGINT,
    last_error           TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    completed_at         BIGINT
);
CREATE UNIQUE INDEX campaign_send_jobs_one_active
    ON campaign_send_jobs (enrollment_id, step_index) WHERE status IN ('pending', 'processing');
CREATE INDEX campaign_send_jobs_due ON campaign_send_jobs (run_at) WHERE status = 'pending';
CREATE INDEX campaign_send_jobs_account ON campaign_send_jobs (linkedin_account_id, action, status, claimed_at);
CREATE INDEX campaign_send_jobs_enrollment ON campaign_send_jobs (enrollment_id);

-- Pre-flight skips; the recoverable ones are retried by the skip-retry
-- tick and by a campaign's resume sweep.
CREATE TABLE skips (
    id               TEXT PRIMARY KEY,
    enrollment_id    TEXT NOT NULL REFERENCES enrollments(id),
    campaign_id      TEXT NOT NULL REFERENCES campaigns(id),
    step_index       BIGINT NOT NULL,
    source           TEXT NOT NULL,
    reason           TEXT NOT NULL,
    recoverable      BIGINT NOT NULL CHECK (recoverable IN (0, 1)),
    detail           TEXT NOT NULL,
    module_sha256    TEXT,
    created_at       BIGINT NOT NULL,
    retried_at       BIGINT,
    resolved_at      BIGINT
);
CREATE INDEX skips_open ON skips (created_at) WHERE recoverable = 1 AND resolved_at IS NULL;
CREATE INDEX skips_campaign ON skips (campaign_id) WHERE resolved_at IS NULL;

-- Where a workspace's notifications go.
CREATE TABLE notification_endpoints (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    kind          TEXT NOT NULL CHECK (kind IN ('slack', 'webhook')),
    url           TEXT NOT NULL,
    -- Standard Webhooks signing secret (whsec_…) for kind = 'webhook'.
    secret        TEXT,
    enabled       BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at    BIGINT NOT NULL,
    CHECK (kind <> 'webhook' OR secret IS NOT NULL)
);
CREATE INDEX notification_endpoints_workspace ON notification_endpoints (workspace_id);

-- The notification outbox: one row per fact, deduplicated by key
-- (li-accept:<linkedinAccountId>:<enrollmentId> for accepts).
CREATE TABLE outbox (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    event_type    TEXT NOT NULL,
    dedupe_key    TEXT NOT NULL UNIQUE,
    payload       TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- One delivery per (outbox row, endpoint), retried with backoff, then dead.
CREATE TABLE outbox_deliveries (
    id                TEXT PRIMARY KEY,
    outbox_id         TEXT NOT NULL REFERENCES outbox(id),
    endpoint_id       TEXT NOT NULL REFERENCES notification_endpoints(id),
    status            TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL,
    lease_expires_at  BIGINT,
    last_error        TEXT,
    last_status_code  BIGINT,
    delivered_at      BIGINT,
    created_at        BIGINT NOT NULL,
    UNIQUE (outbox_id, endpoint_id)
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_attempt_at) WHERE status = 'pending';

-- Leases for periodic ticks across instances: one holder per name, with a
-- fencing term that grows on every takeover.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    term        BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- Uploaded policy modules and the active one per slot.
CREATE TABLE policy_modules (
    sha256      TEXT PRIMARY KEY,
    slot        TEXT NOT NULL CHECK (slot IN ('match', 'routing', 'preflight')),
    origin      TEXT NOT NULL,
    bytes       BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE policy_assignments (
    slot          TEXT PRIMARY KEY CHECK (slot IN ('match', 'routing', 'preflight')),
    sha256        TEXT NOT NULL REFERENCES policy_modules(sha256),
    activated_at  BIGINT NOT NULL
);
