//! Workspaces and their LinkedIn accounts.

use super::extract::{JsonBody, Path};
use super::{conn, invalid, optional_text, required_id, required_text};
use crate::app::App;
use crate::caller::Caller;
use crate::clock::new_id;
use crate::domain::Named;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::store::accounts::{self, Account, Workspace};
use crate::store::events::{self, NewEvent};
use accord_policy_core::AccountStatus;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;

/// Body of `POST /api/workspaces`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// A name, 1-200 characters.
    pub name: String,
}

/// Creates a workspace.
#[utoipa::path(
    post, path = "/api/workspaces", tag = "workspaces",
    request_body = NewWorkspace,
    security(("api_token" = [])),
    responses(
        (status = 201, description = "Created", body = Workspace),
        (status = 400, description = "Malformed JSON (`invalid_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 403, description = "A workspace token cannot create workspaces (`forbidden_for_workspace_token`)", body = ErrorBody),
        (status = 422, description = "`invalid_name`", body = ErrorBody),
    )
)]
pub async fn create_workspace(
    State(app): State<Arc<App>>,
    caller: Caller,
    JsonBody(body): JsonBody<NewWorkspace>,
) -> ApiResult<(StatusCode, Json<Workspace>)> {
    caller.forbid_workspace_token()?;
    let workspace = Workspace {
        id: new_id(),
        name: required_text("invalid_name", "name", &body.name, 200)?,
        created_at: app.clock.now_ms(),
    };
    let mut tx = app.db.begin().await?;
    accounts::insert_workspace(&mut tx, &workspace).await?;
    let event = NewEvent {
        workspace_id: &workspace.id,
        kind: "workspace_created",
        source: Some("api"),
        detail: Some(serde_json::json!({"name": workspace.name})),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, workspace.created_at).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(workspace)))
}

/// A workspace.
#[utoipa::path(
    get, path = "/api/workspaces/{id}", tag = "workspaces",
    params(("id" = String, Path, description = "Workspace id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = Workspace),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn get_workspace(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Workspace>> {
    let mut c = conn(&app).await?;
    Ok(Json(load_workspace(&mut c, &caller, &id).await?))
}

/// The workspace `id`, or 404 when it does not exist or the caller may
/// not see it (the same answer, so a workspace token learns nothing of
/// other workspaces).
pub(crate) async fn load_workspace(
    c: &mut crate::store::Connection,
    caller: &Caller,
    id: &str,
) -> ApiResult<Workspace> {
    accounts::workspace(c, id)
        .await?
        .filter(|w| caller.may_see(&w.id))
        .ok_or_else(|| ApiError::not_found("workspace", id))
}

/// Refuses, as missing (404), a workspace a workspace token may not see,
/// before a lifecycle acts on it; other callers are not read here (the
/// lifecycle finds a missing workspace itself).
pub(crate) async fn guard_workspace(app: &App, caller: &Caller, id: &str) -> ApiResult<()> {
    if caller.workspace().is_none() {
        return Ok(());
    }
    let mut c = conn(app).await?;
    load_workspace(&mut c, caller, id).await.map(drop)
}

/// The account `id`, or 404 when it does not exist or the caller may not
/// see its workspace.
pub(crate) async fn load_account(
    c: &mut crate::store::Connection,
    caller: &Caller,
    id: &str,
) -> ApiResult<Account> {
    accounts::account(c, id)
        .await?
        .filter(|a| caller.may_see(&a.workspace_id))
        .ok_or_else(|| ApiError::not_found("LinkedIn account", id))
}

/// Body of `POST /api/workspaces/{id}/accounts`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// The provider's account id (Unipile `account_id`); unique, at most
    /// 200 bytes (a webhook's bound on it).
    pub provider_account_id: String,
    /// A label.
    pub display_name: String,
    /// IANA time zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// Our own member id (`ACo…`), to recognise our own messages; at
    /// most 200 bytes.
    #[serde(default)]
    pub own_member_id: Option<String>,
    /// Invites per day before the warm-up ramp (default 20).
    #[serde(default)]
    pub daily_invite_cap: Option<i64>,
    /// Invites per 7 days (default 100).
    #[serde(default)]
    pub weekly_invite_cap: Option<i64>,
    /// Messages per day before the warm-up ramp (default 50).
    #[serde(default)]
    pub daily_message_cap: Option<i64>,
    /// Messages per 7 days (default 200).
    #[serde(default)]
    pub weekly_message_cap: Option<i64>,
    /// Minimum seconds between two provider actions (default 90).
    #[serde(default)]
    pub min_spacing_seconds: Option<i64>,
    /// `connected` (default), `disconnected`, `restricted` or `connecting`.
    #[serde(default)]
    pub status: Option<String>,
}

