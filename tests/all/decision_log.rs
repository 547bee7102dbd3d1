//! The decision log's readers as an operator runs them, the real binary
//! against the host's database: `accord policy replay`, `accord policy
//! fixtures`, `accord decisions export`. The decisions are the product's
//! own: people invited by the engine accept on the simulated LinkedIn,
//! whose webhooks are matched, routed and pre-flighted.

use crate::builders::{Cast, Story};
use crate::on_both_databases;
use crate::rig::{RIG_ADMIN_TOKEN, Rig};
use crate::support::{root, test_guest};
use crate::world::{Kind, T0};
use accord::policy::Slot;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .env_remove("ACCORD_DATABASE_URL")
        .output()
        .expect("accord runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The built-in default module of `slot` as a file (build.rs built it).
fn default_wasm(slot: Slot) -> String {
    let path = root()
        .join("target/guests/wasm32-wasip2/release")
        .join(format!("accord_{slot}_default.wasm"));
    assert!(path.exists(), "build.rs built {}", path.display());
    path.display().to_string()
}

fn guest(name: &str) -> String {
    test_guest(name).display().to_string()
}

/// The URL an operator gives the CLI for the rig's database: the SQLite
/// file, or PostgreSQL with the test's schema on the search path.
fn database_url(rig: &Rig) -> String {
    let config = &rig.w.app.config;
    match &config.database_schema {
        None => config.database_url.clone(),
        Some(schema) => {
            let url = &config.database_url;
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options[search_path]={schema}")
        }
    }
}

/// One person per id, invited by the engine the day before T0 in the
/// world's campaign; then each accepts, five seconds apart, and the
/// webhooks go through the pipeline: a resolve, a route and a pre-flight
/// logged for each.
async fn accepted(rig: &Rig, ids: &[&str]) -> Vec<Cast> {
    let casts: Vec<Cast> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Cast::new(rig, id, "Logged", &format!("Person{i}")))
        .collect();
    let mut story = Story::new(rig);
    for cast in &casts {
        story = story.invited(cast);
    }
    story.until(T0).await;
    for cast in &casts {
        assert!(
            rig.sim
                .accept_now(&rig.w.account.provider_account_id, &cast.person.provider_id)
        );
        rig.w.clock.advance(5_000);
        rig.settle().await;
        assert!(
            cast.enrollment(rig).await.linkedin_accepted_at.is_some(),
            "{}: stamped",
            cast.id
        );
    }
    casts
}

async fn logged(rig: &Rig, slot: Slot) -> i64 {
    rig.count(
        "SELECT COUNT(*) FROM policy_decisions WHERE mode = 'active' AND slot = $1",
        slot.as_str(),
    )
    .await
}

/// The ids of the logged decisions of `slot` about `enrollment`.
async fn decision_ids(rig: &Rig, slot: Slot, enrollment: &str) -> Vec<String> {
    sqlx::query_as::<_, (String,)>(
        "SELECT id FROM policy_decisions WHERE slot = $1 AND enrollment_id = $2 ORDER BY id",
    )
    .bind(slot.as_str())
    .bind(enrollment)
    .fetch_all(rig.w.app.db.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(id,)| id)
    .collect()
}

