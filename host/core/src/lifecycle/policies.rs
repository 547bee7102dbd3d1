//! A policy module's lifecycle on this host, per scope (global or one
//! workspace) and mode (active or shadow): validate → store → bind →
//! install → broadcast; a match module is bound active only once a re-key
//! job has computed its keys for the scope (`super::rekey_jobs`), and the sync by which every other instance follows. Promote
//! (shadow → active), rollback (the previous active module) and unassign
//! are the same path with another module. Every binding change is kept in
//! the history. The admin API and the demo call it; a swap never fails a
//! decision in flight (see the registry's promise). An upload that
//! compiles off the request path is [`super::module_compile`]'s; its bind
//! joins this path where an upload binds (`assign`).

use super::LifecycleError;
use super::rekey_jobs::{self, NewJob, RekeyConfig};
use crate::clock::SharedClock;
use crate::decisions::Decisions;
use crate::policy::{
    DeclaredLimits, LimitError, LoadError, Mode, PolicyModule, PolicyRegistry, ResolvedLimits,
    Scope, Slot, builtin,
};
use crate::store::broadcast::{Broadcaster, POLICIES_CHANNEL};
use crate::store::policies::{self, Binding, ModuleInfo, NewModule, StoredLimits};
use crate::store::rekey_jobs::RekeyJob;
use crate::store::{Db, StoreError, Tx, accounts};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// What the policy lifecycle works on: the database, the decision seam
/// (whose registry it installs modules in) and the clock. Borrowed from
/// the host, so the lifecycle needs no `App`.
#[derive(Clone, Copy)]
pub struct PolicyHost<'a> {
    /// The database.
    pub db: &'a Db,
    /// The decision seam.
    pub decisions: &'a Decisions,
    /// The clock.
    pub clock: &'a SharedClock,
    /// How re-key jobs page.
    pub rekey: RekeyConfig,
    /// This instance's compile queue (uploads compiled off the request).
    pub compiler: &'a super::module_compile::ModuleCompiler,
}

/// The host the policy lifecycle's background workers hold for their whole
/// life (the `App`): they borrow a [`PolicyHost`] from it each round, so
/// this layer never names the host's type and the host may own the workers.
pub trait HoldsPolicies: Send + Sync + 'static {
    /// The parts the lifecycle works on, borrowed.
    fn policy_host(&self) -> PolicyHost<'_>;
}

/// What is said about a module at upload.
#[derive(Debug, Clone, Default)]
pub struct UploadMeta {
    /// A name.
    pub name: Option<String>,
    /// A version label.
    pub version_label: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Who uploads it (the token's name).
    pub uploaded_by: Option<String>,
    /// The limits its calls are to run under (the rest: its kind's
    /// defaults); within the host's maxima, fixed at its first upload.
    pub limits: DeclaredLimits,
}

/// What a policy change did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicySwap {
    /// The slot.
    pub slot: String,
    /// The workspace whose binding changed; `None`: the global one.
    pub workspace_id: Option<String>,
    /// `active` or `shadow`.
    pub mode: String,
    /// The module the scope now has in this mode (for active: the one that
    /// decides, its own or inherited; for shadow: `None` when none).
    pub sha256: Option<String>,
    /// Its origin.
    pub origin: Option<String>,
    /// The module it replaced (`None`: none).
    pub previous_sha256: Option<String>,
    /// Prospects whose match keys now come from the new module (match
    /// slot, active only).
    pub rekeyed: u64,
    /// Prospects the new module failed on: they keep their previous keys,
    /// traced as `policy_failure`.
    pub rekey_failures: u64,
    /// `done`: the change is in effect; `rekeying`: a match module's keys
    /// are still being computed by `rekey_job`, and the module that
    /// decided before (`sha256`) decides until it is done.
    pub status: String,
    /// The re-key job of a match module's change, as it stood when the
    /// answer was given.
    pub rekey_job: Option<RekeyJob>,
}

