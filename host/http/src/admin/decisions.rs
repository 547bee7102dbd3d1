//! What the policies decided: the decision log (`/admin/decisions`), a
//! shadow module's agreement report and the replay of a candidate over
//! logged decisions (`/admin/policies/{slot}/shadow|replay`).

use super::super::api::extract::{Path, Query};
use super::super::error::{ApiError, ApiResult, ErrorBody};
use crate::app::App;
use crate::caller::Caller;
use crate::lifecycle::decisions::{
    self, Candidate, DecisionPage, PolicyReplayReport, ReplayScope, ShadowReport,
};
use crate::policy::{Mode, Scope, Slot};
use crate::store::decisions::{DecisionFilter, DecisionRow};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;

/// Query of `GET /admin/decisions`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    /// Only this workspace's decisions.
    pub workspace: Option<String>,
    /// Only this slot (`match`, `routing`, `preflight`).
    pub slot: Option<String>,
    /// Only `active` or `shadow` decisions.
    pub mode: Option<String>,
    /// Only this module's decisions (sha256).
    pub module: Option<String>,
    /// Only decisions about this enrollment.
    pub enrollment: Option<String>,
    /// Decided at or after (RFC 3339, or milliseconds since the epoch).
    pub since: Option<String>,
    /// Decided before (RFC 3339, or milliseconds since the epoch).
    pub until: Option<String>,
    /// At most this many, newest first (default 100, at most 500).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// An instant given as RFC 3339 or as milliseconds since the epoch.
fn instant(field: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(value) = value.map(str::trim) else {
        return Ok(None);
    };
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(Some(ms));
    }
    value
        .parse::<jiff::Timestamp>()
        .map(|t| Some(t.as_millisecond()))
        .map_err(|_| {
            invalid(
                "invalid_time",
                format!(
                    "`{field}` is an RFC 3339 time or milliseconds since the epoch, got `{value}`"
                ),
            )
        })
}

fn slot(s: &str) -> ApiResult<Slot> {
    s.parse::<Slot>()
        .map_err(|e| ApiError::bad_request("invalid_slot", e))
}

fn scope(workspace: Option<&str>) -> ApiResult<Scope> {
    match workspace {
        None => Ok(Scope::Global),
        Some(w) if w.trim().is_empty() || w.len() > 200 => Err(invalid(
            "invalid_workspace",
            "`workspace` is a workspace id (1 to 200 bytes)",
        )),
        Some(w) => Ok(Scope::Workspace(w.to_string())),
    }
}

impl DecisionQuery {
    fn filter(&self) -> ApiResult<DecisionFilter> {
        let mode = match self.mode.as_deref() {
            None => None,
            Some(m) => Some(
                m.parse::<Mode>()
                    .map_err(|e| invalid("invalid_mode", e))?
                    .as_str()
                    .to_string(),
            ),
        };
        Ok(DecisionFilter {
            workspace_id: self.workspace.clone(),
            slot: self
                .slot
                .as_deref()
                .map(slot)
                .transpose()?
                .map(|s| s.as_str().to_string()),
            mode,
            module_sha256: self.module.clone(),
            enrollment_id: self.enrollment.clone(),
            since: instant("since", self.since.as_deref())?,
            until: instant("until", self.until.as_deref())?,
        })
    }
}

/// Logged decisions, newest first, a page at a time.
#[utoipa::path(
    get, path = "/admin/decisions", tag = "admin",
    params(DecisionQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = DecisionPage),
        (status = 400, description = "Unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 422, description = "Bad filter (`invalid_mode`, `invalid_time`, `invalid_limit`, `invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list_decisions(
    State(app): State<Arc<App>>,
    Query(q): Query<DecisionQuery>,
) -> ApiResult<Json<DecisionPage>> {
    let filter = q.filter()?;
    let page = decisions::page(
        &app.db,
        &filter,
        q.cursor.as_deref(),
        q.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(page))
}

/// One logged decision: its input and output side by side.
#[utoipa::path(
    get, path = "/admin/decisions/{id}", tag = "admin",
    params(("id" = String, Path, description = "The decision's id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = DecisionRow),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such decision (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get_decision(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<DecisionRow>> {
    Ok(Json(decisions::get(&app.db, &id).await?))
}

/// Query of the shadow report.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShadowQuery {
    /// The workspace whose shadow module this is; absent: the global one.
    pub workspace: Option<String>,
    /// Report on this module (sha256) instead of the one bound now.
    pub module: Option<String>,
    /// Only decisions from this time on (RFC 3339, or milliseconds).
    pub since: Option<String>,
}

/// How the scope's shadow module decided beside the active one: calls,
/// agreements, disagreements grouped by (active → shadow) with sample
/// decision ids, errors and the calls this instance dropped.
#[utoipa::path(
    get, path = "/admin/policies/{slot}/shadow", tag = "admin",
    params(("slot" = String, Path, description = "`match`, `routing` or `preflight`"), ShadowQuery),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, body = ShadowReport),
        (status = 400, description = "Unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`), or the global scope with a workspace token (`forbidden_for_workspace_token`)", body = ErrorBody),
        (status = 404, description = "No such workspace, or another workspace than a workspace token's own: the same answer (`not_found`)", body = ErrorBody),
        (status = 422, description = "Bad query (`invalid_workspace`, `invalid_time`)", body = ErrorBody),
    )
)]
pub async fn shadow_report(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(s): Path<String>,
    Query(q): Query<ShadowQuery>,
) -> ApiResult<Json<ShadowReport>> {
    let slot = slot(&s)?;
    let scope = scope(q.workspace.as_deref())?;
    super::policies::may_change(&caller, &scope)?;
    let since = instant("since", q.since.as_deref())?;
    let bound = app.policies.bound(&scope, slot, Mode::Shadow);
    let dropped = app.pipeline.decisions().shadow().dropped().of(slot);
    let report = decisions::shadow_report(
        &app.db,
        bound.as_deref(),
        dropped,
        &scope,
        slot,
        q.module.as_deref(),
        since,
    )
    .await?;
    Ok(Json(report))
}

