//! Prospects: import into a campaign, the prospect page (enrollments with
//! their timeline, jobs and skips), and the decision traces.

use super::campaigns::guard_campaign;
use super::extract::{Path, Query, UncheckedTextJsonBody};
use super::{conn, invalid, optional_text};
use crate::app::App;
use crate::caller::{Caller, ListScope};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::lifecycle::prospects::{ImportReport, ImportRequest, import};
use crate::store::enrollments::{self, EnrollmentRow};
use crate::store::events::{self, Event};
use crate::store::jobs::{self, Job};
use crate::store::prospects::{self, Prospect};
use crate::store::skips::{self, SkipRow};
use crate::store::traces::{self, Trace};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Imports prospects into the campaign's workspace and enrolls them
/// (`not_invited`, workflow `pending` at step 0, on the campaign's
/// account), computing each one's match keys with the active match
/// policy. Items without an identifier, with a profile URL that is not a
/// LinkedIn URL, or repeating a person already in the campaign are listed
/// in `rejected`; the others are imported, all in one transaction.
#[utoipa::path(
    post, path = "/api/campaigns/{id}/prospects", tag = "prospects",
    params(("id" = String, Path, description = "Campaign id")),
    request_body = ImportRequest,
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Imported (see `rejected` for refused items)", body = ImportReport),
        (status = 400, description = "Malformed JSON (`invalid_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "Unknown campaign (`not_found`)", body = ErrorBody),
        (status = 409, description = "The campaign is stopped or completed (`campaign_closed`)", body = ErrorBody),
        (status = 422, description = "`invalid_prospects`: not 1 to 5,000 items", body = ErrorBody),
    )
)]
pub async fn import_prospects(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(campaign_id): Path<String>,
    UncheckedTextJsonBody(body): UncheckedTextJsonBody<ImportRequest>,
) -> ApiResult<Json<ImportReport>> {
    guard_campaign(&app, &caller, &campaign_id).await?;
    Ok(Json(import(&app, &campaign_id, body, "api").await?))
}

/// The next scheduled run of an enrollment, for people.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduledRun {
    /// The pending job.
    pub job_id: String,
    /// Its step.
    pub step_index: i64,
    /// When it is due, ms.
    pub run_at: i64,
    /// The same instant, RFC 3339 UTC.
    pub run_at_utc: String,
    /// Why it waits, if it does (window, cap, ramp, spacing, account, campaign).
    pub wait_reason: Option<String>,
}

/// One enrollment of a prospect, with its history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnrollmentDetail {
    /// The enrollment.
    #[serde(flatten)]
    pub enrollment: EnrollmentRow,
    /// The next pending job, when one is scheduled.
    pub next_run: Option<ScheduledRun>,
    /// Its audit timeline, oldest first.
    pub events: Vec<Event>,
    /// Its send jobs, newest first (each with `run_at` and `wait_reason`).
    pub jobs: Vec<Job>,
    /// Its pre-flight skips, newest first.
    pub skips: Vec<SkipRow>,
}

/// A prospect and everything that happened to it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProspectDetail {
    /// The prospect.
    #[serde(flatten)]
    pub prospect: Prospect,
    /// Its enrollments, oldest first.
    pub enrollments: Vec<EnrollmentDetail>,
}

/// A prospect with its enrollments, their event timeline, jobs (scheduled
/// run time and why they wait) and skips.
#[utoipa::path(
    get, path = "/api/prospects/{id}", tag = "prospects",
    params(("id" = String, Path, description = "Prospect id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = ProspectDetail),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn get_prospect(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ProspectDetail>> {
    let mut c = conn(&app).await?;
    let prospect = load_prospect(&mut c, &caller, &id).await?;
    let mut details = Vec::new();
    for enrollment in enrollments::of_prospect(&mut c, &id).await? {
        let jobs = jobs::of_enrollment(&mut c, &enrollment.id).await?;
        let next_run = jobs
            .iter()
            .filter(|j| j.status == "pending")
            .min_by_key(|j| j.run_at)
            .map(|j| ScheduledRun {
                job_id: j.id.clone(),
                step_index: j.step_index,
                run_at: j.run_at,
                run_at_utc: jiff::Timestamp::from_millisecond(j.run_at)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                wait_reason: j.wait_reason.clone(),
            });
        details.push(EnrollmentDetail {
            events: events::of_enrollment(&mut c, &enrollment.id).await?,
            skips: skips::of_enrollment(&mut c, &enrollment.id).await?,
            jobs,
            next_run,
            enrollment,
        });
    }
    Ok(Json(ProspectDetail {
        prospect,
        enrollments: details,
    }))
}

/// The prospect `id`, or 404 when it does not exist or the caller may not
/// see its workspace.
pub(crate) async fn load_prospect(
    c: &mut crate::store::Connection,
    caller: &Caller,
    id: &str,
) -> ApiResult<Prospect> {
    prospects::get(c, id)
        .await?
        .filter(|p| caller.may_see(&p.workspace_id))
        .ok_or_else(|| ApiError::not_found("prospect", id))
}

/// Refuses, as missing (404), a prospect a workspace token may not see,
/// before the resyncer acts on it; other callers are not read here (the
/// resyncer finds a missing prospect itself).
async fn guard_prospect(app: &App, caller: &Caller, id: &str) -> ApiResult<()> {
    if caller.workspace().is_none() {
        return Ok(());
    }
    let mut c = conn(app).await?;
    load_prospect(&mut c, caller, id).await.map(drop)
}

/// Query of `GET /api/traces`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TracesQuery {
    /// Only this workspace's traces (a workspace token always sees its
    /// own workspace's only: naming another one lists nothing).
    pub workspace_id: Option<String>,
    /// Only this kind (`bridge_miss_all_strategies`, `orphan_webhook`,
    /// `unknown_account`, `policy_failure`, …).
    pub kind: Option<String>,
    /// How many, 1-500 (default 100).
    pub limit: Option<i64>,
}

