//! The policy routes under `/admin/policies`: per scope (global or one
//! workspace) and mode (active or shadow), upload and bind, promote,
//! rollback, unassign, the stored modules and the binding history (a
//! match policy's change re-keys its scope's prospects).
//!
//! An upload compiles off the request path: `POST
//! /admin/policies/modules?slot=` stores the module `compiling` (202),
//! the compile worker makes it `ready` or `failed`, and `PUT
//! /admin/policies/{slot}?module=<sha256>` binds it, instantly once ready.
//! `PUT` with the module as its body still compiles within the request
//! (the path for small modules).
//!
//! The admin token may do everything. A workspace token acts on its own
//! workspace's scope only (`?workspace=<its id>`): another workspace's
//! scope answers 404 `not_found` exactly as an unknown workspace does,
//! whether that workspace exists or not, and nothing is read or changed;
//! a change of the global scope is 403 `forbidden_for_workspace_token`.
//! Its lists show the global active module of each slot (what decides
//! for its workspace where it has none of its own) and its own
//! workspace's bindings, its own scope's history, and the modules ever
//! bound in its scope (with their labels only when their first upload was
//! in its scope). It uploads for its own workspace's scope
//! (`?workspace=<its id>`, as for a change), sees the modules uploaded
//! for it or bound in it, any other answering 404 as an unknown one, and
//! binds only those. Every change records who made it: `admin` or the
//! workspace token's name.

use crate::api::extract::{Path, Query};
use crate::app::App;
use crate::caller::{Actor, Caller, ListScope};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::lifecycle::LifecycleError;
use crate::lifecycle::module_compile;
use crate::lifecycle::policies::{self, ModuleView, PolicyLifecycleError, PolicySwap, UploadMeta};
use crate::policy::{DeclaredLimits, Mode, PolicyModule, Scope, Slot, builtin};
use crate::store::policies::{self as stored, BindingChange};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use crate::policy::MAX_MODULE_BYTES;

/// A module bound to a slot: the global active one of each slot (the
/// built-in default when none is bound), and every workspace's or shadow
/// binding.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivePolicy {
    /// `match`, `routing` or `preflight`.
    pub slot: String,
    /// The workspace it is bound to; `None`: global.
    pub workspace_id: Option<String>,
    /// `active` or `shadow`.
    pub mode: String,
    /// The WIT world it implements.
    pub world: String,
    /// Hex sha256 of the module: its identity.
    pub sha256: String,
    /// Where it came from (`builtin:…`, `upload`, a path).
    pub origin: String,
    /// Whether it is the embedded default.
    pub builtin: bool,
}

fn describe(module: &PolicyModule, scope: &Scope, mode: Mode) -> ActivePolicy {
    let slot = module.slot();
    ActivePolicy {
        slot: slot.as_str().to_string(),
        workspace_id: scope.workspace().map(str::to_string),
        mode: mode.as_str().to_string(),
        world: slot.world().to_string(),
        sha256: module.sha256().to_string(),
        origin: module.origin().to_string(),
        builtin: module.origin() == builtin::for_slot(slot).1,
    }
}

/// The global active module of every slot, then every workspace's and
/// shadow binding; a workspace token sees the global active modules and
/// its own workspace's bindings.
#[utoipa::path(
    get, path = "/admin/policies", tag = "admin",
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, body = Vec<ActivePolicy>),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
    )
)]
pub async fn list_policies(State(app): State<Arc<App>>, caller: Caller) -> Json<Vec<ActivePolicy>> {
    let global = Slot::ALL
        .into_iter()
        .map(|slot| describe(&app.policies.active(slot), &Scope::Global, Mode::Active));
    let bound = app
        .policies
        .all_bound()
        .into_iter()
        .filter(|(scope, ..)| match caller.workspace() {
            None => true,
            Some(own) => scope.workspace() == Some(own),
        })
        .map(|(scope, _, mode, module)| describe(&module, &scope, mode));
    Json(global.chain(bound).collect())
}

