//! The wasmtime runtime: one engine with a pooling allocator, one linker,
//! module loading and validation, the compile cache, and the call path.

use super::bindings::{match_world, preflight_world, routing_world};
use super::decision::{CallStats, Decision, TraceLine};
use super::sandbox::{CallState, Limits, WaitRefused};
use super::{LoadError, PolicyError, Slot, builtin, convert};
use accord_policy_core::{
    AcceptSignal, CampaignStep, Enrollment, MatchOutcome, PreflightDecision, PreflightInput,
    ProspectIdentity, Route, RoutingInput, SkipReason, StampOnlyReason,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

/// A validated, compiled policy module, ready to instantiate.
pub struct PolicyModule {
    slot: Slot,
    sha256: Arc<str>,
    origin: String,
    pre: SlotPre,
    /// `accord_policy_calls_total{slot, module}`, resolved once at load.
    calls: metrics::Counter,
}

enum SlotPre {
    Match(match_world::MatchPolicyPre<CallState>),
    Routing(routing_world::RoutingPolicyPre<CallState>),
    Preflight(preflight_world::PreflightPolicyPre<CallState>),
}

impl PolicyModule {
    /// The slot it implements.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// Hex sha256 of its bytes: its identity.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Where it came from (a path, `builtin:…`, an upload).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule")
            .field("slot", &self.slot)
            .field("sha256", &self.sha256)
            .field("origin", &self.origin)
            .finish()
    }
}

/// The engine, linker and limits shared by every module and call.
pub struct PolicyRuntime {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    engine_tag: String,
    /// Each slot's built-in module, compiled on first need: the reference
    /// whose export types a module must match.
    references: [OnceLock<Component>; 3],
}

