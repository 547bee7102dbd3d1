//! The default policies ported to Python and JavaScript
//! (guest-policies/python, guest-policies/javascript) decide every fixture
//! of the Rust defaults as the Rust defaults do, and hostile Python and
//! JavaScript modules (an endless loop, unbounded memory, an uncaught
//! exception) are contained like Rust ones: the typed error, the slot's
//! fail-safe default, the next call fine.
//!
//! scripts/build-language-policies builds the modules (only when their
//! sources or the pinned tools changed); scripts/test installs the tools
//! first. Run by hand without the tools, these tests fail and say so;
//! `ACCORD_SKIP_LANGUAGE_POLICIES=1` skips them, except under `CI=true`.

use crate::rig::{RIG_ADMIN_TOKEN, Rig};
use crate::support::*;
use crate::world::Kind;
use accord::cli::policy::test_fixtures;
use accord::clock::{DAY_MS, HOUR_MS, MINUTE_MS};
use accord::policy::{
    DeclaredLimits, LimitSource, Limits, ModuleKind, PolicyError, PolicyModule, PolicyRuntime, Slot,
};
use accord::simulator::PersonSpec;
use accord_policy_core::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// The two languages beside Rust, as their folders under guest-policies/.
pub const LANGUAGES: [&str; 2] = ["python", "javascript"];

/// Exit status of scripts/build-language-policies when the tools are not
/// installed.
const TOOLS_MISSING: i32 = 3;

/// The folder of the built Python and JavaScript modules
/// (`<language>/<name>.wasm`), built now if their sources changed; `None`
/// when the tools are missing and the developer asked to skip. Panics
/// otherwise, with what to run.
pub fn language_modules() -> Option<PathBuf> {
    static BUILT: OnceLock<Result<Option<PathBuf>, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let script = root().join("scripts").join("build-language-policies");
        let out = Command::new(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => Ok(Some(root().join("target").join("language-policies"))),
            Some(TOOLS_MISSING) if skip_allowed() => {
                eprintln!(
                    "SKIPPED: the Python and JavaScript policy tests (ACCORD_SKIP_LANGUAGE_POLICIES=1): {stderr}"
                );
                Ok(None)
            }
            Some(TOOLS_MISSING) => Err(format!(
                "the Python and JavaScript policy tools are missing. Run ./scripts/test (it \
                 installs componentize-py and componentize-js, then runs everything), or \
                 ./scripts/build-language-policies --install once; \
                 ACCORD_SKIP_LANGUAGE_POLICIES=1 skips these tests outside CI.\n{stderr}"
            )),
            _ => Err(format!(
                "scripts/build-language-policies failed ({}):\n{stderr}",
                out.status
            )),
        }
    });
    match built {
        Ok(dir) => dir.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// Skipping is for a developer without Node.js or Python at hand; CI
/// never skips.
fn skip_allowed() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| v == "1" || v == "true");
    set("ACCORD_SKIP_LANGUAGE_POLICIES") && !set("CI")
}

/// The compiled-artifact cache of these tests: a Python or JavaScript
/// module is a 12–18 MB component (its language's runtime) and compiling
/// one takes tens of seconds in a debug build, so a rerun reads it back.
fn cache_dir() -> PathBuf {
    root().join("target").join("policy-cache-tests")
}

/// One runtime for every test of this module: the server's default
/// limits (the ports decide well within them: at most ~1.3 M fuel and
/// ~13 MB of memory), a smaller fuel budget so that hostile loops end
/// sooner, and a deadline that a busy 2-core machine does not reach.
fn rt() -> &'static PolicyRuntime {
    static RUNTIME: OnceLock<PolicyRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        PolicyRuntime::new(
            Limits {
                fuel: 20_000_000,
                deadline_ms: 10_000,
                max_concurrent: 8,
                ..Limits::default()
            },
            Some(cache_dir()),
        )
        .expect("runtime")
    })
}

/// What the tests declare for a module: a deadline a busy 2-core machine
/// running a debug build does not reach, and for the hostile guests 16 MiB
/// of memory, so their "grow" mode meets the memory cap before the fuel cap.
fn declared(name: &str) -> DeclaredLimits {
    DeclaredLimits {
        deadline_ms: Some(10_000),
        memory_bytes: (name == "hostile").then_some(16 << 20),
        ..DeclaredLimits::default()
    }
}

/// The modules loaded so far, by (language, module name, slot).
type Loaded = Mutex<HashMap<(String, String, Slot), Arc<PolicyModule>>>;

/// `<language>/<name>.wasm` loaded for `slot`, once per test run: the
/// lock makes tests that want the same module wait for one compile
/// rather than each compile it.
fn module(language: &str, name: &str, slot: Slot) -> Option<Arc<PolicyModule>> {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    let dir = language_modules()?;
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = (language.to_string(), name.to_string(), slot);
    let module = loaded.entry(key).or_insert_with(|| {
        let path = dir.join(language).join(format!("{name}.wasm"));
        rt().load_file_declared(&path, Some(slot), declared(name))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    });
    Some(module.clone())
}

