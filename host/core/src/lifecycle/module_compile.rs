//! Uploads that compile off the request path. An upload
//! ([`submit`]) passes the cheap checks (a WebAssembly component) and is
//! stored by sha256, `compiling`; this instance's compile worker
//! ([`worker`]) validates it in full as the loader does, on a blocking
//! thread, and marks it `ready` (it may be bound: [`bind`]) or `failed`
//! with the loader's message. The compiled module stays in the registry
//! so that binding it is instant. A module left `compiling` by a restart
//! is compiled by the next worker; a lease per module makes one instance
//! compile it. On PostgreSQL the other instances hear that it is ready
//! and compile it too (a disk-cache read when they share a cache), so
//! that a bind on any of them is instant.

pub use super::compile_queue::{CompileConfig, ModuleCompiler};
use super::policies::{self as lifecycle, ModuleView, PolicySwap, UploadMeta};
use super::policy_ground::{self as ground, HoldsPolicies, PolicyHost, PolicyLifecycleError};
use crate::clock::{Millis, new_id};
use crate::policy::{Mode, PolicyModule, Scope, Slot, check_header, module_sha256};
use crate::store::StoreError;
use crate::store::broadcast::{Broadcaster, MODULES_CHANNEL};
use crate::store::leases::{self, Lease};
use crate::store::policies::{self as stored, ModuleInfo, NewModule, status};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What an upload did: its module as it stands, and whether it is new
/// (its compile starts) or was stored before (nothing more happens).
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The module, as the uploader sees it (see [`module_info`]).
    pub module: ModuleView,
    /// Stored by this upload.
    pub created: bool,
}

/// Stores an uploaded module for `slot`, `compiling`, after the cheap
/// checks only (a WebAssembly component; the workspace of `scope`
/// exists); the worker compiles it. The same bytes again store nothing
/// and compile nothing (a module for another slot is refused): the
/// answer is the stored module's, as `viewer` sees it.
pub async fn submit(
    app: PolicyHost<'_>,
    slot: Slot,
    scope: &Scope,
    bytes: &[u8],
    meta: &UploadMeta,
    viewer: Option<&str>,
) -> Result<Submitted, PolicyLifecycleError> {
    check_header(bytes).map_err(PolicyLifecycleError::Invalid)?;
    let declared = lifecycle::declaration(app, bytes, &meta.limits).await?;
    ground::check_scope(app, scope).await?;
    let sha256 = module_sha256(bytes);
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    if let Some(existing) = stored::module(&mut tx, &sha256).await?
        && existing.slot != slot.as_str()
    {
        return Err(PolicyLifecycleError::SlotMismatch {
            sha256,
            stored: existing.slot,
            wanted: slot,
        });
    }
    let new = NewModule {
        sha256: &sha256,
        slot: slot.as_str(),
        origin: "upload",
        bytes,
        name: meta.name.as_deref(),
        version_label: meta.version_label.as_deref(),
        notes: meta.notes.as_deref(),
        uploaded_by: meta.uploaded_by.as_deref(),
        contract_version: crate::policy::CONTRACT_VERSION,
        kind: crate::policy::infer_kind(bytes).as_str(),
        limits: ground::stored_limits(&declared),
        upload_scope: scope.key(),
        compile_ms: None,
    };
    let created = stored::submit_module(&mut tx, &new, now).await?;
    // Read before the commit, so a new module is still `compiling` here.
    let module = view(&mut tx, &sha256, viewer)
        .await?
        .ok_or_else(|| PolicyLifecycleError::Internal(format!("module {sha256} vanished")))?;
    tx.commit().await?;
    let module = view_of(app, module).await?;
    if created {
        app.compiler.wake();
        tracing::info!(
            module_sha256 = sha256,
            slot = slot.as_str(),
            scope = scope.key(),
            size = bytes.len(),
            "policy module uploaded; compiling"
        );
    }
    Ok(Submitted { module, created })
}

