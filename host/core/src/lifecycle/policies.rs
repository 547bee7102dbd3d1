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

pub use super::policy_ground::{
    HoldsPolicies, ModuleView, PolicyHost, PolicyLifecycleError, declared, module_views,
};
use super::policy_ground::{
    builtin_module, check_scope, install_module, load, loaded, rebind, stored, stored_limits,
};
use super::rekey_jobs::{self, NewJob};
use crate::policy::{
    DeclaredLimits, LoadError, Mode, PolicyModule, PolicyRegistry, Scope, Slot, builtin,
};
use crate::store::policies::{self, NewModule};
use crate::store::rekey_jobs::RekeyJob;
use crate::store::{Db, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

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
