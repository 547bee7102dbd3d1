//! The policies of a scope (global, or one workspace): per slot, the
//! active and shadow modules with their labels; upload (active or
//! shadow), promote, rollback and un-assign through
//! [`accord_core::lifecycle::policies`]; the assignment history and the
//! match re-key jobs with their progress.
//!
//! Who may do what is the admin API's rule (`admin/policies.rs`
//! `may_change`): the admin token (and open access, for local use) every
//! scope; a workspace token its own workspace's scope only, another
//! workspace's answering 404 exactly like a missing one and the global
//! scope 403; the API token does not open these pages.

use super::conn;
use crate::error::{PageError, PageResult, refused};
use crate::session::Viewing;
use crate::view::{self, Chrome, encode};
use accord_core::app::App;
use accord_core::lifecycle::LifecycleError;
use accord_core::lifecycle::policies::{self as lifecycle, PolicySwap, UploadMeta};
use accord_core::lifecycle::sessions::Viewer;
use accord_core::policy::{CONTRACT_VERSION, Mode, PolicyModule, Scope, Slot, builtin};
use accord_core::store::accounts::{self, Workspace};
use accord_core::store::policies::{self as stored, ModuleInfo};
use accord_core::store::{Connection, rekey_jobs};
use askama::Template;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Largest policy module accepted, bytes (as the admin API).
pub use accord_core::policy::MAX_MODULE_BYTES;
/// Longest name, version label or notes given at upload, characters.
const MAX_LABEL: usize = 200;
/// History lines and re-key jobs shown.
const RECENT: i64 = 50;
/// Workspaces offered in the scope picker.
const LISTED: i64 = 500;

/// Refuses a viewer who may not open the policy pages at all: the API
/// token (it does not open `/admin` either), and a workspace token while
/// no admin token is configured (the admin API is off then).
pub(crate) fn may_open(app: &App, viewing: &Viewing) -> PageResult<()> {
    match &viewing.viewer {
        Viewer::Api => Err(PageError::forbidden(
            "the API token does not open the policies: sign in with the admin token, or a workspace token for its own workspace",
        )),
        Viewer::Workspace { .. } if app.config.admin_token.is_none() => Err(PageError {
            status: StatusCode::FORBIDDEN,
            code: "admin_disabled",
            message: "the policies are off: no admin token is configured on this host".to_string(),
        }),
        _ => Ok(()),
    }
}

/// The scope named by `workspace` (absent or empty: global) if the
/// viewer may act on it: another workspace than a workspace token's own
/// is 404 (as an unknown one, before anything is read), the global scope
/// 403 for it; an unknown workspace is 404.
pub(crate) async fn authorize(
    app: &App,
    viewing: &Viewing,
    workspace: Option<&str>,
) -> PageResult<Scope> {
    may_open(app, viewing)?;
    let scope = match workspace.map(str::trim).filter(|w| !w.is_empty()) {
        None => Scope::Global,
        Some(w) if w.len() > 200 => {
            return Err(PageError::invalid(
                "invalid_workspace",
                "`workspace` is a workspace id (1 to 200 bytes)",
            ));
        }
        Some(w) => Scope::Workspace(w.to_string()),
    };
    match (&viewing.viewer, &scope) {
        (Viewer::Workspace { workspace_id, .. }, Scope::Workspace(w)) if workspace_id != w => {
            return Err(PageError::not_found("workspace"));
        }
        (Viewer::Workspace { .. }, Scope::Global) => {
            return Err(PageError::forbidden(
                "a workspace token changes its own workspace's policies only; the global scope needs the admin token",
            ));
        }
        _ => {}
    }
    if let Scope::Workspace(w) = &scope {
        let mut c = conn(app).await?;
        if accounts::workspace(&mut c, w).await?.is_none() {
            return Err(PageError::not_found("workspace"));
        }
    }
    Ok(scope)
}

/// Whether the viewer may read the decision log (the admin API keeps
/// `/admin/decisions` to the admin token).
pub(crate) fn may_read_log(viewing: &Viewing) -> bool {
    matches!(viewing.viewer, Viewer::Admin | Viewer::Open)
}

