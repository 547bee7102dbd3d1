//! The call path: a fresh store under every limit, one export called,
//! the answer checked, and a failure turned into the slot's fail-safe.

use super::answers::{check_keys, check_outcome, check_preflight, check_route, json_size, size};
use super::engine::deadline_ticks;
use super::guest_message::guest_message;
use super::outside_async::outside_async;
use super::{PolicyModule, PolicyRuntime, SlotPre};
use crate::bindings::match_world;
use crate::decision::{CallStats, Decision, TraceLine};
use crate::error::PolicyError;
use crate::module_limits::ModuleLimits;
use crate::sandbox::{CallState, MAX_HANDLES, WaitRefused};
use crate::slot::Slot;
use accord_policy_core::convert::Convert;
use accord_policy_core::{
    AcceptSignal, Enrollment, MatchOutcome, PreflightDecision, PreflightInput, ProspectIdentity,
    Route, RoutingInput, SkipReason, StampOnlyReason,
};
use serde::Serialize;
use std::time::Instant;
use wasmtime::{Store, Trap};

impl PolicyRuntime {
    /// `prospect-keys`. Fail-safe: no keys (the prospect stays findable by
    /// the heal ticks, never matched wrongly).
    pub fn prospect_keys(
        &self,
        module: &PolicyModule,
        identity: &ProspectIdentity,
    ) -> Decision<Vec<String>> {
        let input = identity.clone().convert();
        self.match_call(
            module,
            size::identity(identity),
            Vec::new,
            |store, instance| {
                let strategy = instance.accord_policy_match_strategy();
                let keys = strategy
                    .call_prospect_keys(&mut *store, &input)
                    .map_err(CallFailure::Wasm)?;
                check_keys(store.data_mut(), keys).map_err(CallFailure::Policy)
            },
        )
    }

    /// `signal-keys`. Fail-safe: no keys (the signal is unmatched and traced).
    pub fn signal_keys(
        &self,
        module: &PolicyModule,
        signal: &AcceptSignal,
    ) -> Decision<Vec<String>> {
        let input = signal.clone().convert();
        self.match_call(module, size::signal(signal), Vec::new, |store, instance| {
            let strategy = instance.accord_policy_match_strategy();
            let keys = strategy
                .call_signal_keys(&mut *store, &input)
                .map_err(CallFailure::Wasm)?;
            check_keys(store.data_mut(), keys).map_err(CallFailure::Policy)
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
        let wit_signal = signal.clone().convert();
        let wit_candidates: Vec<_> = candidates.to_vec().convert();
        let mut decision =
            self.match_call(module, size, MatchOutcome::default, |store, instance| {
                let strategy = instance.accord_policy_match_strategy();
                let outcome = strategy
                    .call_resolve(store, &wit_signal, &wit_candidates)
                    .map_err(CallFailure::Wasm)?;
                check_outcome(outcome.convert(), candidates).map_err(CallFailure::Policy)
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
        let wit_input = input.clone().convert();
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
                check_route(route.convert(), input).map_err(CallFailure::Policy)
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
        let wit_input = input.clone().convert();
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
                check_preflight(decision.convert(), input).map_err(CallFailure::Policy)
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
        let limits = module.limits.effective;
        let transfer = self.transfer_cap(&limits);
        let mut store = Store::new(&self.engine, CallState::new(limits.memory_bytes));
        store.limiter(|state| &mut state.limiter);
        let fuel_set = store.set_fuel(limits.fuel);
        // The ticker advances the epoch every EPOCH_TICK: the call traps
        // once the deadline's ticks have passed, whatever it is doing.
        store.set_epoch_deadline(deadline_ticks(limits.deadline_ms));
        store.epoch_deadline_trap();
        // wasmtime checks each guest-to-host transfer against this before
        // copying it: a 14 MiB log message is refused, not lifted.
        store.set_hostcall_fuel(transfer);
        store.set_max_component_handles(MAX_HANDLES);
        let outcome = if input_size > self.limits.max_input_bytes {
            Err(PolicyError::InputTooLarge {
                size: input_size,
                limit: self.limits.max_input_bytes,
            })
        } else if let Err(e) = fuel_set {
            Err(PolicyError::Instantiate(format!("{e:#}")))
        } else {
            outside_async(|| body(&mut store, &module.pre))
                .map_err(|failure| classify(failure, store.data(), &limits, transfer))
                .and_then(|value| {
                    let size = json_size(&value);
                    if size > limits.max_output_bytes {
                        Err(PolicyError::OutputTooLarge {
                            size,
                            limit: limits.max_output_bytes,
                        })
                    } else {
                        Ok(value)
                    }
                })
        };
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data_mut();
        let stats = CallStats {
            fuel_used: limits.fuel.saturating_sub(fuel_left),
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

    /// Bytes one call may pass to the host: four times its output cap
    /// (each list element is counted at its size in host memory), at
    /// most the host's transfer cap.
    fn transfer_cap(&self, limits: &ModuleLimits) -> usize {
        limits
            .max_output_bytes
            .saturating_mul(4)
            .min(self.limits.max_transfer_bytes)
    }
}

/// Names a guest's failure by its cause, read from the store's state
/// first: a limit it hit, a refused wait, the transfer cap, a trap.
fn classify(
    failure: CallFailure,
    state: &CallState,
    limits: &ModuleLimits,
    transfer: usize,
) -> PolicyError {
    let err = match failure {
        // A module whose initial memory is over its cap fails to
        // instantiate: that is its memory limit too.
        CallFailure::Policy(PolicyError::Instantiate(_)) if state.limiter.refused.is_some() => {
            return PolicyError::MemoryLimit {
                requested: state.limiter.refused.unwrap_or_default(),
                limit: limits.memory_bytes,
            };
        }
        CallFailure::Policy(e) => return e,
        CallFailure::Wasm(err) => err,
    };
    if let Some(requested) = state.limiter.refused {
        return PolicyError::MemoryLimit {
            requested,
            limit: limits.memory_bytes,
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
        return PolicyError::TransferTooLarge { limit: transfer };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => PolicyError::FuelExhausted { limit: limits.fuel },
        Some(Trap::Interrupt) => PolicyError::DeadlineExceeded {
            limit_ms: limits.deadline_ms,
        },
        Some(trap) => PolicyError::Trap {
            message: trap.to_string(),
            panic: guest_message(&state.stderr.contents()),
        },
        None => PolicyError::Trap {
            message: format!("{err:#}"),
            panic: guest_message(&state.stderr.contents()),
        },
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
