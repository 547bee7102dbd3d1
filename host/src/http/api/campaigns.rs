//! Campaigns: creation, the lifecycle (start, pause, resume with its
//! resume sweep, stop) and live stats.

use super::extract::{JsonBody, Path};
use super::workspaces::{check_time_zone, load_workspace};
use super::{conn, invalid, required_text};
use crate::app::App;
use crate::clock::new_id;
use crate::domain::{Named, StepDef, validate_steps};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::pipeline::{DispatchOutcome, DispatchRequest, PipelineError};
use crate::store::campaigns::{self, Campaign};
use crate::store::enrollments::{self, CampaignStats, EnrolledIdentity};
use crate::store::events::{self, NewEvent};
use crate::store::skips::{self, SkipRow};
use crate::store::{accounts, jobs, traces};
use crate::window::{SendingWindow, WindowError};
use accord_policy_core::linkedin::parse_profile_url;
use accord_policy_core::{CampaignStatus, DispatchSource};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A sending window: `[start_minute, end_minute)` local time on `days`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Minutes after local midnight, 0-1439.
    pub start_minute: i64,
    /// Minutes after local midnight, 1-1440, after `start_minute`.
    pub end_minute: i64,
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub days: Vec<i64>,
}

impl Default for WindowSpec {
    /// 09:00-17:00, Monday to Friday.
    fn default() -> Self {
        WindowSpec {
            start_minute: 9 * 60,
            end_minute: 17 * 60,
            days: vec![1, 2, 3, 4, 5],
        }
    }
}

/// Body of `POST /api/workspaces/{id}/campaigns`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    /// A name, 1-200 characters.
    pub name: String,
    /// The LinkedIn account it sends from (of the same workspace).
    pub linkedin_account_id: String,
    /// The workflow, 1-50 steps.
    #[schema(value_type = Vec<StepDef>)]
    pub steps: Vec<serde_json::Value>,
    /// The sending window (default 09:00-17:00 Monday to Friday).
    #[serde(default)]
    pub window: Option<WindowSpec>,
    /// IANA time zone of the window (default the account's).
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Decodes and validates the steps (422 `invalid_steps` naming the step).
fn parse_steps(raw: Vec<serde_json::Value>) -> ApiResult<Vec<StepDef>> {
    let steps = raw
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value::<StepDef>(v)
                .map_err(|e| invalid("invalid_steps", format!("steps[{i}]: {e}")))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    validate_steps(&steps).map_err(|e| invalid("invalid_steps", format!("steps: {e}")))?;
    Ok(steps)
}

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
    Path(workspace_id): Path<String>,
    JsonBody(body): JsonBody<NewCampaign>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    let name = required_text("invalid_name", "name", &body.name, 200)?;
    let steps = parse_steps(body.steps)?;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    load_workspace(&mut tx, &workspace_id).await?;
    let account_id = body.linkedin_account_id.trim();
    let account = accounts::account(&mut tx, account_id)
        .await?
        .filter(|a| a.workspace_id == workspace_id)
        .ok_or_else(|| {
            invalid(
                "invalid_linkedin_account_id",
                format!(
                    "`linkedin_account_id`: no LinkedIn account `{account_id}` in workspace `{workspace_id}`"
                ),
            )
        })?;
    let time_zone = match &body.time_zone {
        Some(tz) => check_time_zone(tz)?,
        None => account.time_zone.clone(),
    };
    let window = body.window.unwrap_or_default();
    let mut days = window.days.clone();
    days.sort_unstable();
    days.dedup();
    let days = days
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    SendingWindow::new(&time_zone, window.start_minute, window.end_minute, &days).map_err(|e| {
        match e {
            WindowError::TimeZone(_) => invalid("invalid_time_zone", format!("`time_zone`: {e}")),
            _ => invalid("invalid_window", format!("`window`: {e}")),
        }
    })?;
    let campaign = Campaign {
        id: new_id(),
        workspace_id,
        linkedin_account_id: account.id.clone(),
        name,
        status: CampaignStatus::Draft,
        steps,
        window_start_minute: window.start_minute,
        window_end_minute: window.end_minute,
        window_days: days,
        time_zone,
        created_at: now,
        updated_at: now,
    };
    campaigns::insert(&mut tx, &campaign).await?;
    let event = NewEvent {
        workspace_id: &campaign.workspace_id,
        linkedin_account_id: Some(&campaign.linkedin_account_id),
        kind: "campaign_created",
        source: Some("api"),
        detail: Some(serde_json::json!({"campaign_id": campaign.id, "name": campaign.name})),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    tx.commit().await?;
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
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Campaign>>> {
    let mut c = conn(&app).await?;
    load_workspace(&mut c, &id).await?;
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
    Path(id): Path<String>,
) -> ApiResult<Json<Campaign>> {
    let mut c = conn(&app).await?;
    Ok(Json(load_campaign(&mut c, &id).await?))
}

/// The campaign `id`, or 404.
pub(crate) async fn load_campaign(c: &mut sqlx::AnyConnection, id: &str) -> ApiResult<Campaign> {
    campaigns::get(c, id)
        .await?
        .ok_or_else(|| ApiError::not_found("campaign", id))
}

/// What a resume sweep did with the campaign's open recoverable skips.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ResumeSweep {
    /// Skips dispatched again.
    pub retried: u64,
    /// Of those, how many enqueued their follow-up.
    pub enqueued: u64,
    /// Of those, how many were skipped again (still recorded as skips).
    pub skipped: u64,
    /// Of those, how many already had an active job.
    pub already_queued: u64,
    /// Skips that could not be retried (database error, vanished rows);
    /// the hourly skip-retry tick tries them again.
    pub failed: u64,
}

