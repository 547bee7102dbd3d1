//! The lists the overview's tiles open: late accepts (with whether their
//! follow-up went out and the job that sends it), bridge misses and
//! orphan webhooks (each with its trace: the signal, the keys tried, the
//! candidates), newest first, a page at a time.

use crate::error::{PageError, PageResult};
use crate::session::Viewing;
use crate::view::{self, Chrome};
use accord_core::app::App;
use accord_core::lifecycle::LifecycleError;
use accord_core::lifecycle::lists::{self, TraceView};
use accord_core::store::accounts;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;
use std::sync::Arc;

/// Rows per page.
const PER_PAGE: i64 = 50;

/// Query of a list: its page.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    cursor: Option<String>,
}

/// A trace, for people.
#[derive(Debug, Clone)]
pub struct TraceLine {
    /// Id.
    pub id: String,
    /// When.
    pub when: String,
    /// The enrollment it concerns, if known.
    pub enrollment_id: Option<String>,
    /// The account it came through, if known.
    pub account: String,
    /// The accept signal, pretty JSON.
    pub signal: String,
    /// The detail (keys tried, candidates, error), pretty JSON.
    pub detail: String,
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn trace_line(t: &TraceView) -> TraceLine {
    TraceLine {
        id: t.id.clone(),
        when: view::when(Some(t.created_at)),
        enrollment_id: t.enrollment_id.clone(),
        account: view::or_dash(t.linkedin_account_id.as_deref()),
        signal: t.signal.as_ref().map(pretty).unwrap_or_default(),
        detail: pretty(&t.detail),
    }
}

/// One late accept, for people.
#[derive(Debug, Clone)]
pub struct LateLine {
    /// The prospect.
    pub prospect_id: String,
    /// Its name.
    pub name: String,
    /// The campaign's name.
    pub campaign: String,
    /// The campaign.
    pub campaign_id: String,
    /// When the late accept was observed.
    pub observed: String,
    /// The follow-up: sent when, or its job's state and time.
    pub followup: String,
    /// Whether it went out.
    pub sent: bool,
    /// The traces of the enrollment.
    pub traces: Vec<TraceLine>,
}

#[derive(Template)]
#[template(path = "late_accepts.html")]
struct LatePage {
    chrome: Chrome,
    name: String,
    items: Vec<LateLine>,
    next: Option<String>,
    paged: bool,
    workspace_id: String,
}

#[derive(Template)]
#[template(path = "traces.html")]
struct TracesPage {
    chrome: Chrome,
    name: String,
    heading: &'static str,
    explain: &'static str,
    items: Vec<TraceLine>,
    next: Option<String>,
    paged: bool,
    here: String,
}

/// The workspace's name, when the viewer may see it (else 404).
async fn workspace_name(app: &App, viewing: &Viewing, id: &str) -> PageResult<String> {
    viewing.require_workspace(id)?;
    let mut c = app.db.acquire().await?;
    accounts::workspace(&mut c, id)
        .await?
        .map(|w| w.name)
        .ok_or_else(|| PageError::not_found("workspace"))
}

fn not_found_as_page(e: LifecycleError) -> PageError {
    match e {
        LifecycleError::NotFound { .. } => PageError::not_found("workspace"),
        e => e.into(),
    }
}

/// `GET /ui/workspaces/{id}/late-accepts`.
pub async fn late_accepts(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> PageResult<Html<String>> {
    let name = workspace_name(&app, &viewing, &id).await?;
    let cursor = params.cursor.as_deref().filter(|c| !c.is_empty());
    let page = lists::late_accepts(
        &app,
        &id,
        viewing.viewer.workspace(),
        cursor,
        Some(PER_PAGE),
    )
    .await
    .map_err(not_found_as_page)?;
    let now = app.clock.now_ms();
    let items = page
        .items
        .iter()
        .map(|i| LateLine {
            prospect_id: i.row.prospect_id.clone(),
            name: i
                .row
                .full_name
                .clone()
                .or_else(|| i.row.profile_url.clone())
                .unwrap_or_else(|| i.row.prospect_id.clone()),
            campaign: i.campaign_name.clone(),
            campaign_id: i.row.campaign_id.clone(),
            observed: view::when(i.row.late_accept_observed_at),
            sent: i.followup_sent,
            followup: match (&i.row.late_accept_followup_sent_at, &i.followup_job) {
                (Some(at), _) => format!("sent {}", view::when(Some(*at))),
                (None, Some(j)) => format!(
                    "{} job {}, scheduled {} ({}){}",
                    j.action,
                    j.status,
                    view::when(Some(j.run_at)),
                    view::relative(Some(j.run_at), now),
                    j.wait_reason
                        .as_deref()
                        .map(|w| format!(", waiting for {w}"))
                        .unwrap_or_default()
                ),
                (None, None) => "not sent: the late-accept policy routed it elsewhere, or a skip waits (see the prospect)".to_string(),
            },
            traces: i.traces.iter().map(trace_line).collect(),
        })
        .collect();
    let page = LatePage {
        chrome: viewing
            .chrome(format!("{name} · Late accepts"))
            .in_workspace(&id, "late"),
        name,
        items,
        next: page
            .next_cursor
            .map(|c| format!("/ui/workspaces/{id}/late-accepts?cursor={c}")),
        paged: cursor.is_some(),
        workspace_id: id,
    };
    Ok(Html(page.render()?))
}

/// Which list of traces.
#[derive(Debug, Clone, Copy)]
enum TraceList {
    BridgeMisses,
    OrphanWebhooks,
}

async fn traces_page(
    app: &App,
    viewing: &Viewing,
    id: &str,
    params: &ListParams,
    list: TraceList,
) -> PageResult<Html<String>> {
    let name = workspace_name(app, viewing, id).await?;
    let cursor = params.cursor.as_deref().filter(|c| !c.is_empty());
    let only = viewing.viewer.workspace();
    let (page, heading, explain, here, section) = match list {
        TraceList::BridgeMisses => (
            lists::bridge_misses(app, id, only, cursor, Some(PER_PAGE)).await,
            "Bridge misses",
            "Accept signals that none of the match strategies could tie to an invite we sent. Each trace shows the signal and the keys tried; usually the prospect was invited outside Accord, or their profile URL changed. Import them, or Resync, and the next signal will match.",
            format!("/ui/workspaces/{id}/bridge-misses"),
            "misses",
        ),
        TraceList::OrphanWebhooks => (
            lists::orphan_webhooks(app, id, only, cursor, Some(PER_PAGE)).await,
            "Orphan webhooks",
            "Signals that came while none of the account's campaigns was running. They are kept, not acted on; once a campaign runs, the heal ticks and Resync pick accepts up.",
            format!("/ui/workspaces/{id}/orphan-webhooks"),
            "misses",
        ),
    };
    let page = page.map_err(not_found_as_page)?;
    let render = TracesPage {
        chrome: viewing
            .chrome(format!("{name} · {heading}"))
            .in_workspace(id, section),
        name,
        heading,
        explain,
        items: page.items.iter().map(trace_line).collect(),
        next: page.next_cursor.map(|c| format!("{here}?cursor={c}")),
        paged: cursor.is_some(),
        here,
    };
    Ok(Html(render.render()?))
}

/// `GET /ui/workspaces/{id}/bridge-misses`.
pub async fn bridge_misses(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> PageResult<Html<String>> {
    traces_page(&app, &viewing, &id, &params, TraceList::BridgeMisses).await
}

/// `GET /ui/workspaces/{id}/orphan-webhooks`.
pub async fn orphan_webhooks(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> PageResult<Html<String>> {
    traces_page(&app, &viewing, &id, &params, TraceList::OrphanWebhooks).await
}