/// Query of the scoped policy routes.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScopeQuery {
    /// The workspace whose binding this is; absent: the global one. A
    /// workspace token may name only its own workspace.
    pub workspace: Option<String>,
    /// `active` (default) or `shadow`.
    pub mode: Option<String>,
    /// Upload only: a name for the module.
    pub name: Option<String>,
    /// Upload only: a version label.
    pub version: Option<String>,
    /// Upload only: notes.
    pub notes: Option<String>,
    /// Upload only: fuel per call (else the module kind's default).
    pub fuel: Option<u64>,
    /// Upload only: linear memory cap per call, MiB (else the kind's
    /// default).
    pub memory_mib: Option<u64>,
    /// Upload only: wall-clock deadline per call, ms (else the kind's
    /// default).
    pub deadline_ms: Option<u64>,
    /// Upload only: output size cap, KiB (else the kind's default).
    pub output_kib: Option<u64>,
    /// Bind this uploaded module (hex sha256, from `POST
    /// /admin/policies/modules`) instead of a module in the body; the
    /// body is then empty.
    pub module: Option<String>,
}

/// Longest name, version label or notes given at upload, characters.
const MAX_LABEL: usize = 200;

impl ScopeQuery {
    fn scope(&self) -> ApiResult<Scope> {
        match self.workspace.as_deref() {
            None => Ok(Scope::Global),
            Some(w) if w.trim().is_empty() || w.len() > 200 => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_workspace",
                "`workspace` is a workspace id (1 to 200 bytes)",
            )),
            Some(w) => Ok(Scope::Workspace(w.to_string())),
        }
    }

    fn mode(&self) -> ApiResult<Mode> {
        match self.mode.as_deref() {
            None => Ok(Mode::Active),
            Some(m) => m.parse().map_err(|e: String| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_mode", e)
            }),
        }
    }

    fn meta(&self, actor: &Actor) -> ApiResult<UploadMeta> {
        let label = |field: &str, v: &Option<String>| -> ApiResult<Option<String>> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) if v.chars().count() > MAX_LABEL || v.contains('\0') => Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_label",
                    format!("`{field}` is at most {MAX_LABEL} characters, without NUL"),
                )),
                Some(v) => Ok(Some(v.to_string())),
            }
        };
        Ok(UploadMeta {
            name: label("name", &self.name)?,
            version_label: label("version", &self.version)?,
            notes: label("notes", &self.notes)?,
            uploaded_by: Some(actor.0.clone()),
            limits: DeclaredLimits::in_units(
                self.fuel,
                self.memory_mib,
                self.deadline_ms,
                self.output_kib,
            ),
        })
    }
}

/// A module's sha256 as a path or query names it: 64 hex digits.
fn parse_sha256(s: &str) -> ApiResult<String> {
    let s = s.trim().to_ascii_lowercase();
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "invalid_module",
            "a module is named by its sha256: 64 hex digits",
        ));
    }
    Ok(s)
}

/// Reads a module sent as the request body: a declared oversize body is
/// refused before any of it is read, a longer one as soon as it is.
async fn read_module(headers: &HeaderMap, body: Body) -> ApiResult<axum::body::Bytes> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a policy module is at most {MAX_MODULE_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_MODULE_BYTES as u64) {
        return Err(too_large());
    }
    crate::body::read_limited(body, MAX_MODULE_BYTES)
        .await
        .map_err(|e| {
            if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                e
            }
        })
}

fn parse_slot(s: &str) -> ApiResult<Slot> {
    s.parse::<Slot>()
        .map_err(|e| ApiError::bad_request("invalid_slot", e))
}

/// Whether `caller` may change `scope`: the admin token any scope, a
/// workspace token its own workspace's. Another workspace's scope is the
/// lifecycle's own unknown-workspace answer (404 `not_found`), given
/// before anything is read, so it tells nothing about that workspace.
pub(super) fn may_change(caller: &Caller, scope: &Scope) -> ApiResult<()> {
    match (caller, scope) {
        (Caller::Admin, _) => Ok(()),
        (Caller::Workspace(own), Scope::Workspace(w)) if own == w => Ok(()),
        (Caller::Workspace(_), Scope::Workspace(w)) => {
            Err(LifecycleError::from(PolicyLifecycleError::NoWorkspace(w.clone())).into())
        }
        (Caller::Workspace(_), Scope::Global) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_for_workspace_token",
            "a workspace token changes its own workspace's policies only \
             (`workspace=<its id>`); the global scope needs the admin token",
        )),
        // The policy routes' layer lets no API token through: reaching
        // here with one is a wiring bug.
        (Caller::ApiToken, _) => Err(ApiError::internal(
            &"a policy route was reached with the API token",
        )),
    }
}

