//! The decision seam: every policy call that changes state (a prospect's
//! keys, a signal's keys, resolve, route, pre-flight) goes through
//! [`Decisions`], which knows the workspace asking, the slot, the module,
//! the input and the result. The pipeline, the engine, the ticks and the
//! lifecycles hold a `Decisions`, never the registry itself, so the
//! decision log, per-workspace modules and shadow evaluation each hang on
//! this one place.
//!
//! The decisions that change state on their own (resolve, route,
//! pre-flight) are logged in the transaction of the change they cause
//! (deferred to its commit, like the audit rows), so the log and the state
//! never disagree; once that transaction commits, a shadow module bound
//! beside the deciding one gets the same input ([`shadow`]). Keys are not
//! logged: they are a function of the prospect or signal alone, and their
//! effect is the resolve that follows.

pub mod retention;
pub mod shadow;

use crate::clock::{SharedClock, new_id};
use crate::policy::logged::{self, Logged};
use crate::policy::{Decision, Mode, PolicyModule, PolicyRegistry, Scope, Slot};
use crate::store::Tx;
use crate::store::decisions::DecisionRow;
use accord_policy_core::{
    AcceptSignal, Enrollment, MatchOutcome, PreflightDecision, PreflightInput, ProspectIdentity,
    Route, RoutingInput,
};
use shadow::{ShadowQueue, ShadowWork};
use std::sync::Arc;
use std::time::Duration;

/// How decisions are logged and shadowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionLogConfig {
    /// Write active decisions to the log (on by default).
    pub enabled: bool,
    /// How long logged decisions are kept (default 14 days).
    pub retention: Duration,
    /// Shadow calls waiting at most; more are dropped and counted.
    pub shadow_queue: usize,
}

impl Default for DecisionLogConfig {
    fn default() -> Self {
        DecisionLogConfig {
            enabled: true,
            retention: Duration::from_secs(14 * 24 * 3600),
            shadow_queue: 1024,
        }
    }
}

/// What a logged decision concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct About<'a> {
    /// The inbox row whose signal is decided.
    pub inbox_id: Option<&'a str>,
    /// The enrollment decided about.
    pub enrollment_id: Option<&'a str>,
}

/// The one path from the host to its policies.
#[derive(Clone)]
pub struct Decisions {
    registry: Arc<PolicyRegistry>,
    clock: SharedClock,
    config: DecisionLogConfig,
    shadow: ShadowQueue,
}

impl Decisions {
    /// Decisions made by the modules active in `registry`, logged.
    pub fn new(registry: Arc<PolicyRegistry>, clock: SharedClock) -> Self {
        let config = DecisionLogConfig::default();
        Decisions {
            shadow: ShadowQueue::new(config.shadow_queue),
            registry,
            clock,
            config,
        }
    }

    /// These decisions logged (or not) as `config` says.
    pub fn with_log(self, config: DecisionLogConfig) -> Self {
        Decisions {
            shadow: ShadowQueue::new(config.shadow_queue),
            config,
            ..self
        }
    }

    /// The registry, for the policy lifecycle that activates modules.
    pub fn registry(&self) -> &Arc<PolicyRegistry> {
        &self.registry
    }

    /// How decisions are logged.
    pub fn log_config(&self) -> &DecisionLogConfig {
        &self.config
    }

    /// The shadow queue (its worker is started with the host's workers).
    pub fn shadow(&self) -> &ShadowQueue {
        &self.shadow
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

    /// `resolve`: which of the candidates a signal is; logged in `tx`.
    pub fn resolve(
        &self,
        tx: &mut Tx,
        about: About<'_>,
        workspace_id: &str,
        signal: &AcceptSignal,
        candidates: &[Enrollment],
    ) -> Decision<MatchOutcome> {
        let module = self.module(workspace_id, Slot::Match);
        let decision = self.registry.runtime().resolve(&module, signal, candidates);
        decided(workspace_id, Slot::Match, "resolve", &decision);
        // A resolve concerns the enrollment it matched (the first, if several).
        let matched = decision.value.matches.first();
        let about = About {
            enrollment_id: about
                .enrollment_id
                .or(matched.map(|m| m.enrollment_id.as_str())),
            ..about
        };
        self.log(tx, about, workspace_id, Slot::Match, &decision, || {
            logged::of_resolve(signal, candidates, &decision.value)
        });
        decision
    }

    /// Late-accept routing; logged in `tx`.
    pub fn route(
        &self,
        tx: &mut Tx,
        about: About<'_>,
        workspace_id: &str,
        input: &RoutingInput,
    ) -> Decision<Route> {
        let module = self.module(workspace_id, Slot::Routing);
        let decision = self.registry.runtime().route(&module, input);
        decided(workspace_id, Slot::Routing, "route", &decision);
        self.log(tx, about, workspace_id, Slot::Routing, &decision, || {
            logged::of_route(input, &decision.value)
        });
        decision
    }

    /// Dispatch pre-flight; logged in `tx`. Also returns the logged row's
    /// place in `tx`, to name the job it enqueues ([`Tx::set_decision_job`]).
    pub fn preflight(
        &self,
        tx: &mut Tx,
        about: About<'_>,
        workspace_id: &str,
        input: &PreflightInput,
    ) -> (Decision<PreflightDecision>, Option<usize>) {
        let module = self.module(workspace_id, Slot::Preflight);
        let decision = self.registry.runtime().preflight(&module, input);
        decided(workspace_id, Slot::Preflight, "preflight", &decision);
        let at = self.log(tx, about, workspace_id, Slot::Preflight, &decision, || {
            logged::of_preflight(input, &decision.value)
        });
        (decision, at)
    }

    /// Logs an active decision in `tx` (when the log is on) and, once `tx`
    /// commits, offers it to the shadow module bound beside the deciding
    /// one (if any). `logged` is built only when one of them wants it.
    fn log<T>(
        &self,
        tx: &mut Tx,
        about: About<'_>,
        workspace_id: &str,
        slot: Slot,
        decision: &Decision<T>,
        logged: impl FnOnce() -> Logged,
    ) -> Option<usize> {
        let shadow = self.registry.shadow_for(workspace_id, slot);
        if !self.config.enabled && shadow.is_none() {
            return None;
        }
        let logged = logged();
        let row = DecisionRow {
            id: new_id(),
            decided_at: self.clock.now_ms(),
            workspace_id: workspace_id.to_string(),
            slot: slot.as_str().to_string(),
            call: logged.call.to_string(),
            module_sha256: decision.module_sha256.to_string(),
            mode: Mode::Active.as_str().to_string(),
            input: logged.input,
            output: logged.output.to_string(),
            summary: logged.summary,
            error_kind: decision.error.as_ref().map(|e| e.kind().to_string()),
            fuel: i64::try_from(decision.stats.fuel_used).unwrap_or(i64::MAX),
            duration_us: i64::try_from(decision.stats.elapsed.as_micros()).unwrap_or(i64::MAX),
            inbox_id: about.inbox_id.map(str::to_string),
            enrollment_id: about.enrollment_id.map(str::to_string),
            job_id: None,
            active_id: None,
            active_summary: None,
            agrees: None,
        };
        if let Some(module) = shadow {
            let work = ShadowWork {
                active: row.clone(),
                active_output: logged.output,
                module,
            };
            let queue = self.shadow.clone();
            tx.after_commit(Box::new(move || queue.offer(work)));
        }
        self.config.enabled.then(|| tx.defer_decision(row))
    }
}

/// What every decision leaves behind: a debug line naming who asked what
/// of which module, and whether its answer was used.
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
