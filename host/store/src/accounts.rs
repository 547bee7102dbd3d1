//! Workspaces and LinkedIn accounts.

use super::StoreError;
use crate::clock::Millis;
use crate::domain::Named;
use accord_policy_core::AccountStatus;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// A workspace: a team and its accounts, campaigns and endpoints.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Workspace {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time, ms.
    pub created_at: i64,
}

/// A LinkedIn account connected through the provider.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Account {
    /// Id.
    pub id: String,
    /// Its workspace.
    pub workspace_id: String,
    /// The provider's account id (Unipile `account_id`).
    pub provider_account_id: String,
    /// Our own member id (`ACo…`), to recognise our own messages.
    pub own_member_id: Option<String>,
    /// A label.
    pub display_name: String,
    /// `connected`, `disconnected`, `restricted` or `connecting`.
    pub status: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Start of the warm-up ramp, ms.
    pub warmup_started_at: i64,
    /// Invites per day (before the ramp).
    pub daily_invite_cap: i64,
    /// Invites per 7 days.
    pub weekly_invite_cap: i64,
    /// Messages per day (before the ramp).
    pub daily_message_cap: i64,
    /// Messages per 7 days.
    pub weekly_message_cap: i64,
    /// Minimum time between two provider actions, ms.
    pub min_spacing_ms: i64,
    /// Next allowed provider action, ms.
    pub next_action_at: i64,
    /// Last status change, ms.
    pub status_changed_at: i64,
    /// Creation time, ms.
    pub created_at: i64,
}

impl Account {
    /// The status as the policy contract's enum.
    pub fn status(&self) -> Result<AccountStatus, StoreError> {
        AccountStatus::parse(&self.status).ok_or_else(|| StoreError::Corrupt {
            table: "linkedin_accounts",
            reason: format!("status {}", self.status),
        })
    }
}

const ACCOUNT_COLUMNS: &str = "id, workspace_id, provider_account_id, own_member_id, display_name, status, time_zone, \
    warmup_started_at, daily_invite_cap, weekly_invite_cap, daily_message_cap, weekly_message_cap, min_spacing_ms, \
    next_action_at, status_changed_at, created_at";

/// Workspaces, oldest first, at most `limit` (the dashboard's list).
pub async fn workspaces(c: &mut AnyConnection, limit: i64) -> Result<Vec<Workspace>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, created_at FROM workspaces ORDER BY created_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Inserts a workspace.
pub async fn insert_workspace(c: &mut AnyConnection, w: &Workspace) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&w.id)
        .bind(&w.name)
        .bind(w.created_at)
        .execute(c)
        .await?;
    Ok(())
}

/// A workspace by id.
pub async fn workspace(c: &mut AnyConnection, id: &str) -> Result<Option<Workspace>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, created_at FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_optional(c)
            .await?,
    )
}

/// Inserts an account.
pub async fn insert_account(c: &mut AnyConnection, a: &Account) -> Result<(), StoreError> {
    sqlx::query(super::sql(format!(
        "INSERT INTO linkedin_accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    )))
    .bind(&a.id)
    .bind(&a.workspace_id)
    .bind(&a.provider_account_id)
    .bind(&a.own_member_id)
    .bind(&a.display_name)
    .bind(&a.status)
    .bind(&a.time_zone)
    .bind(a.warmup_started_at)
    .bind(a.daily_invite_cap)
    .bind(a.weekly_invite_cap)
    .bind(a.daily_message_cap)
    .bind(a.weekly_message_cap)
    .bind(a.min_spacing_ms)
    .bind(a.next_action_at)
    .bind(a.status_changed_at)
    .bind(a.created_at)
    .execute(c)
    .await?;
    Ok(())
}

/// An account by id.
pub async fn account(c: &mut AnyConnection, id: &str) -> Result<Option<Account>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM linkedin_accounts WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// An account by the provider's account id.
pub async fn account_by_provider_id(
    c: &mut AnyConnection,
    provider_account_id: &str,
) -> Result<Option<Account>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM linkedin_accounts WHERE provider_account_id = $1"
    )))
    .bind(provider_account_id)
    .fetch_optional(c)
    .await?)
}

