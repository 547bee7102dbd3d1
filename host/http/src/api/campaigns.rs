//! Campaigns over HTTP: creation and the state machine's moves call
//! [`crate::lifecycle::campaigns`]; live stats are [`crate::lifecycle::stats`]'s.

use super::conn;
use super::extract::{JsonBody, Path};
use super::workspaces::{guard_workspace, load_workspace};
use crate::app::App;
use crate::caller::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::lifecycle::LifecycleError;
use crate::lifecycle::campaigns::{self as lifecycle, Action, CampaignTransition, NewCampaign};
use crate::lifecycle::stats::{self, CampaignStatsView};
use crate::store::campaigns::{self, Campaign};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;

/// Creates a campaign in status `draft`.
#[utoipa::path(
    post, path = "/api/workspaces/{id}/campaigns", tag = "campaigns",
    params(("id" = String, Path, description = "Workspace id")),
    request_body = NewCampaign,
    security(("api_token" = [])),
    responses(
        (status = 201, description = "Created (draft)", body = Campaign),
        (status = 400, description = "Malformed JSON (`invalid_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "Unknown workspace (`not_found`)", body = ErrorBody),
        (status = 422, description = "`invalid_name`, `invalid_linkedin_account_id`, `invalid_steps`, `invalid_window`, `invalid_time_zone`", body = ErrorBody),
    )
)]
pub async fn create_campaign(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(workspace_id): Path<String>,
    JsonBody(body): JsonBody<NewCampaign>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    guard_workspace(&app, &caller, &workspace_id).await?;
    let campaign = lifecycle::create(&app, &workspace_id, body, "api").await?;
    Ok((StatusCode::CREATED, Json(campaign)))
}

/// The campaigns of a workspace, oldest first.
#[utoipa::path(
    get, path = "/api/workspaces/{id}/campaigns", tag = "campaigns",
    params(("id" = String, Path, description = "Workspace id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = Vec<Campaign>),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn list_campaigns(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Campaign>>> {
    let mut c = conn(&app).await?;
    load_workspace(&mut c, &caller, &id).await?;
    Ok(Json(campaigns::of_workspace(&mut c, &id).await?))
}

/// A campaign.
#[utoipa::path(
    get, path = "/api/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = Campaign),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn get_campaign(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Campaign>> {
    let mut c = conn(&app).await?;
    Ok(Json(load_campaign(&mut c, &caller, &id).await?))
}

/// The campaign `id`, or 404 when it does not exist or the caller may not
/// see its workspace (the lifecycle's own `not_found`, so both read the
/// same).
pub(crate) async fn load_campaign(
    c: &mut crate::store::Connection,
    caller: &Caller,
    id: &str,
) -> ApiResult<Campaign> {
    let campaign = lifecycle::load(c, id).await?;
    if !caller.may_see(&campaign.workspace_id) {
        return Err(LifecycleError::not_found("campaign", id).into());
    }
    Ok(campaign)
}

/// Refuses, as missing (404), a campaign a workspace token may not see,
/// before a lifecycle acts on it; other callers are not read here (the
/// lifecycle finds a missing campaign itself).
pub(crate) async fn guard_campaign(app: &App, caller: &Caller, id: &str) -> ApiResult<()> {
    if caller.workspace().is_none() {
        return Ok(());
    }
    let mut c = conn(app).await?;
    load_campaign(&mut c, caller, id).await.map(drop)
}

/// Starts a draft campaign (409 `no_prospects_with_linkedin_url` when no
/// enrolled prospect has a usable LinkedIn URL).
#[utoipa::path(
    post, path = "/api/campaigns/{id}/start", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Running", body = CampaignTransition),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`invalid_transition` (not a draft) or `no_prospects_with_linkedin_url`", body = ErrorBody),
    )
)]
pub async fn start_campaign(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignTransition>> {
    guard_campaign(&app, &caller, &id).await?;
    Ok(Json(
        lifecycle::transition(&app, &id, Action::Start, "api").await?,
    ))
}

/// Pauses a running campaign: follow-ups are not enqueued while paused
/// (recoverable `campaign_paused` skips, retried on resume).
#[utoipa::path(
    post, path = "/api/campaigns/{id}/pause", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Paused", body = CampaignTransition),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`invalid_transition` (not running)", body = ErrorBody),
    )
)]
pub async fn pause_campaign(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignTransition>> {
    guard_campaign(&app, &caller, &id).await?;
    Ok(Json(
        lifecycle::transition(&app, &id, Action::Pause, "api").await?,
    ))
}

/// Resumes a paused campaign, then runs the resume sweep over its open
/// recoverable skips.
#[utoipa::path(
    post, path = "/api/campaigns/{id}/resume", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Running, with `resume_sweep`", body = CampaignTransition),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`invalid_transition` (not paused) or `no_prospects_with_linkedin_url`", body = ErrorBody),
    )
)]
pub async fn resume_campaign(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignTransition>> {
    guard_campaign(&app, &caller, &id).await?;
    Ok(Json(
        lifecycle::transition(&app, &id, Action::Resume, "api").await?,
    ))
}

/// Stops a campaign for good (from draft, running or paused) and cancels
/// its pending jobs.
#[utoipa::path(
    post, path = "/api/campaigns/{id}/stop", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Stopped, with `cancelled_jobs`", body = CampaignTransition),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`invalid_transition` (already stopped or completed)", body = ErrorBody),
    )
)]
pub async fn stop_campaign(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignTransition>> {
    guard_campaign(&app, &caller, &id).await?;
    Ok(Json(
        lifecycle::transition(&app, &id, Action::Stop, "api").await?,
    ))
}

/// Live stats of a campaign (computed on each call).
#[utoipa::path(
    get, path = "/api/campaigns/{id}/stats", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = CampaignStatsView),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn campaign_stats(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignStatsView>> {
    let mut c = conn(&app).await?;
    let campaign = load_campaign(&mut c, &caller, &id).await?;
    Ok(Json(stats::campaign_stats(&mut c, &campaign).await?))
}