/// Why a policy change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLifecycleError {
    /// Not a valid module for the slot (`invalid_policy`).
    #[error("{0}")]
    Invalid(LoadError),
    /// A match module that fails on most prospects' keys (`rekey_failed`):
    /// it was not bound.
    #[error("{0}; it was not activated and every prospect keeps its keys")]
    RekeyRefused(String),
    /// Declared limits outside the host's bounds (`limits_out_of_bounds`).
    #[error("{0}")]
    Limits(LimitError),
    /// The module is stored with other declared limits (`limits_differ`).
    #[error(
        "module {sha256} is stored with other declared limits ({stored}); a module's limits are fixed at its first upload: upload it without limits to use them, or rebuild it to declare others"
    )]
    LimitsDiffer {
        /// The module.
        sha256: String,
        /// Its stored declaration, as JSON.
        stored: String,
    },
    /// Promote while the shadow match module's keys are still being
    /// computed (`rekey_in_progress`).
    #[error(
        "the shadow match module's keys are still being computed (re-key job {0}); promote once it is done"
    )]
    RekeyInProgress(String),
    /// The scope's workspace does not exist (`workspace_not_found`).
    #[error("no workspace with id `{0}`")]
    NoWorkspace(String),
    /// Promote without a shadow module (`no_shadow_module`).
    #[error(
        "the {slot} slot has no shadow module in this scope: upload one with mode=shadow first"
    )]
    NoShadow {
        /// The slot.
        slot: Slot,
    },
    /// Rollback without an earlier active module (`nothing_to_roll_back`).
    #[error("the {slot} slot has no earlier active module in this scope to go back to")]
    NothingToRollBack {
        /// The slot.
        slot: Slot,
    },
    /// A built-in module failed to load, a stored one vanished, or the
    /// loader panicked.
    #[error("policy load failed: {0}")]
    Internal(String),
    /// No stored module has this sha256 (or none the caller may see).
    #[error("no policy module with sha256 `{0}`")]
    NoModule(String),
    /// Bind of an uploaded module still compiling (`module_compiling`).
    #[error(
        "module {0} is still compiling: bind it once `GET /admin/policies/modules/{0}` says `ready`"
    )]
    ModuleCompiling(String),
    /// Bind of an uploaded module the loader refused (`module_failed`).
    #[error("module {sha256} failed to compile: {error}")]
    ModuleFailed {
        /// The module.
        sha256: String,
        /// The loader's message.
        error: String,
    },
    /// A module stored for another slot (`slot_mismatch`).
    #[error("module {sha256} is a {stored} module, not a {wanted} one")]
    SlotMismatch {
        /// The module.
        sha256: String,
        /// The slot it was uploaded for.
        stored: String,
        /// The slot asked for.
        wanted: Slot,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PolicyLifecycleError> for LifecycleError {
    fn from(e: PolicyLifecycleError) -> Self {
        match e {
            PolicyLifecycleError::Invalid(e) => {
                LifecycleError::invalid("invalid_policy", e.to_string())
            }
            e @ PolicyLifecycleError::Limits(_) => {
                LifecycleError::invalid("limits_out_of_bounds", e.to_string())
            }
            e @ PolicyLifecycleError::LimitsDiffer { .. } => {
                LifecycleError::conflict("limits_differ", e.to_string())
            }
            e @ PolicyLifecycleError::RekeyRefused(_) => {
                LifecycleError::invalid("rekey_failed", e.to_string())
            }
            e @ PolicyLifecycleError::RekeyInProgress(_) => {
                LifecycleError::conflict("rekey_in_progress", e.to_string())
            }
            PolicyLifecycleError::NoWorkspace(id) => LifecycleError::not_found("workspace", &id),
            e @ PolicyLifecycleError::NoShadow { .. } => {
                LifecycleError::conflict("no_shadow_module", e.to_string())
            }
            e @ PolicyLifecycleError::NothingToRollBack { .. } => {
                LifecycleError::conflict("nothing_to_roll_back", e.to_string())
            }
            PolicyLifecycleError::NoModule(sha) => LifecycleError::not_found("policy module", &sha),
            e @ PolicyLifecycleError::ModuleCompiling(_) => {
                LifecycleError::conflict("module_compiling", e.to_string())
            }
            e @ PolicyLifecycleError::ModuleFailed { .. } => {
                LifecycleError::invalid("module_failed", e.to_string())
            }
            e @ PolicyLifecycleError::SlotMismatch { .. } => {
                LifecycleError::invalid("slot_mismatch", e.to_string())
            }
            PolicyLifecycleError::Internal(m) => LifecycleError::Internal(m),
            PolicyLifecycleError::Store(s) => LifecycleError::Store(s),
        }
    }
}

/// The declaration stored for a module.
pub fn declared(stored: &StoredLimits) -> DeclaredLimits {
    let positive = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    DeclaredLimits {
        fuel: positive(stored.fuel_limit),
        memory_bytes: positive(stored.memory_limit_bytes).map(|v| v as usize),
        deadline_ms: positive(stored.deadline_limit_ms),
        max_output_bytes: positive(stored.output_limit_bytes).map(|v| v as usize),
    }
}

/// A declaration as stored.
pub(super) fn stored_limits(declared: &DeclaredLimits) -> StoredLimits {
    let signed = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    StoredLimits {
        fuel_limit: signed(declared.fuel),
        memory_limit_bytes: signed(declared.memory_bytes.map(|v| v as u64)),
        deadline_limit_ms: signed(declared.deadline_ms),
        output_limit_bytes: signed(declared.max_output_bytes.map(|v| v as u64)),
    }
}

/// A stored module's metadata with its kind and limits as this host
/// applies them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModuleView {
    /// The stored metadata.
    #[serde(flatten)]
    pub info: ModuleInfo,
    /// Its kind, its declared limits, the limits its calls run under on
    /// this host (the declared ones, else its kind's defaults, cut to the
    /// host's maxima) and where each came from.
    #[schema(value_type = Object)]
    pub limits: ResolvedLimits,
}

