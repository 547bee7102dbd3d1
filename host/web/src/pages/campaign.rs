//! A campaign: its steps and sending window, start / pause / resume /
//! stop, the amber alert (with its Import contacts action) when no
//! enrolled prospect has a usable LinkedIn URL, the CSV import with its
//! per-row report, and the prospects table.

use super::conn;
use crate::error::{PageError, PageResult};
use crate::session::{CsrfForm, Viewing};
use crate::view::{self, Chrome, encode};
use accord_core::app::App;
use accord_core::domain::{Named, StepDef};
use accord_core::lifecycle::LifecycleError;
use accord_core::lifecycle::campaigns::{self as lifecycle, Action};
use accord_core::lifecycle::csv_import::{self, CsvReport};
use accord_core::lifecycle::prospect_table::{self, ProspectPage, ProspectTableRow, TableQuery};
use accord_core::store::Connection;
use accord_core::store::campaigns::Campaign;
use accord_core::store::enrollments::{self, CampaignStats};
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::sync::Arc;

/// One step, for people.
#[derive(Debug, Clone)]
pub struct StepLine {
    /// What it does.
    pub text: String,
}

/// Why the page shows an alert, and what it says.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Stable code (`no_prospects_with_linkedin_url`, `invalid_transition`…).
    pub code: &'static str,
    /// The sentence.
    pub message: String,
    /// Whether it offers the Import contacts action.
    pub import_action: bool,
}

#[derive(Template)]
#[template(path = "campaign.html")]
struct CampaignPage {
    chrome: Chrome,
    campaign: Campaign,
    status: String,
    steps: Vec<StepLine>,
    window: String,
    stats: CampaignStats,
    actions: Vec<ActionButton>,
    alert: Option<Alert>,
    notice: Option<String>,
    report: Option<CsvReport>,
    table: Table,
}

/// The prospects table as shown: its rows, filters and next page.
#[derive(Debug, Clone)]
pub struct Table {
    /// The rows.
    pub rows: Vec<Row>,
    /// The status filter applied (empty: all).
    pub status: String,
    /// The search applied.
    pub q: String,
    /// The link to the next page, if any.
    pub next: Option<String>,
    /// Whether this is not the first page.
    pub paged: bool,
    /// The link to the first page with the same filters.
    pub first: String,
    /// The statuses one can filter on, the applied one selected.
    pub statuses: Vec<(&'static str, bool)>,
}

/// One prospect's row, for people.
#[derive(Debug, Clone)]
pub struct Row {
    /// The prospect.
    pub prospect_id: String,
    /// Its name (or profile URL, or id).
    pub name: String,
    /// Whether it has a usable LinkedIn URL.
    pub has_linkedin_url: bool,
    /// Relationship status.
    pub linkedin_status: String,
    /// Workflow state.
    pub workflow_state: String,
    /// Accept time and path, or empty.
    pub accepted: String,
    /// Whether the accept came late.
    pub late: bool,
    /// The step it is at.
    pub step_index: i64,
    /// The next scheduled run, when and why it waits.
    pub next_run: String,
}

/// Query of the campaign page: the table's filters and page.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TableParams {
    /// A status filter.
    pub status: Option<String>,
    /// A search text.
    pub q: Option<String>,
    /// The page's cursor.
    pub cursor: Option<String>,
}

/// Rows per page of the prospects table.
const ROWS_PER_PAGE: i64 = 50;

/// The campaign `id` if the viewer may see its workspace (else 404).
pub(crate) async fn load_campaign(
    c: &mut Connection,
    viewing: &Viewing,
    id: &str,
) -> PageResult<Campaign> {
    let campaign = lifecycle::load(c, id).await.map_err(|e| match e {
        LifecycleError::NotFound { .. } => PageError::not_found("campaign"),
        e => e.into(),
    })?;
    if !viewing.viewer.may_see(&campaign.workspace_id) {
        return Err(PageError::not_found("campaign"));
    }
    Ok(campaign)
}

fn step_text(step: &StepDef) -> String {
    match step {
        StepDef::SendInvite { note: Some(n) } => {
            format!("Send a connection invite with a note: “{n}”")
        }
        StepDef::SendInvite { note: None } => "Send a connection invite".to_string(),
        StepDef::WaitAccept { days } => format!("Wait up to {days} days for the accept"),
        StepDef::Condition {
            if_accepted,
            otherwise,
        } => match otherwise {
            Some(o) => format!("If accepted go to step {if_accepted}, otherwise to step {o}"),
            None => {
                format!("If accepted go to step {if_accepted}, otherwise end (condition skipped)")
            }
        },
        StepDef::SendMessage { text } => format!("Send the message: “{text}”"),
        StepDef::Wait { days } => format!("Wait {days} days"),
    }
}

