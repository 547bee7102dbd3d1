//! `accord demo` in-process with a small cast: every accept path happens
//! and the counts are consistent (each accepted prospect notified once, at
//! most one follow-up per late accept, caps and windows held).

use accord::demo::{DemoArgs, PATHS, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_happens_and_the_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let prospects = 12;
    let args = DemoArgs {
        db: Some(dir.path().join("demo.db")),
        days: 10,
        prospects,
        quiet: true,
        seed: None,
    };
    let r = run(&args).await.unwrap();
    assert!(r.ok(), "the story is incomplete: {:#?}", r.failures);

    for path in PATHS {
        assert!(r.accepts(path) >= 1, "no accept via {path}: {r:#?}");
    }
    assert_eq!(r.accepts_by_path.values().sum::<i64>(), r.accepted);
    assert_eq!(r.stats["accepted"].as_i64(), Some(r.accepted));
    assert_eq!(r.stats["enrolled"].as_i64(), Some(prospects as i64));

    // Each accepted prospect is notified exactly once, signed.
    assert_eq!(r.notifications_delivered as i64, r.accepted);
    assert_eq!(r.notifications_distinct as i64, r.accepted);
    assert_eq!(r.accepted_notified_once, r.accepted);

    // Late accepts auto-fire exactly one follow-up each.
    assert!(r.late_accepts >= 1);
    assert!(r.late_followups_sent >= 1);
    assert!(r.late_followups_sent <= r.late_accepts);
    assert_eq!(r.followups_late, r.late_followups_sent);
    assert!(r.max_late_followups_per_enrollment <= 1);
    assert_eq!(r.stats["late_accepts"].as_i64(), Some(r.late_accepts));

    // In-time follow-ups never outnumber the accepts (two steps each).
    assert!(r.followups_first >= 1 && r.followups_first <= r.accepted);
    assert!(r.followups_second <= r.followups_first);

    // The envelope: one invite action per prospect, under the cap, in the window.
    assert_eq!(
        r.invites_per_day.values().sum::<i64>(),
        prospects as i64,
        "{:?}",
        r.invites_per_day
    );
    assert!(r.invites_per_day.values().all(|n| *n <= 20));
    assert_eq!(r.sent_outside_window, 0);
    assert_eq!(r.refused, 0);

    // The manual resync found the connection; the outsider was traced.
    let resync = r.resync.clone().expect("the resync scene ran");
    assert_eq!(resync["connected"], true);
    assert_eq!(resync["stamped"].as_array().map(Vec::len), Some(1));
    assert!(r.bridge_misses >= 1);
    assert!(dir.path().join("demo.db").exists());
}

#[tokio::test]
async fn refuses_settings_that_cannot_tell_the_story() {
    let dir = tempfile::tempdir().unwrap();
    let short = DemoArgs {
        db: Some(dir.path().join("a.db")),
        days: 5,
        ..DemoArgs::default()
    };
    let e = run(&short).await.unwrap_err().to_string();
    assert!(e.contains("--days"), "{e}");
    let few = DemoArgs {
        db: Some(dir.path().join("b.db")),
        prospects: 3,
        ..DemoArgs::default()
    };
    let e = run(&few).await.unwrap_err().to_string();
    assert!(e.contains("--prospects"), "{e}");
    let existing = dir.path().join("taken.db");
    std::fs::write(&existing, b"not fresh").unwrap();
    let taken = DemoArgs {
        db: Some(existing),
        ..DemoArgs::default()
    };
    let e = run(&taken).await.unwrap_err().to_string();
    assert!(e.contains("fresh"), "{e}");
}

/// The binary, twice with one seed: the same story and event-log digest
/// byte for byte; another seed, another digest.
#[test]
fn a_seed_replays_the_demo_byte_for_byte() {
    let run = |seed: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["demo", "--days", "10", "--prospects", "10", "--seed", seed])
            .arg("--db")
            .arg(dir.path().join("demo.db"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let digest = |story: &str| {
        story
            .lines()
            .find_map(|l| l.trim().strip_prefix("event log  sha256:"))
            .map(str::to_string)
            .expect("a digest line")
    };
    let first = run("7");
    assert_eq!(first, run("7"), "the same seed, the same story");
    assert_ne!(digest(&first), digest(&run("8")));
}
