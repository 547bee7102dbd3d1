//! A policy module's lifecycle on this host: validate → store → assign →
//! re-key (match slot) → activate → broadcast, and the sync by which every
//! other instance follows. The admin API and the demo call it; a swap
//! never fails a decision in flight (see the registry's promise).

use super::LifecycleError;
use crate::clock::SharedClock;
use crate::decisions::Decisions;
use crate::pipeline::rekey;
use crate::policy::{LoadError, PolicyModule, PolicyRegistry, Slot, builtin};
use crate::store::broadcast::{Broadcaster, POLICIES_CHANNEL};
use crate::store::{Db, StoreError, policies};
use serde::Serialize;
use std::sync::Arc;

/// What the policy lifecycle works on: the database, the decision seam
/// (whose registry it activates modules in) and the clock. Borrowed from
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

/// What a policy swap did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicySwap {
    /// The slot.
    pub slot: String,
    /// The module now active.
    pub sha256: String,
    /// Its origin.
    pub origin: String,
    /// The module it replaced.
    pub previous_sha256: String,
    /// Prospects whose match keys now come from the new module (match
    /// slot only).
    pub rekeyed: u64,
    /// Prospects the new module failed on: they keep their previous keys,
    /// traced as `policy_failure`.
    pub rekey_failures: u64,
}

/// Why a policy could not be made active.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLifecycleError {
    /// Not a valid module for the slot (`invalid_policy`).
    #[error("{0}")]
    Invalid(LoadError),
    /// A match module that fails on most prospects' keys (`rekey_failed`):
    /// nothing was stored or activated.
    #[error("{0}; it was not activated and every prospect keeps its keys")]
    RekeyRefused(rekey::RekeyCheck),
    /// A built-in module failed to load, or the loader panicked.
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
            PolicyLifecycleError::Internal(m) => LifecycleError::Internal(m),
            PolicyLifecycleError::Store(s) => LifecycleError::Store(s),
        }
    }
}

/// Compiles `bytes` for `slot` off the async workers.
async fn load(
    registry: &PolicyRegistry,
    bytes: Vec<u8>,
    origin: &'static str,
    slot: Slot,
) -> Result<(Arc<PolicyModule>, Vec<u8>), PolicyLifecycleError> {
    let runtime = registry.runtime().clone();
    tokio::task::spawn_blocking(move || {
        runtime.load(&bytes, origin, Some(slot)).map(|m| (m, bytes))
    })
    .await
    .map_err(|e| PolicyLifecycleError::Internal(e.to_string()))?
    .map_err(PolicyLifecycleError::Invalid)
}

/// Validates an uploaded module against the slot's world, checks (match
/// slot) that it keys most prospects and stages their new keys, stores
/// and assigns it in one transaction, activates it, tells the other
/// instances, and finishes the re-key.
pub async fn upload(
    app: PolicyHost<'_>,
    slot: Slot,
    bytes: Vec<u8>,
) -> Result<PolicySwap, PolicyLifecycleError> {
    let (module, bytes) = load(app.decisions.registry(), bytes, "upload", slot).await?;
    let decisions = app.decisions;
    let staged = if slot == Slot::Match {
        let check = rekey::check(app.db, decisions, &module).await?;
        if check.refused() {
            return Err(PolicyLifecycleError::RekeyRefused(check));
        }
        rekey::stage(app.db, decisions, app.clock, &module).await?
    } else {
        0
    };
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    policies::store_module(
        &mut tx,
        module.sha256(),
        slot.as_str(),
        "upload",
        &bytes,
        now,
    )
    .await?;
    policies::assign(&mut tx, slot.as_str(), module.sha256(), now).await?;
    tx.commit().await?;
    activate(app, module, staged).await
}

/// Puts a slot back on its built-in default (re-keying every prospect
/// for the match slot).
pub async fn reset(app: PolicyHost<'_>, slot: Slot) -> Result<PolicySwap, PolicyLifecycleError> {
    let (bytes, origin) = builtin::for_slot(slot);
    let (module, _) = load(app.decisions.registry(), bytes.to_vec(), origin, slot)
        .await
        .map_err(|e| PolicyLifecycleError::Internal(e.to_string()))?;
    let staged = if slot == Slot::Match {
        rekey::stage(app.db, app.decisions, app.clock, &module).await?
    } else {
        0
    };
    let mut tx = app.db.begin().await?;
    policies::unassign(&mut tx, slot.as_str()).await?;
    tx.commit().await?;
    activate(app, module, staged).await
}

/// Activates a stored module, tells the other instances, and for the
/// match slot finishes the re-key `rekey::stage` began (`staged`
/// prospects got keys there).
async fn activate(
    app: PolicyHost<'_>,
    module: Arc<PolicyModule>,
    staged: u64,
) -> Result<PolicySwap, PolicyLifecycleError> {
    let previous = app.decisions.registry().activate(module.clone());
    let slot = module.slot();
    if let Err(e) = Broadcaster::for_db(app.db)
        .send(POLICIES_CHANNEL, slot.as_str())
        .await
    {
        tracing::warn!(error = %e, "policy change broadcast failed; other instances pick it up on restart");
    }
    let (rekeyed, rekey_failures) = if slot == Slot::Match {
        let (keyed, failures) = rekey::finish(app.db, app.decisions, app.clock, &module).await?;
        (staged + keyed, failures)
    } else {
        (0, 0)
    };
    Ok(PolicySwap {
        slot: slot.as_str().to_string(),
        sha256: module.sha256().to_string(),
        origin: module.origin().to_string(),
        previous_sha256: previous.sha256().to_string(),
        rekeyed,
        rekey_failures,
    })
}

/// Why [`sync`] could not follow the stored assignments.
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

/// Makes the registry match the assignments stored in the database (at
/// start, and on every instance after a broadcast): assigned slots get
/// their stored module, whose bytes must still hash to the recorded
/// sha256; unassigned ones the built-in default. Slots that already match
/// are left alone.
pub async fn sync(db: &Db, registry: &PolicyRegistry) -> Result<(), SyncError> {
    let mut conn = db.acquire().await?;
    let assigned = policies::assigned(&mut conn).await?;
    drop(conn);
    let runtime = registry.runtime();
    for slot in Slot::ALL {
        let active = registry.active(slot);
        match assigned.iter().find(|(s, ..)| s == slot.as_str()) {
            Some((_, sha256, origin, bytes)) if active.sha256() != sha256 => {
                let module = runtime.load(bytes, origin, Some(slot))?;
                if module.sha256() != sha256 {
                    return Err(SyncError::Policy(LoadError::Incompatible(format!(
                        "stored module for {slot} hashes to {}, expected {sha256}",
                        module.sha256()
                    ))));
                }
                registry.activate(module);
            }
            None if !active.origin().starts_with("builtin:") => {
                let (bytes, origin) = builtin::for_slot(slot);
                registry.activate(runtime.load(bytes, origin, Some(slot))?);
            }
            _ => {}
        }
    }
    Ok(())
}