/// Stored modules as [`ModuleView`]s: each one's kind (read from its
/// bytes once, for a module stored before kinds were) and limits.
pub async fn module_views(
    db: &Db,
    registry: &PolicyRegistry,
    modules: Vec<ModuleInfo>,
) -> Result<Vec<ModuleView>, PolicyLifecycleError> {
    let maxima = *registry.runtime().limits();
    let mut views = Vec::with_capacity(modules.len());
    for mut info in modules {
        let kind = match info.kind.as_deref().map(str::parse) {
            Some(Ok(kind)) => kind,
            _ => {
                let mut c = db.acquire().await?;
                let Some(stored) = policies::module_bytes(&mut c, &info.sha256).await? else {
                    continue;
                };
                let kind = crate::policy::infer_kind(&stored.bytes);
                policies::set_kind(&mut c, &info.sha256, kind.as_str()).await?;
                info.kind = Some(kind.as_str().to_string());
                kind
            }
        };
        let limits = ResolvedLimits::resolve(kind, declared(&info.limits), &maxima);
        views.push(ModuleView { info, limits });
    }
    Ok(views)
}

/// Compiles `bytes` for `slot` off the async workers, under `declared`.
async fn load(
    registry: &PolicyRegistry,
    bytes: Vec<u8>,
    origin: &str,
    slot: Slot,
    declared: DeclaredLimits,
) -> Result<(Arc<PolicyModule>, Vec<u8>), PolicyLifecycleError> {
    let runtime = registry.runtime().clone();
    let origin = origin.to_string();
    tokio::task::spawn_blocking(move || {
        runtime
            .load_declared(&bytes, &origin, Some(slot), declared)
            .map(|m| (m, bytes))
    })
    .await
    .map_err(|e| PolicyLifecycleError::Internal(e.to_string()))?
    .map_err(PolicyLifecycleError::Invalid)
}

/// A stored module, compiled (or the one the registry already holds, or
/// this build's built-in one).
pub(super) async fn stored(
    app: PolicyHost<'_>,
    sha256: &str,
    slot: Slot,
) -> Result<Arc<PolicyModule>, PolicyLifecycleError> {
    let registry = app.decisions.registry();
    if let Some(module) = loaded(registry, sha256)
        .or_else(|| registry.staged_module(sha256))
        .or_else(|| registry.compiled_module(sha256))
    {
        return Ok(module);
    }
    let mut c = app.db.acquire().await?;
    let Some(module) = policies::module_bytes(&mut c, sha256).await? else {
        let builtin = builtin_module(app.decisions.registry(), slot).await?;
        if builtin.sha256() == sha256 {
            return Ok(builtin);
        }
        return Err(PolicyLifecycleError::Internal(format!(
            "module {sha256} is bound but not stored"
        )));
    };
    drop(c);
    let declared = declared(&module.limits);
    Ok(load(
        app.decisions.registry(),
        module.bytes,
        &module.origin,
        slot,
        declared,
    )
    .await?
    .0)
}

/// A module the registry holds, by sha256 (no need to compile it again).
pub(super) fn loaded(registry: &PolicyRegistry, sha256: &str) -> Option<Arc<PolicyModule>> {
    Slot::ALL
        .into_iter()
        .map(|slot| registry.active(slot))
        .chain(registry.all_bound().into_iter().map(|(.., m)| m))
        .find(|m| m.sha256() == sha256)
}