impl PolicyRuntime {
    /// A runtime with these limits, caching compiled modules in
    /// `cache_dir` when given.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, LoadError> {
        let engine = Engine::new(&engine_config(&limits))
            .map_err(|e| LoadError::Config(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        super::sandbox::link(&mut linker).map_err(|e| LoadError::Config(format!("{e:#}")))?;
        start_epoch_ticker(&engine)?;
        let engine_tag = engine_tag(&engine);
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).map_err(|source| LoadError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        Ok(PolicyRuntime {
            engine,
            linker,
            limits,
            cache_dir,
            engine_tag,
            references: Default::default(),
        })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Reads and loads a module file.
    pub fn load_file(
        &self,
        path: &Path,
        slot: Option<Slot>,
    ) -> Result<Arc<PolicyModule>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load(&bytes, &path.display().to_string(), slot)
    }

    /// Validates and compiles a module. With `slot` given the module must
    /// implement that slot's world; otherwise the slot is inferred from its
    /// exports.
    pub fn load(
        &self,
        bytes: &[u8],
        origin: &str,
        slot: Option<Slot>,
    ) -> Result<Arc<PolicyModule>, LoadError> {
        check_header(bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = self.compile(bytes, &sha256)?;
        let slot = self.check_exports(&component, slot)?;
        self.check_export_types(&component, slot, bytes)?;
        self.check_imports(&component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Incompatible(format!("{e:#}")))?;
        let typed = |e: wasmtime::Error| LoadError::Incompatible(format!("{e:#}"));
        let pre = match slot {
            Slot::Match => SlotPre::Match(match_world::MatchPolicyPre::new(pre).map_err(typed)?),
            Slot::Routing => {
                SlotPre::Routing(routing_world::RoutingPolicyPre::new(pre).map_err(typed)?)
            }
            Slot::Preflight => {
                SlotPre::Preflight(preflight_world::PreflightPolicyPre::new(pre).map_err(typed)?)
            }
        };
        let calls = metrics::counter!(
            "accord_policy_calls_total",
            "slot" => slot.as_str(),
            "module" => sha256[..12].to_string()
        );
        Ok(Arc::new(PolicyModule {
            slot,
            sha256: sha256.into(),
            origin: origin.to_string(),
            pre,
            calls,
        }))
    }

    /// Compiles, or reads the compiled artifact from the disk cache. The
    /// cache key is the module's sha256 plus the engine's compatibility
    /// hash (wasmtime version and every setting that affects codegen).
    fn compile(&self, bytes: &[u8], sha256: &str) -> Result<Component, LoadError> {
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes)
                .map_err(|e| LoadError::Compile(format!("{e:#}")));
        };
        let path = dir.join(format!("{sha256}-{}.cwasm", self.engine_tag));
        if path.exists() {
            match load_cached(&self.engine, &path) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "discarding unreadable compiled policy")
                }
            }
        }
        let artifact = self
            .engine
            .precompile_component(bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        if let Err(e) = write_atomically(dir, &path, &artifact) {
            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled policy");
        }
        load_cached(&self.engine, &path)
            .or_else(|_| Component::new(&self.engine, bytes))
            .map_err(|e| LoadError::Compile(format!("{e:#}")))
    }

    fn check_exports(
        &self,
        component: &Component,
        wanted: Option<Slot>,
    ) -> Result<Slot, LoadError> {
        let ty = component.component_type();
        let mut found = Vec::new();
        let mut other_versions = Vec::new();
        for (name, item) in ty.exports(&self.engine) {
            if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
                continue;
            }
            let Some((interface, version)) = parse_accord_name(name) else {
                continue;
            };
            match Slot::from_interface(interface) {
                Some(slot) if version == super::CONTRACT_VERSION => found.push(slot),
                Some(_) => other_versions.push(name.to_string()),
                None => {}
            }
        }
        let expected = match wanted {
            Some(slot) => format!(
                "a component exporting {} (world {})",
                slot.export_name(),
                slot.world()
            ),
            None => format!(
                "a component exporting one of {}",
                Slot::ALL.map(|s| s.export_name()).join(", ")
            ),
        };
        if found.is_empty() {
            if let Some(version) = other_versions.first() {
                return Err(LoadError::IncompatibleVersion {
                    expected: wanted.map_or_else(
                        || format!("accord:policy@{}", super::CONTRACT_VERSION),
                        |s| s.export_name(),
                    ),
                    found: version.clone(),
                });
            }
            let exports: Vec<&str> = ty.exports(&self.engine).map(|(n, _)| n).collect();
            return Err(LoadError::WrongWorld {
                expected,
                found: format!("the module exports [{}]", exports.join(", ")),
            });
        }
        match wanted {
            Some(slot) if found.contains(&slot) => Ok(slot),
            Some(_) => Err(LoadError::WrongWorld {
                expected,
                found: format!(
                    "the module implements {}",
                    found
                        .iter()
                        .map(|s| s.export_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
            None if found.len() == 1 => Ok(found[0]),
            None => Err(LoadError::AmbiguousSlot(format!(
                "the module exports several slots ({}); pass --slot",
                found
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Every function of the slot's interface must have the contract's
    /// full type. The bindings look functions up by name and check their
    /// types only when instantiating, so without this a module with one
    /// mistyped export loaded, became active and failed every call.
    fn check_export_types(
        &self,
        component: &Component,
        slot: Slot,
        bytes: &[u8],
    ) -> Result<(), LoadError> {
        let (reference_bytes, _) = builtin::for_slot(slot);
        let cell = &self.references[slot_index(slot)];
        if bytes == reference_bytes {
            // The built-in module is the reference itself.
            let _ = cell.set(component.clone());
            return Ok(());
        }
        let reference = match cell.get() {
            Some(reference) => reference,
            None => {
                let sha256 = hex::encode(Sha256::digest(reference_bytes));
                let compiled = self.compile(reference_bytes, &sha256)?;
                cell.get_or_init(|| compiled)
            }
        };
        let interface = slot.export_name();
        let expected = exported_functions(&self.engine, reference, &interface);
        let found = exported_functions(&self.engine, component, &interface);
        for (name, want) in &expected {
            let Some((_, have)) = found.iter().find(|(n, _)| n == name) else {
                return Err(LoadError::ExportType {
                    function: name.clone(),
                    interface,
                    found: "no such function".into(),
                    expected: format!("`{}`", signature(want)),
                });
            };
            if let Some((found, expected)) = signature_difference(have, want) {
                return Err(LoadError::ExportType {
                    function: name.clone(),
                    interface,
                    found,
                    expected,
                });
            }
        }
        Ok(())
    }

    fn check_imports(&self, component: &Component) -> Result<(), LoadError> {
        for (name, _) in component.component_type().imports(&self.engine) {
            if name.starts_with("wasi:") {
                continue;
            }
            match parse_accord_name(name) {
                Some((_, version)) if version == super::CONTRACT_VERSION => {}
                Some(_) => {
                    return Err(LoadError::IncompatibleVersion {
                        expected: format!("accord:policy/host@{}", super::CONTRACT_VERSION),
                        found: name.to_string(),
                    });
                }
                None => {
                    return Err(LoadError::Incompatible(format!(
                        "it imports `{name}`, which the host does not provide; a policy may import only \
                         accord:policy/host@{} and WASI",
                        super::CONTRACT_VERSION
                    )));
                }
            }
        }
        Ok(())
    }

    /// `prospect-keys`. Fail-safe: no keys (the prospect stays findable by
    /// the heal ticks, never matched wrongly).
    pub fn prospect_keys(
        &self,
        module: &PolicyModule,
        identity: &ProspectIdentity,
    ) -> Decision<Vec<String>> {
        let input = convert::identity(identity);
        self.match_call(
            module,
            size::identity(identity),
            Vec::new,
            |store, instance| {
                let strategy = instance.accord_policy_match_strategy();
                let keys = strategy
                    .call_prospect_keys(&mut *store, &input)
                    .map_err(CallFailure::Wasm)?;
                check_keys(store.data_mut(), keys)
            },
        )
    }

    /// `signal-keys`. Fail-safe: no keys (the signal is unmatched and traced).
    pub fn signal_keys(
        &self,
        module: &PolicyModule,
        signal: &AcceptSignal,
    ) -> Decision<Vec<String>> {
        let input = convert::signal(signal);
        self.match_call(module, size::signal(signal), Vec::new, |store, instance| {
            let strategy = instance.accord_policy_match_strategy();
            let keys = strategy
                .call_signal_keys(&mut *store, &input)
                .map_err(CallFailure::Wasm)?;
            check_keys(store.data_mut(), keys)
        })
    }

    /// A call into a fresh instance of a match module.
    fn match_call<T: Serialize + Send>(
        &self,
        module: &PolicyModule,
        input_size: usize,
        fail_safe: impl FnOnce() -> T,
        body: impl FnOnce(&mut Store<CallState>, &match_world::MatchPolicy) -> Result<T, CallFailure>
        + Send,
    ) -> Decision<T> {
        self.call(module, Slot::Match, input_size, fail_safe, |store, pre| {
            let SlotPre::Match(pre) = pre else {
                return Err(wrong_slot(module, Slot::Match));
            };
            let instance = pre.instantiate(&mut *store).map_err(instantiate)?;
            body(store, &instance)
        })
    }

    /// `resolve`. Fail-safe: unmatched.
    pub fn resolve(
        &self,
        module: &PolicyModule,
        signal: &AcceptSignal,
        candidates: &[Enrollment],
    ) -> Decision<MatchOutcome> {
        let size = size::signal(signal) + candidates.iter().map(size::enrollment).sum::<usize>();
        let wit_signal = convert::signal(signal);
        let wit_candidates: Vec<_> = candidates.iter().map(convert::enrollment).collect();
        let mut decision =
            self.match_call(module, size, MatchOutcome::default, |store, instance| {
                let strategy = instance.accord_policy_match_strategy();
                let outcome = strategy
                    .call_resolve(store, &wit_signal, &wit_candidates)
                    .map_err(CallFailure::Wasm)?;
                check_outcome(convert::match_outcome(outcome), candidates)
            });
        let trace = std::mem::take(&mut decision.value.trace);
        decision
            .trace
            .extend(trace.into_iter().map(|message| TraceLine {
                level: "info".into(),
                message,
            }));
        decision
    }

    /// Late-accept routing. Fail-safe: stamp only, no auto-fire.
    pub fn route(&self, module: &PolicyModule, input: &RoutingInput) -> Decision<Route> {
        let wit_input = convert::routing_input(input);
        let fail_safe = || Route::StampOnly {
            reason: StampOnlyReason::PolicyError,
            detail:
                "the routing policy failed; the accept is stamped, nothing is sent automatically"
                    .into(),
        };
        self.call(
            module,
            Slot::Routing,
            size::routing(input),
            fail_safe,
            |store, pre| {
                let SlotPre::Routing(pre) = pre else {
                    return Err(wrong_slot(module, Slot::Routing));
                };
                let instance = pre.instantiate(&mut *store).map_err(instantiate)?;
                let route = instance
                    .accord_policy_late_accept_routing()
                    .call_route(&mut *store, &wit_input)
                    .map_err(CallFailure::Wasm)?;
                check_route(convert::route(route), input)
            },
        )
    }

    /// Dispatch pre-flight. Fail-safe: a recoverable `policy_error` skip,
    /// retried by the skip-retry tick.
    pub fn preflight(
        &self,
        module: &PolicyModule,
        input: &PreflightInput,
    ) -> Decision<PreflightDecision> {
        let wit_input = convert::preflight_input(input);
        let fail_safe = || PreflightDecision::Skip {
            reason: SkipReason::PolicyError,
            recoverable: true,
            detail: "the pre-flight policy failed; the skip-retry tick will try again".into(),
        };
        self.call(
            module,
            Slot::Preflight,
            size::preflight(input),
            fail_safe,
            |store, pre| {
                let SlotPre::Preflight(pre) = pre else {
                    return Err(wrong_slot(module, Slot::Preflight));
                };
                let instance = pre.instantiate(&mut *store).map_err(instantiate)?;
                let decision = instance
                    .accord_policy_dispatch_preflight()
                    .call_check(&mut *store, &wit_input)
                    .map_err(CallFailure::Wasm)?;
                check_preflight(convert::preflight_decision(decision), input)
            },
        )
    }

    /// The call path shared by every slot: input cap, a fresh store with
    /// fuel and the memory limiter, the call, output checks, error
    /// classification, logging and metrics.
    fn call<T: Serialize + Send>(
        &self,
        module: &PolicyModule,
        slot: Slot,
        input_size: usize,
        fail_safe: impl FnOnce() -> T,
        body: impl FnOnce(&mut Store<CallState>, &SlotPre) -> Result<T, CallFailure> + Send,
    ) -> Decision<T> {
        let started = Instant::now();
        let mut store = Store::new(&self.engine, CallState::new(&self.limits));
        store.limiter(|state| &mut state.limiter);
        let fuel_set = store.set_fuel(self.limits.fuel);
        // The ticker advances the epoch every EPOCH_TICK: the call traps
        // once the deadline's ticks have passed, whatever it is doing.
        store.set_epoch_deadline(deadline_ticks(self.limits.deadline_ms));
        store.epoch_deadline_trap();
        // wasmtime checks each guest-to-host transfer against this before
        // copying it: a 14 MiB log message is refused, not lifted.
        store.set_hostcall_fuel(self.limits.max_transfer_bytes);
        store.set_max_component_handles(super::sandbox::MAX_HANDLES);
        let outcome = if input_size > self.limits.max_input_bytes {
            Err(PolicyError::InputTooLarge {
                size: input_size,
                limit: self.limits.max_input_bytes,
            })
        } else if let Err(e) = fuel_set {
            Err(PolicyError::Instantiate(format!("{e:#}")))
        } else {
            outside_async(|| body(&mut store, &module.pre))
                .map_err(|failure| self.classify(failure, store.data()))
                .and_then(|value| {
                    let size = json_size(&value);
                    if size > self.limits.max_output_bytes {
                        Err(PolicyError::OutputTooLarge {
                            size,
                            limit: self.limits.max_output_bytes,
                        })
                    } else {
                        Ok(value)
                    }
                })
        };
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data_mut();
        let stats = CallStats {
            fuel_used: self.limits.fuel.saturating_sub(fuel_left),
            elapsed: started.elapsed(),
            peak_memory_bytes: state.limiter.peak,
        };
        let mut trace = state.take_trace();
        let dropped = state.dropped.take();
        module.calls.increment(1);
        match outcome {
            Ok(value) => {
                if let Some(dropped) = &dropped {
                    tracing::warn!(
                        slot = slot.as_str(),
                        module_sha256 = %module.sha256,
                        module_origin = %module.origin,
                        error = %dropped,
                        "part of a policy's answer dropped; the rest is used"
                    );
                    trace.push(TraceLine {
                        level: "warn".into(),
                        message: format!("host: {dropped}"),
                    });
                }
                Decision {
                    value,
                    error: None,
                    dropped,
                    trace,
                    stats,
                    module_sha256: module.sha256.clone(),
                }
            }
            Err(error) => {
                tracing::warn!(
                    slot = slot.as_str(),
                    module_sha256 = %module.sha256,
                    module_origin = %module.origin,
                    kind = error.kind(),
                    error = %error,
                    "policy call failed; using the slot's fail-safe default"
                );
                let labels = [
                    ("slot", slot.as_str().to_string()),
                    ("module", module.sha256[..12].to_string()),
                    ("kind", error.kind().to_string()),
                ];
                metrics::counter!("accord_policy_failures_total", &labels).increment(1);
                trace.push(TraceLine {
                    level: "error".into(),
                    message: format!("host: policy failed ({error}); fail-safe default used"),
                });
                Decision {
                    value: fail_safe(),
                    error: Some(error),
                    dropped: None,
                    trace,
                    stats,
                    module_sha256: module.sha256.clone(),
                }
            }
        }
    }

    fn classify(&self, failure: CallFailure, state: &CallState) -> PolicyError {
        let err = match failure {
            CallFailure::Policy(e) => return e,
            CallFailure::Wasm(err) => err,
        };
        if let Some(requested) = state.limiter.refused {
            return PolicyError::MemoryLimit {
                requested,
                limit: self.limits.memory_bytes,
            };
        }
        if let Some(refused) = err.downcast_ref::<WaitRefused>() {
            return PolicyError::Wait(refused.to_string());
        }
        // wasmtime's error for an exhausted transfer cap is a private type:
        // recognised by its text (wasmtime is pinned; a test pins the kind).
        if err
            .chain()
            .any(|e| e.to_string().contains("fuel allocated for hostcalls"))
        {
            return PolicyError::TransferTooLarge {
                limit: self.limits.max_transfer_bytes,
            };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PolicyError::FuelExhausted {
                limit: self.limits.fuel,
            },
            Some(Trap::Interrupt) => PolicyError::DeadlineExceeded {
                limit_ms: self.limits.deadline_ms,
            },
            Some(trap) => PolicyError::Trap {
                message: trap.to_string(),
                panic: state.panic_message(),
            },
            None => PolicyError::Trap {
                message: format!("{err:#}"),
                panic: state.panic_message(),
            },
        }
    }
}

/// Why the body of a call failed: the guest (classified later, with the
/// store's state at hand) or a contract check.
enum CallFailure {
    Wasm(wasmtime::Error),
    Policy(PolicyError),
}

fn instantiate(e: wasmtime::Error) -> CallFailure {
    CallFailure::Policy(PolicyError::Instantiate(format!("{e:#}")))
}

fn wrong_slot(module: &PolicyModule, called: Slot) -> CallFailure {
    CallFailure::Policy(PolicyError::WrongSlot {
        called,
        actual: module.slot,
    })
}

fn invalid(msg: String) -> CallFailure {
    CallFailure::Policy(PolicyError::InvalidOutput(msg))
}

/// Keys per `prospect-keys` or `signal-keys` answer (the WIT contract).
const MAX_KEYS: usize = 16;
/// Bytes per key (the WIT contract).
const MAX_KEY_BYTES: usize = 256;

/// At most 16 keys of 1 to 256 bytes (the WIT contract). More than 16 is
/// a malformed answer; a key of the wrong size is dropped and noted in
/// `state`, and the others are used: one bad key (an over-long URL's,
/// say) must not cost a prospect the keys it can be matched by.
fn check_keys(state: &mut CallState, keys: Vec<String>) -> Result<Vec<String>, CallFailure> {
    if keys.len() > MAX_KEYS {
        return Err(invalid(format!(
            "{} keys returned, at most {MAX_KEYS} are allowed",
            keys.len()
        )));
    }
    let returned = keys.len();
    let (good, bad): (Vec<String>, Vec<String>) = keys
        .into_iter()
        .partition(|k| !k.is_empty() && k.len() <= MAX_KEY_BYTES);
    if !bad.is_empty() {
        let sizes: Vec<String> = bad.iter().map(|k| k.len().to_string()).collect();
        state.dropped = Some(PolicyError::InvalidOutput(format!(
            "{} of {returned} keys dropped, of {} bytes: keys must be 1 to {MAX_KEY_BYTES} bytes",
            bad.len(),
            sizes.join(", ")
        )));
    }
    Ok(good)
}

/// Every match names a candidate and a kebab-case strategy.
fn check_outcome(
    outcome: MatchOutcome,
    candidates: &[Enrollment],
) -> Result<MatchOutcome, CallFailure> {
    for m in &outcome.matches {
        if !candidates
            .iter()
            .any(|c| c.enrollment_id == m.enrollment_id)
        {
            return Err(invalid(format!(
                "matched `{}`, which is not one of the candidates",
                m.enrollment_id
            )));
        }
        let valid_name = !m.strategy.is_empty()
            && m.strategy.len() <= 64
            && m.strategy
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            return Err(invalid(format!(
                "strategy name `{}` must be 1-64 chars of [a-z0-9-]",
                m.strategy
            )));
        }
    }
    Ok(outcome)
}

/// A late auto-fire must point at a send-message step of the campaign.
fn check_route(route: Route, input: &RoutingInput) -> Result<Route, CallFailure> {
    if let Route::LateAutoFire { step_index } = route {
        let step = input.campaign.steps.get(step_index as usize);
        if !matches!(step, Some(CampaignStep::SendMessage)) {
            return Err(invalid(format!(
                "late-auto-fire({step_index}) does not name a send-message step"
            )));
        }
    }
    Ok(route)
}

/// An enqueue must be for the step asked about, not before 24 h ago nor
/// more than 90 days ahead.
fn check_preflight(
    decision: PreflightDecision,
    input: &PreflightInput,
) -> Result<PreflightDecision, CallFailure> {
    const DAY_MS: i64 = 86_400_000;
    if let PreflightDecision::Enqueue {
        step_index,
        not_before,
    } = decision
    {
        if step_index != input.step_index {
            return Err(invalid(format!(
                "enqueue names step {step_index}, pre-flight was asked about step {}",
                input.step_index
            )));
        }
        if not_before < input.now - DAY_MS || not_before > input.now + 90 * DAY_MS {
            return Err(invalid(format!(
                "not-before {not_before} is outside [now - 1 day, now + 90 days]"
            )));
        }
    }
    Ok(decision)
}

/// Size of a value's JSON encoding, without allocating it.
fn json_size<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

fn slot_index(slot: Slot) -> usize {
    match slot {
        Slot::Match => 0,
        Slot::Routing => 1,
        Slot::Preflight => 2,
    }
}

/// The functions `component` exports in `interface`, by name.
fn exported_functions(
    engine: &Engine,
    component: &Component,
    interface: &str,
) -> Vec<(String, ComponentFunc)> {
    let ty = component.component_type();
    let Some(export) = ty.get_export(engine, interface) else {
        return Vec::new();
    };
    let ComponentItem::ComponentInstance(instance) = export.ty else {
        return Vec::new();
    };
    instance
        .exports(engine)
        .filter_map(|(name, item)| match item.ty {
            ComponentItem::ComponentFunc(f) => Some((name.to_string(), f)),
            _ => None,
        })
        .collect()
}

/// The first part where `have` differs from `want`, described in WIT as
/// (module's, contract's); `None` when the types are the same.
fn signature_difference(have: &ComponentFunc, want: &ComponentFunc) -> Option<(String, String)> {
    let (have_params, want_params): (Vec<_>, Vec<_>) =
        (have.params().collect(), want.params().collect());
    let (have_results, want_results): (Vec<_>, Vec<_>) =
        (have.results().collect(), want.results().collect());
    if have_params.len() != want_params.len() || have_results.len() != want_results.len() {
        return Some((
            format!("type `{}`", signature(have)),
            format!("`{}`", signature(want)),
        ));
    }
    for ((name, have), (_, want)) in have_params.iter().zip(&want_params) {
        if have != want {
            return Some((
                format!("parameter `{name}` of type `{}`", wit_type(have)),
                format!("`{}`", wit_type(want)),
            ));
        }
    }
    for (have, want) in have_results.iter().zip(&want_results) {
        if have != want {
            return Some((
                format!("result type `{}`", wit_type(have)),
                format!("`{}`", wit_type(want)),
            ));
        }
    }
    None
}

/// A function type in WIT syntax.
fn signature(f: &ComponentFunc) -> String {
    let params: Vec<String> = f
        .params()
        .map(|(name, ty)| format!("{name}: {}", wit_type(&ty)))
        .collect();
    let results: Vec<String> = f.results().map(|ty| wit_type(&ty)).collect();
    match results.as_slice() {
        [] => format!("func({})", params.join(", ")),
        [one] => format!("func({}) -> {one}", params.join(", ")),
        many => format!("func({}) -> ({})", params.join(", "), many.join(", ")),
    }
}

/// A value type in WIT syntax (records, variants and enums spelled out:
/// component types are structural and carry no names).
fn wit_type(ty: &Type) -> String {
    let list = |items: Vec<String>| items.join(", ");
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", wit_type(&l.ty())),
        Type::Option(o) => format!("option<{}>", wit_type(&o.ty())),
        Type::Result(r) => {
            let side = |t: Option<Type>| t.map_or_else(|| "_".to_string(), |t| wit_type(&t));
            format!("result<{}, {}>", side(r.ok()), side(r.err()))
        }
        Type::Tuple(t) => format!("tuple<{}>", list(t.types().map(|t| wit_type(&t)).collect())),
        Type::Record(r) => format!(
            "record {{ {} }}",
            list(
                r.fields()
                    .map(|f| format!("{}: {}", f.name, wit_type(&f.ty)))
                    .collect()
            )
        ),
        Type::Variant(v) => format!(
            "variant {{ {} }}",
            list(
                v.cases()
                    .map(|c| match &c.ty {
                        Some(t) => format!("{}({})", c.name, wit_type(t)),
                        None => c.name.to_string(),
                    })
                    .collect()
            )
        ),
        Type::Enum(e) => format!(
            "enum {{ {} }}",
            list(e.names().map(str::to_string).collect())
        ),
        Type::Flags(f) => format!(
            "flags {{ {} }}",
            list(f.names().map(str::to_string).collect())
        ),
        other => format!("{other:?}"),
    }
}

/// `accord:policy/match-strategy@0.1.0` → (`match-strategy`, `0.1.0`).
fn parse_accord_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("accord:policy/")?;
    Some(rest.split_once('@').unwrap_or((rest, "")))
}

fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm(format!(
            "the file does not start with the \\0asm magic ({} bytes)",
            bytes.len()
        )));
    }
    // Core modules are version 1 (01 00 00 00); components have layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

fn engine_config(limits: &Limits) -> Config {
    let instances = limits.max_concurrent.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances * 8)
        .total_memories(instances * 2)
        .total_tables(instances * 4)
        .max_memory_size(limits.memory_bytes)
        // Keeping the first pages of each slot resident avoids page faults
        // on the next instantiation (3-4x the throughput on 2 cores).
        .linear_memory_keep_resident(limits.keep_resident_bytes)
        .table_keep_resident(64 << 10);
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(limits.max_wasm_stack);
    config
}

/// How often the engine's epoch advances: the deadline's granularity.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Epoch ticks until a call's deadline (at least one: a store without a
/// deadline is interrupted at once). The call traps between
/// `deadline - EPOCH_TICK` and the deadline.
fn deadline_ticks(deadline_ms: u64) -> u64 {
    deadline_ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1)
}