/// Uploads a module (the raw `.wasm` component as the body), validates it
/// against the slot's world within the request, stores it with its
/// metadata and binds it to the scope (`workspace`, else global) in the
/// mode (`active` by default, or `shadow`) in one transaction, and
/// installs it: the path for small modules. With `module=<sha256>` and no
/// body, binds a module uploaded by `POST /admin/policies/modules`
/// instead, without compiling it again: 409 `module_compiling` until it
/// is ready, 422 `module_failed` when the loader refused it. An active match
/// module is bound once a re-key job has computed its keys for the
/// scope's prospects (a small scope within the request; else the answer
/// is `rekeying` and `GET /admin/policies/rekey-jobs` shows the progress);
/// one that fails on most of them is refused.
#[utoipa::path(
    put, path = "/admin/policies/{slot}", tag = "admin",
    params(("slot" = String, Path, description = "`match`, `routing` or `preflight`"), ScopeQuery),
    request_body(content = Vec<u8>, description = "A WebAssembly component built for wasm32-wasip2 implementing the slot's world (at most 64 MiB); empty with `module=`", content_type = "application/wasm"),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, description = "Bound (`status: done`), or for an active match module whose keys are still being computed, `status: rekeying` with its `rekey_job` (the previous module decides until it is done)", body = PolicySwap),
        (status = 400, description = "Unknown slot (`invalid_slot`), `module=` not a sha256 (`invalid_module`) or with a body (`module_and_body`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`), or the global scope with a workspace token (`forbidden_for_workspace_token`)", body = ErrorBody),
        (status = 404, description = "No such workspace, or another workspace than a workspace token's own: the same answer; or no such uploaded module (or one a workspace token may not see) (`not_found`)", body = ErrorBody),
        (status = 409, description = "The same module is stored with other declared limits (`limits_differ`): limits are fixed at a module's first upload; or the uploaded module is still compiling (`module_compiling`)", body = ErrorBody),
        (status = 413, description = "Module over 64 MiB (`payload_too_large`)", body = ErrorBody),
        (status = 422, description = "Not a valid module for the slot (`invalid_policy`, with the loader's reason), an uploaded module the loader refused (`module_failed`, with its reason) or of another slot (`slot_mismatch`), a match module that fails on most prospects' keys (`rekey_failed`), declared limits below their minimum or above this host's maximum (`limits_out_of_bounds`), or a bad query (`invalid_mode`, `invalid_workspace`, `invalid_label`)", body = ErrorBody),
    )
)]
pub async fn upload_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    actor: Actor,
    Path(slot): Path<String>,
    Query(q): Query<ScopeQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<PolicySwap>> {
    let bytes = read_module(&headers, body).await?;
    // Checked after the read: an answer given before the body is read
    // costs a large upload its connection (see `http::unread_body`).
    let slot = parse_slot(&slot)?;
    let (scope, mode, meta) = (q.scope()?, q.mode()?, q.meta(&actor)?);
    may_change(&caller, &scope)?;
    let swap = match q.module.as_deref() {
        Some(sha256) => {
            let sha256 = parse_sha256(sha256)?;
            if !bytes.is_empty() {
                return Err(ApiError::bad_request(
                    "module_and_body",
                    "`module=` binds an uploaded module: send no body with it",
                ));
            }
            module_compile::bind(
                app.policy_host(),
                slot,
                scope,
                mode,
                &sha256,
                caller.workspace(),
                Some(&actor.0),
            )
            .await
        }
        None => policies::upload(app.policy_host(), slot, scope, mode, bytes.to_vec(), meta).await,
    };
    Ok(Json(swap.map_err(LifecycleError::from)?))
}