/// The built-in default of a slot, compiled.
async fn builtin_module(
    registry: &PolicyRegistry,
    slot: Slot,
) -> Result<Arc<PolicyModule>, PolicyLifecycleError> {
    let (bytes, origin) = builtin::for_slot(slot);
    load(
        registry,
        bytes.to_vec(),
        origin,
        slot,
        DeclaredLimits::default(),
    )
    .await
    .map(|(m, _)| m)
    .map_err(|e| PolicyLifecycleError::Internal(e.to_string()))
}

/// Refuses a workspace scope whose workspace does not exist.
pub(super) async fn check_scope(
    app: PolicyHost<'_>,
    scope: &Scope,
) -> Result<(), PolicyLifecycleError> {
    if let Some(w) = scope.workspace() {
        let mut c = app.db.acquire().await?;
        if accounts::workspace(&mut c, w).await?.is_none() {
            return Err(PolicyLifecycleError::NoWorkspace(w.to_string()));
        }
    }
    Ok(())
}

/// The module that decides for the scope's prospects once its own active
/// binding is gone: a workspace's falls back to the global module, the
/// global one to the built-in default.
async fn fallback(
    app: PolicyHost<'_>,
    scope: &Scope,
    slot: Slot,
) -> Result<Arc<PolicyModule>, PolicyLifecycleError> {
    match scope {
        Scope::Workspace(_) => Ok(app.decisions.registry().active(slot)),
        Scope::Global => builtin_module(app.decisions.registry(), slot).await,
    }
}

/// Validates an uploaded module against the slot's world, stores it with
/// its metadata and binds it to (scope, slot, mode). An active match
/// module is bound only once a re-key job has computed its keys for the
/// scope (run here for a few pages: a small scope switches before the
/// answer); a shadow match module is bound at once and its job fills its
/// key space.
pub async fn upload(
    app: PolicyHost<'_>,
    slot: Slot,
    scope: Scope,
    mode: Mode,
    bytes: Vec<u8>,
    meta: UploadMeta,
) -> Result<PolicySwap, PolicyLifecycleError> {
    let declared = declaration(app, &bytes, &meta.limits).await?;
    let (module, bytes) = load(app.decisions.registry(), bytes, "upload", slot, declared).await?;
    check_scope(app, &scope).await?;
    let compiled = module.compile_stats().elapsed.as_millis();
    let upload_scope = scope.key().to_string();
    let new = NewModule {
        sha256: module.sha256(),
        slot: slot.as_str(),
        origin: "upload",
        bytes: &bytes,
        name: meta.name.as_deref(),
        version_label: meta.version_label.as_deref(),
        notes: meta.notes.as_deref(),
        uploaded_by: meta.uploaded_by.as_deref(),
        contract_version: crate::policy::CONTRACT_VERSION,
        kind: module.limits().kind.as_str(),
        limits: stored_limits(&declared),
        upload_scope: &upload_scope,
        compile_ms: Some(i64::try_from(compiled).unwrap_or(i64::MAX)),
    };
    let actor = meta.uploaded_by.as_deref();
    assign(app, slot, scope, mode, module.clone(), Some(&new), actor).await
}

/// Binds a compiled `module` to (scope, slot, mode), storing it first
/// (`new`) in the same transaction when it comes with the request: an
/// active match module once its re-key job has computed its keys for the
/// scope (run here for a few pages: a small scope switches before the
/// answer); a shadow match module at once, its job filling its key space.
pub(super) async fn assign(
    app: PolicyHost<'_>,
    slot: Slot,
    scope: Scope,
    mode: Mode,
    module: Arc<PolicyModule>,
    new: Option<&NewModule<'_>>,
    actor: Option<&str>,
) -> Result<PolicySwap, PolicyLifecycleError> {
    let now = app.clock.now_ms();
    let rekeyed_first = slot == Slot::Match && mode == Mode::Active;
    let mut tx = app.db.begin().await?;
    if let Some(new) = new {
        policies::store_module(&mut tx, new, now).await?;
    }
    let previous = if rekeyed_first {
        None
    } else {
        Some(
            rebind(
                &mut tx,
                &scope,
                slot,
                mode,
                Some(&module),
                "assign",
                actor,
                now,
            )
            .await?,
        )
    };
    tx.commit().await?;
    if rekeyed_first {
        let job = NewJob {
            scope: &scope,
            module: &module,
            mode,
            action: "assign",
            bind: Some(module.sha256()),
            refuse: true,
            actor,
            sweep_only: false,
        };
        return through_job(app, &scope, slot, mode, job).await;
    }
    let previous = previous.flatten();
    let swap = install(app, &scope, slot, mode, Some(module.clone()), previous).await?;
    if slot == Slot::Match {
        // A shadow match module: its space is filled for a promote.
        let job = NewJob {
            scope: &scope,
            module: &module,
            mode,
            action: "assign",
            bind: None,
            refuse: false,
            actor,
            sweep_only: false,
        };
        let job = rekey_jobs::start(app, job).await?;
        let job = rekey_jobs::run(app, &job.id, Some(app.rekey.inline_pages))
            .await?
            .unwrap_or(job);
        return Ok(PolicySwap {
            rekey_job: Some(job),
            ..swap
        });
    }
    Ok(swap)
}

