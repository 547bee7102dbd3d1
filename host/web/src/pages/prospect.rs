//! A prospect: who it is, each enrollment with its accept stamp (time and
//! path), its next scheduled run and why it waits, the timeline of what
//! happened, and the Resync button, which says what the click did
//! (queued behind the account's spacing, coalesced with an earlier click,
//! stamped an accept, or found nothing new).

use super::conn;
use crate::error::{PageError, PageResult};
use crate::session::{CsrfForm, Viewing};
use crate::view::{self, Chrome};
use accord_core::app::App;
use accord_core::engine::resync::ResyncError;
use accord_core::engine::{ResyncOutcome, ResyncStatus};
use accord_core::lifecycle::timeline;
use accord_core::store::prospects::{self, Prospect};
use accord_core::store::{Connection, campaigns, enrollments, jobs};
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use std::sync::Arc;

/// One enrollment, for people.
#[derive(Debug, Clone)]
pub struct EnrollmentCard {
    /// The campaign's id and name.
    pub campaign_id: String,
    /// The campaign's name.
    pub campaign_name: String,
    /// Relationship status (`invited`, `accepted`, …).
    pub linkedin_status: String,
    /// Workflow state.
    pub workflow_state: String,
    /// The step it is at.
    pub step_index: i64,
    /// When the accept was stamped, and by which path.
    pub accepted: Option<String>,
    /// When the next step is scheduled to run, and why it waits.
    pub next_run: Option<String>,
}

/// One line of the timeline.
#[derive(Debug, Clone)]
pub struct TimelineItem {
    /// When, ms (for ordering).
    pub at: i64,
    /// When, for people.
    pub when: String,
    /// When, ISO 8601.
    pub iso: String,
    /// What kind of thing (`accept_signal`, `stamp`, `job`, `skip`, `decision`, …).
    pub kind: String,
    /// The line.
    pub title: String,
    /// Details, if any.
    pub detail: String,
}

/// What a Resync click did, for people.
#[derive(Debug, Clone)]
pub struct ResyncView {
    /// `stamped`, `nothing_new`, `queued`, `checking`, `coalesced`, `failed`.
    pub result: &'static str,
    /// The sentence.
    pub message: String,
}

#[derive(Template)]
#[template(path = "prospect.html")]
struct ProspectPage {
    chrome: Chrome,
    prospect: Prospect,
    name: String,
    enrollments: Vec<EnrollmentCard>,
    timeline: Vec<TimelineItem>,
    resync: Option<ResyncView>,
}

#[derive(Template)]
#[template(path = "resync_result.html")]
struct ResyncFragment {
    resync: Option<ResyncView>,
}

/// The prospect `id` if the viewer may see its workspace (else 404).
async fn load_prospect(c: &mut Connection, viewing: &Viewing, id: &str) -> PageResult<Prospect> {
    match prospects::get(c, id).await? {
        Some(p) if viewing.viewer.may_see(&p.workspace_id) => Ok(p),
        _ => Err(PageError::not_found("prospect")),
    }
}

async fn render(
    app: &App,
    viewing: &Viewing,
    id: &str,
    resync: Option<ResyncView>,
) -> PageResult<String> {
    let mut c = conn(app).await?;
    let prospect = load_prospect(&mut c, viewing, id).await?;
    let now = app.clock.now_ms();
    let mut cards = Vec::new();
    for e in enrollments::of_prospect(&mut c, id).await? {
        let campaign = campaigns::get(&mut c, &e.campaign_id).await?;
        let jobs = jobs::of_enrollment(&mut c, &e.id).await?;
        let next = jobs
            .iter()
            .filter(|j| j.status == "pending")
            .min_by_key(|j| j.run_at);
        cards.push(EnrollmentCard {
            campaign_name: campaign.map_or_else(|| e.campaign_id.clone(), |k| k.name),
            campaign_id: e.campaign_id.clone(),
            linkedin_status: e.linkedin_status.clone(),
            workflow_state: e.workflow_state.clone(),
            step_index: e.step_index,
            accepted: e.linkedin_accepted_at.map(|at| {
                format!(
                    "{} via {}",
                    view::when(Some(at)),
                    view::or_dash(e.accept_source.as_deref())
                )
            }),
            next_run: next.map(|j| {
                format!(
                    "step {} ({}) at {} ({}){}",
                    j.step_index,
                    j.action,
                    view::when(Some(j.run_at)),
                    view::relative(Some(j.run_at), now),
                    j.wait_reason
                        .as_deref()
                        .map(|w| format!(": waiting for {w}"))
                        .unwrap_or_default()
                )
            }),
        });
    }
    drop(c);
    let read = timeline::timeline(app, id, viewing.viewer.workspace()).await?;
    let mut timeline: Vec<TimelineItem> = read
        .items
        .into_iter()
        .map(|t| TimelineItem {
            when: view::when(Some(t.at)),
            iso: view::iso(Some(t.at)),
            at: t.at,
            detail: if t.detail.is_null() || t.detail == serde_json::json!({}) {
                String::new()
            } else {
                serde_json::to_string_pretty(&t.detail).unwrap_or_default()
            },
            kind: t.kind,
            title: t.title,
        })
        .collect();
    timeline.sort_by_key(|t| std::cmp::Reverse(t.at));
    let page = ProspectPage {
        chrome: viewing
            .chrome(format!(
                "{} · Prospect",
                prospect.full_name.as_deref().unwrap_or(&prospect.id)
            ))
            .in_workspace(&prospect.workspace_id, "overview"),
        name: prospect
            .full_name
            .clone()
            .unwrap_or_else(|| prospect.id.clone()),
        prospect,
        enrollments: cards,
        timeline,
        resync,
    };
    Ok(page.render()?)
}