/// `?workspace=<id>` of a scope, or nothing for the global one.
pub(crate) fn scope_query(scope: &Scope) -> String {
    scope
        .workspace()
        .map(|w| format!("?workspace={}", encode(w)))
        .unwrap_or_default()
}

/// How a scope reads for people.
pub(crate) fn scope_label(scope: &Scope, name: Option<&str>) -> String {
    match scope {
        Scope::Global => "Global (every workspace without its own module)".to_string(),
        Scope::Workspace(w) => format!("Workspace {}", name.unwrap_or(w)),
    }
}

/// The page chrome of a policy page about `scope`.
pub(crate) fn policy_chrome(viewing: &Viewing, scope: &Scope, title: String) -> Chrome {
    let chrome = viewing.chrome(title);
    match scope.workspace() {
        Some(w) => chrome.in_workspace(w, "policies"),
        None => chrome,
    }
}

/// A slot from its name in a path (400 `invalid_slot`).
pub(crate) fn parse_slot(s: &str) -> PageResult<Slot> {
    s.parse::<Slot>().map_err(|e: String| PageError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_slot",
        message: e,
    })
}

/// The first 12 hex digits of a sha256, for tables.
pub(crate) fn short(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

/// A module, for people.
#[derive(Debug, Clone)]
pub struct ModuleCard {
    /// Hex sha256: its identity.
    pub sha256: String,
    /// Its first 12 hex digits.
    pub short: String,
    /// Where it came from (`upload`, `builtin:…`).
    pub origin: String,
    /// Whether it is the embedded default.
    pub builtin: bool,
    /// Name and version label given at upload, or a stand-in.
    pub label: String,
    /// Notes given at upload.
    pub notes: String,
    /// The contract version it implements.
    pub contract_version: String,
    /// Who uploaded it and when.
    pub uploaded: String,
    /// Who bound it to this scope and when.
    pub assigned: String,
    /// Whether it decides here only because the scope has none of its
    /// own (the global module, for a workspace).
    pub inherited: bool,
}

fn module_card(
    module: &PolicyModule,
    labels: &HashMap<String, ModuleInfo>,
    binding: Option<&stored::Binding>,
    inherited: bool,
) -> ModuleCard {
    let slot = module.slot();
    let builtin = module.origin() == builtin::for_slot(slot).1;
    let info = labels.get(module.sha256());
    let label = match info {
        _ if builtin => "Built-in default".to_string(),
        Some(i) => match (i.name.as_deref(), i.version_label.as_deref()) {
            (Some(n), Some(v)) => format!("{n} {v}"),
            (Some(n), None) => n.to_string(),
            (None, Some(v)) => format!("version {v}"),
            (None, None) => "Unnamed module".to_string(),
        },
        None => "Unnamed module".to_string(),
    };
    ModuleCard {
        sha256: module.sha256().to_string(),
        short: short(module.sha256()),
        origin: module.origin().to_string(),
        builtin,
        label,
        notes: info.and_then(|i| i.notes.clone()).unwrap_or_default(),
        contract_version: info.map_or_else(
            || CONTRACT_VERSION.to_string(),
            |i| i.contract_version.clone(),
        ),
        uploaded: match info {
            Some(i) => format!(
                "{} by {}",
                view::when(Some(i.uploaded_at)),
                view::or_dash(i.uploaded_by.as_deref())
            ),
            None if builtin => "embedded in this build".to_string(),
            None => "—".to_string(),
        },
        assigned: binding.map_or_else(String::new, |b| {
            format!(
                "{} by {}",
                view::when(Some(b.assigned_at)),
                view::or_dash(b.assigned_by.as_deref())
            )
        }),
        inherited,
    }
}

/// One slot of the scope.
#[derive(Debug, Clone)]
pub struct SlotCard {
    /// `match`, `routing` or `preflight`.
    pub slot: &'static str,
    /// What it decides, in words.
    pub what: &'static str,
    /// The WIT world its modules implement.
    pub world: &'static str,
    /// The module that decides for the scope.
    pub active: ModuleCard,
    /// Whether the scope has an active module of its own to un-assign.
    pub own_active: bool,
    /// The shadow module, if any.
    pub shadow: Option<ModuleCard>,
}

fn slot_what(slot: Slot) -> &'static str {
    match slot {
        Slot::Match => "Match: attributes an accept signal to the enrollments it belongs to.",
        Slot::Routing => {
            "Late-accept routing: advance in time, auto-fire a late follow-up, stamp only, or ignore."
        }
        Slot::Preflight => {
            "Dispatch pre-flight: may a follow-up be enqueued now, or is it skipped?"
        }
    }
}

