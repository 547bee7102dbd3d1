//! `accord simulate run` in-process: a short month (days, accounts and
//! prospects scaled down) with every fault and host crashes finds no
//! violation in what the simulated LinkedIn received, on both databases;
//! and with each host guard switched off (in a calm world), the checker finds the
//! violations that guard prevents, so it is proven able to fail.

use crate::world::postgres_url;
use accord::sabotage::Gate;
use accord::simulate::{Report, RunArgs, run};

fn short(seed: u64) -> RunArgs {
    RunArgs {
        days: 4,
        accounts: 5,
        prospects: 120,
        seed,
        ..RunArgs::default()
    }
}

fn assert_clean(r: &Report) {
    assert_eq!(
        r.total_violations(),
        0,
        "violations in what LinkedIn received:\n{}",
        r.table()
    );
    assert!(r.provider["invites_sent"] > 30, "{}", r.table());
    assert!(r.provider["messages_sent"] > 0, "{}", r.table());
    assert!(r.provider["accepts"] > 5, "{}", r.table());
    assert!(r.crashes >= 1, "no host crash happened:\n{}", r.table());
    assert!(
        r.faults_injected.keys().any(|k| k.starts_with("422_")),
        "{}",
        r.table()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_month_with_faults_and_crashes_keeps_every_invariant_on_sqlite() {
    let r = run(&short(42)).await.unwrap();
    assert_clean(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_month_on_two_instances_keeps_every_invariant_on_postgres() {
    let Some(url) = postgres_url() else {
        eprintln!("skipped: ACCORD_TEST_POSTGRES_URL is unset");
        return;
    };
    let args = RunArgs {
        database: Some(url),
        database_schema: Some(crate::support::fresh_schema()),
        instances: 2,
        days: 3,
        accounts: 4,
        prospects: 100,
        ..short(43)
    };
    let r = run(&args).await.unwrap();
    assert_eq!(r.backend, "postgres");
    assert_clean(&r);
}

/// What switching `gate` off must make the checker see.
fn expected(gate: Gate) -> &'static [&'static str] {
    match gate {
        Gate::Cap => &["daily_cap_exceeded"],
        Gate::Window => &["outside_window"],
        Gate::Ramp => &["ramp_exceeded"],
        Gate::Spacing => &["spacing_too_short"],
        Gate::Connection => &["message_to_non_connection"],
        Gate::Dedupe => &["duplicate_followup"],
    }
}

async fn sabotaged(gate: Gate) {
    // A calm world (the dedupe run gets its own lost answers): only the
    // missing guard can make a violation.
    let args = RunArgs {
        days: 3,
        accounts: 3,
        prospects: 90,
        seed: 7,
        faults: "none".into(),
        sabotage: Some(gate),
        ..RunArgs::default()
    };
    let r = run(&args).await.unwrap();
    for invariant in expected(gate) {
        assert!(
            r.violations[*invariant] > 0,
            "with the {gate} guard off the checker saw no {invariant}:\n{}",
            r.table()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_cap_guard_the_checker_fails() {
    sabotaged(Gate::Cap).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_window_guard_the_checker_fails() {
    sabotaged(Gate::Window).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ramp_guard_the_checker_fails() {
    sabotaged(Gate::Ramp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_spacing_guard_the_checker_fails() {
    sabotaged(Gate::Spacing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_connection_guard_the_checker_fails() {
    sabotaged(Gate::Connection).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_dedupe_guard_the_checker_fails() {
    sabotaged(Gate::Dedupe).await;
}

/// The binary, twice with one seed (faults and crashes on): the same
/// table and digest byte for byte, and the same JSON report but for where
/// it ran and how long it took; another seed, another digest.
#[test]
fn a_seed_replays_the_simulation_byte_for_byte() {
    let run = |seed: &str| {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.json");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["simulate", "run", "--days", "3", "--accounts", "4"])
            .args(["--prospects", "80", "--seed", seed])
            .arg("--database")
            .arg(format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("simulate.db").display()
            ))
            .arg("--report")
            .arg(&report)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let object = json.as_object_mut().unwrap();
        object.remove("wall_s").unwrap();
        object.remove("database").unwrap();
        (String::from_utf8(out.stdout).unwrap(), json)
    };
    let (table, json) = run("7");
    let digest = json["digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64, "{table}");
    assert!(table.contains(&format!("sha256:{digest}")), "{table}");
    assert!(json["crashes"].as_u64().unwrap() >= 1, "{table}");
    let (again, json_again) = run("7");
    assert_eq!(table, again, "the same seed, the same table");
    assert_eq!(json, json_again, "the same seed, the same report");
    let (_, other) = run("8");
    assert_ne!(other["digest"], json["digest"], "another seed, another run");
}