fn window_text(k: &Campaign) -> String {
    let hm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let days: Vec<&str> = k
        .window_days
        .split(',')
        .filter_map(|d| d.trim().parse::<usize>().ok())
        .filter_map(|d| DAYS.get(d.wrapping_sub(1)).copied())
        .collect();
    format!(
        "{}–{} {} ({})",
        hm(k.window_start_minute),
        hm(k.window_end_minute),
        days.join(", "),
        k.time_zone
    )
}

/// A state move the campaign allows now.
#[derive(Debug, Clone)]
pub struct ActionButton {
    /// `start`, `pause`, `resume` or `stop`.
    pub name: &'static str,
    /// The button's text.
    pub label: &'static str,
    /// Its style (`danger` for stop).
    pub class: &'static str,
}

/// The moves the campaign's state allows now.
fn actions(k: &Campaign) -> Vec<ActionButton> {
    [
        (Action::Start, "Start"),
        (Action::Pause, "Pause"),
        (Action::Resume, "Resume"),
        (Action::Stop, "Stop"),
    ]
    .into_iter()
    .filter(|(a, _)| a.from().contains(&k.status))
    .map(|(a, label)| ActionButton {
        name: a.name(),
        label,
        class: if a == Action::Stop {
            "danger"
        } else {
            "primary"
        },
    })
    .collect()
}

/// The amber alert when the campaign has no enrolled prospect, or none
/// with a usable LinkedIn URL (the table's reading says which).
fn url_alert(k: &Campaign, stats: &CampaignStats, page: &ProspectPage) -> Option<Alert> {
    if matches!(k.status.as_str(), "stopped" | "completed") {
        return None;
    }
    let message = if stats.enrolled == 0 {
        "No prospects yet: this campaign has nobody to send to, so its counters will sit at zero. Import contacts with LinkedIn URLs before starting it."
    } else if page.no_linkedin_url_alert {
        "None of the enrolled prospects has a usable LinkedIn URL, so this campaign cannot send anything. Import contacts with LinkedIn URLs before starting or resuming it."
    } else {
        return None;
    };
    Some(Alert {
        code: "no_prospects_with_linkedin_url",
        message: message.to_string(),
        import_action: true,
    })
}

fn row(r: ProspectTableRow, now: i64) -> Row {
    let p = r.row;
    Row {
        name: p
            .full_name
            .clone()
            .or_else(|| p.profile_url.clone())
            .unwrap_or_else(|| p.prospect_id.clone()),
        prospect_id: p.prospect_id,
        has_linkedin_url: r.has_linkedin_url,
        linkedin_status: p.linkedin_status,
        workflow_state: p.workflow_state,
        accepted: p
            .linkedin_accepted_at
            .map(|at| {
                format!(
                    "{} via {}",
                    view::when(Some(at)),
                    view::or_dash(p.accept_source.as_deref())
                )
            })
            .unwrap_or_default(),
        late: p.late_accept_observed_at.is_some(),
        step_index: p.step_index,
        next_run: match r.next_run {
            Some(n) => format!(
                "{} of step {} at {} ({}){}",
                n.action,
                n.step_index,
                view::when(Some(n.run_at)),
                view::relative(Some(n.run_at), now),
                n.wait_reason
                    .map(|w| format!(", waiting for {w}"))
                    .unwrap_or_default()
            ),
            None => String::new(),
        },
    }
}

/// The campaign page's link with the table's filters, at `cursor`.
fn table_link(id: &str, params: &TableParams, cursor: Option<&str>) -> String {
    let mut query = Vec::new();
    if let Some(s) = params.status.as_deref().filter(|s| !s.is_empty()) {
        query.push(format!("status={}", encode(s)));
    }
    if let Some(q) = params.q.as_deref().filter(|q| !q.is_empty()) {
        query.push(format!("q={}", encode(q)));
    }
    if let Some(c) = cursor {
        query.push(format!("cursor={}", encode(c)));
    }
    if query.is_empty() {
        format!("/ui/campaigns/{id}")
    } else {
        format!("/ui/campaigns/{id}?{}", query.join("&"))
    }
}

