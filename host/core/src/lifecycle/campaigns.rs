//! A campaign's lifecycle: creation, its state machine (start, pause,
//! resume, stop) and the resume sweep, which shares its dispatch with the
//! skip-retry tick ([`crate::pipeline::Pipeline::dispatch_again`]).

use super::{LifecycleError, required_text, time_zone};
use crate::app::App;
use crate::clock::new_id;
use crate::domain::{Named, StepDef, validate_steps};
use crate::pipeline::{DispatchOutcome, DispatchRequest, PipelineError};
use crate::store::campaigns::{self, Campaign};
use crate::store::enrollments::{self, EnrolledIdentity};
use crate::store::events::{self, NewEvent};
use crate::store::{accounts, jobs, skips};
use crate::window::{SendingWindow, WindowError};
use accord_policy_core::linkedin::parse_profile_url;
use accord_policy_core::{CampaignStatus, DispatchSource};
use serde::{Deserialize, Serialize};

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

/// A new campaign of a workspace (the body of
/// `POST /api/workspaces/{id}/campaigns`).
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

/// Decodes and validates the steps (`invalid_steps` naming the step).
fn parse_steps(raw: Vec<serde_json::Value>) -> Result<Vec<StepDef>, LifecycleError> {
    let steps = raw
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value::<StepDef>(v)
                .map_err(|e| LifecycleError::invalid("invalid_steps", format!("steps[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    validate_steps(&steps)
        .map_err(|e| LifecycleError::invalid("invalid_steps", format!("steps: {e}")))?;
    Ok(steps)
}

/// Creates a campaign in status `draft` (`invalid_name`,
/// `invalid_linkedin_account_id`, `invalid_steps`, `invalid_window`,
/// `invalid_time_zone`; `not_found` for the workspace). `source` names
/// the edge in the audit event (`api`, `demo`, …).
pub async fn create(
    app: &App,
    workspace_id: &str,
    body: NewCampaign,
    source: &'static str,
) -> Result<Campaign, LifecycleError> {
    let name = required_text("invalid_name", "name", &body.name, 200)?;
    let steps = parse_steps(body.steps)?;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    if accounts::workspace(&mut tx, workspace_id).await?.is_none() {
        return Err(LifecycleError::not_found("workspace", workspace_id));
    }
    let account_id = body.linkedin_account_id.trim();
    let account = accounts::account(&mut tx, account_id)
        .await?
        .filter(|a| a.workspace_id == workspace_id)
        .ok_or_else(|| {
            LifecycleError::invalid(
                "invalid_linkedin_account_id",
                format!(
                    "`linkedin_account_id`: no LinkedIn account `{account_id}` in workspace `{workspace_id}`"
                ),
            )
        })?;
    let time_zone = match &body.time_zone {
        Some(tz) => time_zone(tz)?,
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
            WindowError::TimeZone(_) => {
                LifecycleError::invalid("invalid_time_zone", format!("`time_zone`: {e}"))
            }
            _ => LifecycleError::invalid("invalid_window", format!("`window`: {e}")),
        }
    })?;
    let campaign = Campaign {
        id: new_id(),
        workspace_id: workspace_id.to_string(),
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
        source: Some(source),
        detail: Some(serde_json::json!({"campaign_id": campaign.id, "name": campaign.name})),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(campaign)
}

/// The campaign `id` (`not_found`).
pub async fn load(c: &mut crate::store::Connection, id: &str) -> Result<Campaign, LifecycleError> {
    campaigns::get(c, id)
        .await?
        .ok_or_else(|| LifecycleError::not_found("campaign", id))
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

/// A move of a campaign's state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// draft → running.
    Start,
    /// running → paused.
    Pause,
    /// paused → running, then the resume sweep.
    Resume,
    /// draft, running or paused → stopped, pending jobs cancelled.
    Stop,
}

impl Action {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Stop => "stop",
        }
    }

    /// The states it moves a campaign from.
    pub fn from(self) -> &'static [CampaignStatus] {
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

    /// The state it moves a campaign to.
    pub fn to(self) -> CampaignStatus {
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

fn invalid_transition(current: CampaignStatus, action: Action) -> LifecycleError {
    let from: Vec<&str> = action.from().iter().map(|s| s.as_str()).collect();
    LifecycleError::conflict(
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
pub fn has_usable_linkedin_url(p: &EnrolledIdentity) -> bool {
    p.member_id.as_deref().is_some_and(|m| !m.trim().is_empty())
        || [&p.profile_url, &p.sales_nav_lead_url]
            .into_iter()
            .flatten()
            .any(|u| parse_profile_url(u).is_some())
}

/// Whether the campaign has at least one enrolled prospect with a usable
/// LinkedIn URL (stops at the first one).
pub async fn has_usable_prospect(
    c: &mut crate::store::Connection,
    campaign_id: &str,
) -> Result<bool, LifecycleError> {
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

/// Moves the campaign `id` by `action` in one transaction
/// (`invalid_transition`; `no_prospects_with_linkedin_url` when a start or
/// resume would have nothing to send to); a resume then runs the
/// [`resume_sweep`]. `source` names the edge in the audit event.
pub async fn transition(
    app: &App,
    id: &str,
    action: Action,
    source: &'static str,
) -> Result<CampaignTransition, LifecycleError> {
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let campaign = load(&mut tx, id).await?;
    if !action.from().contains(&campaign.status) {
        return Err(invalid_transition(campaign.status, action));
    }
    if matches!(action, Action::Start | Action::Resume) && !has_usable_prospect(&mut tx, id).await?
    {
        return Err(LifecycleError::conflict(
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
        let current = load(&mut tx, id).await?;
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
        source: Some(source),
        detail: Some(serde_json::json!({
            "campaign_id": campaign.id,
            "from": campaign.status.as_str(),
            "to": action.to().as_str(),
            "cancelled_jobs": cancelled_jobs,
        })),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    let campaign = load(&mut tx, id).await?;
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
pub async fn resume_sweep(app: &App, campaign_id: &str) -> ResumeSweep {
    let mut sweep = ResumeSweep::default();
    let open = async {
        let mut c = app.db.acquire().await?;
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
        let Ok(step_index) = u32::try_from(skip.step_index) else {
            sweep.failed += 1;
            continue;
        };
        let request = DispatchRequest {
            source: DispatchSource::Resume,
            step_index,
        };
        match sweep_one(app, &skip.enrollment_id, request).await {
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

/// One skip of the sweep, in its own transaction.
async fn sweep_one(
    app: &App,
    enrollment_id: &str,
    request: DispatchRequest,
) -> Result<Option<DispatchOutcome>, PipelineError> {
    let mut tx = app.db.begin().await?;
    let outcome = app
        .pipeline
        .dispatch_again(&mut tx, enrollment_id, request)
        .await?;
    tx.commit().await?;
    Ok(outcome)
}