/// One assignment change, for people.
#[derive(Debug, Clone)]
pub struct HistoryLine {
    /// When.
    pub at: String,
    /// Slot.
    pub slot: String,
    /// Mode.
    pub mode: String,
    /// `assign`, `promote`, `rollback`, `unassign`.
    pub action: String,
    /// The module before (short), or `none`.
    pub from: String,
    /// The module after (short), or `none`.
    pub to: String,
    /// The full sha256 after, for the tooltip.
    pub to_full: String,
    /// Who.
    pub actor: String,
}

/// One re-key job, for people.
#[derive(Debug, Clone)]
pub struct RekeyLine {
    /// Id.
    pub id: String,
    /// The module whose keys it computes (short).
    pub module: String,
    /// The full sha256.
    pub module_full: String,
    /// `active` or `shadow`.
    pub mode: String,
    /// The change it completes.
    pub action: String,
    /// `running`, `done`, `failed`, `cancelled`.
    pub status: String,
    /// `fill` or `sweep`.
    pub phase: String,
    /// Prospects keyed so far.
    pub done: i64,
    /// Prospects in the scope when it started.
    pub total: i64,
    /// Prospects the module failed on.
    pub failures: i64,
    /// Why it failed.
    pub error: String,
    /// Started, for people.
    pub started: String,
    /// Who asked.
    pub actor: String,
}

/// A refused action: its stable code and why.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Stable code, as in the admin API.
    pub code: &'static str,
    /// The sentence.
    pub message: String,
}

/// One entry of the scope picker.
#[derive(Debug, Clone)]
pub struct ScopeOption {
    /// The workspace id (empty: global).
    pub value: String,
    /// What it reads.
    pub label: String,
    /// Whether it is the page's scope.
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    chrome: Chrome,
    scope_label: String,
    scope_query: String,
    workspace_id: String,
    scopes: Vec<ScopeOption>,
    slots: Vec<SlotCard>,
    history: Vec<HistoryLine>,
    jobs: Vec<RekeyLine>,
    log: bool,
    alert: Option<Refusal>,
    notice: Option<String>,
}

/// The labels of the modules the viewer may see: every module for the
/// admin, those ever bound in its scope for a workspace token (the admin
/// API's rule: the same bytes may have come from another workspace).
async fn labels(c: &mut Connection, viewing: &Viewing) -> PageResult<HashMap<String, ModuleInfo>> {
    let modules = match viewing.viewer.workspace() {
        None => stored::modules(c).await?,
        Some(own) => stored::modules_of_scope(c, own).await?,
    };
    Ok(modules.into_iter().map(|m| (m.sha256.clone(), m)).collect())
}

async fn slot_card(
    app: &App,
    c: &mut Connection,
    scope: &Scope,
    slot: Slot,
    labels: &HashMap<String, ModuleInfo>,
) -> PageResult<SlotCard> {
    let registry = &app.policies;
    let active_binding =
        stored::binding(c, scope.key(), slot.as_str(), Mode::Active.as_str()).await?;
    let shadow_binding =
        stored::binding(c, scope.key(), slot.as_str(), Mode::Shadow.as_str()).await?;
    let (deciding, inherited) = match scope {
        Scope::Global => (registry.active(slot), false),
        Scope::Workspace(_) => match registry.bound(scope, slot, Mode::Active) {
            Some(m) => (m, false),
            None => (registry.active(slot), true),
        },
    };
    let active = module_card(
        &deciding,
        labels,
        active_binding.as_ref().filter(|_| !inherited),
        inherited,
    );
    Ok(SlotCard {
        slot: slot.as_str(),
        what: slot_what(slot),
        world: slot.world(),
        own_active: active_binding.is_some(),
        shadow: registry
            .bound(scope, slot, Mode::Shadow)
            .map(|m| module_card(&m, labels, shadow_binding.as_ref(), false)),
        active,
    })
}

