//! The active module of each slot, swapped atomically.

use super::builtin;
use super::decision::Decision;
use super::error::LoadError;
use super::runtime::{PolicyModule, PolicyRuntime};
use super::slot::Slot;
use accord_policy_core::{
    AcceptSignal, Enrollment, MatchOutcome, PreflightDecision, PreflightInput, ProspectIdentity,
    Route, RoutingInput,
};
use arc_swap::ArcSwap;
use std::sync::Arc;

/// The runtime plus the active module per slot.
///
/// A call loads the slot's current module once and keeps it for the whole
/// call, so calls in flight finish on the old module while new calls see
/// the new one; a swap never fails a call.
pub struct PolicyRegistry {
    runtime: Arc<PolicyRuntime>,
    matcher: ArcSwap<PolicyModule>,
    routing: ArcSwap<PolicyModule>,
    preflight: ArcSwap<PolicyModule>,
}

impl PolicyRegistry {
    /// A registry whose three slots hold the built-in default policies.
    pub fn with_defaults(runtime: Arc<PolicyRuntime>) -> Result<Self, LoadError> {
        let load = |slot: Slot| {
            let (bytes, origin) = builtin::for_slot(slot);
            runtime.load(bytes, origin, Some(slot))
        };
        Ok(PolicyRegistry {
            matcher: ArcSwap::new(load(Slot::Match)?),
            routing: ArcSwap::new(load(Slot::Routing)?),
            preflight: ArcSwap::new(load(Slot::Preflight)?),
            runtime,
        })
    }

    /// The runtime the modules run on.
    pub fn runtime(&self) -> &Arc<PolicyRuntime> {
        &self.runtime
    }

    fn cell(&self, slot: Slot) -> &ArcSwap<PolicyModule> {
        match slot {
            Slot::Match => &self.matcher,
            Slot::Routing => &self.routing,
            Slot::Preflight => &self.preflight,
        }
    }

    /// The module active in `slot`.
    pub fn active(&self, slot: Slot) -> Arc<PolicyModule> {
        self.cell(slot).load_full()
    }

    /// Makes `module` the active one of its slot and returns the module it
    /// replaced.
    pub fn activate(&self, module: Arc<PolicyModule>) -> Arc<PolicyModule> {
        let slot = module.slot();
        let previous = self.cell(slot).swap(module);
        let current = self.cell(slot).load();
        tracing::info!(
            slot = slot.as_str(),
            module_sha256 = current.sha256(),
            origin = current.origin(),
            previous_sha256 = previous.sha256(),
            "policy activated"
        );
        previous
    }

    /// `prospect-keys` on the active match module.
    pub fn prospect_keys(&self, identity: &ProspectIdentity) -> Decision<Vec<String>> {
        self.runtime.prospect_keys(&self.matcher.load(), identity)
    }

    /// `signal-keys` on the active match module.
    pub fn signal_keys(&self, signal: &AcceptSignal) -> Decision<Vec<String>> {
        self.runtime.signal_keys(&self.matcher.load(), signal)
    }

    /// `resolve` on the active match module.
    pub fn resolve(
        &self,
        signal: &AcceptSignal,
        candidates: &[Enrollment],
    ) -> Decision<MatchOutcome> {
        self.runtime
            .resolve(&self.matcher.load(), signal, candidates)
    }

    /// Late-accept routing on the active routing module.
    pub fn route(&self, input: &RoutingInput) -> Decision<Route> {
        self.runtime.route(&self.routing.load(), input)
    }

    /// Dispatch pre-flight on the active pre-flight module.
    pub fn preflight(&self, input: &PreflightInput) -> Decision<PreflightDecision> {
        self.runtime.preflight(&self.preflight.load(), input)
    }
}
