//! The modules that decide: the global active module of each slot, and
//! the modules bound to one workspace (active) or run beside the active
//! one (shadow), each swapped atomically.

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
use std::collections::HashMap;
use std::sync::Arc;

/// Where a module is bound: for every workspace, or for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every workspace without a module of its own.
    Global,
    /// One workspace (by id).
    Workspace(String),
}

impl Scope {
    /// The scope of an optional workspace id.
    pub fn of(workspace: Option<&str>) -> Scope {
        match workspace {
            Some(w) => Scope::Workspace(w.to_string()),
            None => Scope::Global,
        }
    }

    /// The stored form: `""` for global, else the workspace's id.
    pub fn key(&self) -> &str {
        match self {
            Scope::Global => "",
            Scope::Workspace(w) => w,
        }
    }

    /// From the stored form.
    pub fn from_key(key: &str) -> Scope {
        if key.is_empty() {
            Scope::Global
        } else {
            Scope::Workspace(key.to_string())
        }
    }

    /// The workspace, for a workspace's scope.
    pub fn workspace(&self) -> Option<&str> {
        match self {
            Scope::Global => None,
            Scope::Workspace(w) => Some(w),
        }
    }
}

/// How a bound module takes part in decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// It decides.
    Active,
    /// It runs beside the active module; its decisions change nothing.
    Shadow,
}

impl Mode {
    /// `active` or `shadow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Active => "active",
            Mode::Shadow => "shadow",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Mode::Active),
            "shadow" => Ok(Mode::Shadow),
            _ => Err(format!("unknown mode `{s}`: expected `active` or `shadow`")),
        }
    }
}

/// Modules bound to a scope other than the global active one, by (scope,
/// slot, mode): the workspaces' own active modules and every shadow.
type Bound = HashMap<(Scope, Slot, Mode), Arc<PolicyModule>>;

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
    bound: ArcSwap<Bound>,
    staged: ArcSwap<HashMap<String, Arc<PolicyModule>>>,
    /// Uploaded modules compiled ahead of their binding, newest last.
    compiled: std::sync::Mutex<std::collections::VecDeque<Arc<PolicyModule>>>,
}