#[allow(clippy::too_many_arguments)]
async fn render(
    app: &App,
    viewing: &Viewing,
    id: &str,
    params: &TableParams,
    alert: Option<Alert>,
    notice: Option<String>,
    report: Option<CsvReport>,
) -> PageResult<String> {
    let mut c = conn(app).await?;
    let campaign = load_campaign(&mut c, viewing, id).await?;
    let stats = enrollments::stats(&mut c, id).await?;
    drop(c);
    let query = TableQuery {
        status: params.status.clone().filter(|s| !s.is_empty()),
        q: params.q.clone().filter(|q| !q.trim().is_empty()),
        cursor: params.cursor.clone().filter(|c| !c.is_empty()),
        limit: Some(ROWS_PER_PAGE),
    };
    let page = prospect_table::page(app, id, viewing.viewer.workspace(), &query).await?;
    let alert = alert.or_else(|| url_alert(&campaign, &stats, &page));
    let now = app.clock.now_ms();
    let table = Table {
        next: page
            .next_cursor
            .as_deref()
            .map(|c| table_link(id, params, Some(c))),
        first: table_link(id, params, None),
        rows: page.items.into_iter().map(|r| row(r, now)).collect(),
        status: query.status.unwrap_or_default(),
        q: query.q.unwrap_or_default(),
        paged: query.cursor.is_some(),
        statuses: prospect_table::STATUSES
            .iter()
            .map(|s| (*s, params.status.as_deref() == Some(*s)))
            .collect(),
    };
    let page = CampaignPage {
        chrome: viewing
            .chrome(format!("{} · Campaign", campaign.name))
            .in_workspace(&campaign.workspace_id, "overview"),
        status: campaign.status.as_str().to_string(),
        steps: campaign
            .steps
            .iter()
            .map(|s| StepLine { text: step_text(s) })
            .collect(),
        window: window_text(&campaign),
        actions: actions(&campaign),
        stats,
        campaign,
        alert,
        notice,
        report,
        table,
    };
    Ok(page.render()?)
}

/// `GET /ui/campaigns/{id}`.
pub async fn campaign(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Query(params): Query<TableParams>,
) -> PageResult<Html<String>> {
    Ok(Html(
        render(&app, &viewing, &id, &params, None, None, None).await?,
    ))
}

/// `POST /ui/campaigns/{id}/{action}`: start, pause, resume or stop; a
/// refusal shows the page again with the reason (the amber alert for
/// `no_prospects_with_linkedin_url`) and changes nothing.
pub async fn act(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path((id, action)): Path<(String, String)>,
    axum::extract::Form(form): axum::extract::Form<CsrfForm>,
) -> PageResult<Response> {
    viewing.check_csrf(&form.csrf)?;
    let action = match action.as_str() {
        "start" => Action::Start,
        "pause" => Action::Pause,
        "resume" => Action::Resume,
        "stop" => Action::Stop,
        _ => return Err(PageError::not_found("action")),
    };
    {
        let mut c = conn(&app).await?;
        load_campaign(&mut c, &viewing, &id).await?;
    }
    match lifecycle::transition(&app, &id, action, "dashboard").await {
        Ok(_) => Ok(Redirect::to(&format!("/ui/campaigns/{id}")).into_response()),
        Err(LifecycleError::Conflict { code, message }) => {
            let alert = Alert {
                code,
                message,
                import_action: code == "no_prospects_with_linkedin_url",
            };
            let html = render(
                &app,
                &viewing,
                &id,
                &TableParams::default(),
                Some(alert),
                None,
                None,
            )
            .await?;
            Ok(crate::error::refused(StatusCode::CONFLICT, code, html))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/campaigns/{id}/import` (multipart: `csrf`, `file`): imports
/// the CSV and shows the page with the per-row report.
pub async fn import(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    mut form: Multipart,
) -> PageResult<Response> {
    let mut csrf = String::new();
    let mut file = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| PageError::invalid("invalid_form", e.body_text()))?
    {
        match field.name() {
            Some("csrf") => {
                csrf = field
                    .text()
                    .await
                    .map_err(|e| PageError::invalid("invalid_form", e.body_text()))?;
            }
            Some("file") => {
                file = field
                    .bytes()
                    .await
                    .map_err(|e| PageError::invalid("invalid_csv", e.body_text()))?
                    .to_vec();
            }
            _ => {}
        }
    }
    viewing.check_csrf(&csrf)?;
    {
        let mut c = conn(&app).await?;
        load_campaign(&mut c, &viewing, &id).await?;
    }
    if file.is_empty() {
        return Err(PageError::invalid(
            "invalid_csv",
            "choose a CSV file to import",
        ));
    }
    match csv_import::import_csv(&app, &id, &file, "dashboard").await {
        Ok(report) => {
            let problems = report.problems().count();
            let notice = format!(
                "Imported {} prospects ({} enrolled); {} rows not imported.",
                report.imported, report.enrolled, problems
            );
            let html = render(
                &app,
                &viewing,
                &id,
                &TableParams::default(),
                None,
                Some(notice),
                Some(report),
            )
            .await?;
            Ok(Html(html).into_response())
        }
        Err(
            LifecycleError::Invalid { code, message } | LifecycleError::Conflict { code, message },
        ) => {
            let alert = Alert {
                code,
                message,
                import_action: false,
            };
            let html = render(
                &app,
                &viewing,
                &id,
                &TableParams::default(),
                Some(alert),
                None,
                None,
            )
            .await?;
            Ok(crate::error::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                html,
            ))
        }
        Err(e) => Err(e.into()),
    }
}