/// A campaign after a lifecycle action.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignTransition {
    /// The campaign.
    #[serde(flatten)]
    pub campaign: Campaign,
    /// For `resume`: what the resume sweep did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_sweep: Option<ResumeSweep>,
    /// For `stop`: pending jobs cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_jobs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Pause,
    Resume,
    Stop,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Stop => "stop",
        }
    }

    fn from(self) -> &'static [CampaignStatus] {
        match self {
            Action::Start => &[CampaignStatus::Draft],
            Action::Pause => &[CampaignStatus::Running],
            Action::Resume => &[CampaignStatus::Paused],
            Action::Stop => &[
                CampaignStatus::Draft,
                CampaignStatus::Running,
                CampaignStatus::Paused,
            ],
        }
    }

    fn to(self) -> CampaignStatus {
        match self {
            Action::Start | Action::Resume => CampaignStatus::Running,
            Action::Pause => CampaignStatus::Paused,
            Action::Stop => CampaignStatus::Stopped,
        }
    }

    fn event_kind(self) -> &'static str {
        match self {
            Action::Start => "campaign_start",
            Action::Pause => "campaign_pause",
            Action::Resume => "campaign_resume",
            Action::Stop => "campaign_stop",
        }
    }
}

fn invalid_transition(current: CampaignStatus, action: Action) -> ApiError {
    let from: Vec<&str> = action.from().iter().map(|s| s.as_str()).collect();
    ApiError::conflict(
        "invalid_transition",
        format!(
            "cannot {} a campaign that is {}: {} moves a campaign from {} to {}",
            action.name(),
            current.as_str(),
            action.name(),
            from.join(" or "),
            action.to().as_str()
        ),
    )
}

/// Whether a prospect's identifiers give a usable LinkedIn URL: a member
/// id, or a profile or Sales Navigator URL that parses.
pub(crate) fn has_usable_linkedin_url(p: &EnrolledIdentity) -> bool {
    p.member_id.as_deref().is_some_and(|m| !m.trim().is_empty())
        || [&p.profile_url, &p.sales_nav_lead_url]
            .into_iter()
            .flatten()
            .any(|u| parse_profile_url(u).is_some())
}

/// Whether the campaign has at least one enrolled prospect with a usable
/// LinkedIn URL (stops at the first one).
async fn has_usable_prospect(c: &mut sqlx::AnyConnection, campaign_id: &str) -> ApiResult<bool> {
    let mut after = String::new();
    loop {
        let page = enrollments::identities_of_campaign(c, campaign_id, &after, 500).await?;
        if page.iter().any(has_usable_linkedin_url) {
            return Ok(true);
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = last.enrollment_id.clone(),
            _ => return Ok(false),
        }
    }
}

async fn transition(app: &Arc<App>, id: &str, action: Action) -> ApiResult<CampaignTransition> {
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let campaign = load_campaign(&mut tx, id).await?;
    if !action.from().contains(&campaign.status) {
        return Err(invalid_transition(campaign.status, action));
    }
    if matches!(action, Action::Start | Action::Resume) && !has_usable_prospect(&mut tx, id).await?
    {
        return Err(ApiError::conflict(
            "no_prospects_with_linkedin_url",
            format!(
                "cannot {} campaign `{}`: none of its enrolled prospects has a usable LinkedIn URL, \
                 so it could not send anything. Import contacts with LinkedIn URLs first \
                 (POST /api/campaigns/{}/prospects with profile_url, sales_nav_lead_url or member_id).",
                action.name(),
                campaign.name,
                campaign.id
            ),
        ));
    }
    if !campaigns::transition(&mut tx, id, &[campaign.status], action.to(), now).await? {
        // Another request moved it between our read and our write.
        let current = load_campaign(&mut tx, id).await?;
        return Err(invalid_transition(current.status, action));
    }
    let cancelled_jobs = if action == Action::Stop {
        Some(jobs::cancel_pending_of_campaign(&mut tx, id, "campaign stopped", now).await?)
    } else {
        None
    };
    let event = NewEvent {
        workspace_id: &campaign.workspace_id,
        linkedin_account_id: Some(&campaign.linkedin_account_id),
        kind: action.event_kind(),
        source: Some("api"),
        detail: Some(serde_json::json!({
            "campaign_id": campaign.id,
            "from": campaign.status.as_str(),
            "to": action.to().as_str(),
            "cancelled_jobs": cancelled_jobs,
        })),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    let campaign = load_campaign(&mut tx, id).await?;
    tx.commit().await?;
    let resume_sweep = if action == Action::Resume {
        Some(resume_sweep(app, id).await)
    } else {
        None
    };
    Ok(CampaignTransition {
        campaign,
        resume_sweep,
        cancelled_jobs,
    })
}

/// Dispatches every open recoverable skip of the campaign again (source
/// `resume`), each in its own transaction, and wakes the job worker when
/// something was enqueued. Failures are logged and counted, never fatal:
/// the campaign is already running and the skip-retry tick retries.
async fn resume_sweep(app: &Arc<App>, campaign_id: &str) -> ResumeSweep {
    let mut sweep = ResumeSweep::default();
    let open = async {
        let mut c = app.db.pool().acquire().await?;
        skips::open_recoverable(&mut c, Some(campaign_id), 0, 1000).await
    };
    let open = match open.await {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!(campaign_id, error = %e, "resume sweep: cannot list the open skips");
            sweep.failed += 1;
            return sweep;
        }
    };
    for skip in &open {
        match sweep_one(app, skip).await {
            Ok(Some(outcome)) => {
                sweep.retried += 1;
                match outcome {
                    DispatchOutcome::Enqueued { .. } => sweep.enqueued += 1,
                    DispatchOutcome::AlreadyQueued => sweep.already_queued += 1,
                    DispatchOutcome::Skipped { .. } => sweep.skipped += 1,
                }
            }
            Ok(None) => sweep.failed += 1,
            Err(e) => {
                tracing::warn!(campaign_id, skip_id = %skip.id, error = %e, "resume sweep: dispatch failed");
                sweep.failed += 1;
            }
        }
    }
    if sweep.enqueued > 0 {
        app.pipeline.wakers().wake_jobs();
    }
    sweep
}