/// One thread per engine advances its epoch every [`EPOCH_TICK`]; it ends
/// once the engine is dropped (it holds only a weak reference).
fn start_epoch_ticker(engine: &Engine) -> Result<(), LoadError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("accord-policy-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .map(drop)
        .map_err(|e| LoadError::Config(format!("cannot start the epoch ticker: {e}")))
}

/// A stable tag of everything that makes a compiled artifact (in)valid for
/// this engine.
fn engine_tag(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl std::hash::Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = ShaHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

#[allow(unsafe_code)]
fn load_cached(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file is an artifact this process (or an earlier run with
    // the same engine tag) wrote with `precompile_component` into the cache
    // directory Accord owns; wasmtime still checks its header and engine
    // compatibility. The cache directory must not be writable by others.
    unsafe { Component::deserialize_file(engine, path) }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Approximate encoded sizes of inputs: the strings' bytes plus a fixed
/// allowance per record. Cheap enough to run on every call, close enough
/// for a cap measured in hundreds of KiB.
mod size {
    use accord_policy_core::*;

    fn s(o: &Option<String>) -> usize {
        o.as_ref().map_or(0, String::len)
    }

    pub(super) fn signal(x: &AcceptSignal) -> usize {
        64 + x.linkedin_account_id.len()
            + s(&x.member_id)
            + s(&x.public_identifier)
            + s(&x.profile_url)
            + s(&x.full_name)
    }

    pub(super) fn identity(x: &ProspectIdentity) -> usize {
        32 + s(&x.profile_url)
            + s(&x.member_id)
            + s(&x.sales_nav_lead_url)
            + s(&x.public_identifier)
            + s(&x.invited_provider_id)
    }

    pub(super) fn enrollment(x: &Enrollment) -> usize {
        128 + x.enrollment_id.len()
            + x.campaign_id.len()
            + identity(&x.identity)
            + x.invite.as_ref().map_or(0, |i| 16 + i.provider_id.len())
    }

    pub(super) fn routing(x: &RoutingInput) -> usize {
        signal(&x.signal)
            + enrollment(&x.enrollment)
            + 32
            + x.campaign.campaign_id.len()
            + 16 * x.campaign.steps.len()
    }

    pub(super) fn preflight(x: &PreflightInput) -> usize {
        128 + x.enrollment_id.len() + x.campaign_id.len()
    }
}

thread_local! {
    /// Set while this thread runs outside the async scheduler's reach
    /// (inside [`outside_async`]): nested calls need no hand-off.
    static OUTSIDE_ASYNC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `calls`, a run of policy decisions, with one hand-off of the
/// async worker thread for all of them instead of one per decision (see
/// [`outside_async`]). The pipeline wraps each phase of a batch in it:
/// the hand-off wakes a thread, and costs more than a routing decision.
pub fn calls_together<R: Send>(calls: impl FnOnce() -> R + Send) -> R {
    outside_async(calls)
}

/// Runs a guest call where wasmtime-wasi's synchronous bindings may block
/// on their own: they `block_on` an ambient tokio runtime for every WASI
/// call (a guest panic writing to stderr, say), which panics on a thread
/// that is driving async tasks. On a multi-threaded runtime the call runs
/// under `block_in_place`; on a current-thread runtime on a scoped thread;
/// outside tokio, or already inside one of these, directly.
fn outside_async<R: Send>(call: impl FnOnce() -> R + Send) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if OUTSIDE_ASYNC.get() {
        return call();
    }
    let marked = move || {
        let _outside = OutsideAsync::enter();
        call()
    };
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => marked(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(marked),
        Ok(_) => std::thread::scope(|scope| match scope.spawn(marked).join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

/// Marks the thread as outside the scheduler until dropped (also when a
/// call unwinds, so a worker thread is never left marked).
struct OutsideAsync;

impl OutsideAsync {
    fn enter() -> Self {
        OUTSIDE_ASYNC.set(true);
        OutsideAsync
    }
}

impl Drop for OutsideAsync {
    fn drop(&mut self) {
        OUTSIDE_ASYNC.set(false);
    }
}