/// The limits an upload's module runs under: those it declares, checked
/// against the host's bounds; for bytes stored before, their first
/// upload's declaration, which a different one may not replace.
pub(super) async fn declaration(
    app: PolicyHost<'_>,
    bytes: &[u8],
    declared: &DeclaredLimits,
) -> Result<DeclaredLimits, PolicyLifecycleError> {
    declared
        .check(app.decisions.registry().runtime().limits())
        .map_err(PolicyLifecycleError::Limits)?;
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
    let mut c = app.db.acquire().await?;
    let Some(stored) = policies::module_bytes(&mut c, &sha256).await? else {
        return Ok(*declared);
    };
    let before = self::declared(&stored.limits);
    if declared.is_empty() || *declared == before {
        return Ok(before);
    }
    Err(PolicyLifecycleError::LimitsDiffer {
        sha256,
        stored: serde_json::to_string(&before).unwrap_or_default(),
    })
}

/// Starts a job for an active match module's change and runs its first
/// pages: the answer is the switch when it completes, else `rekeying`.
async fn through_job(
    app: PolicyHost<'_>,
    scope: &Scope,
    slot: Slot,
    mode: Mode,
    new: NewJob<'_>,
) -> Result<PolicySwap, PolicyLifecycleError> {
    let before = app.decisions.module_for_scope(scope, slot);
    let job = rekey_jobs::start(app, new).await?;
    let job = rekey_jobs::run(app, &job.id, Some(app.rekey.inline_pages))
        .await?
        .unwrap_or(job);
    if job.status == "failed" {
        return Err(PolicyLifecycleError::RekeyRefused(
            job.error.clone().unwrap_or_default(),
        ));
    }
    let deciding = app.decisions.module_for_scope(scope, slot);
    let done = job.status == "done";
    Ok(PolicySwap {
        slot: slot.as_str().to_string(),
        workspace_id: scope.workspace().map(str::to_string),
        mode: mode.as_str().to_string(),
        sha256: Some(deciding.sha256().to_string()),
        origin: Some(deciding.origin().to_string()),
        previous_sha256: Some(before.sha256().to_string()),
        rekeyed: if done { job.done.unsigned_abs() } else { 0 },
        rekey_failures: if done { job.failures.unsigned_abs() } else { 0 },
        status: if done { "done" } else { "rekeying" }.to_string(),
        rekey_job: Some(job),
    })
}