/// Query of `POST /admin/policies/modules`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ModuleUploadQuery {
    /// The slot it implements: `match`, `routing` or `preflight`.
    pub slot: Option<String>,
    /// The workspace it is uploaded for; absent: the global scope. A
    /// workspace token names its own workspace.
    pub workspace: Option<String>,
    /// A name for the module.
    pub name: Option<String>,
    /// A version label.
    #[serde(alias = "version_label")]
    pub version: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Fuel per call (else the module kind's default).
    pub fuel: Option<u64>,
    /// Linear memory cap per call, MiB (else the kind's default).
    pub memory_mib: Option<u64>,
    /// Wall-clock deadline per call, ms (else the kind's default).
    pub deadline_ms: Option<u64>,
    /// Output size cap, KiB (else the kind's default).
    pub output_kib: Option<u64>,
}

/// Uploads a module to compile off the request path: the cheap checks
/// only (size, a WebAssembly component, the slot, the scope), then it is
/// stored by sha256 `compiling` (202) and this host's compile worker
/// validates it as an upload with a body would, making it `ready` (bind
/// it with `PUT /admin/policies/{slot}?module=<sha256>`) or `failed` with
/// the loader's message. Limits may be declared as for `PUT` (fixed at a
/// module's first upload). The same bytes again store and compile
/// nothing: 200 with their current status.
#[utoipa::path(
    post, path = "/admin/policies/modules", tag = "admin",
    params(ModuleUploadQuery),
    request_body(content = Vec<u8>, description = "A WebAssembly component built for wasm32-wasip2 implementing the slot's world (at most 64 MiB)", content_type = "application/wasm"),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 202, description = "Stored, `status: compiling`: poll `GET /admin/policies/modules/{sha256}`", body = ModuleView),
        (status = 200, description = "These bytes were uploaded before: the module as it stands (`compiling`, `ready` or `failed`)", body = ModuleView),
        (status = 400, description = "No or an unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`), or the global scope with a workspace token (`forbidden_for_workspace_token`)", body = ErrorBody),
        (status = 404, description = "No such workspace, or another workspace than a workspace token's own: the same answer (`not_found`)", body = ErrorBody),
        (status = 409, description = "The same module is stored with other declared limits (`limits_differ`)", body = ErrorBody),
        (status = 413, description = "Module over 64 MiB (`payload_too_large`)", body = ErrorBody),
        (status = 422, description = "Not a WebAssembly component (`invalid_policy`), the same bytes stored for another slot (`slot_mismatch`), declared limits out of this host's bounds (`limits_out_of_bounds`), or a bad query (`invalid_workspace`, `invalid_label`)", body = ErrorBody),
    )
)]
pub async fn submit_module(
    State(app): State<Arc<App>>,
    caller: Caller,
    actor: Actor,
    Query(q): Query<ModuleUploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<ModuleView>)> {
    let bytes = read_module(&headers, body).await?;
    let slot = match q.slot.as_deref() {
        Some(slot) => parse_slot(slot)?,
        None => {
            return Err(ApiError::bad_request(
                "invalid_slot",
                "`slot` is required: `match`, `routing` or `preflight`",
            ));
        }
    };
    let upload = ScopeQuery {
        workspace: q.workspace,
        mode: None,
        name: q.name,
        version: q.version,
        notes: q.notes,
        fuel: q.fuel,
        memory_mib: q.memory_mib,
        deadline_ms: q.deadline_ms,
        output_kib: q.output_kib,
        module: None,
    };
    let (scope, meta) = (upload.scope()?, upload.meta(&actor)?);
    may_change(&caller, &scope)?;
    let submitted = module_compile::submit(
        app.policy_host(),
        slot,
        &scope,
        &bytes,
        &meta,
        caller.workspace(),
    )
    .await
    .map_err(LifecycleError::from)?;
    let status = if submitted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(submitted.module)))
}

