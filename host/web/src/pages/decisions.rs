//! What the policies decided: the decision log with its filters and
//! keyset pages, one decision's input and output side by side, a shadow
//! module's agreement report, and the replay of a candidate module over
//! the log ([`accord_core::lifecycle::decisions`]). The log is the admin
//! token's (as `/admin/decisions`); the shadow report and replay follow
//! the scope rules of the policy pages ([`super::policies::authorize`]).

use super::policies::{authorize, multipart_fields, parse_slot, policy_chrome, scope_query, short};
use crate::error::{PageError, PageResult, refused};
use crate::session::Viewing;
use crate::view::{self, Chrome, encode};
use accord_core::app::App;
use accord_core::lifecycle::LifecycleError;
use accord_core::lifecycle::decisions::{self as lifecycle, Candidate, ReplayScope};
use accord_core::policy::{Mode, Scope, Slot};
use accord_core::store::decisions::{DecisionFilter, DecisionRow};
use accord_core::store::policies as stored;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// Decisions per page of the log.
const PAGE: i64 = 50;
/// Most decisions one replay runs (as the admin API).
const MAX_REPLAY: u64 = 100_000;

/// Refuses the decision log to a viewer other than the admin (or open
/// access): the admin API keeps `/admin/decisions` to the admin token.
fn require_log(app: &App, viewing: &Viewing) -> PageResult<()> {
    super::policies::may_open(app, viewing)?;
    if super::policies::may_read_log(viewing) {
        Ok(())
    } else {
        Err(PageError::forbidden(
            "the decision log needs the admin token",
        ))
    }
}

/// An instant given as RFC 3339, as a `datetime-local` value (read as
/// UTC), or as milliseconds since the epoch; empty: none.
fn instant(field: &str, value: Option<&str>) -> PageResult<Option<i64>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(Some(ms));
    }
    if let Ok(t) = value.parse::<jiff::Timestamp>() {
        return Ok(Some(t.as_millisecond()));
    }
    value
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| Some(z.timestamp().as_millisecond()))
        .ok_or_else(|| {
            PageError::invalid(
                "invalid_time",
                format!("`{field}` is a UTC date and time (2026-10-01T10:00), an RFC 3339 time, or milliseconds since the epoch"),
            )
        })
}

/// A JSON text, indented for people (as given when it is not JSON).
fn pretty(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.to_string())
}

/// A share as `97.5 %`, or `—` of nothing.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "—".to_string()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

/// Filters of the decision log, as the page's form sends them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogQuery {
    /// One workspace's decisions.
    #[serde(default)]
    pub workspace: String,
    /// One slot.
    #[serde(default)]
    pub slot: String,
    /// `active` or `shadow`.
    #[serde(default)]
    pub mode: String,
    /// One module (sha256).
    #[serde(default)]
    pub module: String,
    /// One enrollment.
    #[serde(default)]
    pub enrollment: String,
    /// Decided at or after.
    #[serde(default)]
    pub since: String,
    /// Decided before.
    #[serde(default)]
    pub until: String,
    /// Decisions per page (default 50, at most 500).
    #[serde(default)]
    pub limit: String,
    /// The page after this cursor.
    pub cursor: Option<String>,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

impl LogQuery {
    fn filter(&self) -> PageResult<DecisionFilter> {
        let slot = match some(&self.slot) {
            None => None,
            Some(s) => Some(
                s.parse::<Slot>()
                    .map_err(|e| PageError::invalid("invalid_slot", e))?
                    .as_str()
                    .to_string(),
            ),
        };
        let mode = match some(&self.mode) {
            None => None,
            Some(m) => Some(
                m.parse::<Mode>()
                    .map_err(|e| PageError::invalid("invalid_mode", e))?
                    .as_str()
                    .to_string(),
            ),
        };
        Ok(DecisionFilter {
            workspace_id: some(&self.workspace),
            slot,
            mode,
            module_sha256: some(&self.module),
            enrollment_id: some(&self.enrollment),
            since: instant("since", Some(&self.since))?,
            until: instant("until", Some(&self.until))?,
        })
    }

