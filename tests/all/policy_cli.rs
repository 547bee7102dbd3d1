//! `accord policy run | test | check` as an author uses them.

use crate::support::*;
use std::path::{Path, PathBuf};
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
fn check_shows_the_kind_and_each_limit_with_its_source() {
    let ok = accord(&["policy", "check", &default_wasm("match")]);
    assert!(ok.status.success());
    let text = stdout(&ok);
    assert!(
        text.contains("kind: compiled; limits: fuel 10000000 (compiled default), memory 4 MiB (compiled default), deadline 500 ms (compiled default), output 64 KiB (compiled default)"),
        "{text}"
    );
    let declared = accord(&[
        "policy",
        "check",
        &default_wasm("match"),
        "--memory-mib",
        "16",
        "--deadline-ms",
        "100",
    ]);
    let text = stdout(&declared);
    assert!(
        text.contains("memory 16 MiB (declared), deadline 100 ms (declared)"),
        "{text}"
    );
    let over = accord(&[
        "policy",
        "check",
        &default_wasm("match"),
        "--memory-mib",
        "100000",
    ]);
    assert_eq!(over.status.code(), Some(1));
    let err = String::from_utf8_lossy(&over.stderr);
    assert!(
        err.contains("memory_bytes") && err.contains("above this host's maximum"),
        "{err}"
    );
    // `run` decides under the declaration and says so in its JSON.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, serde_json::to_string(&routing_input("e1")).unwrap()).unwrap();
    let run = accord(&[
        "policy",
        "run",
        &default_wasm("routing"),
        "--input",
        &input.display().to_string(),
        "--memory-mib",
        "8",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["limits"]["kind"], "compiled");
    assert_eq!(report["limits"]["effective"]["memory_bytes"], 8 << 20);
    assert_eq!(report["limits"]["sources"]["memory_bytes"], "declared");
    assert_eq!(report["limits"]["sources"]["fuel"], "kind_default");
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

/// `accord` with the compiled-module cache left to `args` and `env`: no
/// cache setting of the caller's environment leaks in.
fn accord_cached(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_accord"));
    cmd.args(args)
        .env_remove("ACCORD_CACHE_DIR")
        .env_remove("XDG_CACHE_HOME");
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("accord runs")
}

/// The `compile: …` line of a command's output.
fn compile_line(o: &Output) -> String {
    let text = stdout(o);
    text.lines()
        .find(|l| l.starts_with("compile: "))
        .unwrap_or_else(|| panic!("no compile line in:\n{text}"))
        .to_string()
}

/// The cache's artifacts (`<sha256>-<engine>.cwasm`).
fn artifacts(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    files.sort();
    files
}

#[test]
fn test_compiles_once_then_reads_the_cache_and_recompiles_a_corrupt_artifact() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().display().to_string();
    let wasm = default_wasm("preflight");
    let fixtures = fixtures("preflight");
    let run = || {
        let out = accord_cached(
            &["policy", "test", &wasm, &fixtures, "--cache-dir", &dir],
            &[],
        );
        assert!(out.status.success(), "{}", stdout(&out));
        let text = stdout(&out);
        assert!(
            text.lines()
                .last()
                .is_some_and(|l| l.ends_with("passed, 0 failed")),
            "{text}"
        );
        compile_line(&out)
    };

    let first = run();
    assert!(first.ends_with("(cached for next time)"), "{first}");
    // The built-in pre-flight module is its own reference: one artifact.
    let files = artifacts(cache.path());
    assert_eq!(files.len(), 1, "{files:?}");

    let second = run();
    assert!(
        second.starts_with("compile: cached, loaded in "),
        "{second}"
    );

    std::fs::write(&files[0], b"not a compiled module").unwrap();
    let third = run();
    assert!(
        third.contains("unreadable") && third.contains("recompiled"),
        "{third}"
    );
    assert!(std::fs::read(&files[0]).unwrap().len() > 1000);
    let fourth = run();
    assert!(
        fourth.starts_with("compile: cached, loaded in "),
        "{fourth}"
    );
}

#[test]
fn run_says_in_its_json_whether_it_compiled() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, serde_json::to_string(&routing_input("e1")).unwrap()).unwrap();
    let wasm = default_wasm("routing");
    let input = input.display().to_string();
    let run = || {
        let out = accord_cached(
            &["policy", "run", &wasm, "--input", &input],
            &[("ACCORD_CACHE_DIR", cache.path())],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // stdout is the JSON report alone.
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["decision"]["route"], "advance");
        report["compile"].clone()
    };
    let first = run();
    assert_eq!(first["cached"], false, "{first}");
    assert!(first["ms"].as_f64().unwrap() > 0.0);
    let second = run();
    assert_eq!(second["cached"], true, "{second}");
    assert!(
        second["summary"]
            .as_str()
            .unwrap()
            .starts_with("compile: cached"),
        "{second}"
    );
}

#[test]
fn the_cache_defaults_to_the_xdg_cache_and_no_cache_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let xdg = tempfile::tempdir().unwrap();
    let explicit = tempfile::tempdir().unwrap();
    let wasm = default_wasm("match");

    // --no-cache: nothing written anywhere, even with a directory named.
    let out = accord_cached(
        &[
            "policy",
            "check",
            &wasm,
            "--no-cache",
            "--cache-dir",
            &explicit.path().display().to_string(),
        ],
        &[("HOME", home.path()), ("XDG_CACHE_HOME", xdg.path())],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        compile_line(&out).ends_with("(no cache)"),
        "{}",
        stdout(&out)
    );
    for dir in [home.path(), xdg.path(), explicit.path()] {
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            0,
            "{} was written",
            dir.display()
        );
    }

    // Without a setting: $HOME/.cache/accord/policies …
    let out = accord_cached(&["policy", "check", &wasm], &[("HOME", home.path())]);
    assert!(out.status.success(), "{}", stdout(&out));
    let default = home.path().join(".cache/accord/policies");
    // The match default and the built-in reference it is checked against
    // (the same bytes: one artifact).
    assert_eq!(artifacts(&default).len(), 1, "{}", stdout(&out));

    // … and $XDG_CACHE_HOME/accord/policies when that is set.
    let out = accord_cached(
        &["policy", "check", &wasm],
        &[("HOME", home.path()), ("XDG_CACHE_HOME", xdg.path())],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        artifacts(&xdg.path().join("accord/policies")).len(),
        1,
        "{}",
        stdout(&out)
    );
}