/// `GET /ui/prospects/{id}`.
pub async fn prospect(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
) -> PageResult<Html<String>> {
    Ok(Html(render(&app, &viewing, &id, None).await?))
}

/// What a resync outcome means for the person who clicked.
fn explain(o: &ResyncOutcome) -> ResyncView {
    let joined = if o.coalesced {
        format!(
            " This click joined an earlier request ({} clicks, one call to LinkedIn).",
            o.clicks
        )
    } else {
        String::new()
    };
    match o.status {
        ResyncStatus::Queued => ResyncView {
            result: if o.coalesced { "coalesced" } else { "queued" },
            message: format!(
                "Queued: the account may ask LinkedIn at {} (its spacing protects it).{joined}",
                view::when(o.not_before)
            ),
        },
        ResyncStatus::Checking => ResyncView {
            result: if o.coalesced { "coalesced" } else { "checking" },
            message: format!("Asking LinkedIn now; reload in a moment.{joined}"),
        },
        ResyncStatus::Done if !o.stamped.is_empty() => ResyncView {
            result: "stamped",
            message: format!(
                "Stamped: LinkedIn says you are connected, and the accept is now recorded ({} enrollment{}); the follow-up is queued for the next valid sending time.{joined}",
                o.stamped.len(),
                if o.stamped.len() == 1 { "" } else { "s" }
            ),
        },
        ResyncStatus::Done => ResyncView {
            result: if o.coalesced {
                "coalesced"
            } else {
                "nothing_new"
            },
            message: match o.connected {
                Some(true) => format!(
                    "Nothing new: already connected, and the accept was already recorded.{joined}"
                ),
                _ => format!(
                    "Nothing new: LinkedIn does not show this prospect as a connection yet.{joined}"
                ),
            },
        },
        ResyncStatus::Failed => ResyncView {
            result: "failed",
            message: format!(
                "LinkedIn could not be asked: {}. Click again to retry.",
                o.error.as_deref().unwrap_or("unknown error")
            ),
        },
    }
}

/// `POST /ui/prospects/{id}/resync`: asks for a resync and shows what it
/// did (the result alone for htmx, else the whole page).
pub async fn resync(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult<Response> {
    viewing.check_csrf(&form.csrf)?;
    {
        let mut c = conn(&app).await?;
        load_prospect(&mut c, &viewing, &id).await?;
    }
    let Some(resyncer) = app.resync.as_deref() else {
        return Err(PageError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "provider_not_configured",
            message: "Resync needs the Unipile API (ACCORD_UNIPILE_DSN, ACCORD_UNIPILE_API_KEY)"
                .to_string(),
        });
    };
    let view = match resyncer.resync(&id).await {
        Ok(outcome) => explain(&outcome),
        Err(ResyncError::NotFound(_)) => return Err(PageError::not_found("prospect")),
        Err(e @ (ResyncError::NotEnrolled | ResyncError::NoConnectedAccount)) => ResyncView {
            result: "refused",
            message: format!("Cannot resync: {e}."),
        },
        Err(e @ ResyncError::Provider(_)) => ResyncView {
            result: "failed",
            message: format!("{e}. Click again to retry."),
        },
        Err(e @ ResyncError::Internal(_)) => return Err(PageError::internal(&e)),
    };
    if headers.contains_key("hx-request") {
        return Ok(Html(ResyncFragment { resync: Some(view) }.render()?).into_response());
    }
    Ok(Html(render(&app, &viewing, &id, Some(view)).await?).into_response())
}