async fn view(
    c: &mut crate::store::Connection,
    sha256: &str,
    viewer: Option<&str>,
) -> Result<Option<ModuleInfo>, StoreError> {
    match viewer {
        None => stored::module(c, sha256).await,
        Some(own) => stored::module_of_scope(c, own, sha256).await,
    }
}

/// A stored module's metadata and compile status, as `viewer` sees it:
/// `None` every module; a workspace the modules uploaded for its scope or
/// bound in it (with their labels only when their first upload was its
/// own), any other being unknown to it.
pub async fn module_info(
    app: PolicyHost<'_>,
    sha256: &str,
    viewer: Option<&str>,
) -> Result<ModuleView, PolicyLifecycleError> {
    let info = {
        let mut c = app.db.acquire().await?;
        view(&mut c, sha256, viewer)
            .await?
            .ok_or_else(|| PolicyLifecycleError::NoModule(sha256.to_string()))?
    };
    view_of(app, info).await
}

/// A module's metadata with its kind and limits as this host applies them.
async fn view_of(
    app: PolicyHost<'_>,
    info: ModuleInfo,
) -> Result<ModuleView, PolicyLifecycleError> {
    let sha256 = info.sha256.clone();
    ground::module_views(app.db, app.decisions.registry(), vec![info])
        .await?
        .pop()
        .ok_or(PolicyLifecycleError::NoModule(sha256))
}

/// Binds an uploaded module to (scope, slot, mode), as an upload with
/// the module as its body does, without compiling it again: instant once
/// it is `ready`; refused while it is `compiling`, when it `failed`, for
/// another slot, or when `viewer` (a workspace) may not see it (unknown).
pub async fn bind(
    app: PolicyHost<'_>,
    slot: Slot,
    scope: Scope,
    mode: Mode,
    sha256: &str,
    viewer: Option<&str>,
    actor: Option<&str>,
) -> Result<PolicySwap, PolicyLifecycleError> {
    ground::check_scope(app, &scope).await?;
    let info = module_info(app, sha256, viewer).await?.info;
    if info.slot != slot.as_str() {
        return Err(PolicyLifecycleError::SlotMismatch {
            sha256: sha256.to_string(),
            stored: info.slot,
            wanted: slot,
        });
    }
    match info.status.as_str() {
        status::READY => {}
        status::COMPILING => return Err(PolicyLifecycleError::ModuleCompiling(sha256.to_string())),
        _ => {
            return Err(PolicyLifecycleError::ModuleFailed {
                sha256: sha256.to_string(),
                error: info.error.unwrap_or_default(),
            });
        }
    }
    let module = ground::stored(app, sha256, slot).await?;
    lifecycle::assign(app, slot, scope, mode, module, None, actor).await
}

/// How long a module's compile lease holds without renewal (renewed
/// while the compile runs, so an instance that dies mid-compile hands
/// the module to another within this).
const LEASE_TTL: Millis = 60_000;

/// How often the lease is renewed while a compile runs.
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// How often the worker looks for modules to compile without a wake-up
/// (an upload on another instance, a lease run out).
const POLL: Duration = Duration::from_secs(1);

/// Modules looked at per round.
const ROUND: i64 = 32;

/// This process, as the holder of compile leases.
fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(new_id)
}

/// The modules compiling on this instance now (by sha256).
type Busy = Arc<Mutex<HashSet<String>>>;

fn busy_lock(busy: &Busy) -> std::sync::MutexGuard<'_, HashSet<String>> {
    // A poisoned lock only means a panic mid-insert: the set is whole.
    busy.lock().unwrap_or_else(|p| p.into_inner())
}