/// What the scope page shows beyond what it reads.
#[derive(Default)]
struct Extras {
    alert: Option<Refusal>,
    notice: Option<String>,
}

async fn render(app: &App, viewing: &Viewing, scope: &Scope, extras: Extras) -> PageResult<String> {
    let mut c = conn(app).await?;
    let labels = labels(&mut c, viewing).await?;
    let mut slots = Vec::new();
    for slot in Slot::ALL {
        slots.push(slot_card(app, &mut c, scope, slot, &labels).await?);
    }
    let history = stored::history(&mut c, Some(scope.key()), None, RECENT)
        .await?
        .into_iter()
        .map(|h| HistoryLine {
            at: view::when(Some(h.at)),
            from: h
                .from_sha256
                .as_deref()
                .map_or_else(|| "none".to_string(), short),
            to: h
                .to_sha256
                .as_deref()
                .map_or_else(|| "none".to_string(), short),
            to_full: h.to_sha256.unwrap_or_default(),
            actor: view::or_dash(h.actor.as_deref()),
            slot: h.slot,
            mode: h.mode,
            action: h.action,
        })
        .collect();
    let jobs = rekey_jobs::list(&mut c, Some(scope.key()), RECENT)
        .await?
        .into_iter()
        .map(|j| RekeyLine {
            module: short(&j.module_sha256),
            module_full: j.module_sha256,
            started: view::when(Some(j.created_at)),
            error: j.error.unwrap_or_default(),
            actor: view::or_dash(j.actor.as_deref()),
            id: j.id,
            mode: j.mode,
            action: j.action,
            status: j.status,
            phase: j.phase,
            done: j.done,
            total: j.total,
            failures: j.failures,
        })
        .collect();
    let workspaces: Vec<Workspace> = match viewing.viewer.workspace() {
        None => accounts::workspaces(&mut c, LISTED).await?,
        Some(own) => accounts::workspace(&mut c, own)
            .await?
            .into_iter()
            .collect(),
    };
    let name = scope
        .workspace()
        .and_then(|w| workspaces.iter().find(|x| x.id == w))
        .map(|w| w.name.clone());
    let mut scopes = Vec::new();
    if viewing.viewer.workspace().is_none() {
        scopes.push(ScopeOption {
            value: String::new(),
            label: "Global".to_string(),
            selected: *scope == Scope::Global,
        });
    }
    scopes.extend(workspaces.iter().map(|w| ScopeOption {
        value: w.id.clone(),
        label: w.name.clone(),
        selected: scope.workspace() == Some(w.id.as_str()),
    }));
    let label = scope_label(scope, name.as_deref());
    let page = PoliciesPage {
        chrome: policy_chrome(viewing, scope, format!("Policies · {label}")),
        scope_label: label,
        scope_query: scope_query(scope),
        workspace_id: scope.workspace().unwrap_or_default().to_string(),
        scopes,
        slots,
        history,
        jobs,
        log: may_read_log(viewing),
        alert: extras.alert,
        notice: extras.notice,
    };
    Ok(page.render()?)
}

/// Query of the policy pages.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScopeQuery {
    /// The workspace whose scope this is; absent or empty: global.
    pub workspace: Option<String>,
}

/// `GET /ui/policies?workspace=ID`. A workspace token's session without
/// a scope goes to its own workspace's.
pub async fn policies(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Query(q): Query<ScopeQuery>,
) -> PageResult<Response> {
    let asked = q
        .workspace
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty());
    if let (None, Some(own)) = (asked, viewing.viewer.workspace()) {
        may_open(&app, &viewing)?;
        return Ok(
            Redirect::to(&format!("/ui/policies?workspace={}", encode(own))).into_response(),
        );
    }
    let scope = authorize(&app, &viewing, asked).await?;
    Ok(Html(render(&app, &viewing, &scope, Extras::default()).await?).into_response())
}