/// One stored module: its metadata and compile status (`compiling`,
/// `ready` or `failed` with the loader's `error`; `compile_ms`). A
/// workspace token sees the modules uploaded for its scope or bound in
/// it; any other answers 404 as an unknown one.
#[utoipa::path(
    get, path = "/admin/policies/modules/{sha256}", tag = "admin",
    params(("sha256" = String, Path, description = "The module's hex sha256")),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, body = ModuleView),
        (status = 400, description = "Not a sha256 (`invalid_module`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
        (status = 404, description = "No such module, or one a workspace token may not see (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get_module(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(sha256): Path<String>,
) -> ApiResult<Json<ModuleView>> {
    let sha256 = parse_sha256(&sha256)?;
    let info = module_compile::module_info(app.policy_host(), &sha256, caller.workspace())
        .await
        .map_err(LifecycleError::from)?;
    Ok(Json(info))
}

/// Removes the scope's module of the mode (`active` by default): a
/// workspace falls back to the global module, the global slot to its
/// built-in default, re-keying the scope's prospects for the match slot.
/// Idempotent.
#[utoipa::path(
    delete, path = "/admin/policies/{slot}", tag = "admin",
    params(("slot" = String, Path, description = "`match`, `routing` or `preflight`"), ScopeQuery),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, description = "Unassigned; `sha256` is what now decides (active) or `null` (shadow)", body = PolicySwap),
        (status = 400, description = "Unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`), or the global scope with a workspace token (`forbidden_for_workspace_token`)", body = ErrorBody),
        (status = 404, description = "No such workspace, or another workspace than a workspace token's own: the same answer (`not_found`)", body = ErrorBody),
        (status = 422, description = "Bad query (`invalid_mode`, `invalid_workspace`)", body = ErrorBody),
    )
)]
pub async fn unassign_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    actor: Actor,
    Path(slot): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<PolicySwap>> {
    let slot = parse_slot(&slot)?;
    let (scope, mode) = (q.scope()?, q.mode()?);
    may_change(&caller, &scope)?;
    let swap = policies::unassign(app.policy_host(), slot, scope, mode, Some(&actor.0))
        .await
        .map_err(LifecycleError::from)?;
    Ok(Json(swap))
}

/// Makes the scope's shadow module its active one.
#[utoipa::path(
    post, path = "/admin/policies/{slot}/promote", tag = "admin",
    params(("slot" = String, Path, description = "`match`, `routing` or `preflight`"), ScopeQuery),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, description = "The shadow module is active", body = PolicySwap),
        (status = 400, description = "Unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`), or the global scope with a workspace token (`forbidden_for_workspace_token`)", body = ErrorBody),
        (status = 404, description = "No such workspace, or another workspace than a workspace token's own: the same answer (`not_found`)", body = ErrorBody),
        (status = 409, description = "No shadow module in this scope (`no_shadow_module`), or the shadow match module's keys are still being computed (`rekey_in_progress`)", body = ErrorBody),
        (status = 422, description = "A match module that fails on most prospects' keys (`rekey_failed`), or a bad query", body = ErrorBody),
    )
)]
pub async fn promote_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    actor: Actor,
    Path(slot): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<PolicySwap>> {
    let slot = parse_slot(&slot)?;
    let scope = q.scope()?;
    may_change(&caller, &scope)?;
    let swap = policies::promote(app.policy_host(), slot, scope, Some(&actor.0))
        .await
        .map_err(LifecycleError::from)?;
    Ok(Json(swap))
}

/// Re-activates the scope's previous active module (repeated, walks back
/// through the history; the first module of a scope goes back to none of
/// its own).
#[utoipa::path(
    post, path = "/admin/policies/{slot}/rollback", tag = "admin",
    params(("slot" = String, Path, description = "`match`, `routing` or `preflight`"), ScopeQuery),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, description = "The previous module decides again", body = PolicySwap),
        (status = 400, description = "Unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`), or the global scope with a workspace token (`forbidden_for_workspace_token`)", body = ErrorBody),
        (status = 404, description = "No such workspace, or another workspace than a workspace token's own: the same answer (`not_found`)", body = ErrorBody),
        (status = 409, description = "No earlier active module in this scope (`nothing_to_roll_back`)", body = ErrorBody),
    )
)]
pub async fn rollback_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    actor: Actor,
    Path(slot): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<PolicySwap>> {
    let slot = parse_slot(&slot)?;
    let scope = q.scope()?;
    may_change(&caller, &scope)?;
    let swap = policies::rollback(app.policy_host(), slot, scope, Some(&actor.0))
        .await
        .map_err(LifecycleError::from)?;
    Ok(Json(swap))
}