/// Recent decision traces, newest first.
#[utoipa::path(
    get, path = "/api/traces", tag = "traces",
    params(TracesQuery),
    security(("api_token" = [])),
    responses(
        (status = 200, body = Vec<Trace>),
        (status = 400, description = "Malformed query (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 422, description = "`invalid_limit`", body = ErrorBody),
    )
)]
pub async fn list_traces(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<TracesQuery>,
) -> ApiResult<Json<Vec<Trace>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(invalid(
            "invalid_limit",
            format!("`limit` must be 1 to 500, got {limit}"),
        ));
    }
    let requested = optional_text(q.workspace_id);
    let workspace = match caller.list_scope(requested.as_deref()) {
        ListScope::All(workspace) => workspace,
        ListScope::Only(own) => Some(own),
        ListScope::Nothing => return Ok(Json(Vec::new())),
    };
    let mut c = conn(&app).await?;
    Ok(Json(
        traces::list(&mut c, workspace, optional_text(q.kind).as_deref(), limit).await?,
    ))
}

/// Re-checks one prospect with the provider and stamps the accept if the
/// prospect is connected. The look-up goes through the account's spacing
/// like every other provider call: clicks join the prospect's open request
/// (on any instance), and a click within the account's spacing after a
/// look-up gets that look-up's answer (`coalesced` says so). `200` with
/// `status: done` when the provider was asked now (or just before);
/// `202` with `status: queued` (served at the account's next free slot,
/// `not_before`) or `checking` (another instance is asking): follow it with
/// `GET /api/prospects/{id}/resync`.
#[utoipa::path(
    post, path = "/api/prospects/{id}/resync", tag = "prospects",
    params(("id" = String, Path, description = "Prospect id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Done: the provider's answer", body = crate::engine::ResyncOutcome),
        (status = 202, description = "Queued behind the account's spacing, or being checked elsewhere", body = crate::engine::ResyncOutcome),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`not_enrolled`: the prospect is in no campaign; `account_not_connected`: none of its accounts is connected", body = ErrorBody),
        (status = 502, description = "`provider_error`: the provider could not be asked", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`", body = ErrorBody),
    )
)]
pub async fn resync_prospect(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(axum::http::StatusCode, Json<crate::engine::ResyncOutcome>)> {
    use crate::engine::ResyncStatus;
    use axum::http::StatusCode;
    guard_prospect(&app, &caller, &id).await?;
    let resync = resyncer(&app)?;
    let outcome = resync.resync(&id).await.map_err(|e| resync_error(e, &id))?;
    let status = match outcome.status {
        ResyncStatus::Done | ResyncStatus::Failed => StatusCode::OK,
        ResyncStatus::Queued | ResyncStatus::Checking => StatusCode::ACCEPTED,
    };
    Ok((status, Json(outcome)))
}

/// The prospect's latest resync request: queued, checking, done (with the
/// provider's answer) or failed (with why).
#[utoipa::path(
    get, path = "/api/prospects/{id}/resync", tag = "prospects",
    params(("id" = String, Path, description = "Prospect id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = crate::engine::ResyncOutcome),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such prospect, or never resynced", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`", body = ErrorBody),
    )
)]
pub async fn get_resync(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::engine::ResyncOutcome>> {
    guard_prospect(&app, &caller, &id).await?;
    let resync = resyncer(&app)?;
    match resync.latest(&id).await.map_err(|e| resync_error(e, &id))? {
        Some(outcome) => Ok(Json(outcome)),
        None => Err(ApiError::not_found("resync request of prospect", &id)),
    }
}

fn resyncer(app: &App) -> ApiResult<&crate::engine::Resyncer> {
    app.resync.as_deref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "provider_not_configured",
            "resync needs the Unipile API (ACCORD_UNIPILE_DSN, ACCORD_UNIPILE_API_KEY)",
        )
    })
}

fn resync_error(e: crate::engine::resync::ResyncError, id: &str) -> ApiError {
    use crate::engine::resync::ResyncError;
    match e {
        ResyncError::NotFound(_) => ApiError::not_found("prospect", id),
        e @ ResyncError::NotEnrolled => ApiError::conflict("not_enrolled", e.to_string()),
        e @ ResyncError::NoConnectedAccount => {
            ApiError::conflict("account_not_connected", e.to_string())
        }
        e @ ResyncError::Provider(_) => ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "provider_error",
            e.to_string(),
        ),
        e @ ResyncError::Internal(_) => ApiError::internal(&e),
    }
}
