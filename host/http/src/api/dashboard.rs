//! The dashboard's reads over HTTP: the workspaces a caller may see, a
//! workspace's overview, a campaign's prospects table, the late-accepts
//! and bridge-misses lists, and a prospect's timeline. Each handler
//! parses, calls its lifecycle with the caller's workspace (a workspace
//! token sees its own only: another's object is a 404 like a missing
//! one) and maps the error; the HTML dashboard calls the same lifecycles.

use super::extract::{Path, Query};
use super::invalid;
use crate::app::App;
use crate::caller::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::lifecycle::lists::{self, BridgeMissPage, LateAcceptPage};
use crate::lifecycle::overview::{self, WorkspaceOverview};
use crate::lifecycle::prospect_table::{self, ProspectPage, TableQuery};
use crate::lifecycle::timeline::{self, ProspectTimeline};
use crate::lifecycle::workspaces::{self, WorkspacePage};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use std::sync::Arc;

/// Paging of a list: `cursor` and `limit`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// A `next_cursor` this list returned.
    pub cursor: Option<String>,
    /// Rows per page, 1-500 (default 50).
    pub limit: Option<String>,
}

/// Query of the prospects table.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProspectsQuery {
    /// `not_invited`, `invited`, `connected`, `replied`, `condition_skipped`,
    /// `unreachable`, `accepted` (connected or replied) or `late_accept`.
    pub status: Option<String>,
    /// Text the name, profile URL or public identifier contains
    /// (case-insensitive, at most 200 characters). A search reads at most
    /// 5,000 enrollments per page: a page may hold fewer rows than
    /// `limit` and still have a `next_cursor`.
    pub q: Option<String>,
    /// A `next_cursor` this table returned.
    pub cursor: Option<String>,
    /// Rows per page, 1-500 (default 50).
    pub limit: Option<String>,
}

/// `limit` as a number (422 `invalid_limit` otherwise; its range is the
/// lifecycle's to check).
fn limit(limit: Option<&str>) -> ApiResult<Option<i64>> {
    limit
        .map(|l| {
            l.trim().parse::<i64>().map_err(|_| {
                invalid(
                    "invalid_limit",
                    format!(
                        "`limit` must be a number from 1 to 500, got `{}`",
                        crate::text::echo(l, 32)
                    ),
                )
            })
        })
        .transpose()
}

/// The workspaces the caller may see (a workspace token: its own), with
/// their campaign and account counts, in id order.
#[utoipa::path(
    get, path = "/api/workspaces", tag = "dashboard",
    params(PageQuery),
    security(("api_token" = [])),
    responses(
        (status = 200, body = WorkspacePage),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 422, description = "`invalid_limit`, `invalid_cursor`", body = ErrorBody),
    )
)]
pub async fn list_workspaces(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<WorkspacePage>> {
    let limit = limit(q.limit.as_deref())?;
    Ok(Json(
        workspaces::list(&app, caller.workspace(), q.cursor.as_deref(), limit).await?,
    ))
}

/// A workspace at a glance: each campaign's live counters, the tiles
/// (late accepts, bridge misses, orphan webhooks, recoverable skips
/// waiting, policy failures of the last 24 hours) and each LinkedIn
/// account's health (status, today's actions against its caps and the
/// warm-up ramp, next action, circuit breaker).
#[utoipa::path(
    get, path = "/api/workspaces/{id}/overview", tag = "dashboard",
    params(("id" = String, Path, description = "Workspace id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = WorkspaceOverview),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn workspace_overview(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkspaceOverview>> {
    Ok(Json(
        overview::overview(&app, &id, caller.workspace()).await?,
    ))
}

/// A campaign's prospects table, a keyset page at a time: name, profile
/// URL, LinkedIn status, workflow state, accept time and path, step and
/// next scheduled run (with why it waits); with the amber alert's flag.
#[utoipa::path(
    get, path = "/api/campaigns/{id}/prospects", tag = "dashboard",
    params(("id" = String, Path, description = "Campaign id"), ProspectsQuery),
    security(("api_token" = [])),
    responses(
        (status = 200, body = ProspectPage),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_status`, `invalid_q`, `invalid_limit`, `invalid_cursor`", body = ErrorBody),
    )
)]
pub async fn campaign_prospects(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ProspectsQuery>,
) -> ApiResult<Json<ProspectPage>> {
    let query = TableQuery {
        limit: limit(q.limit.as_deref())?,
        status: q.status,
        q: q.q,
        cursor: q.cursor,
    };
    Ok(Json(
        prospect_table::page(&app, &id, caller.workspace(), &query).await?,
    ))
}

/// A workspace's late accepts, most recently observed first, each with
/// its traces and whether (and by which job) the follow-up went out.
#[utoipa::path(
    get, path = "/api/workspaces/{id}/late-accepts", tag = "dashboard",
    params(("id" = String, Path, description = "Workspace id"), PageQuery),
    security(("api_token" = [])),
    responses(
        (status = 200, body = LateAcceptPage),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_limit`, `invalid_cursor`", body = ErrorBody),
    )
)]
pub async fn late_accepts(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<LateAcceptPage>> {
    let limit = limit(q.limit.as_deref())?;
    Ok(Json(
        lists::late_accepts(&app, &id, caller.workspace(), q.cursor.as_deref(), limit).await?,
    ))
}

/// A workspace's bridge misses (accept signals no match strategy could
/// attribute), newest first, with each trace's signal and detail.
#[utoipa::path(
    get, path = "/api/workspaces/{id}/bridge-misses", tag = "dashboard",
    params(("id" = String, Path, description = "Workspace id"), PageQuery),
    security(("api_token" = [])),
    responses(
        (status = 200, body = BridgeMissPage),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_limit`, `invalid_cursor`", body = ErrorBody),
    )
)]
pub async fn bridge_misses(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<BridgeMissPage>> {
    let limit = limit(q.limit.as_deref())?;
    Ok(Json(
        lists::bridge_misses(&app, &id, caller.workspace(), q.cursor.as_deref(), limit).await?,
    ))
}

/// A prospect's timeline: accept signals, stamps, audit events, traces,
/// jobs (scheduled run time, wait reason), skips, policy decisions and
/// notifications with their deliveries, as one list sorted by time.
#[utoipa::path(
    get, path = "/api/prospects/{id}/timeline", tag = "dashboard",
    params(("id" = String, Path, description = "Prospect id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = ProspectTimeline),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn prospect_timeline(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ProspectTimeline>> {
    Ok(Json(
        timeline::timeline(&app, &id, caller.workspace()).await?,
    ))
}