/// Every stored module with its metadata and compile status, newest
/// first; a workspace token sees the modules uploaded for its scope or
/// ever bound in it, with their labels
/// (`name`, `version_label`, `notes`, `uploaded_by`) only when their
/// first upload was in its scope (a module is stored once, and the same
/// bytes may have come from another workspace first).
#[utoipa::path(
    get, path = "/admin/policies/modules", tag = "admin",
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, description = "Each module's metadata, its kind (`compiled`, `python`, `javascript`) and its limits: declared, effective on this host, and each one's source", body = Vec<ModuleView>),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
    )
)]
pub async fn list_modules(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> ApiResult<Json<Vec<ModuleView>>> {
    let mut c = app.db.acquire().await?;
    let modules = match caller.workspace() {
        None => stored::modules(&mut c).await?,
        Some(own) => stored::modules_of_scope(&mut c, own).await?,
    };
    drop(c);
    let views = policies::module_views(&app.db, &app.policies, modules)
        .await
        .map_err(LifecycleError::from)?;
    Ok(Json(views))
}

/// Query of `GET /admin/policies/history`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only this workspace's bindings (`global` for the global ones). A
    /// workspace token sees its own workspace's only (nothing for another).
    pub workspace: Option<String>,
    /// Only this slot.
    pub slot: Option<String>,
    /// At most this many, newest first (default 100, at most 1,000).
    pub limit: Option<i64>,
}

/// Every binding change (who, when, from, to), newest first; a workspace
/// token sees its own scope's (and nothing for another `workspace`, as
/// for an unknown one).
#[utoipa::path(
    get, path = "/admin/policies/history", tag = "admin",
    params(HistoryQuery),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, body = Vec<BindingChange>),
        (status = 400, description = "Unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
        (status = 422, description = "`limit` out of 1..=1000 (`invalid_limit`)", body = ErrorBody),
    )
)]
pub async fn list_history(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Vec<BindingChange>>> {
    let slot = q.slot.as_deref().map(parse_slot).transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
            "`limit` is 1 to 1000",
        ));
    }
    let scope = match caller.list_scope(q.workspace.as_deref()) {
        ListScope::All(asked) => asked.map(|w| if w == "global" { stored::GLOBAL } else { w }),
        ListScope::Only(own) => Some(own),
        ListScope::Nothing => return Ok(Json(Vec::new())),
    };
    let mut c = app.db.acquire().await?;
    let history = stored::history(&mut c, scope, slot.map(Slot::as_str), limit).await?;
    Ok(Json(history))
}

/// Query of `GET /admin/policies/rekey-jobs`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RekeyJobsQuery {
    /// Only this workspace's jobs (`global` for the global scope's). A
    /// workspace token sees its own workspace's only (nothing for another).
    pub workspace: Option<String>,
    /// At most this many, newest first (default 100, at most 1,000).
    pub limit: Option<i64>,
}

/// The match re-key jobs, newest first, with their progress: a match
/// module bound active (upload, promote, rollback, unassign) decides once
/// its job is `done`; a shadow's job fills its key space for a promote.
/// A workspace token sees its own scope's jobs.
#[utoipa::path(
    get, path = "/admin/policies/rekey-jobs", tag = "admin",
    params(RekeyJobsQuery),
    security(("admin_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, body = Vec<crate::store::rekey_jobs::RekeyJob>),
        (status = 401, description = "Missing or wrong admin or workspace token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
        (status = 422, description = "`limit` out of 1..=1000 (`invalid_limit`)", body = ErrorBody),
    )
)]
pub async fn list_rekey_jobs(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<RekeyJobsQuery>,
) -> ApiResult<Json<Vec<crate::store::rekey_jobs::RekeyJob>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
            "`limit` is 1 to 1000",
        ));
    }
    let scope = match caller.list_scope(q.workspace.as_deref()) {
        ListScope::All(asked) => asked.map(|w| if w == "global" { stored::GLOBAL } else { w }),
        ListScope::Only(own) => Some(own),
        ListScope::Nothing => return Ok(Json(Vec::new())),
    };
    let mut c = app.db.acquire().await?;
    let jobs = crate::store::rekey_jobs::list(&mut c, scope, limit).await?;
    Ok(Json(jobs))
}