#[test]
fn python_and_javascript_ports_pass_every_default_fixture() {
    let mut failures = Vec::new();
    for language in LANGUAGES {
        for slot in Slot::ALL {
            let Some(module) = module(language, slot.as_str(), slot) else {
                return;
            };
            let fixtures = root()
                .join("guest-policies")
                .join(format!("{slot}-default"))
                .join("fixtures");
            let report = test_fixtures(rt(), &module, &fixtures)
                .unwrap_or_else(|e| panic!("{language} {slot}: {e}"));
            assert!(report.passed() >= 30, "{language} {slot}:\n{report}");
            if report.failed() > 0 {
                failures.push(format!("{language} {slot}:\n{report}"));
            }
            let fuel: Vec<u64> = report
                .results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok().copied())
                .collect();
            eprintln!(
                "{language} {slot}: {} fixtures passed, fuel {}–{}",
                report.passed(),
                fuel.iter().min().unwrap_or(&0),
                fuel.iter().max().unwrap_or(&0)
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A port is the default logic, not something that happens to pass: a
/// decision that differs from the Rust default's is caught (the fixtures
/// compare the decision, so a wrong port fails them).
#[test]
fn a_port_decides_what_the_rust_default_decides_on_host_inputs() {
    if language_modules().is_none() {
        return;
    }
    let rt = rt();
    let builtin_match = default_module(rt, Slot::Match);
    let builtin_routing = default_module(rt, Slot::Routing);
    let builtin_preflight = default_module(rt, Slot::Preflight);
    let mut replied = routing_input("e1");
    replied.enrollment.replied_at = Some(1_791_600_000_000);
    let mut late = routing_input("e1");
    late.enrollment.workflow_state = WorkflowState::TimedOut;
    let mut paused = preflight_input("e1");
    paused.campaign_status = CampaignStatus::Paused;
    for language in LANGUAGES {
        let port = |slot: Slot| module(language, slot.as_str(), slot).expect("built");
        let (m, r, p) = (
            port(Slot::Match),
            port(Slot::Routing),
            port(Slot::Preflight),
        );
        let identity = enrollment("e1").identity;
        let ours = rt.prospect_keys(&m, &identity);
        assert!(ours.error.is_none(), "{language}: {:?}", ours.error);
        assert_eq!(
            ours.value,
            rt.prospect_keys(&builtin_match, &identity).value
        );
        let candidates = [enrollment("e1"), enrollment("e2")];
        let ours = rt.resolve(&m, &signal("Julien"), &candidates);
        assert!(ours.error.is_none(), "{language}: {:?}", ours.error);
        assert_eq!(
            ours.value.matches,
            rt.resolve(&builtin_match, &signal("Julien"), &candidates)
                .value
                .matches,
            "{language}"
        );
        assert_eq!(ours.value.matches.len(), 2, "{language}");
        for input in [routing_input("e1"), replied.clone(), late.clone()] {
            let ours = rt.route(&r, &input);
            assert!(ours.error.is_none(), "{language}: {:?}", ours.error);
            assert_eq!(ours.value, rt.route(&builtin_routing, &input).value);
        }
        for input in [preflight_input("e1"), paused.clone()] {
            let ours = rt.preflight(&p, &input);
            assert!(ours.error.is_none(), "{language}: {:?}", ours.error);
            assert_eq!(ours.value, rt.preflight(&builtin_preflight, &input).value);
        }
    }
}

/// What the hostile module of `language` does in every slot with `mode`:
/// the error of each slot's call, after checking its fail-safe default.
fn hostile_errors(language: &str, mode: &str) -> Vec<(Slot, PolicyError)> {
    let rt = rt();
    let hostile = |slot: Slot| module(language, "hostile", slot);
    let (Some(m), Some(r), Some(p)) = (
        hostile(Slot::Match),
        hostile(Slot::Routing),
        hostile(Slot::Preflight),
    ) else {
        return Vec::new();
    };
    let mut errors = Vec::new();

    let d = rt.signal_keys(&m, &signal(mode));
    assert!(
        d.value.is_empty(),
        "{language} {mode}: fail-safe is no keys"
    );
    assert!(d.trace.iter().any(|l| l.message.contains("fail-safe")));
    let error = d
        .error
        .unwrap_or_else(|| panic!("{language} {mode}: no error"));
    errors.push((Slot::Match, error));

    let d = rt.route(&r, &routing_input(mode));
    assert!(
        matches!(
            d.value,
            Route::StampOnly {
                reason: StampOnlyReason::PolicyError,
                ..
            }
        ),
        "{language} {mode}: {:?}",
        d.value
    );
    let error = d
        .error
        .unwrap_or_else(|| panic!("{language} {mode}: no error"));
    errors.push((Slot::Routing, error));

    let d = rt.preflight(&p, &preflight_input(mode));
    assert!(
        matches!(
            d.value,
            PreflightDecision::Skip {
                reason: SkipReason::PolicyError,
                recoverable: true,
                ..
            }
        ),
        "{language} {mode}: {:?}",
        d.value
    );
    let error = d
        .error
        .unwrap_or_else(|| panic!("{language} {mode}: no error"));
    errors.push((Slot::Preflight, error));

    // The same module decides the next call normally: nothing of the
    // failed call survives in it.
    assert_eq!(
        rt.signal_keys(&m, &signal("benign")).value,
        vec!["hostile".to_string()],
        "{language}"
    );
    assert_eq!(rt.route(&r, &routing_input("benign")).value, Route::Advance);
    let d = rt.preflight(&p, &preflight_input("benign"));
    assert!(d.error.is_none(), "{language}: {:?}", d.error);
    errors
}

#[test]
fn each_port_runs_under_its_kinds_limits() {
    for (language, kind) in [
        ("python", ModuleKind::Python),
        ("javascript", ModuleKind::Javascript),
    ] {
        for slot in Slot::ALL {
            let Some(m) = module(language, slot.as_str(), slot) else {
                return;
            };
            let limits = m.limits();
            assert_eq!(limits.kind, kind, "{language} {slot}");
            // The kind's memory (48 MiB), the declared deadline, and the
            // runtime's maximum of 20 M fuel below either kind's default.
            assert_eq!(limits.effective.memory_bytes, 48 << 20, "{language} {slot}");
            assert_eq!(limits.sources.memory_bytes, LimitSource::KindDefault);
            assert_eq!(limits.effective.deadline_ms, 10_000);
            assert_eq!(limits.sources.deadline_ms, LimitSource::Declared);
            assert_eq!(limits.effective.fuel, 20_000_000);
            assert_eq!(limits.sources.fuel, LimitSource::HostMaximum);
        }
    }
    let (bytes, origin) = accord::policy::builtin::for_slot(Slot::Preflight);
    let rust = rt().load(bytes, origin, Some(Slot::Preflight)).unwrap();
    assert_eq!(rust.limits().kind, ModuleKind::Compiled);
    assert_eq!(rust.limits().effective.memory_bytes, 4 << 20);
}

#[test]
fn a_port_declared_below_its_heap_fails_with_the_memory_limit() {
    let Some(dir) = language_modules() else {
        return;
    };
    for language in LANGUAGES {
        let path = dir.join(language).join("preflight.wasm");
        // Its pre-initialised heap alone is 9.5 MB (JavaScript) or 12.9 MB
        // (Python): 8 MiB cannot hold it.
        let declared = DeclaredLimits {
            memory_bytes: Some(8 << 20),
            ..declared("preflight")
        };
        let m = rt()
            .load_file_declared(&path, Some(Slot::Preflight), declared)
            .unwrap();
        let d = rt().preflight(&m, &preflight_input("benign"));
        match d.error {
            Some(PolicyError::MemoryLimit { limit, .. }) => assert_eq!(limit, 8 << 20),
            other => panic!("{language}: {other:?}"),
        }
    }
}

#[test]
fn python_and_javascript_endless_loops_run_out_of_fuel() {
    for language in LANGUAGES {
        for (slot, e) in hostile_errors(language, "loop") {
            assert!(
                matches!(e, PolicyError::FuelExhausted { limit: 20_000_000 }),
                "{language} {slot}: {e:?}"
            );
        }
    }
}

#[test]
fn python_and_javascript_memory_growth_hits_the_memory_limit() {
    for language in LANGUAGES {
        for (slot, e) in hostile_errors(language, "grow") {
            match e {
                PolicyError::MemoryLimit { requested, limit } => {
                    assert_eq!(limit, 16 << 20, "{language} {slot}");
                    assert!(requested > limit, "{language} {slot}");
                }
                other => panic!("{language} {slot}: {other:?}"),
            }
        }
    }
}

#[test]
fn python_and_javascript_exceptions_are_traps() {
    for language in LANGUAGES {
        for (slot, e) in hostile_errors(language, "raise") {
            match e {
                PolicyError::Trap { message, panic } => {
                    assert!(
                        message.contains("unreachable"),
                        "{language} {slot}: {message}"
                    );
                    // The guest's own message, as it raised it, is kept:
                    // the last line of Python's traceback, the JavaScript
                    // exception's message.
                    let panic = panic.unwrap_or_default();
                    let expected = match language {
                        "python" => "RuntimeError: hostile guest raised on purpose (",
                        _ => "hostile guest raised on purpose (misbehave@",
                    };
                    assert!(panic.starts_with(expected), "{language} {slot}: {panic}");
                }
                other => panic!("{language} {slot}: {other:?}"),
            }
        }
    }
}

/// A Python or JavaScript author's path on a running host, through the
/// admin API and the product: the port of the default pre-flight is
/// uploaded as a shadow beside the active Rust default, decides the same
/// on real traffic (an invite, an accept, a follow-up), is promoted, and
/// then decides the follow-ups the provider receives.
async fn a_port_runs_in_shadow_then_is_promoted(language: &str) {
    let Some(dir) = language_modules() else {
        return;
    };
    // Compiled once per run, into the compile cache the host below reads
    // (a test beside this one may be compiling it: this waits for it).
    if module(language, "preflight", Slot::Preflight).is_none() {
        return;
    }
    // A deadline a busy 2-core machine running a debug build does not
    // reach, allowed by the host and declared at upload.
    let rig = Rig::configured(
        Kind::Sqlite,
        |c| {
            c.cache_dir = Some(cache_dir());
            c.limits.deadline_ms = 10_000;
        },
        |_| {},
    )
    .await;
    let upload = |path: &str, body: Option<Vec<u8>>| {
        let mut req = rig
            .http
            .request(
                if body.is_some() {
                    reqwest::Method::PUT
                } else {
                    reqwest::Method::POST
                },
                format!("{}{path}", rig.base),
            )
            .bearer_auth(RIG_ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.header("content-type", "application/wasm").body(body);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let bytes = std::fs::read(dir.join(language).join("preflight.wasm")).unwrap();
    assert!(
        bytes.len() > 10 << 20,
        "{language}: an interpreter's module"
    );
    let (s, swap) = upload(
        &format!("/admin/policies/preflight?mode=shadow&name={language}-port&deadline_ms=10000"),
        Some(bytes),
    )
    .await;
    assert_eq!(s, 200, "{language}: {swap}");
    let sha256 = swap["sha256"].as_str().unwrap().to_string();
    let (_, modules) = rig.api("GET", "/admin/policies/modules", None).await;
    let listed = modules
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["sha256"] == sha256.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["limits"]["kind"], language, "{listed}");
    assert_eq!(listed["limits"]["effective"]["memory_bytes"], 48 << 20);

    let app = &rig.w.app;
    let mut shadow = app
        .pipeline
        .decisions()
        .shadow()
        .worker(
            app.db.clone(),
            app.policies.runtime().clone(),
            rig.w.clock.clone(),
        )
        .unwrap();
    let first = rig
        .enroll(
            "shadowed",
            PersonSpec::new("Ada", "Shadowed").accepts_after(HOUR_MS),
        )
        .await;
    rig.run_for(DAY_MS, 10 * MINUTE_MS).await;
    let calls = shadow.drain().await.unwrap();
    assert!(calls >= 1, "{language}: the shadow decided");
    let (_, report) = rig
        .api("GET", "/admin/policies/preflight/shadow", None)
        .await;
    assert_eq!(report["module_sha256"], sha256.as_str(), "{report}");
    assert_eq!(report["calls"], calls as i64, "{report}");
    let error_kinds: Vec<(String,)> = sqlx::query_as(
        "SELECT error_kind FROM policy_decisions WHERE error_kind IS NOT NULL LIMIT 5",
    )
    .fetch_all(rig.w.app.db.pool())
    .await
    .unwrap();
    assert_eq!(
        report["agreements"], report["calls"],
        "{language}: {report}; errors: {error_kinds:?}"
    );
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(
        rig.sent_messages(&first).len(),
        1,
        "the default followed up"
    );

    let (s, promoted) = upload("/admin/policies/preflight/promote", None).await;
    assert_eq!(s, 200, "{promoted}");
    assert_eq!(promoted["sha256"], sha256.as_str());
    let second = rig
        .enroll(
            "promoted",
            PersonSpec::new("Bea", "Promoted").accepts_after(HOUR_MS),
        )
        .await;
    rig.run_for(DAY_MS, 10 * MINUTE_MS).await;
    assert_eq!(
        rig.sent_messages(&second).len(),
        1,
        "{language}: the port followed up"
    );
    let decided: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT module_sha256, error_kind FROM policy_decisions \
         WHERE slot = 'preflight' AND mode = 'active' AND enrollment_id = 'promoted'",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert!(!decided.is_empty(), "{language}: a pre-flight was logged");
    for (module, error) in decided {
        assert_eq!((module.as_str(), error), (sha256.as_str(), None));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_port_runs_in_shadow_then_is_promoted() {
    a_port_runs_in_shadow_then_is_promoted("python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_port_runs_in_shadow_then_is_promoted() {
    a_port_runs_in_shadow_then_is_promoted("javascript").await;
}
