//! A prospect's match keys, computed one way wherever they are computed
//! (an import, an invite sent, a match policy's re-key): from the prospect
//! and every provider id an invite of it went to, so the invite-bridge key
//! survives whatever re-keys the prospect. Stored and traced one way too.

use crate::decisions::Decisions;
use crate::policy::{CallStats, Decision, PolicyError, PolicyModule, Slot};
use crate::store::Connection;
use crate::store::StoreError;
use crate::store::prospects::{self, Prospect};
use crate::store::rekey_jobs;
use crate::store::traces::{self, NewTrace};
use std::sync::Arc;

/// What a prospect was keyed on, named in its failure traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedOn {
    /// Imported.
    Import,
    /// An invite of it was sent (a new invite-bridge key).
    Invite,
    /// A new match policy was activated.
    Rekey,
}

impl KeyedOn {
    fn as_str(self) -> &'static str {
        match self {
            KeyedOn::Import => "import",
            KeyedOn::Invite => "invite",
            KeyedOn::Rekey => "rekey",
        }
    }
}

/// The keys `module` (the prospect's workspace's match module when
/// `None`) gives `prospect` and the provider ids in `invited`: one
/// `prospect-keys` call per invite target (the contract carries one),
/// their keys joined; one call when it was never invited.
pub fn prospect_keys(
    decisions: &Decisions,
    module: Option<&PolicyModule>,
    prospect: &Prospect,
    invited: &[String],
) -> Decision<Vec<String>> {
    let ask = |target: Option<&String>| {
        let identity = prospect.identity(target.cloned());
        match module {
            Some(module) => decisions.prospect_keys_by(module, &prospect.workspace_id, &identity),
            None => decisions.prospect_keys(&prospect.workspace_id, &identity),
        }
    };
    let mut targets = invited.iter();
    let mut keys = ask(targets.next());
    for target in targets {
        join(&mut keys, ask(Some(target)));
    }
    keys
}

/// Adds `more`'s keys to `keys`; the first error or dropped key stays.
fn join(keys: &mut Decision<Vec<String>>, more: Decision<Vec<String>>) {
    for key in more.value {
        if !keys.value.contains(&key) {
            keys.value.push(key);
        }
    }
    keys.error = keys.error.take().or(more.error);
    keys.dropped = keys.dropped.take().or(more.dropped);
    keys.trace.extend(more.trace);
    keys.stats = CallStats {
        fuel_used: keys.stats.fuel_used + more.stats.fuel_used,
        elapsed: keys.stats.elapsed + more.stats.elapsed,
        peak_memory_bytes: keys
            .stats
            .peak_memory_bytes
            .max(more.stats.peak_memory_bytes),
    };
}

/// Why `keys` leave the prospect without a key it could use because of
/// the module (an error, or only invalid keys), if they do.
pub fn failed(keys: &Decision<Vec<String>>) -> Option<&PolicyError> {
    match (&keys.error, &keys.dropped) {
        (Some(error), _) => Some(error),
        (None, Some(dropped)) if keys.value.is_empty() => Some(dropped),
        _ => None,
    }
}

/// The match modules a prospect of `workspace_id` is keyed by, each in
/// its own key space: the one that decides, the shadow beside it (so a
/// promote finds its space complete), and the modules of the re-key jobs
/// running for its scope (so a job misses no prospect imported meanwhile;
/// a job whose module this instance has not loaded yet catches up in its
/// final sweep).
pub async fn modules_for(
    c: &mut Connection,
    decisions: &Decisions,
    workspace_id: &str,
) -> Result<Vec<Arc<PolicyModule>>, StoreError> {
    let mut modules = vec![decisions.module(workspace_id, Slot::Match)];
    let registry = decisions.registry();
    if let Some(shadow) = registry.shadow_for(workspace_id, Slot::Match) {
        modules.push(shadow);
    }
    if !registry.staged().is_empty() {
        for sha in rekey_jobs::running_modules_for(c, workspace_id).await? {
            if let Some(m) = registry.staged_module(&sha) {
                modules.push(m);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    modules.retain(|m| seen.insert(m.sha256().to_string()));
    Ok(modules)
}

/// Keys a prospect (and the provider ids in `invited`) by each of
/// `modules` into its key space, as [`store`] does.
pub async fn store_in(
    c: &mut Connection,
    decisions: &Decisions,
    modules: &[Arc<PolicyModule>],
    prospect: &Prospect,
    invited: &[String],
    on: KeyedOn,
    now: i64,
) -> Result<(), StoreError> {
    for module in modules {
        let keys = prospect_keys(decisions, Some(module), prospect, invited);
        store(c, prospect, &keys, on, now).await?;
    }
    Ok(())
}

/// Stores `keys` as the prospect's keys in their module's key space. When they [`failed`], the
/// prospect keeps the keys it has (stale keys can still find it, none
/// never would; a new prospect has none, the match slot's fail-safe) and
/// the failure is traced; keys the host dropped among good ones are traced
/// too. Returns whether the keys were stored.
pub async fn store(
    c: &mut Connection,
    prospect: &Prospect,
    keys: &Decision<Vec<String>>,
    on: KeyedOn,
    now: i64,
) -> Result<bool, StoreError> {
    if let Some(error) = failed(keys) {
        trace_failure(c, prospect, keys, error, on, now).await?;
        return Ok(false);
    }
    if let Some(dropped) = &keys.dropped {
        trace_failure(c, prospect, keys, dropped, on, now).await?;
    }
    prospects::set_keys(c, &keys.module_sha256, &prospect.id, &keys.value).await?;
    Ok(true)
}

/// A `policy_failure` trace for a prospect's keys: the same wherever they
/// were computed, but for `on`.
pub async fn trace_failure(
    c: &mut Connection,
    prospect: &Prospect,
    keys: &Decision<Vec<String>>,
    error: &PolicyError,
    on: KeyedOn,
    now: i64,
) -> Result<(), StoreError> {
    let trace = NewTrace {
        workspace_id: Some(&prospect.workspace_id),
        kind: "policy_failure",
        detail: serde_json::json!({
            "slot": "match", "call": "prospect_keys", "prospect_id": prospect.id,
            "kind": error.kind(), "error": error.to_string(),
            "fail_safe": keys.error.is_some(), "on": on.as_str(),
        }),
        module_sha256: Some(&keys.module_sha256),
        ..NewTrace::default()
    };
    traces::record(c, trace, now).await
}
