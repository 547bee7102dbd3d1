//! Re-keying 100,000 prospects (`ACCORD_BENCH_PROSPECTS`), each with one
//! invite target, on SQLite and (with `ACCORD_BENCH_POSTGRES_URL`)
//! PostgreSQL, through the re-key job's own path:
//!
//! - `sweep`: every prospect's keys are in another key space (a previous
//!   build's built-in module): the host's start keys them all into the
//!   built-in's space (`rekey_jobs::startup`: the sweep phase, pages of
//!   500, the switch, the old space deleted);
//! - `fill`: with `ACCORD_BENCH_MATCH_WASM` (a match component, e.g.
//!   tests/guests' `hostile_match.wasm`), that module uploaded for the
//!   workspace and its job run to the switch (`fill` then `sweep`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use accord::app::{App, AppConfig};
use accord::clock::{SharedClock, SystemClock};
use accord::lifecycle::policies::{self, UploadMeta};
use accord::lifecycle::rekey_jobs::{self, RekeyConfig};
use accord::policy::{Mode, Scope, Slot};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let n: usize = std::env::var("ACCORD_BENCH_PROSPECTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let module = std::env::var("ACCORD_BENCH_MATCH_WASM")
            .ok()
            .map(|p| std::fs::read(p).unwrap());
        let mut targets = vec![("sqlite", None)];
        if let Ok(url) = std::env::var("ACCORD_BENCH_POSTGRES_URL") {
            targets.push(("postgres", Some(url)));
        }
        println!("| database | prospects | job | pages | seconds | prospects/s | seed time |");
        println!("|---|---:|---|---:|---:|---:|---:|");
        for (name, url) in &targets {
            rekey(name, url.as_deref(), n, module.as_deref()).await;
        }
        if let Some((_, Some(url))) = targets.last() {
            common::drop_bench_schemas(url).await;
        }
    });
}

async fn rekey(name: &str, postgres: Option<&str>, n: usize, module: Option<&[u8]>) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = match postgres {
        None => AppConfig::new(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("rekey.db").display()
        )),
        Some(url) => {
            let mut c = AppConfig::new(url);
            c.database_schema = Some(common::bench_schema());
            c
        }
    };
    config.rekey = RekeyConfig {
        page: 500,
        inline_pages: 0,
    };
    let clock: SharedClock = Arc::new(SystemClock);
    let app = App::start(config, clock).await.unwrap();
    let seeding = Instant::now();
    let (account, campaign) = common::seed_campaign(&app, "rekey-bench", 60_000, 100).await;
    for chunk in 0..n.div_ceil(1_000) {
        let mut tx = app.db.begin().await.unwrap();
        for i in chunk * 1_000..((chunk + 1) * 1_000).min(n) {
            let name = format!("Prospect {i:07}");
            let provider = format!("ACoAAA{i:010}");
            common::enroll_waiting(&app, &mut tx, &account, &campaign, &name, &provider).await;
        }
        tx.commit().await.unwrap();
    }
    // A previous build's built-in module keyed them.
    sqlx::query("UPDATE match_keys SET key_space = 'previous-build'")
        .execute(app.db.pool())
        .await
        .unwrap();
    app.db.refresh_statistics().await.unwrap();
    let seed_s = seeding.elapsed().as_secs_f64();

    let started = Instant::now();
    let job = rekey_jobs::startup(app.policy_host())
        .await
        .unwrap()
        .unwrap();
    let s = started.elapsed().as_secs_f64();
    assert_eq!(
        (job.status.as_str(), job.done),
        ("done", n as i64),
        "{job:?}"
    );
    let (spaces,): (i64,) =
        sqlx::query_as("SELECT CAST(COUNT(DISTINCT key_space) AS BIGINT) FROM match_keys")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(spaces, 1, "the previous build's space is deleted");
    row(name, n, "sweep (start, new built-in)", s, seed_s);

    if let Some(bytes) = module {
        let host = app.policy_host();
        let scope = Scope::Workspace(account.workspace_id.clone());
        let started = Instant::now();
        let swap = policies::upload(
            host,
            Slot::Match,
            scope,
            Mode::Active,
            bytes.to_vec(),
            UploadMeta::default(),
        )
        .await
        .unwrap();
        assert_eq!(swap.status, "rekeying");
        let jobs = rekey_jobs::run_pending(host, None).await.unwrap();
        let s = started.elapsed().as_secs_f64();
        assert_eq!(jobs[0].status, "done", "{jobs:?}");
        row(name, n, "fill + sweep (workspace upload)", s, seed_s);
    }
}

fn row(name: &str, n: usize, job: &str, s: f64, seed_s: f64) {
    println!(
        "| {name} | {n} | {job} | {} | {s:.1} | {:.0} | {seed_s:.0} s |",
        n.div_ceil(500),
        n as f64 / s
    );
}