/// What a change did, for people.
fn swap_notice(done: &str, swap: &PolicySwap) -> String {
    let mut text = match (swap.mode.as_str(), swap.sha256.as_deref()) {
        ("active", Some(sha)) => format!(
            "{done}: module {} decides the {} slot for this scope.",
            short(sha),
            swap.slot
        ),
        (_, Some(sha)) => format!(
            "{done}: module {} runs in shadow in the {} slot of this scope.",
            short(sha),
            swap.slot
        ),
        (_, None) => format!(
            "{done}: the {} slot of this scope has no {} module now.",
            swap.slot, swap.mode
        ),
    };
    if swap.status == "rekeying"
        && let Some(job) = &swap.rekey_job
    {
        text.push_str(&format!(
            " Its match keys are still being computed (re-key job {}, {} of {} prospects): the previous module decides until the job is done.",
            job.id, job.done, job.total
        ));
    } else if swap.rekeyed > 0 || swap.rekey_failures > 0 {
        text.push_str(&format!(
            " {} prospects re-keyed, {} kept their previous keys.",
            swap.rekeyed, swap.rekey_failures
        ));
    }
    text
}

/// The outcome of a change: the page with its notice, or with the
/// refusal (422, 409) and nothing changed; other errors as error pages.
async fn answer(
    app: &App,
    viewing: &Viewing,
    scope: &Scope,
    done: &str,
    result: Result<PolicySwap, LifecycleError>,
) -> PageResult<Response> {
    match result {
        Ok(swap) => {
            let extras = Extras {
                notice: Some(swap_notice(done, &swap)),
                ..Extras::default()
            };
            Ok(Html(render(app, viewing, scope, extras).await?).into_response())
        }
        Err(LifecycleError::Invalid { code, message }) => {
            refuse(
                app,
                viewing,
                scope,
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                message,
            )
            .await
        }
        Err(LifecycleError::Conflict { code, message }) => {
            refuse(app, viewing, scope, StatusCode::CONFLICT, code, message).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn refuse(
    app: &App,
    viewing: &Viewing,
    scope: &Scope,
    status: StatusCode,
    code: &'static str,
    message: String,
) -> PageResult<Response> {
    let extras = Extras {
        alert: Some(Refusal { code, message }),
        ..Extras::default()
    };
    let html = render(app, viewing, scope, extras).await?;
    Ok(refused(status, code, html))
}

/// The fields of the upload form.
#[derive(Debug, Default)]
struct UploadForm {
    csrf: String,
    slot: String,
    mode: String,
    name: String,
    version: String,
    notes: String,
    file: Vec<u8>,
}

/// Reads a multipart form's fields: text ones by name, the file's bytes
/// (at most [`MAX_MODULE_BYTES`]).
pub(crate) async fn multipart_fields(
    form: &mut Multipart,
) -> PageResult<(HashMap<String, String>, Vec<u8>)> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        PageError::invalid("invalid_form", e.body_text())
    };
    let mut text = HashMap::new();
    let mut file = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            file = field.bytes().await.map_err(bad)?.to_vec();
            if file.len() > MAX_MODULE_BYTES {
                return Err(PageError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    code: "payload_too_large",
                    message: format!("a policy module is at most {MAX_MODULE_BYTES} bytes"),
                });
            }
        } else {
            text.insert(name, field.text().await.map_err(bad)?);
        }
    }
    Ok((text, file))
}

impl UploadForm {
    async fn read(form: &mut Multipart) -> PageResult<UploadForm> {
        let (mut text, file) = multipart_fields(form).await?;
        let mut take = |k: &str| text.remove(k).unwrap_or_default();
        Ok(UploadForm {
            csrf: take("csrf"),
            slot: take("slot"),
            mode: take("mode"),
            name: take("name"),
            version: take("version"),
            notes: take("notes"),
            file,
        })
    }

