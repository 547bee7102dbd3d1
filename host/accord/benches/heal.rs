//! The heal ticks' selections at scale: with a million enrollments (the
//! mix in `common/heal_data.rs`), how long each heal takes to pick its
//! rows, and the plan the database uses.
//!
//! Run: `cargo bench --bench heal` (SQLite; PostgreSQL too when
//! `ACCORD_BENCH_POSTGRES_URL` is set). `ACCORD_BENCH_ENROLLMENTS` sets
//! the size (default 1,000,000), `ACCORD_BENCH_ONLY=sqlite|postgres` one
//! database. Prints a Markdown table and each plan.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use accord::app::{App, AppConfig};
use accord::clock::{SharedClock, SystemClock};
use accord::engine::{Tick, Ticks};
use accord::provider::LinkedinProvider;
use accord::provider::unipile::UnipileClient;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SAMPLES: usize = 21;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let n: usize = std::env::var("ACCORD_BENCH_ENROLLMENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let only = std::env::var("ACCORD_BENCH_ONLY").ok();
        let mut targets = vec![("sqlite", None)];
        if let Ok(url) = std::env::var("ACCORD_BENCH_POSTGRES_URL") {
            targets.push(("postgres", Some(url)));
        }
        targets.retain(|(name, _)| only.as_deref().is_none_or(|o| o == *name));
        let mut plans = Vec::new();
        println!(
            "| database | enrollments | tick | rows picked | median | min | max | seed time |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for (name, url) in &targets {
            plans.extend(heal(name, url.as_deref(), n).await);
        }
        for (name, tick, plan) in plans {
            println!("\n{name} {tick}:\n```\n{plan}```");
        }
        if let Some((_, Some(url))) = targets.last() {
            common::drop_bench_schemas(url).await;
        }
    });
}

async fn heal(name: &str, postgres: Option<&str>, n: usize) -> Vec<(String, &'static str, String)> {
    let dir = tempfile::tempdir().unwrap();
    let config = match postgres {
        None => AppConfig::new(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("heal.db").display()
        )),
        Some(url) => {
            let mut c = AppConfig::new(url);
            c.database_schema = Some(common::bench_schema());
            c
        }
    };
    let clock: SharedClock = Arc::new(SystemClock);
    // Never called: the bench only reads.
    let provider: Arc<dyn LinkedinProvider> = Arc::new(
        UnipileClient::new("http://127.0.0.1:9", "unused", Duration::from_secs(1)).unwrap(),
    );
    let app = App::start_with_provider(config, clock, Some(provider))
        .await
        .unwrap();
    let mut campaigns = Vec::new();
    for a in 0..4 {
        let (_, campaign) =
            common::seed_campaign(&app, &format!("heal-bench-{a}"), 60_000, 100).await;
        campaigns.push(campaign);
    }
    let started = Instant::now();
    let now = jiff::Timestamp::now().as_millisecond();
    let seeded = common::heal_data::seed(&app, &campaigns, n, now).await;
    common::heal_data::analyze(&app).await;
    let seed_time = started.elapsed();
    let ticks = Ticks::new(app.engine.clone().unwrap());
    let mut plans = Vec::new();
    for tick in [Tick::HealLate, Tick::HealStuck] {
        let mut rows = 0;
        let mut times = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let t = Instant::now();
            rows = ticks.selection(tick).await.unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "| {name} | {} | {} | {rows} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} s |",
            seeded.enrollments,
            tick.name(),
            ms(times[SAMPLES / 2]),
            ms(times[0]),
            ms(times[SAMPLES - 1]),
            seed_time.as_secs_f64(),
        );
        let plan = ticks.explain_selection(tick).await.unwrap().unwrap();
        plans.push((name.to_string(), tick.name(), plan));
    }
    plans
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