/// Query of a replay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PolicyReplayQuery {
    /// Replay only this workspace's decisions; absent: every workspace's.
    pub workspace: Option<String>,
    /// The candidate: a stored module's sha256 (instead of a body).
    pub module: Option<String>,
    /// Decided at or after (RFC 3339, or milliseconds).
    pub since: Option<String>,
    /// Decided before (RFC 3339, or milliseconds).
    pub until: Option<String>,
    /// At most this many decisions, oldest first (default and most 100,000).
    pub limit: Option<u64>,
}

/// Most decisions one replay request runs.
const MAX_REPLAY: u64 = 100_000;

/// Runs a candidate (the body, a `.wasm` component; or a stored module
/// named by `module`) over the slot's logged active decisions and reports
/// how many it decides the same, differently (grouped by logged →
/// candidate, with sample ids and the JSON paths that differ) or fails
/// on. Changes nothing.
#[utoipa::path(
    post, path = "/admin/policies/{slot}/replay", tag = "admin",
    params(("slot" = String, Path, description = "`match`, `routing` or `preflight`"), PolicyReplayQuery),
    request_body(content = Vec<u8>, description = "The candidate component (or empty, with `module`)", content_type = "application/wasm"),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, body = PolicyReplayReport),
        (status = 400, description = "Unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`), or the global scope with a workspace token (`forbidden_for_workspace_token`)", body = ErrorBody),
        (status = 404, description = "No such workspace, or another workspace than a workspace token's own: the same answer; or no stored module with that sha256 in reach (`not_found`)", body = ErrorBody),
        (status = 413, description = "Module over 64 MiB (`payload_too_large`)", body = ErrorBody),
        (status = 422, description = "Not a module of the slot (`invalid_policy`), no candidate given (`no_candidate`), or a bad query (`invalid_workspace`, `invalid_time`, `invalid_limit`)", body = ErrorBody),
    )
)]
pub async fn replay(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(s): Path<String>,
    Query(q): Query<PolicyReplayQuery>,
    body: Body,
) -> ApiResult<Json<PolicyReplayReport>> {
    let bytes = super::super::body::read_limited(body, super::policies::MAX_MODULE_BYTES).await?;
    let slot = slot(&s)?;
    let scope = scope(q.workspace.as_deref())?;
    super::policies::may_change(&caller, &scope)?;
    if let (Caller::Workspace(own), Some(sha)) = (&caller, q.module.as_deref()) {
        // A workspace replays only the modules of its own scope; any other
        // is as unknown to it as one never uploaded.
        let mut c = app.db.acquire().await?;
        let mine = crate::store::policies::modules_of_scope(&mut c, own).await?;
        if !mine.iter().any(|m| m.sha256 == sha) {
            return Err(ApiError::not_found("policy module", sha));
        }
    }
    let limit = q.limit.unwrap_or(MAX_REPLAY);
    if !(1..=MAX_REPLAY).contains(&limit) {
        return Err(invalid(
            "invalid_limit",
            format!("`limit` is 1 to {MAX_REPLAY}"),
        ));
    }
    let which = match (bytes.is_empty(), q.module.as_deref()) {
        (false, _) => Candidate::Bytes(&bytes),
        (true, Some(sha)) => Candidate::Stored(sha),
        (true, None) => {
            return Err(invalid(
                "no_candidate",
                "send the candidate component as the body, or name a stored module with `module`",
            ));
        }
    };
    let runtime = app.policies.runtime();
    let candidate = decisions::candidate(&app.db, runtime, slot, which).await?;
    let replay_scope = ReplayScope {
        workspace_id: scope.workspace().map(str::to_string),
        since: instant("since", q.since.as_deref())?,
        until: instant("until", q.until.as_deref())?,
        limit: Some(limit),
    };
    let report = decisions::replay(&app.db, runtime, &candidate, &replay_scope).await?;
    Ok(Json(report))
}