/// Modules kept compiled ahead of their binding: a bound module is held
/// by its binding, so this bounds only the memory of modules waiting.
pub const KEPT_COMPILED: usize = 8;

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
            bound: ArcSwap::from_pointee(Bound::new()),
            staged: ArcSwap::from_pointee(HashMap::new()),
            compiled: std::sync::Mutex::new(std::collections::VecDeque::new()),
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

    /// The module that decides `slot` for `workspace_id`: the workspace's
    /// own active module, else the global one (the built-in default when
    /// none is bound).
    pub fn for_workspace(&self, workspace_id: &str, slot: Slot) -> Arc<PolicyModule> {
        let bound = self.bound.load();
        // Every decision asks: no key is built while no workspace has a
        // module of its own.
        if bound.is_empty() {
            return self.active(slot);
        }
        let scope = Scope::Workspace(workspace_id.to_string());
        match bound.get(&(scope, slot, Mode::Active)) {
            Some(module) => module.clone(),
            None => self.active(slot),
        }
    }

    /// The shadow module that runs beside the active one when `slot`
    /// decides for `workspace_id`: the workspace's own shadow (a candidate
    /// for its own active module), else, while the global module decides
    /// for it, the global shadow. A global shadow does not shadow a
    /// workspace whose own module decides: it would never replace it.
    pub fn shadow_for(&self, workspace_id: &str, slot: Slot) -> Option<Arc<PolicyModule>> {
        let bound = self.bound.load();
        if bound.is_empty() {
            return None;
        }
        let own = Scope::Workspace(workspace_id.to_string());
        if let Some(module) = bound.get(&(own.clone(), slot, Mode::Shadow)) {
            return Some(module.clone());
        }
        if bound.contains_key(&(own, slot, Mode::Active)) {
            return None;
        }
        bound.get(&(Scope::Global, slot, Mode::Shadow)).cloned()
    }

    /// The module bound to (scope, slot, mode), if any; the global active
    /// module is [`PolicyRegistry::active`].
    pub fn bound(&self, scope: &Scope, slot: Slot, mode: Mode) -> Option<Arc<PolicyModule>> {
        if *scope == Scope::Global && mode == Mode::Active {
            return Some(self.active(slot));
        }
        self.bound.load().get(&(scope.clone(), slot, mode)).cloned()
    }

    /// Every module bound other than the global active ones.
    pub fn all_bound(&self) -> Vec<(Scope, Slot, Mode, Arc<PolicyModule>)> {
        let mut all: Vec<_> = self
            .bound
            .load()
            .iter()
            .map(|((scope, slot, mode), m)| (scope.clone(), *slot, *mode, m.clone()))
            .collect();
        all.sort_by(|a, b| {
            (&a.0, a.1.as_str(), a.2.as_str()).cmp(&(&b.0, b.1.as_str(), b.2.as_str()))
        });
        all
    }

    /// Binds `module` to (scope, its slot, mode), or unbinds with `None`;
    /// the global active module is [`PolicyRegistry::activate`]d instead.
    /// Returns what was bound. Calls in flight keep the module they
    /// loaded.
    pub fn bind(
        &self,
        scope: &Scope,
        slot: Slot,
        mode: Mode,
        module: Option<Arc<PolicyModule>>,
    ) -> Option<Arc<PolicyModule>> {
        let key = (scope.clone(), slot, mode);
        let mut previous = None;
        self.bound.rcu(|bound| {
            let mut next = Bound::clone(bound);
            previous = match &module {
                Some(m) => next.insert(key.clone(), m.clone()),
                None => next.remove(&key),
            };
            next
        });
        tracing::info!(
            scope = scope.key(),
            slot = slot.as_str(),
            mode = mode.as_str(),
            module_sha256 = module.as_ref().map(|m| m.sha256()),
            previous_sha256 = previous.as_ref().map(|m| m.sha256()),
            "policy bound"
        );
        previous
    }

    /// The match modules whose re-key jobs run, by sha256: a prospect
    /// imported meanwhile is keyed by them too.
    pub fn staged(&self) -> Vec<Arc<PolicyModule>> {
        self.staged.load().values().cloned().collect()
    }

    /// A staged module by sha256.
    pub fn staged_module(&self, sha256: &str) -> Option<Arc<PolicyModule>> {
        self.staged.load().get(sha256).cloned()
    }

    /// Replaces the staged modules.
    pub fn set_staged(&self, modules: Vec<Arc<PolicyModule>>) {
        let map = modules
            .into_iter()
            .map(|m| (m.sha256().to_string(), m))
            .collect();
        self.staged.store(Arc::new(map));
    }

    /// Adds a staged module.
    pub fn stage(&self, module: Arc<PolicyModule>) {
        self.staged.rcu(|staged| {
            let mut next = HashMap::clone(staged);
            next.insert(module.sha256().to_string(), module.clone());
            next
        });
    }

    /// Keeps an uploaded module compiled so that binding it later is
    /// instant (the oldest of more than [`KEPT_COMPILED`] is let go: a
    /// bind then compiles it again, or reads the disk cache).
    pub fn keep_compiled(&self, module: Arc<PolicyModule>) {
        // A poisoned lock only means a panic elsewhere mid-push: the deque
        // is still a valid list of modules.
        let mut kept = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|m| m.sha256() != module.sha256());
        kept.push_back(module);
        while kept.len() > KEPT_COMPILED {
            kept.pop_front();
        }
    }

    /// A module kept compiled ahead of its binding, by sha256.
    pub fn compiled_module(&self, sha256: &str) -> Option<Arc<PolicyModule>> {
        let kept = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().find(|m| m.sha256() == sha256).cloned()
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