/// One skip of the sweep: reload enrollment, account and campaign and
/// dispatch again in one transaction. `None` when a row vanished.
async fn sweep_one(app: &App, skip: &SkipRow) -> Result<Option<DispatchOutcome>, PipelineError> {
    let Ok(step_index) = u32::try_from(skip.step_index) else {
        return Ok(None);
    };
    let mut tx = app.db.begin().await?;
    let Some(enrollment) =
        enrollments::get(&mut tx, &skip.enrollment_id, app.db.for_update()).await?
    else {
        return Ok(None);
    };
    let (Some(campaign), Some(account)) = (
        campaigns::get(&mut tx, &enrollment.campaign_id).await?,
        accounts::account(&mut tx, &enrollment.linkedin_account_id).await?,
    ) else {
        return Ok(None);
    };
    let request = DispatchRequest {
        source: DispatchSource::Resume,
        step_index,
    };
    let outcome = app
        .pipeline
        .dispatch(&mut tx, &account, &campaign, &enrollment, request)
        .await?;
    tx.commit().await?;
    Ok(Some(outcome))
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
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignTransition>> {
    Ok(Json(transition(&app, &id, Action::Start).await?))
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
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignTransition>> {
    Ok(Json(transition(&app, &id, Action::Pause).await?))
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
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignTransition>> {
    Ok(Json(transition(&app, &id, Action::Resume).await?))
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
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignTransition>> {
    Ok(Json(transition(&app, &id, Action::Stop).await?))
}

/// A campaign's live counters.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignStatsView {
    /// The campaign.
    pub campaign_id: String,
    /// Its status.
    #[schema(value_type = String)]
    pub status: CampaignStatus,
    /// Enrollment counters, computed from the rows.
    #[serde(flatten)]
    pub enrollments: CampaignStats,
    /// Accept signals no strategy could attribute, in the campaign's
    /// workspace (`bridge_miss_all_strategies` traces).
    pub bridge_misses: i64,
    /// Webhooks that arrived while the workspace had no running campaign
    /// (`orphan_webhook` traces).
    pub orphan_webhooks: i64,
    /// Recoverable pre-flight skips not yet resolved.
    pub open_recoverable_skips: i64,
    /// Send jobs per status (`pending`, `processing`, `succeeded`, `failed`, `cancelled`).
    pub jobs: BTreeMap<String, i64>,
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
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignStatsView>> {
    let mut c = conn(&app).await?;
    let campaign = load_campaign(&mut c, &id).await?;
    let mut jobs_by_status: BTreeMap<String, i64> =
        ["pending", "processing", "succeeded", "failed", "cancelled"]
            .into_iter()
            .map(|s| (s.to_string(), 0))
            .collect();
    for (status, n) in jobs::count_by_status_of_campaign(&mut c, &id).await? {
        jobs_by_status.insert(status, n);
    }
    Ok(Json(CampaignStatsView {
        enrollments: enrollments::stats(&mut c, &id).await?,
        bridge_misses: traces::count(&mut c, &campaign.workspace_id, "bridge_miss_all_strategies")
            .await?,
        orphan_webhooks: traces::count(&mut c, &campaign.workspace_id, "orphan_webhook").await?,
        open_recoverable_skips: skips::count_open_recoverable(&mut c, &id).await?,
        jobs: jobs_by_status,
        campaign_id: campaign.id,
        status: campaign.status,
    }))
}