/// Makes the scope's shadow module its active one. A match module's keys
/// were kept in its space while it shadowed: its job keys only the
/// prospects missing there (409 `rekey_in_progress` while the shadow's
/// own job still runs).
pub async fn promote(
    app: PolicyHost<'_>,
    slot: Slot,
    scope: Scope,
    actor: Option<&str>,
) -> Result<PolicySwap, PolicyLifecycleError> {
    check_scope(app, &scope).await?;
    let binding = {
        let mut c = app.db.acquire().await?;
        policies::binding(&mut c, scope.key(), slot.as_str(), Mode::Shadow.as_str()).await?
    };
    let Some(binding) = binding else {
        return Err(PolicyLifecycleError::NoShadow { slot });
    };
    let module = stored(app, &binding.sha256, slot).await?;
    if slot == Slot::Match {
        let running = {
            let mut c = app.db.acquire().await?;
            crate::store::rekey_jobs::running_of(&mut c, scope.key(), Mode::Shadow.as_str()).await?
        };
        if let Some(job) = running {
            return Err(PolicyLifecycleError::RekeyInProgress(job.id));
        }
        let job = NewJob {
            scope: &scope,
            module: &module,
            mode: Mode::Active,
            action: "promote",
            bind: Some(module.sha256()),
            refuse: true,
            actor,
            sweep_only: true,
        };
        return through_job(app, &scope, slot, Mode::Active, job).await;
    }
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    rebind(
        &mut tx,
        &scope,
        slot,
        Mode::Shadow,
        None,
        "promote",
        actor,
        now,
    )
    .await?;
    let previous = rebind(
        &mut tx,
        &scope,
        slot,
        Mode::Active,
        Some(&module),
        "promote",
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    app.decisions
        .registry()
        .bind(&scope, slot, Mode::Shadow, None);
    install(app, &scope, slot, Mode::Active, Some(module), previous).await
}

/// Goes back to the active module the scope had before its current one
/// (or to no module of its own, when it had none): repeated rollbacks walk
/// back through the history.
pub async fn rollback(
    app: PolicyHost<'_>,
    slot: Slot,
    scope: Scope,
    actor: Option<&str>,
) -> Result<PolicySwap, PolicyLifecycleError> {
    check_scope(app, &scope).await?;
    let target = {
        let mut c = app.db.acquire().await?;
        let current =
            policies::binding(&mut c, scope.key(), slot.as_str(), Mode::Active.as_str()).await?;
        let current = current.map(|b| b.sha256);
        policies::rollback_target(&mut c, scope.key(), slot.as_str(), current.as_deref()).await?
    };
    let Some(target) = target else {
        return Err(PolicyLifecycleError::NothingToRollBack { slot });
    };
    let module = match &target {
        Some(sha256) => Some(stored(app, sha256, slot).await?),
        None => None,
    };
    let deciding = match &module {
        Some(m) => m.clone(),
        None => fallback(app, &scope, slot).await?,
    };
    if let Some(job) = rekey_first(&scope, slot, &deciding, app) {
        // Going back to a module that decided before: its keys are not
        // refused for failing, as they were accepted then.
        let new = NewJob {
            bind: module.as_ref().map(|m| m.sha256()),
            action: "rollback",
            actor,
            ..job
        };
        return through_job(app, &scope, slot, Mode::Active, new).await;
    }
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let previous = rebind(
        &mut tx,
        &scope,
        slot,
        Mode::Active,
        module.as_ref(),
        "rollback",
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    install(app, &scope, slot, Mode::Active, module, previous).await
}

/// For an active match change to `deciding`, the job that must compute
/// its keys first (`None`: another slot, or `deciding` decides already,
/// so its space is the complete one).
fn rekey_first<'a>(
    scope: &'a Scope,
    slot: Slot,
    deciding: &'a Arc<PolicyModule>,
    app: PolicyHost<'_>,
) -> Option<NewJob<'a>> {
    if slot != Slot::Match
        || app.decisions.module_for_scope(scope, slot).sha256() == deciding.sha256()
    {
        return None;
    }
    Some(NewJob {
        scope,
        module: deciding,
        mode: Mode::Active,
        action: "unassign",
        bind: None,
        refuse: false,
        actor: None,
        sweep_only: false,
    })
}

/// Removes the scope's module of `mode` from the slot: an active one's
/// prospects fall back to the global module (a workspace) or the built-in
/// default (global), through a re-key job for the match slot. Idempotent:
/// nothing bound changes nothing.
pub async fn unassign(
    app: PolicyHost<'_>,
    slot: Slot,
    scope: Scope,
    mode: Mode,
    actor: Option<&str>,
) -> Result<PolicySwap, PolicyLifecycleError> {
    check_scope(app, &scope).await?;
    let now = app.clock.now_ms();
    if mode == Mode::Active {
        let bound = {
            let mut c = app.db.acquire().await?;
            policies::binding(&mut c, scope.key(), slot.as_str(), mode.as_str()).await?
        };
        let deciding = fallback(app, &scope, slot).await?;
        if bound.is_some()
            && let Some(job) = rekey_first(&scope, slot, &deciding, app)
        {
            let new = NewJob { actor, ..job };
            return through_job(app, &scope, slot, mode, new).await;
        }
    }
    let mut tx = app.db.begin().await?;
    if slot == Slot::Match {
        // A newer change of the scope supersedes a job still running.
        crate::store::rekey_jobs::cancel_running(&mut tx, scope.key(), mode.as_str(), now).await?;
    }
    let previous = rebind(&mut tx, &scope, slot, mode, None, "unassign", actor, now).await?;
    tx.commit().await?;
    install(app, &scope, slot, mode, None, previous).await
}

