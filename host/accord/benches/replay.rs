//! Replay throughput: a decision log written by the real pipeline (accept
//! webhooks stored in the inbox, then processed: each one's resolve,
//! route and pre-flight logged in the transaction of the change it
//! caused), then `lifecycle::decisions::replay` of each slot's built-in
//! default over it, as `accord policy replay` runs it (its runtime, its
//! limits), three runs each. Every replay must reproduce the log.
//!
//! Run: `cargo bench --bench replay` (SQLite; PostgreSQL too when
//! `ACCORD_BENCH_POSTGRES_URL` is set; `ACCORD_BENCH_ONLY=sqlite|postgres`
//! runs one; `ACCORD_BENCH_ACCEPTS` sets the accepts, default 7,000, three
//! decisions each). Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use accord::app::{App, AppConfig};
use accord::cli::policy::LimitArgs;
use accord::clock::SystemClock;
use accord::lifecycle::decisions::{ReplayScope, replay};
use accord::policy::{PolicyRuntime, Slot, builtin};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// LinkedIn accounts the prospects are spread over (a campaign each).
const ACCOUNTS: usize = 4;
/// Timed replays per slot.
const RUNS: usize = 3;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let accepts: usize = std::env::var("ACCORD_BENCH_ACCEPTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(7_000);
        let only = std::env::var("ACCORD_BENCH_ONLY").unwrap_or_default();
        println!(
            "| database | slot | decisions | run 1 | run 2 | run 3 | decisions/s (median run) | spread |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        let dir = tempfile::tempdir().unwrap();
        if only != "postgres" {
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("replay.db").display()
            );
            run("sqlite", AppConfig::new(url), accepts).await;
        }
        if only == "sqlite" {
            return;
        }
        if let Ok(url) = std::env::var("ACCORD_BENCH_POSTGRES_URL") {
            let mut config = AppConfig::new(url.clone());
            config.database_schema = Some(common::bench_schema());
            run("postgres", config, accepts).await;
            common::drop_bench_schemas(&url).await;
        }
    });
}

async fn run(name: &str, config: AppConfig, accepts: usize) {
    let app = App::start(config, Arc::new(SystemClock)).await.unwrap();
    let logged = log_traffic(name, &app, accepts).await;
    // The CLI's runtime: the server's limits, four calls at once.
    let runtime = PolicyRuntime::new(LimitArgs::default().maxima(), None).unwrap();
    let mut totals = [Duration::ZERO; RUNS];
    for slot in Slot::ALL {
        let (bytes, origin) = builtin::for_slot(slot);
        let module = runtime.load(bytes, origin, Some(slot)).unwrap();
        let mut times = Vec::with_capacity(RUNS);
        let mut replayed = 0;
        for total in totals.iter_mut() {
            let started = Instant::now();
            let report = replay(&app.db, &runtime, &module, &ReplayScope::default())
                .await
                .unwrap();
            let took = started.elapsed();
            assert_eq!(
                (report.same, report.different, report.errors),
                (report.replayed, 0, 0),
                "{slot}: the default reproduces its log"
            );
            replayed = report.replayed;
            *total += took;
            times.push(took);
        }
        row(name, slot.as_str(), replayed, &times);
    }
    row(name, "all three", logged, &totals);
}

/// Enrolls `accepts` prospects waiting on their accepts, stores an accept
/// webhook for each and lets the inbox process them; returns the
/// decisions logged.
async fn log_traffic(name: &str, app: &App, accepts: usize) -> u64 {
    let mut seeded = Vec::new();
    for a in 0..ACCOUNTS {
        seeded.push(common::seed_campaign(app, &account_name(a), 60_000, 20).await);
    }
    let started = Instant::now();
    let mut tx = app.db.begin().await.unwrap();
    for i in 0..accepts {
        let (account, campaign) = &seeded[i % ACCOUNTS];
        common::enroll_waiting(
            app,
            &mut tx,
            account,
            campaign,
            &format!("Prospect {i}"),
            &member(i),
        )
        .await;
    }
    tx.commit().await.unwrap();
    app.db.refresh_statistics().await.unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let rows: Vec<_> = (0..accepts)
        .map(|i| {
            let body = body(i);
            let c = accord::ingest::unipile::classify(body.as_bytes()).unwrap();
            accord::store::inbox::NewInboxRow::new(&c.natural_key, &c.name, &body, now)
        })
        .collect();
    let mut tx = app.db.begin().await.unwrap();
    for chunk in rows.chunks(1_000) {
        let refs: Vec<_> = chunk.iter().collect();
        accord::store::inbox::insert_many(&mut tx, &refs)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    while app.inbox.process_pending(500).await.unwrap() > 0 {}
    let logged = {
        let mut c = app.db.acquire().await.unwrap();
        accord::store::decisions::count(&mut c, Some("active"))
            .await
            .unwrap()
    };
    assert_eq!(
        logged,
        3 * accepts as i64,
        "a resolve, a route and a pre-flight per accept"
    );
    eprintln!(
        "{name}: {accepts} accepts, {logged} decisions logged through the pipeline in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    logged as u64
}

fn row(name: &str, what: &str, decisions: u64, times: &[Duration]) {
    let rate = |t: &Duration| decisions as f64 / t.as_secs_f64();
    let mut rates: Vec<f64> = times.iter().map(rate).collect();
    rates.sort_by(f64::total_cmp);
    let runs: Vec<String> = times
        .iter()
        .map(|t| format!("{:.2} s", t.as_secs_f64()))
        .collect();
    let (lo, median, hi) = (rates[0], rates[rates.len() / 2], rates[rates.len() - 1]);
    println!(
        "| {name} | {what} | {decisions} | {} | {median:.0} | {lo:.0}–{hi:.0}/s |",
        runs.join(" | ")
    );
}

fn account_name(a: usize) -> String {
    format!("replay-account-{a}")
}

fn member(i: usize) -> String {
    accord::simulator::encode_member_id(false, 200_000_000 + i as u64)
}

fn body(i: usize) -> String {
    serde_json::json!({
        "event": "new_relation", "account_id": account_name(i % ACCOUNTS), "account_type": "LINKEDIN", "webhook_name": "",
        "user_full_name": format!("Prospect {i}"), "user_provider_id": member(i),
        "user_public_identifier": format!("prospect-{i}"),
        "user_profile_url": format!("https://www.linkedin.com/in/prospect-{i}/"),
        "user_picture_url": "https://media.licdn.com/x"
    })
    .to_string()
}
