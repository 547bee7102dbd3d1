//! Hostile guests in every slot: each is contained with its typed error,
//! the caller gets the slot's fail-safe default, and the next call on a
//! good module succeeds.

use crate::support::*;
use accord::policy::{PolicyError, PolicyRuntime, Slot};
use accord_policy_core::*;

/// Runs `mode` through the hostile match guest's `signal-keys` and checks
/// the fail-safe (no keys), then that a default module still decides.
fn contained_in_match(rt: &PolicyRuntime, mode: &str) -> PolicyError {
    let hostile = guest_module(rt, "hostile_match", Slot::Match);
    let d = rt.signal_keys(&hostile, &signal(mode));
    let error = d
        .error
        .unwrap_or_else(|| panic!("mode {mode}: expected an error, got {:?}", d.value));
    assert!(d.value.is_empty(), "fail-safe for signal-keys is no keys");
    assert_eq!(&*d.module_sha256, hostile.sha256());
    assert!(d.trace.iter().any(|l| l.message.contains("fail-safe")));
    next_call_succeeds(rt);
    error
}

fn next_call_succeeds(rt: &PolicyRuntime) {
    let good = default_module(rt, Slot::Match);
    let d = rt.resolve(&good, &signal("Julien"), &[enrollment("e1")]);
    assert!(d.error.is_none(), "{:?}", d.error);
    assert_eq!(d.value.matches.len(), 1);
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let rt = runtime();
    let e = contained_in_match(&rt, "loop");
    assert!(
        matches!(e, PolicyError::FuelExhausted { limit: 5_000_000 }),
        "{e:?}"
    );
}