/// The accounts these provider account ids name, each with whether its
/// workspace has a running campaign, in one round trip (the accept
/// pipeline's look-up): the accounts that exist, in no particular order.
pub async fn accounts_for_signals(
    c: &mut AnyConnection,
    provider_account_ids: &[&str],
) -> Result<Vec<(Account, bool)>, StoreError> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: Account,
        running: i64,
    }
    if provider_account_ids.is_empty() {
        return Ok(Vec::new());
    }
    let columns = super::qualified(ACCOUNT_COLUMNS, "a");
    let postgres = super::arrays::is_postgres(c);
    let (in_ids, _) = super::arrays::in_texts(postgres, 1, provider_account_ids.len());
    let statement = format!(
        "SELECT {columns}, CAST(CASE WHEN EXISTS (SELECT 1 FROM campaigns k WHERE k.workspace_id = a.workspace_id \
         AND k.status = 'running') THEN 1 ELSE 0 END AS BIGINT) AS running \
         FROM linkedin_accounts a WHERE a.provider_account_id {in_ids}"
    );
    let q = sqlx::query_as(super::sql_for(c, statement));
    let q = super::arrays::bind_texts(q, postgres, provider_account_ids);
    let rows: Vec<Row> = q.fetch_all(c).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.account, r.running == 1))
        .collect())
}

/// The accounts of a workspace.
pub async fn accounts_of(
    c: &mut AnyConnection,
    workspace_id: &str,
) -> Result<Vec<Account>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM linkedin_accounts WHERE workspace_id = $1 ORDER BY created_at"
    )))
    .bind(workspace_id)
    .fetch_all(c)
    .await?)
}

/// All accounts (for the pollers and the engine).
pub async fn all_accounts(c: &mut AnyConnection) -> Result<Vec<Account>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM linkedin_accounts ORDER BY created_at"
    )))
    .fetch_all(c)
    .await?)
}

/// Sets an account's status as observed now (the engine's 401/403, the
/// API); returns whether it changed. A status webhook received before now
/// no longer applies ([`apply_status_webhook`]).
pub async fn set_status(
    c: &mut AnyConnection,
    id: &str,
    status: AccountStatus,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE linkedin_accounts SET status = $1, status_changed_at = $2, \
         status_observed_at = CASE WHEN status_observed_at >= $2 THEN status_observed_at ELSE $2 END, \
         status_inbox_id = CASE WHEN status_observed_at >= $2 THEN status_inbox_id ELSE '' END \
         WHERE id = $3 AND status <> $1",
    )
    .bind(status.as_str())
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// What a status webhook did to its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusApplied {
    /// A newer status change was already applied: nothing changed.
    Older,
    /// The delivery is now the account's latest; its status was `from`.
    Applied {
        /// The status before.
        from: String,
        /// Whether the status changed.
        changed: bool,
    },
}

/// Applies a status webhook (the inbox row `inbox_id`, received at
/// `received_at`) only if it is newer than the status change last applied
/// to the account, whatever order deliveries are processed in (several
/// instances, retries, replays). The conditional UPDATE also locks the
/// account row, so the status it returns is the one replaced.
pub async fn apply_status_webhook(
    c: &mut AnyConnection,
    id: &str,
    status: AccountStatus,
    received_at: Millis,
    inbox_id: &str,
    now: Millis,
) -> Result<StatusApplied, StoreError> {
    let newer: Option<(String,)> = sqlx::query_as(
        "UPDATE linkedin_accounts SET status_observed_at = $1, status_inbox_id = $2 \
         WHERE id = $3 AND (status_observed_at < $1 OR (status_observed_at = $1 AND status_inbox_id < $2)) \
         RETURNING status",
    )
    .bind(received_at)
    .bind(inbox_id)
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    let Some((from,)) = newer else {
        return Ok(StatusApplied::Older);
    };
    let changed = from != status.as_str();
    if changed {
        sqlx::query(
            "UPDATE linkedin_accounts SET status = $1, status_changed_at = $2 WHERE id = $3",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(id)
        .execute(c)
        .await?;
    }
    Ok(StatusApplied::Applied { from, changed })
}

/// A workspace with how many campaigns and LinkedIn accounts it has.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct WorkspaceSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time, ms.
    pub created_at: i64,
    /// Its campaigns, any status.
    pub campaigns: i64,
    /// Its LinkedIn accounts.
    pub accounts: i64,
}

