//! A policy module's lifecycle on this host, per scope (global or one
//! workspace) and mode (active or shadow): validate → store → bind →
//! re-key the scope's prospects (match slot, active) → install →
//! broadcast, and the sync by which every other instance follows. Promote
//! (shadow → active), rollback (the previous active module) and unassign
//! are the same path with another module. Every binding change is kept in
//! the history. The admin API and the demo call it; a swap never fails a
//! decision in flight (see the registry's promise).

use super::LifecycleError;
use crate::clock::SharedClock;
use crate::decisions::Decisions;
use crate::pipeline::rekey;
use crate::policy::{LoadError, Mode, PolicyModule, PolicyRegistry, Scope, Slot, builtin};
use crate::store::broadcast::{Broadcaster, POLICIES_CHANNEL};
use crate::store::policies::{self, Binding, NewModule};
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
}

/// Why a policy change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLifecycleError {
    /// Not a valid module for the slot (`invalid_policy`).
    #[error("{0}")]
    Invalid(LoadError),
    /// A match module that fails on most prospects' keys (`rekey_failed`):
    /// nothing was stored or activated.
    #[error("{0}; it was not activated and every prospect keeps its keys")]
    RekeyRefused(rekey::RekeyCheck),
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
            e @ PolicyLifecycleError::RekeyRefused(_) => {
                LifecycleError::invalid("rekey_failed", e.to_string())
            }
            PolicyLifecycleError::NoWorkspace(id) => LifecycleError::not_found("workspace", &id),
            e @ PolicyLifecycleError::NoShadow { .. } => {
                LifecycleError::conflict("no_shadow_module", e.to_string())
            }
            e @ PolicyLifecycleError::NothingToRollBack { .. } => {
                LifecycleError::conflict("nothing_to_roll_back", e.to_string())
            }
            PolicyLifecycleError::Internal(m) => LifecycleError::Internal(m),
            PolicyLifecycleError::Store(s) => LifecycleError::Store(s),
        }
    }
}

/// Compiles `bytes` for `slot` off the async workers.
async fn load(
    registry: &PolicyRegistry,
    bytes: Vec<u8>,
    origin: &str,
    slot: Slot,
) -> Result<(Arc<PolicyModule>, Vec<u8>), PolicyLifecycleError> {
    let runtime = registry.runtime().clone();
    let origin = origin.to_string();
    tokio::task::spawn_blocking(move || {
        runtime
            .load(&bytes, &origin, Some(slot))
            .map(|m| (m, bytes))
    })
    .await
    .map_err(|e| PolicyLifecycleError::Internal(e.to_string()))?
    .map_err(PolicyLifecycleError::Invalid)
}

/// A stored module, compiled (or the one the registry already holds).
async fn stored(
    app: PolicyHost<'_>,
    sha256: &str,
    slot: Slot,
) -> Result<Arc<PolicyModule>, PolicyLifecycleError> {
    if let Some(module) = loaded(app.decisions.registry(), sha256) {
        return Ok(module);
    }
    let mut c = app.db.acquire().await?;
    let Some((_, origin, bytes)) = policies::module_bytes(&mut c, sha256).await? else {
        return Err(PolicyLifecycleError::Internal(format!(
            "module {sha256} is bound but not stored"
        )));
    };
    drop(c);
    Ok(load(app.decisions.registry(), bytes, &origin, slot)
        .await?
        .0)
}

/// A module the registry holds, by sha256 (no need to compile it again).
fn loaded(registry: &PolicyRegistry, sha256: &str) -> Option<Arc<PolicyModule>> {
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
    load(registry, bytes.to_vec(), origin, slot)
        .await
        .map(|(m, _)| m)
        .map_err(|e| PolicyLifecycleError::Internal(e.to_string()))
}

/// Refuses a workspace scope whose workspace does not exist.
async fn check_scope(app: PolicyHost<'_>, scope: &Scope) -> Result<(), PolicyLifecycleError> {
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
/// its metadata and binds it to (scope, slot, mode). For an active match
/// module, checks first that it keys most of the scope's prospects and
/// stages their new keys; then installs it, tells the other instances and
/// finishes the re-key.
pub async fn upload(
    app: PolicyHost<'_>,
    slot: Slot,
    scope: Scope,
    mode: Mode,
    bytes: Vec<u8>,
    meta: UploadMeta,
) -> Result<PolicySwap, PolicyLifecycleError> {
    let (module, bytes) = load(app.decisions.registry(), bytes, "upload", slot).await?;
    check_scope(app, &scope).await?;
    let staged = prepare(app, &scope, mode, &module, true).await?;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
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
    };
    policies::store_module(&mut tx, &new, now).await?;
    let actor = meta.uploaded_by.as_deref();
    let previous = rebind(
        &mut tx,
        &scope,
        slot,
        mode,
        Some(&module),
        "assign",
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    install(app, &scope, slot, mode, Some(module), previous, staged).await
}

/// Makes the scope's shadow module its active one (re-keying the scope's
/// prospects for the match slot).
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
    let staged = prepare(app, &scope, Mode::Active, &module, true).await?;
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
    install(
        app,
        &scope,
        slot,
        Mode::Active,
        Some(module),
        previous,
        staged,
    )
    .await
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
    // Going back to a module that decided before: its keys are not
    // refused for failing, as they were accepted then.
    let staged = prepare(app, &scope, Mode::Active, &deciding, false).await?;
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
    install(app, &scope, slot, Mode::Active, module, previous, staged).await
}

