//! The send engine, measured:
//! 1. accept → follow-up latency: a `new_relation` webhook POSTed to the
//!    host until the message arrives at the Unipile simulator (real
//!    clock, real HTTP both ways, window open, caps free);
//! 2. worker claim throughput with caps not binding.
//!
//! Run: `cargo bench --bench engine` (SQLite; PostgreSQL too when
//! `ACCORD_BENCH_POSTGRES_URL` is set). Prints Markdown tables.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use accord::app::{App, AppConfig};
use accord::clock::{SharedClock, SystemClock};
use accord::provider::LinkedinProvider;
use accord::provider::unipile::UnipileClient;
use accord::simulator::{PersonSpec, SimConfig, Simulator};
use accord::store::jobs;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LATENCY_SAMPLES: usize = 300;
const LATENCY_RATE_PER_S: u64 = 50;
const CLAIM_JOBS: usize = 20_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut targets = vec![("sqlite", None)];
        if let Ok(url) = std::env::var("ACCORD_BENCH_POSTGRES_URL") {
            targets.push(("postgres", Some(url)));
        }
        println!("| database | accepts | p50 | p90 | p99 | max |");
        println!("|---|---|---|---|---|---|");
        for (name, url) in &targets {
            latency(name, config(url.as_deref())).await;
        }
        println!();
        println!("| database | jobs | batch | claims/s |");
        println!("|---|---|---|---|");
        for (name, url) in &targets {
            for batch in [64, 256] {
                claims(name, config(url.as_deref()), batch).await;
            }
        }
        if let Some((_, Some(url))) = targets.last() {
            common::drop_bench_schemas(url).await;
        }
    });
}

fn config(postgres: Option<&str>) -> (AppConfig, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = match postgres {
        None => AppConfig::new(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("engine.db").display()
        )),
        Some(url) => {
            let mut c = AppConfig::new(url);
            c.database_schema = Some(common::bench_schema());
            c
        }
    };
    config.webhook_secret = Some("bench-secret-value".into());
    config.engine.spacing_jitter_ms = 0;
    (config, dir)
}

async fn latency(name: &str, (config, _dir): (AppConfig, tempfile::TempDir)) {
    let clock: SharedClock = Arc::new(SystemClock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook_url = format!("http://{}/webhooks/unipile", listener.local_addr().unwrap());
    let sim = Simulator::start(SimConfig::new("sim-key", clock.clone()))
        .await
        .unwrap();
    let account_id = "bench-account";
    sim.add_account_with_id(account_id);
    let client: Arc<dyn LinkedinProvider> =
        Arc::new(UnipileClient::new(&sim.base_url(), "sim-key", Duration::from_secs(10)).unwrap());
    let app = App::start_with_provider(config, clock.clone(), Some(client))
        .await
        .unwrap();
    let (account, campaign) = common::seed_campaign(&app, account_id, 0, 1_000_000).await;
    let mut people = Vec::new();
    let mut tx = app.db.begin().await.unwrap();
    for i in 0..LATENCY_SAMPLES {
        let person = sim.add_person(PersonSpec::new("Bench", &format!("Person{i}")));
        sim.connect(account_id, &person.provider_id, clock.now_ms());
        common::enroll_waiting(
            &app,
            &mut tx,
            &account,
            &campaign,
            &person.full_name(),
            &person.provider_id,
        )
        .await;
        people.push(person);
    }
    tx.commit().await.unwrap();
    // Only the webhooks under test may detect these accepts: no polling.
    sqlx::query("UPDATE linkedin_accounts SET next_poll_at = $1")
        .bind(i64::MAX / 2)
        .execute(app.db.pool())
        .await
        .unwrap();
    let router = accord::http::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = accord::workers::spawn_workers(&app, stop_rx);

    let http = reqwest::Client::new();
    let mut sent_at = Vec::new();
    let interval = Duration::from_nanos(1_000_000_000 / LATENCY_RATE_PER_S);
    let started = Instant::now();
    for (i, person) in people.iter().enumerate() {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let body = serde_json::json!({
            "event": "new_relation", "account_id": account_id, "account_type": "LINKEDIN", "webhook_name": "",
            "user_full_name": person.full_name(), "user_provider_id": person.provider_id,
            "user_public_identifier": person.public_identifier, "user_profile_url": person.profile_url(),
            "user_picture_url": "x"
        });
        sent_at.push(clock.now_ms());
        let resp = http
            .post(&webhook_url)
            .header("unipile-auth", "bench-secret-value")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
    // Wait for every message to arrive (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        latencies = people
            .iter()
            .zip(&sent_at)
            .filter_map(|(p, sent)| {
                sim.messages(account_id, &p.provider_id)
                    .into_iter()
                    .find(|m| m.from_self)
                    .map(|m| m.at_ms - sent)
            })
            .collect();
        if latencies.len() == people.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        latencies.len(),
        people.len(),
        "every accept got its follow-up"
    );
    latencies.sort();
    let q = |f: f64| latencies[((latencies.len() - 1) as f64 * f) as usize];
    println!(
        "| {name} | {} at {LATENCY_RATE_PER_S}/s | {} ms | {} ms | {} ms | {} ms |",
        latencies.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        latencies[latencies.len() - 1]
    );
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
}

async fn claims(name: &str, (mut config, _dir): (AppConfig, tempfile::TempDir), batch: usize) {
    config.engine.batch = batch;
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = Simulator::start(SimConfig::new("sim-key", clock.clone()))
        .await
        .unwrap();
    let client: Arc<dyn LinkedinProvider> =
        Arc::new(UnipileClient::new(&sim.base_url(), "sim-key", Duration::from_secs(10)).unwrap());
    let app = App::start_with_provider(config, clock.clone(), Some(client))
        .await
        .unwrap();
    let (account, campaign) = common::seed_campaign(&app, "claim-account", 0, 1_000_000_000).await;
    let mut tx = app.db.begin().await.unwrap();
    let now = clock.now_ms();
    for i in 0..CLAIM_JOBS {
        let id = common::enroll_waiting(
            &app,
            &mut tx,
            &account,
            &campaign,
            &format!("Claim {i}"),
            &accord::simulator::encode_member_id(false, 500_000_000 + i as u64),
        )
        .await;
        let job = jobs::NewJob {
            enrollment_id: &id,
            campaign_id: &campaign.id,
            linkedin_account_id: &account.id,
            step_index: 3,
            action: "send_message",
            source: "bench",
            run_at: now,
            wait_reason: None,
        };
        jobs::enqueue(&mut tx, &job, now).await.unwrap();
    }
    tx.commit().await.unwrap();
    let engine = app.engine.clone().unwrap();
    let started = Instant::now();
    let mut claimed = 0;
    loop {
        let got = engine.claim().await.unwrap();
        if got.is_empty() {
            break;
        }
        claimed += got.len();
    }
    let rate = claimed as f64 / started.elapsed().as_secs_f64();
    assert_eq!(claimed, CLAIM_JOBS);
    println!("| {name} | {claimed} | {batch} | {rate:.0} |");
}