/// Puts the global module of a slot back on its built-in default.
pub async fn reset(app: PolicyHost<'_>, slot: Slot) -> Result<PolicySwap, PolicyLifecycleError> {
    unassign(app, slot, Scope::Global, Mode::Active, None).await
}

/// Binds `module` to (scope, slot, mode), or unbinds with `None`, and
/// records the change in the history when it is one. Returns the sha256
/// bound before.
#[allow(clippy::too_many_arguments)]
pub(super) async fn rebind(
    tx: &mut Tx,
    scope: &Scope,
    slot: Slot,
    mode: Mode,
    module: Option<&Arc<PolicyModule>>,
    action: &str,
    actor: Option<&str>,
    now: crate::clock::Millis,
) -> Result<Option<String>, PolicyLifecycleError> {
    let (key, slot_name, mode_name) = (scope.key(), slot.as_str(), mode.as_str());
    let before = policies::binding(tx, key, slot_name, mode_name)
        .await?
        .map(|b| b.sha256);
    let after = module.map(|m| m.sha256());
    match module {
        Some(m) => {
            let binding = Binding {
                scope: key.to_string(),
                slot: slot_name.to_string(),
                mode: mode_name.to_string(),
                sha256: m.sha256().to_string(),
                assigned_at: now,
                assigned_by: actor.map(str::to_string),
            };
            policies::bind(tx, &binding).await?;
        }
        None => {
            policies::unbind(tx, key, slot_name, mode_name).await?;
        }
    }
    if before.as_deref() != after {
        policies::record_change(
            tx,
            key,
            slot_name,
            mode_name,
            action,
            before.as_deref(),
            after,
            actor,
            now,
        )
        .await?;
    }
    Ok(before)
}

/// Installs the change in this instance's registry and tells the other
/// instances; returns the change's report.
async fn install(
    app: PolicyHost<'_>,
    scope: &Scope,
    slot: Slot,
    mode: Mode,
    module: Option<Arc<PolicyModule>>,
    previous: Option<String>,
) -> Result<PolicySwap, PolicyLifecycleError> {
    // The module replaced: for active, the one that decided for the scope
    // (its own or inherited); for shadow, the shadow bound before.
    let previous = match mode {
        Mode::Active => Some(
            app.decisions
                .module_for_scope(scope, slot)
                .sha256()
                .to_string(),
        ),
        Mode::Shadow => previous,
    };
    install_module(app, scope, slot, mode, module.clone()).await?;
    let now_deciding = match mode {
        Mode::Active => Some(app.decisions.module_for_scope(scope, slot)),
        Mode::Shadow => module,
    };
    Ok(PolicySwap {
        slot: slot.as_str().to_string(),
        workspace_id: scope.workspace().map(str::to_string),
        mode: mode.as_str().to_string(),
        sha256: now_deciding.as_ref().map(|m| m.sha256().to_string()),
        origin: now_deciding.as_ref().map(|m| m.origin().to_string()),
        previous_sha256: previous,
        rekeyed: 0,
        rekey_failures: 0,
        status: "done".to_string(),
        rekey_job: None,
    })
}

/// Installs a binding change in this instance's registry and tells the
/// other instances.
pub(super) async fn install_module(
    app: PolicyHost<'_>,
    scope: &Scope,
    slot: Slot,
    mode: Mode,
    module: Option<Arc<PolicyModule>>,
) -> Result<(), PolicyLifecycleError> {
    let registry = app.decisions.registry();
    match (scope, mode, &module) {
        (Scope::Global, Mode::Active, Some(m)) => {
            registry.activate(m.clone());
        }
        (Scope::Global, Mode::Active, None) => {
            registry.activate(builtin_module(registry, slot).await?);
        }
        _ => {
            registry.bind(scope, slot, mode, module.clone());
        }
    }
    if let Err(e) = Broadcaster::for_db(app.db)
        .send(POLICIES_CHANNEL, slot.as_str())
        .await
    {
        tracing::warn!(error = %e, "policy change broadcast failed; other instances pick it up on restart");
    }
    Ok(())
}