/// Largest cap accepted (a sanity bound, far above anything LinkedIn allows).
const MAX_CAP: i64 = 100_000;

fn cap(code: &'static str, field: &str, value: Option<i64>, default: i64) -> ApiResult<i64> {
    let v = value.unwrap_or(default);
    if !(0..=MAX_CAP).contains(&v) {
        return Err(invalid(
            code,
            format!("`{field}` must be 0 to {MAX_CAP}, got {v}"),
        ));
    }
    Ok(v)
}

/// Parses an account status name (422 `invalid_status` otherwise).
pub(crate) fn parse_account_status(s: &str) -> ApiResult<AccountStatus> {
    AccountStatus::parse(s).ok_or_else(|| {
        let allowed: Vec<&str> = AccountStatus::ALL.iter().map(|s| s.as_str()).collect();
        invalid(
            "invalid_status",
            format!("`status` must be one of {}, got `{s}`", allowed.join(", ")),
        )
    })
}

/// Checks an IANA time zone name (422 `invalid_time_zone` otherwise).
pub(crate) fn check_time_zone(tz: &str) -> ApiResult<String> {
    Ok(crate::lifecycle::time_zone(tz)?)
}

/// Connects a LinkedIn account to a workspace.
#[utoipa::path(
    post, path = "/api/workspaces/{id}/accounts", tag = "accounts",
    params(("id" = String, Path, description = "Workspace id")),
    request_body = NewAccount,
    security(("api_token" = [])),
    responses(
        (status = 201, description = "Created", body = Account),
        (status = 400, description = "Malformed JSON (`invalid_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "Unknown workspace (`not_found`)", body = ErrorBody),
        (status = 409, description = "The provider account id is taken (`account_exists`)", body = ErrorBody),
        (status = 422, description = "`invalid_provider_account_id` (empty or over 200 bytes), `invalid_own_member_id` (over 200 bytes), `invalid_display_name`, `invalid_time_zone`, `invalid_<cap>`, `invalid_min_spacing_seconds`, `invalid_status`", body = ErrorBody),
    )
)]
pub async fn create_account(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(workspace_id): Path<String>,
    JsonBody(body): JsonBody<NewAccount>,
) -> ApiResult<(StatusCode, Json<Account>)> {
    let provider_account_id = required_id(
        "invalid_provider_account_id",
        "provider_account_id",
        &body.provider_account_id,
    )?;
    let own_member_id = optional_text(body.own_member_id)
        .map(|id| required_id("invalid_own_member_id", "own_member_id", &id))
        .transpose()?;
    let display_name = required_text(
        "invalid_display_name",
        "display_name",
        &body.display_name,
        200,
    )?;
    let time_zone = check_time_zone(&body.time_zone)?;
    let daily_invite_cap = cap(
        "invalid_daily_invite_cap",
        "daily_invite_cap",
        body.daily_invite_cap,
        20,
    )?;
    let weekly_invite_cap = cap(
        "invalid_weekly_invite_cap",
        "weekly_invite_cap",
        body.weekly_invite_cap,
        100,
    )?;
    let daily_message_cap = cap(
        "invalid_daily_message_cap",
        "daily_message_cap",
        body.daily_message_cap,
        50,
    )?;
    let weekly_message_cap = cap(
        "invalid_weekly_message_cap",
        "weekly_message_cap",
        body.weekly_message_cap,
        200,
    )?;
    let spacing = body.min_spacing_seconds.unwrap_or(90);
    if !(0..=86_400).contains(&spacing) {
        return Err(invalid(
            "invalid_min_spacing_seconds",
            format!("`min_spacing_seconds` must be 0 to 86400, got {spacing}"),
        ));
    }
    let status = match body.status.as_deref() {
        Some(s) => parse_account_status(s)?,
        None => AccountStatus::Connected,
    };
    let now = app.clock.now_ms();
    let account = Account {
        id: new_id(),
        workspace_id,
        provider_account_id,
        own_member_id,
        display_name,
        status: status.as_str().to_string(),
        time_zone,
        warmup_started_at: now,
        daily_invite_cap,
        weekly_invite_cap,
        daily_message_cap,
        weekly_message_cap,
        min_spacing_ms: spacing * 1000,
        next_action_at: 0,
        status_changed_at: now,
        created_at: now,
    };
    let mut tx = app.db.begin().await?;
    load_workspace(&mut tx, &caller, &account.workspace_id).await?;
    if let Err(e) = accounts::insert_account(&mut tx, &account).await {
        if e.is_unique_violation() {
            return Err(ApiError::conflict(
                "account_exists",
                format!(
                    "a LinkedIn account with provider_account_id `{}` already exists",
                    account.provider_account_id
                ),
            ));
        }
        return Err(e.into());
    }
    let event = NewEvent {
        workspace_id: &account.workspace_id,
        linkedin_account_id: Some(&account.id),
        kind: "account_created",
        source: Some("api"),
        detail: Some(serde_json::json!({
            "provider_account_id": account.provider_account_id, "status": account.status,
        })),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// The LinkedIn accounts of a workspace.
#[utoipa::path(
    get, path = "/api/workspaces/{id}/accounts", tag = "accounts",
    params(("id" = String, Path, description = "Workspace id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = Vec<Account>),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn list_accounts(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Account>>> {
    let mut c = conn(&app).await?;
    load_workspace(&mut c, &caller, &id).await?;
    Ok(Json(accounts::accounts_of(&mut c, &id).await?))
}

/// A LinkedIn account.
#[utoipa::path(
    get, path = "/api/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Account id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = Account),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn get_account(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Account>> {
    let mut c = conn(&app).await?;
    Ok(Json(load_account(&mut c, &caller, &id).await?))
}

/// Body of `POST /api/accounts/{id}/status`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `connected`, `disconnected`, `restricted` or `connecting`.
    pub status: String,
}

/// Sets an account's status (an `account_status_changed` event in the same
/// transaction). A reconnect wakes the job worker so held jobs run again.
#[utoipa::path(
    post, path = "/api/accounts/{id}/status", tag = "accounts",
    params(("id" = String, Path, description = "Account id")),
    request_body = StatusChange,
    security(("api_token" = [])),
    responses(
        (status = 200, description = "The account after the change (unchanged when it already had that status)", body = Account),
        (status = 400, description = "Malformed JSON (`invalid_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_status`", body = ErrorBody),
    )
)]
pub async fn set_account_status(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusChange>,
) -> ApiResult<Json<Account>> {
    let status = parse_account_status(body.status.trim())?;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let before = load_account(&mut tx, &caller, &id).await?;
    let changed = accounts::set_status(&mut tx, &id, status, now).await?;
    if changed {
        let event = NewEvent {
            workspace_id: &before.workspace_id,
            linkedin_account_id: Some(&before.id),
            kind: "account_status_changed",
            source: Some("api"),
            detail: Some(serde_json::json!({"from": before.status, "to": status.as_str()})),
            ..NewEvent::default()
        };
        events::record(&mut tx, event, now).await?;
    }
    let after = load_account(&mut tx, &caller, &id).await?;
    tx.commit().await?;
    if changed {
        app.pipeline.wakers().wake_jobs();
    }
    Ok(Json(after))
}