/// `accord policy replay … --json`: the report.
fn replay_json(module: &str, url: &str, slot: Slot, extra: &[&str]) -> Value {
    let mut args = vec![
        "policy",
        "replay",
        module,
        "--database",
        url,
        "--slot",
        slot.as_str(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = accord(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A replay report's (replayed, same, different, errors).
fn counts(report: &Value) -> (u64, u64, u64, u64) {
    let n = |key: &str| report[key].as_u64().unwrap();
    (n("replayed"), n("same"), n("different"), n("errors"))
}

async fn replaying_the_defaults_reproduces_the_log(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    accepted(&rig, &["e-log-1", "e-log-2", "e-log-3"]).await;
    let url = database_url(&rig);
    for slot in Slot::ALL {
        let report = replay_json(&default_wasm(slot), &url, slot, &[]);
        let replayed = report["replayed"].as_u64().unwrap();
        assert!(replayed >= 3, "{slot}: {report}");
        assert_eq!(replayed, logged(&rig, slot).await as u64, "{slot}");
        assert_eq!(report["same"], replayed, "{slot}: {report}");
        assert_eq!(
            (report["different"].as_u64(), report["errors"].as_u64()),
            (Some(0), Some(0)),
            "{slot}: {report}"
        );
        assert_eq!(report["slot"], slot.as_str());

        let out = accord(&[
            "policy",
            "replay",
            &default_wasm(slot),
            "--database",
            &url,
            "--slot",
            slot.as_str(),
            "--fail-on-diff",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(
            text.lines().next(),
            Some(format!("{replayed} same, 0 different, 0 errors").as_str()),
            "{text}"
        );
    }

    // The scope: a workspace, a window (RFC 3339 or milliseconds), a limit.
    let slot = Slot::Routing;
    let module = default_wasm(slot);
    let replayed = |extra: &[&str]| replay_json(&module, &url, slot, extra)["replayed"].clone();
    assert_eq!(replayed(&["--workspace", &rig.w.workspace.id]), 3);
    let unknown = accord(&[
        "policy",
        "replay",
        &module,
        "--database",
        &url,
        "--slot",
        "routing",
        "--workspace",
        "another",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no workspace with id `another`"),
        "{}",
        stderr(&unknown)
    );
    assert_eq!(replayed(&["--since", "2026-10-10T14:30:00Z"]), 3);
    assert_eq!(replayed(&["--until", "2026-10-10T14:30:00Z"]), 0);
    assert_eq!(replayed(&["--since", &(T0 + 5_001).to_string()]), 2);
    assert_eq!(replayed(&["--limit", "2"]), 2);
}

async fn replaying_a_candidate_groups_its_differences(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    // The hostile pre-flight reads its mode from the enrollment id: it
    // enqueues like the default, a year late or another step (outputs
    // the host refuses), skips as if the campaign were paused, or panics.
    accepted(
        &rig,
        &[
            "e-same-1",
            "far-future",
            "other-step",
            "says-paused",
            "e-same-2",
            "panic",
        ],
    )
    .await;
    let url = database_url(&rig);
    let ids = |slot| {
        let rig = &rig;
        async move {
            let mut ids = Vec::new();
            for e in [
                "e-same-1",
                "far-future",
                "other-step",
                "says-paused",
                "e-same-2",
                "panic",
            ] {
                ids.extend(decision_ids(rig, slot, e).await);
            }
            ids
        }
    };

    // The hostile match module attributes every signal to every candidate
    // by a strategy of its own: each resolve differs, in one place.
    let candidate = guest("hostile_match");
    let report = replay_json(&candidate, &url, Slot::Match, &[]);
    assert_eq!(counts(&report), (6, 0, 6, 0), "{report}");
    let (logged_summary,): (String,) = sqlx::query_as(
        "SELECT summary FROM policy_decisions WHERE slot = 'match' AND enrollment_id = 'panic'",
    )
    .fetch_one(rig.w.app.db.pool())
    .await
    .unwrap();
    assert!(logged_summary.starts_with("matched:"), "{logged_summary}");
    let match_ids = ids(Slot::Match).await;
    assert_eq!(
        report["groups"],
        serde_json::json!([{
            "logged": logged_summary, "candidate": "matched:hostile", "count": 6,
            "sample_ids": match_ids[..5], "paths": ["$.matches[0].strategy"],
        }])
    );

    // As text, and as a gate: --fail-on-diff exits 1, without it 0.
    let args = |module: &'static str, slot: &'static str, extra: &[&'static str]| {
        let mut a = vec![
            "policy".to_string(),
            "replay".into(),
            guest(module),
            "--database".into(),
            url.clone(),
            "--slot".into(),
            slot.into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        let out = Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(&a)
            .output()
            .unwrap();
        (out.status.code(), stdout(&out), stderr(&out))
    };
    let (code, text, err) = args("hostile_match", "match", &["--fail-on-diff"]);
    assert_eq!(code, Some(1), "{text}{err}");
    assert_eq!(
        text.lines().next(),
        Some("0 same, 6 different, 0 errors"),
        "{text}"
    );
    assert!(
        text.contains(&format!("6 × {logged_summary} → matched:hostile")),
        "{text}"
    );
    assert!(text.contains("paths:   $.matches[0].strategy"), "{text}");
    // At most five samples a group.
    assert!(
        text.contains(&format!("samples: {}\n", match_ids[..5].join(", "))),
        "{text}"
    );
    assert_eq!(args("hostile_match", "match", &[]).0, Some(0));

    // The hostile pre-flight agrees on two, skips one the default enqueued
    // and fails on three: failures are counted apart, with their kinds,
    // and fail the gate too.
    let report = replay_json(&guest("hostile_preflight"), &url, Slot::Preflight, &[]);
    let preflight_ids = ids(Slot::Preflight).await;
    assert_eq!(counts(&report), (6, 2, 1, 3), "{report}");
    assert_eq!(
        report["error_samples"],
        serde_json::json!([
            {"decision_id": preflight_ids[1], "kind": "invalid_output"},
            {"decision_id": preflight_ids[2], "kind": "invalid_output"},
            {"decision_id": preflight_ids[5], "kind": "trap"},
        ])
    );
    assert_eq!(
        report["groups"],
        serde_json::json!([{
            "logged": "enqueue", "candidate": "skip:campaign_paused", "count": 1,
            "sample_ids": [preflight_ids[3]],
            "paths": ["$.decision", "$.not_before", "$.reason", "$.recoverable", "$.step_index"],
        }])
    );
    let (code, text, _) = args("hostile_preflight", "preflight", &["--fail-on-diff"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.starts_with("2 same, 1 different, 3 errors\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "1 × enqueue → skip:campaign_paused\n    \
             paths:   $.decision, $.not_before, $.reason, $.recoverable, $.step_index\n    \
             samples: {}\n",
            preflight_ids[3]
        )),
        "{text}"
    );
    assert!(text.contains("3 errors, for example:"), "{text}");
    assert!(
        text.contains(&format!("{} (trap)", preflight_ids[5])),
        "{text}"
    );
    // A window holding only agreeing decisions passes the gate.
    let (code, text, _) = args(
        "hostile_preflight",
        "preflight",
        &["--fail-on-diff", "--limit", "1"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("1 same, 0 different, 0 errors\n"),
        "{text}"
    );

    // A module of another slot is refused by name.
    let wrong = accord(&[
        "policy",
        "replay",
        &default_wasm(Slot::Match),
        "--database",
        &url,
        "--slot",
        "preflight",
    ]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("does not implement the preflight slot"),
        "{}",
        stderr(&wrong)
    );
}

/// Puts `module` as the workspace's active module of `slot` through the
/// admin API.
async fn activate(rig: &Rig, slot: Slot, module: &str) {
    let resp = rig
        .http
        .put(format!(
            "{}/admin/policies/{slot}?workspace={}",
            rig.base, rig.w.workspace.id
        ))
        .header("content-type", "application/wasm")
        .bearer_auth(RIG_ADMIN_TOKEN)
        .body(std::fs::read(module).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text().await);
}

fn read_dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn fixtures_from_the_log_pass_policy_test(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    // The workspace decides its pre-flights with the hostile module, which
    // enqueues like the default but panics for `panic` (that decision is
    // logged with the fail-safe default and an error kind).
    let hostile = guest("hostile_preflight");
    activate(&rig, Slot::Preflight, &hostile).await;
    accepted(&rig, &["e-fix-1", "e-fix-2", "panic"]).await;
    let url = database_url(&rig);
    let dir = tempfile::tempdir().unwrap();
    let runs = std::cell::Cell::new(0);
    let fixtures = |slot: Slot, extra: &[&str]| {
        runs.set(runs.get() + 1);
        let out_dir = dir.path().join(format!("{slot}-{}", runs.get()));
        let out_dir_text = out_dir.display().to_string();
        let mut args = vec![
            "policy",
            "fixtures",
            "--database",
            url.as_str(),
            "--slot",
            slot.as_str(),
        ];
        args.extend_from_slice(extra);
        args.push(&out_dir_text);
        let out = accord(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (out_dir, stdout(&out))
    };

    for (slot, module, written, skipped) in [
        (Slot::Match, default_wasm(Slot::Match), 3, 0),
        (Slot::Routing, default_wasm(Slot::Routing), 3, 0),
        (Slot::Preflight, hostile.clone(), 2, 1),
    ] {
        assert_eq!(logged(&rig, slot).await, 3, "{slot}");
        let (out_dir, text) = fixtures(slot, &[]);
        assert!(
            text.starts_with(&format!(
                "wrote {written} fixtures to {}\n",
                out_dir.display()
            )),
            "{slot}: {text}"
        );
        assert_eq!(
            text.contains(&format!("skipped {skipped} decisions whose policy failed")),
            skipped > 0,
            "{slot}: {text}"
        );
        assert_eq!(read_dir_names(&out_dir).len(), written, "{slot}");
        let test = accord(&["policy", "test", &module, &out_dir.display().to_string()]);
        let report = stdout(&test);
        assert!(test.status.success(), "{slot}:\n{report}{}", stderr(&test));
        assert_eq!(
            report.lines().last(),
            Some(format!("{written} passed, 0 failed").as_str()),
            "{slot}"
        );
    }

    // A fixture names where it came from and expects the decision, free
    // text left out.
    let (out_dir, _) = fixtures(Slot::Preflight, &["--enrollment", "e-fix-1"]);
    let id = &decision_ids(&rig, Slot::Preflight, "e-fix-1").await[0];
    assert_eq!(read_dir_names(&out_dir), vec![format!("{id}.json")]);
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join(format!("{id}.json"))).unwrap())
            .unwrap();
    let description = fixture["description"].as_str().unwrap();
    for part in [
        "preflight",
        "preflight)",
        id.as_str(),
        rig.w.workspace.id.as_str(),
        "2026-10-10T14:30:",
        ": enqueue",
    ] {
        assert!(description.contains(part), "{part}: {description}");
    }
    assert_eq!(fixture["input"]["enrollment_id"], "e-fix-1");
    assert_eq!(fixture["expected"]["decision"], "enqueue");
    assert_eq!(fixture["expected"]["step_index"], 3);

    // A failed decision's fail-safe default is never an expectation: the
    // log holds it with its error kind.
    let failed = rig
        .count(
            "SELECT COUNT(*) FROM policy_decisions WHERE enrollment_id = $1 AND error_kind = 'trap'",
            "panic",
        )
        .await;
    assert_eq!(failed, 1);
    let (out_dir, text) = fixtures(Slot::Preflight, &["--enrollment", "panic"]);
    assert!(text.starts_with("wrote 0 fixtures"), "{text}");
    assert!(read_dir_names(&out_dir).is_empty());
}

/// `accord decisions export …`: the JSON lines, each parsed.
fn export(url: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["decisions", "export", "--database", url];
    args.extend_from_slice(extra);
    let out = accord(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        stderr(&out).trim_end().lines().last(),
        Some(format!("exported {} decisions", lines.len()).as_str())
    );
    lines
}

async fn export_writes_the_log_as_json_lines(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    accepted(&rig, &["e-exp-1", "e-exp-2", "e-exp-3"]).await;
    let url = database_url(&rig);
    let all = export(&url, &[]);
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM policy_decisions")
        .fetch_one(rig.w.app.db.pool())
        .await
        .unwrap();
    assert_eq!(all.len() as i64, total);
    assert!(total >= 9, "{total}");
    // Oldest first, every row whole, input and output JSON text.
    let order: Vec<(i64, String)> = all
        .iter()
        .map(|d| {
            (
                d["decided_at"].as_i64().unwrap(),
                d["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    for d in &all {
        assert_eq!(d["mode"], "active");
        assert_eq!(d["workspace_id"], rig.w.workspace.id.as_str());
        for field in ["input", "output"] {
            let text = d[field].as_str().unwrap();
            assert!(
                serde_json::from_str::<Value>(text).is_ok(),
                "{field}: {text}"
            );
        }
        assert!(d["summary"].is_string() && d["module_sha256"].is_string());
    }

    // The filters.
    let preflight = export(&url, &["--slot", "preflight"]);
    assert_eq!(preflight.len() as i64, logged(&rig, Slot::Preflight).await);
    assert!(preflight.iter().all(|d| d["slot"] == "preflight"));
    let about = export(&url, &["--enrollment", "e-exp-2"]);
    let mut slots: Vec<&str> = about.iter().map(|d| d["slot"].as_str().unwrap()).collect();
    slots.sort_unstable();
    assert_eq!(slots, ["match", "preflight", "routing"]);
    assert_eq!(export(&url, &["--limit", "4"]), all[..4].to_vec());
    assert_eq!(export(&url, &["--mode", "shadow"]).len(), 0);
    assert_eq!(export(&url, &["--mode", "active"]).len(), all.len());
    assert_eq!(export(&url, &["--workspace", "another"]).len(), 0);
    assert_eq!(
        export(&url, &["--workspace", &rig.w.workspace.id]).len(),
        all.len()
    );
    let sha = all[0]["module_sha256"].as_str().unwrap();
    assert!(
        export(&url, &["--module", sha])
            .iter()
            .all(|d| d["module_sha256"] == sha)
    );
    assert_eq!(export(&url, &["--until", "2026-10-10T14:30:00Z"]).len(), 0);
    let later = export(&url, &["--since", &(T0 + 10_001).to_string()]);
    assert_eq!(
        later,
        all.iter()
            .filter(|d| d["decided_at"].as_i64().unwrap() > T0 + 10_000)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert!(!later.is_empty() && later.len() < all.len());
}

on_both_databases!(
    replaying_the_defaults_reproduces_the_log,
    replaying_a_candidate_groups_its_differences,
    fixtures_from_the_log_pass_policy_test,
    export_writes_the_log_as_json_lines,
);

/// Refusals name what is wrong and exit 2, before anything is read.
#[test]
fn bad_arguments_are_named() {
    let module = default_wasm(Slot::Preflight);
    let dir = tempfile::tempdir().unwrap();
    let fresh = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("not-accord.db").display()
    );
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec![
                "policy",
                "replay",
                &module,
                "--slot",
                "preflight",
                "--database",
                "mysql://db",
            ],
            "invalid database URL `mysql://db`",
        ),
        (
            vec!["decisions", "export", "--database", &fresh],
            "is it an Accord database migrated to 0014 or later?",
        ),
        (
            vec![
                "policy",
                "replay",
                &module,
                "--slot",
                "preflight",
                "--database",
                &fresh,
                "--since",
                "yesterday",
            ],
            "`yesterday` is neither an RFC 3339 timestamp",
        ),
        (
            vec![
                "decisions",
                "export",
                "--database",
                &fresh,
                "--since",
                "2026-10-11T00:00:00Z",
                "--until",
                "2026-10-10T00:00:00Z",
            ],
            "--since (1791676800000) must be before --until (1791590400000)",
        ),
        (
            vec![
                "policy",
                "replay",
                &module,
                "--slot",
                "routing",
                "--database",
                &fresh,
            ],
            "does not implement the routing slot: wrong world",
        ),
        (
            vec!["policy", "fixtures", "--slot", "routing", "out"],
            "--database <URL>",
        ),
    ];
    for (args, message) in cases {
        let out = accord(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}
