//! The ground the policy lifecycle stands on: what it works on
//! ([`PolicyHost`]), its errors, and how a module is loaded, bound and
//! installed. The paths above it (`policies`: upload, promote, rollback;
//! `rekey_jobs`; `module_compile`) all call down to here and never to each
//! other's internals, so the lifecycle's files import one way.

use super::LifecycleError;
use super::compile_queue::ModuleCompiler;
use crate::clock::SharedClock;
use crate::decisions::Decisions;
use crate::policy::{
    DeclaredLimits, LimitError, LoadError, Mode, PolicyModule, PolicyRegistry, ResolvedLimits,
    Scope, Slot, builtin,
};
use crate::store::broadcast::{Broadcaster, POLICIES_CHANNEL};
use crate::store::policies::{self, Binding, ModuleInfo, StoredLimits};
use crate::store::{Db, StoreError, Tx, accounts};
use serde::Serialize;
use std::sync::Arc;

/// How re-key jobs page, and how much of one a request runs itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RekeyConfig {
    /// Prospects per page (one transaction each).
    pub page: i64,
    /// Pages a policy change runs before it answers: a small scope
    /// switches within the request, a large one answers `rekeying` and the
    /// worker goes on.
    pub inline_pages: u64,
}

impl Default for RekeyConfig {
    fn default() -> Self {
        RekeyConfig {
            page: 500,
            inline_pages: 4,
        }
    }
}

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
    pub compiler: &'a ModuleCompiler,
}

/// The host the policy lifecycle's background workers hold for their whole
/// life (the `App`): they borrow a [`PolicyHost`] from it each round, so
/// this layer never names the host's type and the host may own the workers.
pub trait HoldsPolicies: Send + Sync + 'static {
    /// The parts the lifecycle works on, borrowed.
    fn policy_host(&self) -> PolicyHost<'_>;
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
pub(super) async fn load(
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
pub(super) async fn builtin_module(
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