/// Why [`sync`] could not follow the stored bindings.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored or built-in module did not load, or its bytes no longer
    /// hash to the recorded sha256.
    #[error(transparent)]
    Policy(#[from] LoadError),
}

/// Makes the registry match the bindings stored in the database (at
/// start, and on every instance after a broadcast): each bound module is
/// the stored one, whose bytes must still hash to the recorded sha256;
/// a global slot without a binding gets the built-in default; bindings
/// that are gone are removed. Modules already installed are reused.
pub async fn sync(db: &Db, registry: &PolicyRegistry) -> Result<(), SyncError> {
    let mut conn = db.acquire().await?;
    let bindings = policies::bindings(&mut conn).await?;
    let runtime = registry.runtime();
    let mut compiled: HashMap<String, Arc<PolicyModule>> = HashMap::new();
    let mut wanted = Vec::new();
    for b in &bindings {
        let (Ok(slot), Ok(mode)) = (b.slot.parse::<Slot>(), b.mode.parse::<Mode>()) else {
            return Err(SyncError::Store(StoreError::Corrupt {
                table: "policy_bindings",
                reason: format!("unknown slot `{}` or mode `{}`", b.slot, b.mode),
            }));
        };
        let module = match compiled
            .get(&b.sha256)
            .cloned()
            .or_else(|| loaded(registry, &b.sha256))
            .or_else(|| registry.compiled_module(&b.sha256))
        {
            Some(m) => m,
            None => {
                let Some(stored) = policies::module_bytes(&mut conn, &b.sha256).await? else {
                    return Err(SyncError::Store(StoreError::Corrupt {
                        table: "policy_bindings",
                        reason: format!("module {} is bound but not stored", b.sha256),
                    }));
                };
                let m = runtime.load_declared(
                    &stored.bytes,
                    &stored.origin,
                    Some(slot),
                    declared(&stored.limits),
                )?;
                if m.sha256() != b.sha256 {
                    return Err(SyncError::Policy(LoadError::Incompatible(format!(
                        "stored module for {slot} hashes to {}, expected {}",
                        m.sha256(),
                        b.sha256
                    ))));
                }
                m
            }
        };
        compiled.insert(b.sha256.clone(), module.clone());
        wanted.push((Scope::from_key(&b.scope), slot, mode, module));
    }
    // The running re-key jobs' modules: prospects imported here are keyed
    // by them too.
    let mut staged = Vec::new();
    for job in crate::store::rekey_jobs::running(&mut conn).await? {
        let known = compiled
            .get(&job.module_sha256)
            .cloned()
            .or_else(|| loaded(registry, &job.module_sha256))
            .or_else(|| registry.staged_module(&job.module_sha256));
        let module = match known {
            Some(m) => m,
            None => match policies::module_bytes(&mut conn, &job.module_sha256).await? {
                Some(stored) => runtime.load_declared(
                    &stored.bytes,
                    &stored.origin,
                    Some(Slot::Match),
                    declared(&stored.limits),
                )?,
                // The built-in of a build: its final sweep catches up.
                None => continue,
            },
        };
        staged.push(module);
    }
    registry.set_staged(staged);
    drop(conn);
    for slot in Slot::ALL {
        let global = wanted.iter().find(|(scope, s, mode, _)| {
            *scope == Scope::Global && *s == slot && *mode == Mode::Active
        });
        let active = registry.active(slot);
        match global {
            Some((.., m)) if active.sha256() != m.sha256() => {
                registry.activate(m.clone());
            }
            None if !active.origin().starts_with("builtin:") => {
                let (bytes, origin) = builtin::for_slot(slot);
                registry.activate(runtime.load(bytes, origin, Some(slot))?);
            }
            _ => {}
        }
    }
    for (scope, slot, mode, module) in &wanted {
        if *scope == Scope::Global && *mode == Mode::Active {
            continue;
        }
        if registry
            .bound(scope, *slot, *mode)
            .map(|m| m.sha256().to_string())
            .as_deref()
            != Some(module.sha256())
        {
            registry.bind(scope, *slot, *mode, Some(module.clone()));
        }
    }
    for (scope, slot, mode, _) in registry.all_bound() {
        let still = wanted
            .iter()
            .any(|(s, sl, m, _)| *s == scope && *sl == slot && *m == mode);
        if !still {
            registry.bind(&scope, slot, mode, None);
        }
    }
    Ok(())
}