    /// The labels, as the admin API checks them (`invalid_label`).
    fn meta(&self, actor: &str) -> Result<UploadMeta, LifecycleError> {
        let label = |field: &str, v: &str| -> Result<Option<String>, LifecycleError> {
            match v.trim() {
                "" => Ok(None),
                v if v.chars().count() > MAX_LABEL || v.contains('\0') => {
                    Err(LifecycleError::invalid(
                        "invalid_label",
                        format!("the {field} is at most {MAX_LABEL} characters, without NUL"),
                    ))
                }
                v => Ok(Some(v.to_string())),
            }
        };
        Ok(UploadMeta {
            name: label("name", &self.name)?,
            version_label: label("version", &self.version)?,
            notes: label("notes", &self.notes)?,
            uploaded_by: Some(actor.to_string()),
            limits: Default::default(),
        })
    }
}

/// `POST /ui/policies/upload?workspace=ID` (multipart: `csrf`, `slot`,
/// `mode`, `file`, optional `name`, `version`, `notes`): validates the
/// module against the slot's world, stores it and binds it to the scope
/// in the mode (`lifecycle::policies::upload`).
pub async fn upload(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Query(q): Query<ScopeQuery>,
    mut multipart: Multipart,
) -> PageResult<Response> {
    let form = UploadForm::read(&mut multipart).await?;
    viewing.check_csrf(&form.csrf)?;
    let scope = authorize(&app, &viewing, q.workspace.as_deref()).await?;
    let checked = (|| {
        let slot = form
            .slot
            .parse::<Slot>()
            .map_err(|e| LifecycleError::invalid("invalid_slot", e))?;
        let mode = match form.mode.trim() {
            "" => Mode::Active,
            m => m
                .parse::<Mode>()
                .map_err(|e| LifecycleError::invalid("invalid_mode", e))?,
        };
        if form.file.is_empty() {
            return Err(LifecycleError::invalid(
                "invalid_policy",
                "choose the module's .wasm file (a component built for wasm32-wasip2)",
            ));
        }
        Ok((slot, mode, form.meta(viewing.viewer.actor())?))
    })();
    let result = match checked {
        Ok((slot, mode, meta)) => lifecycle::upload(
            app.policy_host(),
            slot,
            scope.clone(),
            mode,
            form.file,
            meta,
        )
        .await
        .map_err(LifecycleError::from),
        Err(e) => Err(e),
    };
    answer(&app, &viewing, &scope, "Uploaded", result).await
}

/// The form of promote, rollback and un-assign.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChangeForm {
    /// The session's CSRF token (absent: refused as a mismatch).
    #[serde(default)]
    pub csrf: String,
    /// Un-assign only: `active` (default) or `shadow`.
    #[serde(default)]
    pub mode: String,
}

/// `POST /ui/policies/{slot}/{change}?workspace=ID`: `promote` (the
/// shadow module becomes active), `rollback` (the previous active module
/// decides again) or `unassign` (the scope's module of `mode` is removed).
pub async fn change(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path((slot, change)): Path<(String, String)>,
    Query(q): Query<ScopeQuery>,
    Form(form): Form<ChangeForm>,
) -> PageResult<Response> {
    viewing.check_csrf(&form.csrf)?;
    let slot = parse_slot(&slot)?;
    let scope = authorize(&app, &viewing, q.workspace.as_deref()).await?;
    let actor = Some(viewing.viewer.actor());
    let host = app.policy_host();
    let (done, result) = match change.as_str() {
        "promote" => (
            "Promoted",
            lifecycle::promote(host, slot, scope.clone(), actor).await,
        ),
        "rollback" => (
            "Rolled back",
            lifecycle::rollback(host, slot, scope.clone(), actor).await,
        ),
        "unassign" => {
            let mode = match form.mode.trim() {
                "" => Mode::Active,
                m => m
                    .parse::<Mode>()
                    .map_err(|e| PageError::invalid("invalid_mode", e))?,
            };
            (
                "Un-assigned",
                lifecycle::unassign(host, slot, scope.clone(), mode, actor).await,
            )
        }
        _ => return Err(PageError::not_found("action")),
    };
    answer(
        &app,
        &viewing,
        &scope,
        done,
        result.map_err(LifecycleError::from),
    )
    .await
}