/// Up to `limit` workspaces after the id `after` (`""` first), in id
/// order, only `only` when given, with their counts.
pub async fn workspace_summaries(
    c: &mut AnyConnection,
    only: Option<&str>,
    after: &str,
    limit: i64,
) -> Result<Vec<WorkspaceSummary>, StoreError> {
    let (scope, limit_at) = if only.is_some() {
        (" AND w.id = $2", 3)
    } else {
        ("", 2)
    };
    let statement = format!(
        "SELECT w.id, w.name, w.created_at, \
         (SELECT COUNT(*) FROM campaigns c WHERE c.workspace_id = w.id) AS campaigns, \
         (SELECT COUNT(*) FROM linkedin_accounts a WHERE a.workspace_id = w.id) AS accounts \
         FROM workspaces w WHERE w.id > $1{scope} ORDER BY w.id LIMIT ${limit_at}"
    );
    let q = sqlx::query_as(super::sql(statement)).bind(after);
    let q = match only {
        Some(id) => q.bind(id),
        None => q,
    };
    Ok(q.bind(limit).fetch_all(c).await?)
}

/// An account's circuit breaker: consecutive transient failures, and
/// until when it holds the account's actions (if it opened).
#[derive(Debug, Clone, Copy, FromRow)]
pub struct BreakerRow {
    /// Consecutive transient provider failures.
    pub consecutive_failures: i64,
    /// The breaker holds the account until then, ms.
    pub breaker_open_until: Option<i64>,
}

/// The breaker of account `id`, if the account exists.
pub async fn breaker(c: &mut AnyConnection, id: &str) -> Result<Option<BreakerRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT consecutive_failures, breaker_open_until FROM linkedin_accounts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// Charges an account's action slot taken at `$1`: its next action comes
/// its spacing later, plus `$2` (the jitter) when the spacing is not zero.
pub(crate) const TAKE_SLOT: &str = "next_action_at = $1 + min_spacing_ms + \
     CASE WHEN min_spacing_ms > 0 THEN $2 ELSE 0 END";

/// An account's slot is free at `$1`: connected, its spacing passed, its
/// breaker closed.
pub(crate) const SLOT_FREE: &str = "status = 'connected' AND next_action_at <= $1 \
     AND (breaker_open_until IS NULL OR breaker_open_until <= $1)";

/// Takes the account's next provider-action slot at `now` if it is
/// connected, its spacing has passed and its breaker is closed: charges
/// `next_action_at` = now + spacing (+ `extra` jitter when the spacing is
/// not zero) before the call is made. One statement, so two takers never
/// both get the slot. Returns whether it was taken.
pub async fn take_action_slot(
    c: &mut AnyConnection,
    account_id: &str,
    now: Millis,
    extra: Millis,
) -> Result<bool, StoreError> {
    let taken = sqlx::query(super::sql(format!(
        "UPDATE linkedin_accounts SET {TAKE_SLOT} WHERE id = $3 AND {SLOT_FREE}"
    )))
    .bind(now)
    .bind(extra)
    .bind(account_id)
    .execute(c)
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// A send went through: the account's failure count and breaker reset.
pub async fn breaker_success(c: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE linkedin_accounts SET consecutive_failures = 0, breaker_open_until = NULL \
         WHERE id = $1 AND consecutive_failures > 0",
    )
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// Counts one more consecutive transient failure; returns the count.
pub async fn count_failure(c: &mut AnyConnection, id: &str) -> Result<i64, StoreError> {
    let (failures,): (i64,) = sqlx::query_as(
        "UPDATE linkedin_accounts SET consecutive_failures = consecutive_failures + 1 \
         WHERE id = $1 RETURNING consecutive_failures",
    )
    .bind(id)
    .fetch_one(c)
    .await?;
    Ok(failures)
}

/// Opens the account's circuit breaker until `until`: it may not act
/// before.
pub async fn open_breaker(
    c: &mut AnyConnection,
    id: &str,
    until: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE linkedin_accounts SET breaker_open_until = $1 WHERE id = $2")
        .bind(until)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}