#[test]
fn unbounded_memory_growth_hits_the_memory_limit() {
    let rt = runtime();
    let e = contained_in_match(&rt, "grow");
    match e {
        PolicyError::MemoryLimit { requested, limit } => {
            // A Rust module is of the `compiled` kind: 4 MiB by default.
            assert_eq!(limit, 4 << 20);
            assert!(requested > limit);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_module_declared_with_more_memory_grows_to_its_declaration() {
    let rt = runtime();
    let declared = accord::policy::DeclaredLimits {
        memory_bytes: Some(8 << 20),
        ..Default::default()
    };
    let hostile = rt
        .load_file_declared(&test_guest("hostile_match"), Some(Slot::Match), declared)
        .unwrap();
    let limits = hostile.limits();
    assert_eq!(limits.kind, accord::policy::ModuleKind::Compiled);
    assert_eq!(limits.effective.memory_bytes, 8 << 20);
    assert_eq!(
        limits.sources.memory_bytes,
        accord::policy::LimitSource::Declared
    );
    // The runtime's 5 M fuel is below the kind's 10 M default: the host's
    // maximum wins.
    assert_eq!(limits.effective.fuel, 5_000_000);
    assert_eq!(
        limits.sources.fuel,
        accord::policy::LimitSource::HostMaximum
    );
    let d = rt.signal_keys(&hostile, &signal("grow"));
    match d.error {
        Some(PolicyError::MemoryLimit { requested, limit }) => {
            assert_eq!(limit, 8 << 20);
            assert!(requested > limit);
        }
        other => panic!("{other:?}"),
    }
    // Its peak: past the 4 MiB a module of its kind gets by default.
    assert!(d.stats.peak_memory_bytes > 4 << 20, "{:?}", d.stats);
}

#[test]
fn deep_recursion_traps() {
    // Rust's shadow stack lives in linear memory: it runs off the bottom
    // (an out-of-bounds access) before wasm's own stack limit is reached.
    let rt = runtime();
    match contained_in_match(&rt, "recurse") {
        PolicyError::Trap { message, .. } => {
            assert!(
                message.contains("out of bounds") || message.contains("stack"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn panic_is_a_trap_carrying_the_guest_message() {
    let rt = runtime();
    match contained_in_match(&rt, "panic") {
        PolicyError::Trap { panic, .. } => {
            let panic = panic.expect("the panic message is captured");
            assert!(
                panic.contains("hostile guest panicked on purpose"),
                "{panic}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn exit_is_a_trap() {
    let rt = runtime();
    assert!(matches!(
        contained_in_match(&rt, "exit"),
        PolicyError::Trap { .. }
    ));
}

#[test]
fn a_sleep_fails_the_decision_at_once() {
    // std::thread::sleep is a monotonic-clock subscription the guest
    // blocks on: it must neither wait (fuel does not move while it does)
    // nor pass for a decision.
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_match", Slot::Match);
    let d = rt.signal_keys(&hostile, &signal("sleep"));
    assert!(
        d.stats.elapsed < std::time::Duration::from_secs(1),
        "the guest slept for {:?}",
        d.stats.elapsed
    );
    assert!(d.value.is_empty(), "fail-safe: no keys");
    let e = d.error.expect("a sleeping policy fails");
    assert_eq!(e.kind(), "wait", "{e:?}");
    assert!(e.to_string().contains("10000 ms"), "{e}");
    next_call_succeeds(&rt);
}

#[test]
fn a_slow_decision_is_interrupted_at_its_deadline() {
    // Fuel for minutes of work: only the wall-clock deadline can stop it.
    let rt = PolicyRuntime::new(
        accord::policy::Limits {
            fuel: 200_000_000_000,
            deadline_ms: 100,
            max_concurrent: 4,
            ..accord::policy::Limits::default()
        },
        None,
    )
    .unwrap();
    // The module declares that fuel (its kind's default is 10 M) and gets
    // the host's 100 ms deadline, below the kind's 500 ms.
    let declared = accord::policy::DeclaredLimits {
        fuel: Some(200_000_000_000),
        ..Default::default()
    };
    let hostile = rt
        .load_file_declared(&test_guest("hostile_match"), Some(Slot::Match), declared)
        .unwrap();
    let started = std::time::Instant::now();
    let d = rt.signal_keys(&hostile, &signal("loop"));
    let elapsed = started.elapsed();
    let error = d.error.expect("the loop is stopped");
    assert_eq!(error.kind(), "deadline", "{error:?}");
    assert!(error.to_string().contains("100 ms"), "{error}");
    assert!(d.value.is_empty(), "fail-safe: no keys");
    assert!(
        elapsed >= std::time::Duration::from_millis(90)
            && elapsed < std::time::Duration::from_secs(2),
        "{elapsed:?}"
    );
    next_call_succeeds(&rt);
}

#[test]
fn too_many_keys_is_invalid_output() {
    let rt = runtime();
    match contained_in_match(&rt, "many-keys") {
        PolicyError::InvalidOutput(m) => assert!(m.contains("17 keys"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_bad_key_does_not_discard_the_good_ones() {
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_match", Slot::Match);
    let identity = ProspectIdentity {
        public_identifier: Some("long-key".into()),
        ..ProspectIdentity::default()
    };
    let d = rt.prospect_keys(&hostile, &identity);
    assert_eq!(d.value, vec!["good-key".to_string()], "{:?}", d.error);
    assert!(
        d.error.is_none(),
        "the policy's answer is used: {:?}",
        d.error
    );
    assert!(
        d.trace
            .iter()
            .any(|l| l.level == "warn" && l.message.contains("300 bytes")),
        "the dropped key is traced: {:?}",
        d.trace
    );
}

#[test]
fn oversized_output_is_refused() {
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_match", Slot::Match);
    let d = rt.resolve(&hostile, &signal("huge"), &[enrollment("e1")]);
    assert!(
        matches!(
            d.error,
            Some(PolicyError::OutputTooLarge { limit: 65_536, .. })
        ),
        "{:?}",
        d.error
    );
    assert!(d.value.matches.is_empty(), "fail-safe: unmatched");
    next_call_succeeds(&rt);
}

#[test]
fn oversized_input_is_refused_before_the_call() {
    let rt = runtime();
    let good = default_module(&rt, Slot::Match);
    let many: Vec<_> = (0..5000)
        .map(|i| enrollment(&format!("enrollment-{i}")))
        .collect();
    let d = rt.resolve(&good, &signal("x"), &many);
    assert!(
        matches!(d.error, Some(PolicyError::InputTooLarge { .. })),
        "{:?}",
        d.error
    );
    assert_eq!(d.stats.fuel_used, 0, "the guest never ran");
}

#[test]
fn matching_a_stranger_or_a_bad_strategy_name_is_invalid_output() {
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_match", Slot::Match);
    for mode in ["stranger", "bad-strategy"] {
        let d = rt.resolve(&hostile, &signal(mode), &[enrollment("e1")]);
        assert!(
            matches!(d.error, Some(PolicyError::InvalidOutput(_))),
            "{mode}: {:?}",
            d.error
        );
        assert!(d.value.matches.is_empty());
    }
}

#[test]
fn log_flood_is_capped() {
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_match", Slot::Match);
    let d = rt.signal_keys(&hostile, &signal("log-flood"));
    assert!(d.error.is_none(), "{:?}", d.error);
    assert_eq!(d.trace.len(), 65, "64 lines and a note");
    assert!(d.trace.iter().all(|l| l.message.len() <= 1024 + 3));
    assert!(
        d.trace[64]
            .message
            .contains("136 further log lines dropped"),
        "{}",
        d.trace[64].message
    );
}

/// Host bytes a decision's trace holds (what outlives the call).
fn trace_bytes(d: &accord::policy::Decision<Vec<String>>) -> usize {
    d.trace
        .iter()
        .map(|l| l.message.capacity() + l.level.capacity())
        .sum()
}

#[test]
fn a_huge_log_message_is_refused_before_it_is_copied() {
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_match", Slot::Match);
    let d = rt.signal_keys(&hostile, &signal("log-huge"));
    let error = d.error.clone().expect("a 1 MiB log message fails the call");
    assert_eq!(error.kind(), "transfer_too_large", "{error:?}");
    assert!(error.to_string().contains("262144 bytes"), "{error}");
    assert!(d.value.is_empty(), "fail-safe: no keys");
    let held = trace_bytes(&d);
    assert!(held < 4096, "the trace holds {held} bytes");
    assert!(
        d.stats.elapsed < std::time::Duration::from_millis(250),
        "{:?}",
        d.stats.elapsed
    );
    next_call_succeeds(&rt);
}

#[test]
fn an_endless_log_stream_is_charged_and_bounded() {
    // Each kept line costs fuel for its bytes, so the stream ends on the
    // guest's own budget long before the deadline (where it ended before);
    // what the host keeps is at most 64 lines of 1 KiB.
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_match", Slot::Match);
    let d = rt.signal_keys(&hostile, &signal("log-stream"));
    let error = d.error.clone().expect("an endless stream fails the call");
    assert_eq!(error.kind(), "fuel_exhausted", "{error:?}");
    assert!(d.value.is_empty(), "fail-safe: no keys");
    let held = trace_bytes(&d);
    assert!(
        held <= 64 * (1024 + 3 + 8) + 1024,
        "the trace holds {held} bytes"
    );
    assert!(
        d.stats.elapsed < std::time::Duration::from_millis(250),
        "{:?}",
        d.stats.elapsed
    );
    next_call_succeeds(&rt);
}

#[test]
fn guests_see_no_files_no_environment_no_clock() {
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_match", Slot::Match);
    let seen = |mode: &str| {
        let d = rt.signal_keys(&hostile, &signal(mode));
        assert!(d.error.is_none(), "{mode}: {:?}", d.error);
        d.value.join(",")
    };
    assert!(seen("file").starts_with("file:denied:"), "{}", seen("file"));
    assert_eq!(seen("env"), "env:0");
    assert_eq!(seen("clock"), "clock:0");
}

#[test]
fn each_state_is_fresh() {
    // A trap poisons a store; the next call must not notice.
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_match", Slot::Match);
    for _ in 0..3 {
        assert!(rt.signal_keys(&hostile, &signal("panic")).error.is_some());
        let d = rt.signal_keys(&hostile, &signal("benign"));
        assert_eq!(d.value, vec!["hostile".to_string()]);
    }
}

#[test]
fn routing_failures_fall_back_to_stamp_only() {
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_routing", Slot::Routing);
    for mode in ["loop", "grow", "recurse", "panic"] {
        let d = rt.route(&hostile, &routing_input(mode));
        assert!(d.error.is_some(), "{mode}");
        assert!(
            matches!(
                d.value,
                Route::StampOnly {
                    reason: StampOnlyReason::PolicyError,
                    ..
                }
            ),
            "{mode}: {:?}",
            d.value
        );
    }
    // late-auto-fire(0) names the send_invite step: a contract violation.
    let d = rt.route(&hostile, &routing_input("benign"));
    assert!(
        matches!(d.error, Some(PolicyError::InvalidOutput(_))),
        "{:?}",
        d.error
    );
    let d = rt.route(&hostile, &routing_input("advance"));
    assert_eq!(d.value, Route::Advance);
    let good = default_module(&rt, Slot::Routing);
    assert_eq!(rt.route(&good, &routing_input("e1")).value, Route::Advance);
}

#[test]
fn preflight_failures_fall_back_to_a_recoverable_policy_error_skip() {
    let rt = runtime();
    let hostile = guest_module(&rt, "hostile_preflight", Slot::Preflight);
    for mode in [
        "loop",
        "grow",
        "recurse",
        "panic",
        "huge",
        "far-future",
        "other-step",
    ] {
        let d = rt.preflight(&hostile, &preflight_input(mode));
        assert!(d.error.is_some(), "{mode}: {:?}", d.value);
        assert!(
            matches!(
                d.value,
                PreflightDecision::Skip {
                    reason: SkipReason::PolicyError,
                    recoverable: true,
                    ..
                }
            ),
            "{mode}: {:?}",
            d.value
        );
    }
    let d = rt.preflight(&hostile, &preflight_input("benign"));
    assert!(d.error.is_none());
    assert!(matches!(
        d.value,
        PreflightDecision::Enqueue { step_index: 3, .. }
    ));
    let good = default_module(&rt, Slot::Preflight);
    assert!(rt.preflight(&good, &preflight_input("e1")).error.is_none());
}

#[test]
fn calling_a_module_in_the_wrong_slot_is_a_typed_error() {
    let rt = runtime();
    let routing = default_module(&rt, Slot::Routing);
    let d = rt.signal_keys(&routing, &signal("x"));
    assert!(matches!(
        d.error,
        Some(PolicyError::WrongSlot {
            called: Slot::Match,
            actual: Slot::Routing
        })
    ));
}
