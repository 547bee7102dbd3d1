//! `accord policy run | test | check` as an author uses them.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Output};

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .output()
        .expect("accord runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn default_wasm(name: &str) -> String {
    let path = root()
        .join("target/guests/wasm32-wasip2/release")
        .join(format!("accord_{name}_default.wasm"));
    assert!(path.exists(), "build.rs built {}", path.display());
    path.display().to_string()
}

fn fixtures(name: &str) -> String {
    root()
        .join("guest-policies")
        .join(format!("{name}-default"))
        .join("fixtures")
        .display()
        .to_string()
}

#[test]
fn the_default_policies_pass_their_fixtures() {
    for name in ["match", "routing", "preflight"] {
        let out = accord(&["policy", "test", &default_wasm(name), &fixtures(name)]);
        let text = stdout(&out);
        assert!(
            out.status.success(),
            "{name}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = text.lines().last().unwrap_or_default();
        assert!(summary.ends_with("passed, 0 failed"), "{summary}");
        let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
        assert!(passed >= 5, "{name}: only {passed} fixtures");
    }
}

#[test]
fn a_failing_fixture_shows_a_diff_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = serde_json::json!({
        "description": "deliberately wrong: a paused campaign is a recoverable skip, not an enqueue",
        "input": serde_json::to_value(preflight_input("e1")).unwrap(),
        "expected": {"decision": "skip", "reason": "campaign_paused", "recoverable": true}
    });
    std::fs::write(dir.path().join("wrong.json"), fixture.to_string()).unwrap();
    std::fs::write(dir.path().join("broken.json"), "{not json").unwrap();
    let out = accord(&[
        "policy",
        "test",
        &default_wasm("preflight"),
        &dir.path().display().to_string(),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  wrong"), "{text}");
    assert!(
        text.contains("$.decision: expected \"skip\", got \"enqueue\""),
        "{text}"
    );
    assert!(
        text.contains("FAIL  broken") && text.contains("not a fixture"),
        "{text}"
    );
    assert_eq!(text.lines().last(), Some("0 passed, 2 failed"));
}

#[test]
fn run_prints_the_decision_with_costs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, serde_json::to_string(&routing_input("e1")).unwrap()).unwrap();
    let out = accord(&[
        "policy",
        "run",
        &default_wasm("routing"),
        "--input",
        &input.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["slot"], "routing");
    assert_eq!(report["decision"]["route"], "advance");
    assert!(report["fuel_used"].as_u64().unwrap() > 0);
    assert!(report["wall_time_us"].as_f64().unwrap() > 0.0);
    assert!(report["peak_memory_bytes"].as_u64().unwrap() >= 65_536);
    assert!(report["error"].is_null());
}

#[test]
fn run_reports_a_failing_policy_and_its_fail_safe() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(
        &input,
        serde_json::to_string(&preflight_input("loop")).unwrap(),
    )
    .unwrap();
    let wasm = test_guest("hostile_preflight").display().to_string();
    let out = accord(&[
        "policy",
        "run",
        &wasm,
        "--input",
        &input.display().to_string(),
        "--fuel",
        "100000",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["error"]["kind"], "fuel_exhausted");
    assert_eq!(report["decision"]["reason"], "policy_error");
    assert_eq!(report["decision"]["recoverable"], true);
}

#[test]
fn run_rejects_input_that_does_not_fit_the_slot() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, r#"{"source": "carrier_pigeon"}"#).unwrap();
    let out = accord(&[
        "policy",
        "run",
        &default_wasm("preflight"),
        "--input",
        &input.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not fit the preflight slot"), "{err}");
}

#[test]
fn check_accepts_a_policy_and_explains_a_refusal() {
    let ok = accord(&["policy", "check", &default_wasm("match")]);
    assert!(ok.status.success());
    assert!(stdout(&ok).contains("implements the match slot"));

    let wrong = accord(&[
        "policy",
        "check",
        &default_wasm("match"),
        "--slot",
        "routing",
    ]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong world"));

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"garbage").unwrap();
    let bad = accord(&["policy", "check", &garbage.display().to_string()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a WebAssembly binary"));

    let missing = accord(&[
        "policy",
        "check",
        Path::new("/nonexistent.wasm").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn check_refuses_a_mistyped_export() {
    let wasm = test_guest("mistyped_match").display().to_string();
    let out = accord(&["policy", "check", &wasm]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}{err}", stdout(&out));
    assert!(
        err.contains("`prospect-keys`")
            && err.contains("`string`")
            && err.contains("`list<string>`"),
        "{err}"
    );
}

#[test]
fn the_readme_walk_through_policy_builds_checks_and_decides() {
    let wasm = test_guest("no_late_steps").display().to_string();
    let ok = accord(&["policy", "check", &wasm]);
    assert!(
        stdout(&ok).contains("implements the preflight slot"),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let mut late = preflight_input("e1");
    late.step_index = 12;
    let fixture = serde_json::json!({
        "description": "steps past 10 are refused",
        "input": serde_json::to_value(late).unwrap(),
        "expected": {"decision": "skip", "reason": "invalid_step", "recoverable": false}
    });
    std::fs::write(dir.path().join("late-step.json"), fixture.to_string()).unwrap();
    let fixture = serde_json::json!({
        "description": "an early message step is enqueued now",
        "input": serde_json::to_value(preflight_input("e1")).unwrap(),
        "expected": {"decision": "enqueue", "step_index": 3, "not_before": 1_791_650_000_000i64}
    });
    std::fs::write(dir.path().join("early-step.json"), fixture.to_string()).unwrap();
    let out = accord(&["policy", "test", &wasm, &dir.path().display().to_string()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(stdout(&out).lines().last(), Some("2 passed, 0 failed"));
}