    /// Decisions per page (`invalid_limit` out of 1 to 500).
    fn limit(&self) -> PageResult<i64> {
        match some(&self.limit) {
            None => Ok(PAGE),
            Some(l) => l
                .parse::<i64>()
                .ok()
                .filter(|l| (1..=lifecycle::MAX_PAGE).contains(l))
                .ok_or_else(|| {
                    PageError::invalid(
                        "invalid_limit",
                        format!("the page size is 1 to {}", lifecycle::MAX_PAGE),
                    )
                }),
        }
    }

    /// The filters and page size as a query string (without the cursor).
    fn query(&self) -> String {
        [
            ("workspace", &self.workspace),
            ("slot", &self.slot),
            ("mode", &self.mode),
            ("module", &self.module),
            ("enrollment", &self.enrollment),
            ("since", &self.since),
            ("until", &self.until),
            ("limit", &self.limit),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// One decision in the log, for people.
#[derive(Debug, Clone)]
pub struct DecisionLine {
    /// Id.
    pub id: String,
    /// When.
    pub at: String,
    /// Workspace.
    pub workspace_id: String,
    /// Slot.
    pub slot: String,
    /// The call (`resolve`, `route`, `preflight`, …).
    pub call: String,
    /// `active` or `shadow`.
    pub mode: String,
    /// The module, short.
    pub module: String,
    /// The module's full sha256.
    pub module_full: String,
    /// What it decided, in a few words.
    pub summary: String,
    /// The failure, if the call failed.
    pub error: String,
    /// The enrollment it was about.
    pub enrollment: String,
    /// For a shadow decision: whether it agreed with the active one.
    pub agrees: String,
}

fn agrees(row: &DecisionRow) -> String {
    match row.agrees {
        Some(1) => "agrees".to_string(),
        Some(_) => "differs".to_string(),
        None => String::new(),
    }
}

impl From<&DecisionRow> for DecisionLine {
    fn from(r: &DecisionRow) -> Self {
        DecisionLine {
            id: r.id.clone(),
            at: view::when(Some(r.decided_at)),
            workspace_id: r.workspace_id.clone(),
            slot: r.slot.clone(),
            call: r.call.clone(),
            mode: r.mode.clone(),
            module: short(&r.module_sha256),
            module_full: r.module_sha256.clone(),
            summary: r.summary.clone(),
            error: r.error_kind.clone().unwrap_or_default(),
            enrollment: r.enrollment_id.clone().unwrap_or_default(),
            agrees: agrees(r),
        }
    }
}

#[derive(Template)]
#[template(path = "decision_log.html")]
struct LogPage {
    chrome: Chrome,
    q: LogQuery,
    rows: Vec<DecisionLine>,
    first: Option<String>,
    next: Option<String>,
}

/// `GET /ui/policies/decisions`: the decision log, newest first, with
/// filters (slot, mode, module, enrollment, workspace, since, until) and
/// keyset pages.
pub async fn log(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Query(q): Query<LogQuery>,
) -> PageResult<Html<String>> {
    require_log(&app, &viewing)?;
    let filter = q.filter()?;
    let page = lifecycle::page(&app.db, &filter, q.cursor.as_deref(), q.limit()?).await?;
    let query = q.query();
    let base = if query.is_empty() {
        "/ui/policies/decisions?".to_string()
    } else {
        format!("/ui/policies/decisions?{query}&")
    };
    let chrome = match some(&q.workspace) {
        Some(w) => viewing.chrome("Decision log").in_workspace(&w, "policies"),
        None => viewing.chrome("Decision log"),
    };
    let page = LogPage {
        chrome,
        rows: page.items.iter().map(DecisionLine::from).collect(),
        first: q
            .cursor
            .is_some()
            .then(|| base.trim_end_matches(['?', '&']).to_string()),
        next: page
            .next_cursor
            .map(|c| format!("{base}cursor={}", encode(&c))),
        q,
    };
    Ok(Html(page.render()?))
}

#[derive(Template)]
#[template(path = "decision.html")]
struct DecisionPage {
    chrome: Chrome,
    d: DecisionLine,
    input: String,
    output: String,
    fuel: i64,
    duration_us: i64,
    inbox_id: String,
    job_id: String,
    active_id: String,
    active_summary: String,
}

/// `GET /ui/policies/decisions/{id}`: one decision, its input and output
/// side by side.
pub async fn decision(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
) -> PageResult<Html<String>> {
    require_log(&app, &viewing)?;
    let row = lifecycle::get(&app.db, &id).await?;
    let page = DecisionPage {
        chrome: viewing
            .chrome(format!("Decision {}", short(&row.id)))
            .in_workspace(&row.workspace_id, "policies"),
        d: DecisionLine::from(&row),
        input: pretty(&row.input),
        output: pretty(&row.output),
        fuel: row.fuel,
        duration_us: row.duration_us,
        inbox_id: row.inbox_id.unwrap_or_default(),
        job_id: row.job_id.unwrap_or_default(),
        active_id: row.active_id.unwrap_or_default(),
        active_summary: row.active_summary.unwrap_or_default(),
    };
    Ok(Html(page.render()?))
}

/// Query of the shadow report.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShadowQuery {
    /// The workspace whose shadow module this is; absent: global.
    pub workspace: Option<String>,
    /// Report on this module (sha256) instead of the one bound now.
    #[serde(default)]
    pub module: String,
    /// Only decisions from this time on.
    #[serde(default)]
    pub since: String,
}

/// One group of the shadow report, for people.
#[derive(Debug, Clone)]
pub struct ShadowLine {
    /// What the active module decided.
    pub active: String,
    /// What the shadow decided.
    pub shadow: String,
    /// Whether these agree.
    pub agrees: bool,
    /// Calls.
    pub calls: i64,
    /// Shadow calls that failed.
    pub errors: i64,
    /// Sample decision ids.
    pub samples: Vec<String>,
}

#[derive(Template)]
#[template(path = "shadow_report.html")]
struct ShadowPage {
    chrome: Chrome,
    slot: &'static str,
    scope_query: String,
    module: String,
    module_short: String,
    calls: i64,
    agreements: i64,
    disagreements: i64,
    errors: i64,
    dropped: u64,
    agreement: String,
    groups: Vec<ShadowLine>,
    log: bool,
    q: ShadowQuery,
}

/// `GET /ui/policies/{slot}/shadow?workspace=ID`: how the scope's shadow
/// module decided beside the active one.
pub async fn shadow(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(slot): Path<String>,
    Query(q): Query<ShadowQuery>,
) -> PageResult<Html<String>> {
    let slot = parse_slot(&slot)?;
    let scope = authorize(&app, &viewing, q.workspace.as_deref()).await?;
    let since = instant("since", Some(&q.since))?;
    let bound = app.policies.bound(&scope, slot, Mode::Shadow);
    let dropped = app.pipeline.decisions().shadow().dropped().of(slot);
    let module = some(&q.module);
    let report = lifecycle::shadow_report(
        &app.db,
        bound.as_deref(),
        dropped,
        &scope,
        slot,
        module.as_deref(),
        since,
    )
    .await?;
    let sha = report.module_sha256.clone().unwrap_or_default();
    let page = ShadowPage {
        chrome: policy_chrome(
            &viewing,
            &scope,
            format!("Shadow report · {}", slot.as_str()),
        ),
        slot: slot.as_str(),
        scope_query: scope_query(&scope),
        module_short: short(&sha),
        module: sha,
        calls: report.calls,
        agreements: report.agreements,
        disagreements: report.disagreements,
        errors: report.errors,
        dropped: report.dropped,
        agreement: percent(
            report.agreements.unsigned_abs(),
            report.calls.unsigned_abs(),
        ),
        groups: report
            .groups
            .iter()
            .map(|g| ShadowLine {
                active: g.active_summary.clone(),
                shadow: g.shadow_summary.clone(),
                agrees: g.agrees == 1,
                calls: g.calls,
                errors: g.errors,
                samples: if g.first_id == g.last_id {
                    vec![g.first_id.clone()]
                } else {
                    vec![g.first_id.clone(), g.last_id.clone()]
                },
            })
            .collect(),
        log: super::policies::may_read_log(&viewing),
        q,
    };
    Ok(Html(page.render()?))
}

/// A replay's report, for people.
#[derive(Debug, Clone)]
pub struct ReplayView {
    /// The candidate's sha256.
    pub candidate: String,
    /// Decisions replayed.
    pub replayed: u64,
    /// Decided the same.
    pub same: u64,
    /// Decided otherwise.
    pub different: u64,
    /// Failed.
    pub errors: u64,
    /// Share decided the same.
    pub agreement: String,
    /// The differences, grouped.
    pub groups: Vec<ReplayGroupLine>,
    /// Samples of the failures: (decision id, kind).
    pub error_samples: Vec<(String, String)>,
}

/// One group of differences.
#[derive(Debug, Clone)]
pub struct ReplayGroupLine {
    /// The logged decision.
    pub logged: String,
    /// The candidate's.
    pub candidate: String,
    /// How many.
    pub count: u64,
    /// Sample decision ids.
    pub samples: Vec<String>,
    /// The JSON paths that differ.
    pub paths: String,
}

#[derive(Template)]
#[template(path = "replay.html")]
struct ReplayPage {
    chrome: Chrome,
    slot: &'static str,
    scope_query: String,
    scope_label: String,
    modules: Vec<(String, String)>,
    report: Option<ReplayView>,
    alert: Option<(&'static str, String)>,
    log: bool,
}

/// The stored modules of `slot` a viewer may replay: every one for the
/// admin, its own scope's for a workspace token.
async fn replayable(
    app: &App,
    viewing: &Viewing,
    slot: Slot,
) -> PageResult<Vec<stored::ModuleInfo>> {
    let mut c = super::conn(app).await?;
    let modules = match viewing.viewer.workspace() {
        None => stored::modules(&mut c).await?,
        Some(own) => stored::modules_of_scope(&mut c, own).await?,
    };
    Ok(modules
        .into_iter()
        .filter(|m| m.slot == slot.as_str())
        .collect())
}

async fn render_replay(
    app: &App,
    viewing: &Viewing,
    scope: &Scope,
    slot: Slot,
    report: Option<ReplayView>,
    alert: Option<(&'static str, String)>,
) -> PageResult<String> {
    let modules = replayable(app, viewing, slot)
        .await?
        .into_iter()
        .map(|m| {
            let label = match (m.name, m.version_label) {
                (Some(n), Some(v)) => format!("{n} {v} ({})", short(&m.sha256)),
                (Some(n), None) => format!("{n} ({})", short(&m.sha256)),
                _ => short(&m.sha256),
            };
            (m.sha256, label)
        })
        .collect();
    let page = ReplayPage {
        chrome: policy_chrome(viewing, scope, format!("Replay · {}", slot.as_str())),
        slot: slot.as_str(),
        scope_query: scope_query(scope),
        scope_label: match scope.workspace() {
            Some(w) => format!("the decisions of workspace {w}"),
            None => "the decisions of every workspace".to_string(),
        },
        modules,
        report,
        alert,
        log: super::policies::may_read_log(viewing),
    };
    Ok(page.render()?)
}

/// Query naming a scope.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScopeOnly {
    /// The workspace; absent: global.
    pub workspace: Option<String>,
}

/// `GET /ui/policies/{slot}/replay?workspace=ID`: the replay form.
pub async fn replay_form(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(slot): Path<String>,
    Query(q): Query<ScopeOnly>,
) -> PageResult<Html<String>> {
    let slot = parse_slot(&slot)?;
    let scope = authorize(&app, &viewing, q.workspace.as_deref()).await?;
    Ok(Html(
        render_replay(&app, &viewing, &scope, slot, None, None).await?,
    ))
}

/// `POST /ui/policies/{slot}/replay?workspace=ID` (multipart: `csrf`,
/// `file` or `module`, optional `since`, `until`, `limit`): runs the
/// candidate over the slot's logged active decisions of the scope and
/// shows how many it decides the same, differently (grouped, with sample
/// ids) or fails on. Changes nothing.
pub async fn replay(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(slot): Path<String>,
    Query(q): Query<ScopeOnly>,
    mut form: Multipart,
) -> PageResult<Response> {
    let (text, file) = multipart_fields(&mut form).await?;
    let field = |k: &str| text.get(k).map(|v| v.trim()).unwrap_or_default();
    viewing.check_csrf(field("csrf"))?;
    let slot = parse_slot(&slot)?;
    let scope = authorize(&app, &viewing, q.workspace.as_deref()).await?;
    let result = run_replay(&app, &viewing, &scope, slot, &file, &text).await;
    match result {
        Ok(view) => Ok(
            Html(render_replay(&app, &viewing, &scope, slot, Some(view), None).await?)
                .into_response(),
        ),
        Err(LifecycleError::Invalid { code, message }) => {
            let html =
                render_replay(&app, &viewing, &scope, slot, None, Some((code, message))).await?;
            Ok(refused(StatusCode::UNPROCESSABLE_ENTITY, code, html))
        }
        Err(e) => Err(e.into()),
    }
}

async fn run_replay(
    app: &App,
    viewing: &Viewing,
    scope: &Scope,
    slot: Slot,
    file: &[u8],
    text: &std::collections::HashMap<String, String>,
) -> Result<ReplayView, LifecycleError> {
    let field = |k: &str| text.get(k).map(|v| v.trim()).unwrap_or_default();
    let time = |k: &str| {
        instant(k, Some(field(k))).map_err(|e| LifecycleError::invalid(e.code, e.message))
    };
    let limit = match field("limit") {
        "" => MAX_REPLAY,
        l => l
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=MAX_REPLAY).contains(l))
            .ok_or_else(|| {
                LifecycleError::invalid("invalid_limit", format!("the limit is 1 to {MAX_REPLAY}"))
            })?,
    };
    let module = field("module");
    let which = match (file.is_empty(), module) {
        (false, _) => Candidate::Bytes(file),
        (true, "") => {
            return Err(LifecycleError::invalid(
                "no_candidate",
                "choose the candidate's .wasm file, or one of the stored modules",
            ));
        }
        (true, sha) => {
            // A workspace replays only the modules of its own scope; any
            // other is as unknown to it as one never uploaded.
            if viewing.viewer.workspace().is_some()
                && !replayable(app, viewing, slot)
                    .await
                    .map_err(|e| LifecycleError::Internal(e.message))?
                    .iter()
                    .any(|m| m.sha256 == sha)
            {
                return Err(LifecycleError::not_found("policy module", sha));
            }
            Candidate::Stored(sha)
        }
    };
    let runtime = app.policies.runtime();
    let candidate = lifecycle::candidate(&app.db, runtime, slot, which).await?;
    let replay_scope = ReplayScope {
        workspace_id: scope.workspace().map(str::to_string),
        since: time("since")?,
        until: time("until")?,
        limit: Some(limit),
    };
    let report = lifecycle::replay(&app.db, runtime, &candidate, &replay_scope).await?;
    Ok(ReplayView {
        agreement: percent(report.same, report.replayed),
        candidate: report.candidate_sha256,
        replayed: report.replayed,
        same: report.same,
        different: report.different,
        errors: report.errors,
        groups: report
            .groups
            .into_iter()
            .map(|g| ReplayGroupLine {
                logged: g.logged,
                candidate: g.candidate,
                count: g.count,
                samples: g.sample_ids,
                paths: g.paths.join(", "),
            })
            .collect(),
        error_samples: report
            .error_samples
            .into_iter()
            .map(|e| (e.decision_id, e.kind))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_three_ways() {
        assert_eq!(instant("since", Some("")).ok(), Some(None));
        assert_eq!(instant("since", Some("1000")).ok(), Some(Some(1000)));
        assert_eq!(
            instant("since", Some("1970-01-01T00:00:01Z")).ok(),
            Some(Some(1000))
        );
        assert_eq!(
            instant("since", Some("1970-01-01T00:01")).ok(),
            Some(Some(60_000))
        );
        assert!(instant("since", Some("yesterday")).is_err());
    }

    #[test]
    fn shares_read_for_people() {
        assert_eq!(percent(1, 3), "33.3 %");
        assert_eq!(percent(0, 0), "—");
    }
}