/// The background worker: compiles the modules stored `compiling` (at
/// most [`CompileConfig::concurrency`] at once), and those another
/// instance made ready; at start, the newest ready modules bound nowhere,
/// so that binding them after a restart is instant too.
pub async fn worker<H: HoldsPolicies>(
    app: Arc<H>,
    config: CompileConfig,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let limit = config.concurrency;
    if limit == 0 {
        tracing::info!("this instance compiles no uploaded policy module (compile concurrency 0)");
        let _ = shutdown.changed().await;
        return;
    }
    let permits = Arc::new(Semaphore::new(limit));
    let busy: Busy = Arc::default();
    match ready_unbound(app.policy_host()).await {
        Ok(ready) => ready
            .iter()
            .for_each(|sha| app.policy_host().compiler.heard_ready(sha)),
        Err(e) => tracing::warn!(error = %e, "cannot list the ready modules to precompile"),
    }
    loop {
        if let Err(e) = round(&app, &permits, &busy).await {
            tracing::warn!(error = %e, "policy compile round failed; retried in a second");
        }
        tokio::select! {
            _ = app.policy_host().compiler.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

async fn ready_unbound(app: PolicyHost<'_>) -> Result<Vec<String>, StoreError> {
    let mut c = app.db.acquire().await?;
    let kept = crate::policy::KEPT_COMPILED as i64;
    Ok(stored::ready_unbound(&mut c, kept)
        .await?
        .into_iter()
        .map(|(sha, _)| sha)
        .collect())
}

/// Starts what a free permit allows: first the modules heard ready, then
/// the oldest stored `compiling` whose lease this instance takes.
async fn round<H: HoldsPolicies>(
    host: &Arc<H>,
    permits: &Arc<Semaphore>,
    busy: &Busy,
) -> Result<(), StoreError> {
    let app = host.policy_host();
    while let Ok(permit) = permits.clone().try_acquire_owned() {
        let Some(sha256) = app.compiler.next_heard() else {
            break;
        };
        if busy_lock(busy).insert(sha256.clone()) {
            let (host, busy) = (host.clone(), busy.clone());
            tokio::spawn(async move {
                let app = host.policy_host();
                if let Err(e) = precompile(app, &sha256).await {
                    tracing::warn!(error = %e, module_sha256 = sha256, "precompiling a ready module failed; a bind compiles it");
                }
                done(app, &busy, &sha256, permit);
            });
        }
    }
    if permits.available_permits() == 0 {
        return Ok(());
    }
    let pending = {
        let mut c = app.db.acquire().await?;
        stored::compiling(&mut c, ROUND).await?
    };
    for (sha256, slot) in pending {
        if busy_lock(busy).contains(&sha256) {
            continue;
        }
        let Ok(slot) = slot.parse::<Slot>() else {
            tracing::error!(
                module_sha256 = sha256,
                slot,
                "stored module of an unknown slot"
            );
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            break;
        };
        let name = format!("compile:{sha256}");
        let now = app.clock.now_ms();
        let Some(lease) = leases::acquire(app.db, &name, holder(), now, LEASE_TTL).await? else {
            continue;
        };
        busy_lock(busy).insert(sha256.clone());
        let (host, busy) = (host.clone(), busy.clone());
        tokio::spawn(async move {
            let app = host.policy_host();
            if let Err(e) = compile(app, &sha256, slot, lease).await {
                tracing::warn!(error = %e, module_sha256 = sha256, "policy compile not recorded; retried");
            }
            done(app, &busy, &sha256, permit);
        });
    }
    Ok(())
}

/// A compile ended: its permit is free, and the worker looks again.
fn done(app: PolicyHost<'_>, busy: &Busy, sha256: &str, permit: OwnedSemaphorePermit) {
    busy_lock(busy).remove(sha256);
    drop(permit);
    app.compiler.wake();
}

/// Compiles and validates a module stored `compiling` under its lease,
/// records `ready` or `failed` (with the loader's message), keeps the
/// compiled module for its bind and tells the other instances.
async fn compile(
    app: PolicyHost<'_>,
    sha256: &str,
    slot: Slot,
    mut lease: Lease,
) -> Result<(), StoreError> {
    let result = compile_held(app, sha256, slot, &mut lease).await;
    if let Err(e) = lease.release(app.db, app.clock.now_ms()).await {
        tracing::warn!(error = %e, module_sha256 = sha256, "compile lease not released; it expires");
    }
    result
}

async fn compile_held(
    app: PolicyHost<'_>,
    sha256: &str,
    slot: Slot,
    lease: &mut Lease,
) -> Result<(), StoreError> {
    let bytes = {
        let mut c = app.db.acquire().await?;
        stored::module_bytes(&mut c, sha256).await?
    };
    let Some(stored) = bytes else {
        return Ok(());
    };
    let declared = ground::declared(&stored.limits);
    let runtime = app.decisions.registry().runtime().clone();
    let started = Instant::now();
    let mut task = tokio::task::spawn_blocking(move || {
        runtime.load_declared(&stored.bytes, "upload", Some(slot), declared)
    });
    let loaded = loop {
        tokio::select! {
            loaded = &mut task => break loaded,
            _ = tokio::time::sleep(RENEW_EVERY) => {
                // Another instance that took the lease over compiles the
                // same bytes to the same outcome: nothing to stop.
                if let Err(e) = lease.keep(app.db, app.clock.now_ms()).await {
                    tracing::warn!(error = %e, module_sha256 = sha256, "compile lease not renewed");
                }
            }
        }
    };
    let compile_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let outcome: Result<Arc<PolicyModule>, String> = match loaded {
        Ok(Ok(module)) if module.sha256() == sha256 => Ok(module),
        Ok(Ok(module)) => Err(format!(
            "the stored bytes hash to {}, not {sha256}",
            module.sha256()
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the compiler stopped: {e}")),
    };
    let recorded = {
        let mut c = app.db.acquire().await?;
        let result = outcome.as_ref().map(|_| ()).map_err(String::as_str);
        stored::finish_compile(&mut c, sha256, result, compile_ms, app.clock.now_ms()).await?
    };
    let label = if outcome.is_ok() {
        status::READY
    } else {
        status::FAILED
    };
    metrics::counter!(
        "accord_policy_module_compiles_total",
        "module" => sha256.chars().take(12).collect::<String>(),
        "outcome" => label,
    )
    .increment(1);
    match outcome {
        Ok(module) => {
            app.decisions.registry().keep_compiled(module);
            tracing::info!(
                module_sha256 = sha256,
                slot = slot.as_str(),
                compile_ms,
                "policy module compiled: ready"
            );
            if recorded
                && let Err(e) = Broadcaster::for_db(app.db)
                    .send(MODULES_CHANNEL, sha256)
                    .await
            {
                tracing::warn!(error = %e, "ready-module broadcast failed; other instances compile it at its bind");
            }
        }
        Err(error) => {
            tracing::warn!(
                module_sha256 = sha256,
                slot = slot.as_str(),
                compile_ms,
                error,
                "policy module refused: failed"
            );
        }
    }
    Ok(())
}

/// Compiles a module another instance made ready (or ready before a
/// restart), unless this instance holds it already.
async fn precompile(app: PolicyHost<'_>, sha256: &str) -> Result<(), PolicyLifecycleError> {
    let registry = app.decisions.registry();
    if registry.compiled_module(sha256).is_some() || ground::loaded(registry, sha256).is_some() {
        return Ok(());
    }
    let info = {
        let mut c = app.db.acquire().await?;
        stored::module(&mut c, sha256).await?
    };
    let Some(info) = info.filter(|m| m.status == status::READY) else {
        return Ok(());
    };
    let slot = info
        .slot
        .parse::<Slot>()
        .map_err(PolicyLifecycleError::Internal)?;
    let module = ground::stored(app, sha256, slot).await?;
    registry.keep_compiled(module);
    Ok(())
}
