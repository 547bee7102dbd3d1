//! The decision seam: every policy call that changes state (a prospect's
//! keys, a signal's keys, resolve, route, pre-flight) goes through
//! [`Decisions`], which knows the workspace asking, the slot, the module,
//! the input and the result. The pipeline, the engine, the ticks and the
//! lifecycles hold a `Decisions`, never the registry itself, so a decision
//! log, per-workspace modules and shadow evaluation each hang on this one
//! place.

use crate::policy::{Decision, PolicyModule, PolicyRegistry, Scope, Slot};
use accord_policy_core::{
    AcceptSignal, Enrollment, MatchOutcome, PreflightDecision, PreflightInput, ProspectIdentity,
    Route, RoutingInput,
};
use std::sync::Arc;

/// The one path from the host to its policies.
#[derive(Clone)]
pub struct Decisions {
    registry: Arc<PolicyRegistry>,
}

impl Decisions {
    /// Decisions made by the modules active in `registry`.
    pub fn new(registry: Arc<PolicyRegistry>) -> Self {
        Decisions { registry }
    }

    /// The registry, for the policy lifecycle that activates modules.
    pub fn registry(&self) -> &Arc<PolicyRegistry> {
        &self.registry
    }

    /// The module that decides `slot` for `workspace_id` now: its own
    /// active module, else the global one, else the built-in default.
    pub fn module(&self, workspace_id: &str, slot: Slot) -> Arc<PolicyModule> {
        self.registry.for_workspace(workspace_id, slot)
    }

    /// The module that decides `slot` for the prospects of `scope`: a
    /// workspace's as [`Decisions::module`], the global one for the
    /// workspaces without their own.
    pub fn module_for_scope(&self, scope: &Scope, slot: Slot) -> Arc<PolicyModule> {
        match scope.workspace() {
            Some(w) => self.module(w, slot),
            None => self.registry.active(slot),
        }
    }

    /// `prospect-keys` for a prospect of `workspace_id`.
    pub fn prospect_keys(
        &self,
        workspace_id: &str,
        identity: &ProspectIdentity,
    ) -> Decision<Vec<String>> {
        let module = self.module(workspace_id, Slot::Match);
        self.prospect_keys_by(&module, workspace_id, identity)
    }

    /// `prospect-keys` asked of a given match module, active or not (the
    /// re-key checks and stages a module before it is activated).
    pub fn prospect_keys_by(
        &self,
        module: &PolicyModule,
        workspace_id: &str,
        identity: &ProspectIdentity,
    ) -> Decision<Vec<String>> {
        let decision = self.registry.runtime().prospect_keys(module, identity);
        decided(workspace_id, Slot::Match, "prospect_keys", &decision);
        decision
    }

    /// `signal-keys` for a signal reaching `workspace_id`.
    pub fn signal_keys(&self, workspace_id: &str, signal: &AcceptSignal) -> Decision<Vec<String>> {
        let module = self.module(workspace_id, Slot::Match);
        let decision = self.registry.runtime().signal_keys(&module, signal);
        decided(workspace_id, Slot::Match, "signal_keys", &decision);
        decision
    }

    /// `resolve`: which of the candidates a signal is.
    pub fn resolve(
        &self,
        workspace_id: &str,
        signal: &AcceptSignal,
        candidates: &[Enrollment],
    ) -> Decision<MatchOutcome> {
        let module = self.module(workspace_id, Slot::Match);
        let decision = self.registry.runtime().resolve(&module, signal, candidates);
        decided(workspace_id, Slot::Match, "resolve", &decision);
        decision
    }

    /// Late-accept routing.
    pub fn route(&self, workspace_id: &str, input: &RoutingInput) -> Decision<Route> {
        let module = self.module(workspace_id, Slot::Routing);
        let decision = self.registry.runtime().route(&module, input);
        decided(workspace_id, Slot::Routing, "route", &decision);
        decision
    }

    /// Dispatch pre-flight.
    pub fn preflight(
        &self,
        workspace_id: &str,
        input: &PreflightInput,
    ) -> Decision<PreflightDecision> {
        let module = self.module(workspace_id, Slot::Preflight);
        let decision = self.registry.runtime().preflight(&module, input);
        decided(workspace_id, Slot::Preflight, "preflight", &decision);
        decision
    }
}

/// What every decision leaves behind today: a debug line naming who asked
/// what of which module, and whether its answer was used.
fn decided<T>(workspace_id: &str, slot: Slot, call: &'static str, decision: &Decision<T>) {
    tracing::debug!(
        workspace_id,
        slot = slot.as_str(),
        call,
        module_sha256 = &*decision.module_sha256,
        fail_safe = decision.error.is_some(),
        fuel = decision.stats.fuel_used,
        "policy decided"
    );
}