/// Removes the scope's module of `mode` from the slot: an active one's
/// prospects fall back to the global module (a workspace) or the built-in
/// default (global), re-keyed for the match slot. Idempotent: nothing
/// bound changes nothing.
pub async fn unassign(
    app: PolicyHost<'_>,
    slot: Slot,
    scope: Scope,
    mode: Mode,
    actor: Option<&str>,
) -> Result<PolicySwap, PolicyLifecycleError> {
    check_scope(app, &scope).await?;
    let staged = match mode {
        Mode::Active => {
            let deciding = fallback(app, &scope, slot).await?;
            prepare(app, &scope, mode, &deciding, false).await?
        }
        Mode::Shadow => 0,
    };
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let previous = rebind(&mut tx, &scope, slot, mode, None, "unassign", actor, now).await?;
    tx.commit().await?;
    install(app, &scope, slot, mode, None, previous, staged).await
}

/// Puts the global module of a slot back on its built-in default.
pub async fn reset(app: PolicyHost<'_>, slot: Slot) -> Result<PolicySwap, PolicyLifecycleError> {
    unassign(app, slot, Scope::Global, Mode::Active, None).await
}

/// For an active match module: checks (when `refuse`) that it keys most of
/// the scope's prospects, and stages their keys from it. Returns how many
/// prospects got keys.
async fn prepare(
    app: PolicyHost<'_>,
    scope: &Scope,
    mode: Mode,
    module: &PolicyModule,
    refuse: bool,
) -> Result<u64, PolicyLifecycleError> {
    if module.slot() != Slot::Match || mode != Mode::Active {
        return Ok(0);
    }
    if refuse {
        let check = rekey::check(app.db, app.decisions, module, scope).await?;
        if check.refused() {
            return Err(PolicyLifecycleError::RekeyRefused(check));
        }
    }
    Ok(rekey::stage(app.db, app.decisions, app.clock, module, scope).await?)
}

/// Binds `module` to (scope, slot, mode), or unbinds with `None`, and
/// records the change in the history when it is one. Returns the sha256
/// bound before.
#[allow(clippy::too_many_arguments)]
async fn rebind(
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

/// Installs the change in this instance's registry, tells the other
/// instances, and for an active match module finishes the re-key
/// `prepare` began (`staged` prospects got keys there).
async fn install(
    app: PolicyHost<'_>,
    scope: &Scope,
    slot: Slot,
    mode: Mode,
    module: Option<Arc<PolicyModule>>,
    previous: Option<String>,
    staged: u64,
) -> Result<PolicySwap, PolicyLifecycleError> {
    let registry = app.decisions.registry();
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
    let now_deciding = match mode {
        Mode::Active => Some(app.decisions.module_for_scope(scope, slot)),
        Mode::Shadow => module,
    };
    let (rekeyed, rekey_failures) = match (&now_deciding, mode) {
        (Some(m), Mode::Active) if slot == Slot::Match => {
            let (keyed, failures) =
                rekey::finish(app.db, app.decisions, app.clock, m, scope).await?;
            (staged + keyed, failures)
        }
        _ => (0, 0),
    };
    Ok(PolicySwap {
        slot: slot.as_str().to_string(),
        workspace_id: scope.workspace().map(str::to_string),
        mode: mode.as_str().to_string(),
        sha256: now_deciding.as_ref().map(|m| m.sha256().to_string()),
        origin: now_deciding.as_ref().map(|m| m.origin().to_string()),
        previous_sha256: previous,
        rekeyed,
        rekey_failures,
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
        {
            Some(m) => m,
            None => {
                let Some((_, origin, bytes)) = policies::module_bytes(&mut conn, &b.sha256).await?
                else {
                    return Err(SyncError::Store(StoreError::Corrupt {
                        table: "policy_bindings",
                        reason: format!("module {} is bound but not stored", b.sha256),
                    }));
                };
                let m = runtime.load(&bytes, &origin, Some(slot))?;
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
