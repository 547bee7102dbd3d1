//! Webhook ingest end to end under a load generator on loopback:
//! HTTP → inbox → match → stamp → outbox → route → pre-flight → enqueue,
//! against a same-run baseline of a bare axum handler that inserts the raw
//! body in one transaction on the same database.
//!
//! Run: `cargo bench --bench ingest` (SQLite; PostgreSQL too when
//! `ACCORD_BENCH_POSTGRES_URL` is set; `ACCORD_BENCH_ONLY=sqlite` or
//! `=postgres` runs one of them; `ACCORD_BENCH_DRAIN_ONLY=1` runs only the
//! drain, the pipeline's own rate with no HTTP load;
//! `ACCORD_BENCH_LOG_COMPARE=1` compares two hosts, the decision log off
//! and on, in turns (closed loop and drain);
//! `ACCORD_BENCH_OPEN_ONLY=1` only the open loop at 1,000/s, four times per
//! target in turns; `ACCORD_BENCH_TIMELINE=1` also prints each load's e2e
//! latency per 250 ms on stderr). Prints Markdown tables.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use accord::app::{App, AppConfig};
use accord::clock::{SystemClock, new_id};
use axum::extract::State;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret-value";
/// Enough for every request of a target (warm-up, rounds, open loop) and
/// the drain.
const PROSPECTS: usize = WARM_UP
    + ROUNDS * CLOSED_LOOP_REQUESTS
    + (OPEN_LOOP_RATE * OPEN_LOOP_SECONDS) as usize
    + DRAIN_ROWS;
/// LinkedIn accounts the prospects are spread over (each with its own
/// running campaign): a hosted service's traffic comes from many accounts,
/// and PostgreSQL processes different accounts side by side.
const ACCOUNTS: usize = 8;
const CLOSED_LOOP_REQUESTS: usize = 6_000;
/// Closed-loop rounds per target, alternating baseline and Accord.
const ROUNDS: usize = 3;
/// Unmeasured requests per target before the rounds.
const WARM_UP: usize = 500;
const CONCURRENCY: usize = 32;
const OPEN_LOOP_RATE: u64 = 1_000;
const OPEN_LOOP_SECONDS: u64 = 5;
/// Rows stored at once, then processed with no HTTP load: the pipeline's
/// own capacity.
const DRAIN_ROWS: usize = 6_000;
/// Open loops per target with `ACCORD_BENCH_OPEN_ONLY` (their prospects
/// are the ones the closed-loop rounds would use).
const OPEN_ONLY_RUNS: usize = 4;

fn main() {
    // The load generator runs on its own runtime and threads, as a separate
    // process (wrk, oha) would: on the server's runtime its tasks queued
    // with the server's and the processor's, and every database round
    // trip of a batch waited behind them.
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load-generator")
        .enable_all()
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let load = Load {
        handle: load.handle().clone(),
        _runtime: load,
    };
    rt.block_on(async {
        println!("| database | target | mode | requests | acks/s | processed/s | ack p50 | ack p99 | e2e p50 | e2e p99 |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
        // ACCORD_BENCH_ONLY=postgres (or sqlite) runs one database.
        let only = std::env::var("ACCORD_BENCH_ONLY").unwrap_or_default();
        let compare = std::env::var("ACCORD_BENCH_LOG_COMPARE").is_ok();
        if only != "postgres" {
            if compare {
                let other = format!("sqlite://{}?mode=rwc", dir.path().join("bench-on.db").display());
                log_compare("sqlite", AppConfig::new(sqlite), AppConfig::new(other), &load).await;
            } else {
                run("sqlite", AppConfig::new(sqlite), &load).await;
            }
        }
        if only == "sqlite" {
            return;
        }
        if let Ok(url) = std::env::var("ACCORD_BENCH_POSTGRES_URL") {
            let config = || {
                let mut config = AppConfig::new(url.clone());
                config.database_schema = Some(common::bench_schema());
                config
            };
            if compare {
                log_compare("postgres", config(), config(), &load).await;
            } else {
                run("postgres", config(), &load).await;
            }
            common::drop_bench_schemas(&url).await;
        }
    });
}

/// The load generator's runtime.
struct Load {
    handle: tokio::runtime::Handle,
    _runtime: tokio::runtime::Runtime,
}

impl Load {
    /// [`closed_loop`] of `n` requests on the load generator's runtime.
    async fn closed_loop(
        &self,
        client: &reqwest::Client,
        url: &str,
        next: &mut usize,
        n: usize,
    ) -> (f64, Vec<Duration>) {
        let start = *next;
        *next += n;
        let run = closed_loop(client.clone(), url.to_string(), start, n);
        self.handle.spawn(run).await.unwrap()
    }

    /// [`open_loop`] on the load generator's runtime.
    async fn open_loop(
        &self,
        client: &reqwest::Client,
        url: &str,
        next: &mut usize,
    ) -> (f64, Vec<Duration>) {
        let start = *next;
        *next += (OPEN_LOOP_RATE * OPEN_LOOP_SECONDS) as usize;
        let run = open_loop(client.clone(), url.to_string(), start);
        self.handle.spawn(run).await.unwrap()
    }
}

/// A host seeded with [`PROSPECTS`] waiting prospects over [`ACCOUNTS`]
/// accounts, its workers running, serving on loopback (with the bare
/// baseline handler beside it).
struct Started {
    app: Arc<App>,
    addr: std::net::SocketAddr,
    shutdown: tokio::sync::watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Started {
    async fn stop(self) {
        let _ = self.shutdown.send(true);
        for w in self.workers {
            let _ = w.await;
        }
    }
}

async fn start(mut config: AppConfig) -> Started {
    config.webhook_secret = Some(SECRET.into());
    let app = App::start(config, Arc::new(SystemClock)).await.unwrap();
    let mut seeded = Vec::new();
    for a in 0..ACCOUNTS {
        seeded.push(common::seed_campaign(&app, &account_name(a), 60_000, 20).await);
    }
    let mut tx = app.db.begin().await.unwrap();
    for i in 0..PROSPECTS {
        let (account, campaign) = &seeded[i % ACCOUNTS];
        common::enroll_waiting(
            &app,
            &mut tx,
            account,
            campaign,
            &format!("Prospect {i}"),
            &member(i),
        )
        .await;
    }
    tx.commit().await.unwrap();
    // What an import of this size does (`STATISTICS_AFTER_IMPORT`).
    app.db.refresh_statistics().await.unwrap();
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_raw (id TEXT PRIMARY KEY, body TEXT NOT NULL, received_at BIGINT NOT NULL)")
        .execute(app.db.pool())
        .await
        .unwrap();
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let workers = accord::workers::spawn_workers(&app, shutdown_rx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = accord::http::router(app.clone()).merge(
        axum::Router::new()
            .route("/baseline", axum::routing::post(baseline))
            .with_state(app.clone()),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Started {
        app,
        addr,
        shutdown,
        workers,
    }
}

/// The decision log's cost: two hosts on two databases of one kind, the
/// log off on one and on on the other, the same closed loop and drain in
/// turns; prints each round and the ratio of the totals (processed/s).
async fn log_compare(name: &str, off: AppConfig, on: AppConfig, load: &Load) {
    let mut hosts = Vec::new();
    for (label, mut config) in [("log off", off), ("log on", on)] {
        config.decision_log.enabled = label == "log on";
        hosts.push((label, start(config).await));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY * 2)
        .build()
        .unwrap();
    let urls: Vec<String> = hosts
        .iter()
        .map(|(_, h)| format!("http://{}/webhooks/unipile", h.addr))
        .collect();
    let mut next = [0usize; 2];
    for (k, (_, h)) in hosts.iter().enumerate() {
        load.closed_loop(&client, &urls[k], &mut next[k], WARM_UP)
            .await;
        wait_until_drained(&h.app).await;
    }
    let mut totals = [(0.0f64, 0.0f64); 2];
    for round in 1..=ROUNDS {
        for (k, (label, h)) in hosts.iter().enumerate() {
            let since = now_ms();
            let (rps, lat) = load
                .closed_loop(&client, &urls[k], &mut next[k], CLOSED_LOOP_REQUESTS)
                .await;
            wait_until_drained(&h.app).await;
            let (e2e, processed) = drain_and_e2e(&h.app, since).await;
            totals[k].0 += CLOSED_LOOP_REQUESTS as f64;
            totals[k].1 += CLOSED_LOOP_REQUESTS as f64 / processed;
            report(
                name,
                label,
                &format!("closed loop, 32 conns, round {round}"),
                CLOSED_LOOP_REQUESTS,
                (rps, processed),
                &lat,
                &e2e,
            );
        }
    }
    let rate = |(n, seconds): (f64, f64)| n / seconds;
    println!(
        "| {name} | log on / log off | closed loop, {ROUNDS} rounds | {} | – | {:.0} / {:.0} = {:.0} % | – | – | – | – |",
        ROUNDS * CLOSED_LOOP_REQUESTS,
        rate(totals[1]),
        rate(totals[0]),
        100.0 * rate(totals[1]) / rate(totals[0])
    );
    for (k, (label, h)) in hosts.iter().enumerate() {
        eprintln!("{name} {label}: drain");
        drain(&format!("{name} ({label})"), &h.app, next[k]).await;
    }
    let (logged,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM policy_decisions")
        .fetch_one(hosts[1].1.app.db.pool())
        .await
        .unwrap();
    println!("\n{name}: {logged} decisions logged with the log on\n");
    for (_, h) in hosts {
        h.stop().await;
    }
}

async fn run(name: &str, config: AppConfig, load: &Load) {
    let Started {
        app,
        addr,
        shutdown: shutdown_tx,
        workers,
    } = start(config).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY * 2)
        .build()
        .unwrap();

    let baseline_url = format!("http://{addr}/baseline");
    let accord_url = format!("http://{addr}/webhooks/unipile");
    if std::env::var("ACCORD_BENCH_OPEN_ONLY").is_ok() {
        // Only the latency target: warm-up, then the open loop at
        // 1,000/s several times, baseline and Accord in turns.
        let targets = [("baseline", &baseline_url), ("accord", &accord_url)];
        let mut next = [0usize; 2];
        for (k, (_, url)) in targets.iter().enumerate() {
            load.closed_loop(&client, url, &mut next[k], WARM_UP).await;
        }
        wait_until_drained(&app).await;
        for _ in 0..OPEN_ONLY_RUNS {
            open_loops(name, &app, load, &client, &targets, &mut next).await;
        }
        return;
    }
    if std::env::var("ACCORD_BENCH_DRAIN_ONLY").is_ok() {
        // Three drains of fresh prospects: this VM's noise shows.
        for k in 0..3 {
            drain(name, &app, k * DRAIN_ROWS).await;
        }
        return;
    }
    // Both targets get the same webhooks (the baseline stores them only),
    // each from its own cursor.
    let targets = [("baseline", &baseline_url), ("accord", &accord_url)];
    let mut next = [0usize; 2];
    for (k, (_, url)) in targets.iter().enumerate() {
        // Unmeasured: connections opened, statements prepared.
        load.closed_loop(&client, url, &mut next[k], WARM_UP).await;
    }
    // Accord's warm-up processed before the rounds start.
    wait_until_drained(&app).await;
    // Rounds alternate the targets, so a change in this VM's speed during
    // the run falls on both; the ratio is of the rounds' totals.
    let mut totals = [(0.0f64, 0.0f64); 2];
    for round in 1..=ROUNDS {
        for (k, (target, url)) in targets.iter().enumerate() {
            eprintln!("{name} {target}: closed loop starts (round {round})");
            let machine_before = machine_cpu_ms();
            let since = now_ms();
            let (rps, lat) = load
                .closed_loop(&client, url, &mut next[k], CLOSED_LOOP_REQUESTS)
                .await;
            wait_until_drained(&app).await;
            eprintln!(
                "{name} {target} closed loop: {:.0} µs of the whole machine's CPU per webhook (load generator and database server included)",
                (machine_cpu_ms() - machine_before) * 1000.0 / CLOSED_LOOP_REQUESTS as f64
            );
            let (e2e, processed) = if *target == "accord" {
                drain_and_e2e(&app, since).await
            } else {
                // For the baseline, storing the webhook is all there is.
                (Vec::new(), rps)
            };
            totals[k].0 += CLOSED_LOOP_REQUESTS as f64;
            totals[k].1 += CLOSED_LOOP_REQUESTS as f64 / processed;
            report(
                name,
                target,
                &format!("closed loop, 32 conns, round {round}"),
                CLOSED_LOOP_REQUESTS,
                (rps, processed),
                &lat,
                &e2e,
            );
        }
    }
    let rate = |(n, seconds): (f64, f64)| n / seconds;
    println!(
        "| {name} | accord / baseline | closed loop, {ROUNDS} rounds | {} | – | {:.0} / {:.0} = {:.0} % | – | – | – | – |",
        ROUNDS * CLOSED_LOOP_REQUESTS,
        rate(totals[1]),
        rate(totals[0]),
        100.0 * rate(totals[1]) / rate(totals[0])
    );
    open_loops(name, &app, load, &client, &targets, &mut next).await;
    let next_unused = next[1];
    drain(name, &app, next_unused).await;
    let (jobs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM campaign_send_jobs")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let (stamped,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM enrollments WHERE linkedin_accepted_at IS NOT NULL")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    println!("\n{name}: {stamped} accepts stamped, {jobs} follow-up jobs enqueued\n");
    let _ = shutdown_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
}

/// The open loop at 1,000/s for each target in turn, each reported.
async fn open_loops(
    name: &str,
    app: &App,
    load: &Load,
    client: &reqwest::Client,
    targets: &[(&str, &String); 2],
    next: &mut [usize; 2],
) {
    for (k, (target, url)) in targets.iter().enumerate() {
        let since = now_ms();
        let (rps, lat) = load.open_loop(client, url, &mut next[k]).await;
        // The open loop sends at a fixed rate: the first requests are the
        // first START ms.
        let split = ((START as u64 * OPEN_LOOP_RATE / 1000) as usize).min(lat.len());
        print_start_and_rest(&format!("{target}: ack"), &lat[..split], &lat[split..]);
        let (e2e, processed) = if *target == "accord" {
            drain_and_e2e(app, since).await
        } else {
            (Vec::new(), rps)
        };
        report(
            name,
            target,
            "open loop, 1,000/s",
            (OPEN_LOOP_RATE * OPEN_LOOP_SECONDS) as usize,
            (rps, processed),
            &lat,
            &e2e,
        );
    }
}

/// Stores [`DRAIN_ROWS`] webhooks in one transaction, lets the processor
/// take them, and reports its rate: rows over the span of their
/// `processed_at`, so neither the insert nor the pick-up delay counts.
async fn drain(name: &str, app: &App, first: usize) {
    let now = now_ms();
    let rows: Vec<_> = (first..first + DRAIN_ROWS)
        .map(|i| {
            let body = body(i);
            let c = accord::ingest::unipile::classify(body.as_bytes()).unwrap();
            accord::store::inbox::NewInboxRow::new(&c.natural_key, &c.name, &body, now)
        })
        .collect();
    eprintln!("{name}: drain starts");
    let (cpu_before, machine_before, switches_before) =
        (cpu_ms(), machine_cpu_ms(), context_switches());
    let mut tx = app.db.begin().await.unwrap();
    let refs: Vec<_> = rows.iter().collect();
    accord::store::inbox::insert_many(&mut tx, &refs)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    wait_until_drained(app).await;
    let cpu = cpu_ms() - cpu_before;
    let switches = context_switches() - switches_before;
    let machine = machine_cpu_ms() - machine_before;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut span = (i64::MAX, i64::MIN);
    for chunk in ids.chunks(500) {
        let statement = format!(
            "SELECT MIN(processed_at), MAX(processed_at) FROM webhook_inbox WHERE id IN ({})",
            accord::store::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(statement));
        for id in chunk {
            q = q.bind(*id);
        }
        let (lo, hi) = q.fetch_one(app.db.pool()).await.unwrap();
        span = (span.0.min(lo), span.1.max(hi));
    }
    let rate = DRAIN_ROWS as f64 * 1000.0 / (span.1 - span.0).max(1) as f64;
    println!(
        "| {name} | accord | drain: {DRAIN_ROWS} stored, then processed | {DRAIN_ROWS} | – | {rate:.0} | – | – | – | – |"
    );
    // Host CPU (both threads' user + system), insert included; on
    // PostgreSQL the server's own CPU is not in it.
    eprintln!(
        "{name} drain: {:.0} µs of host CPU per webhook, {:.0} µs of the whole machine's (database server included), {:.1} context switches of the host's threads per webhook",
        cpu * 1000.0 / DRAIN_ROWS as f64,
        machine * 1000.0 / DRAIN_ROWS as f64,
        switches as f64 / DRAIN_ROWS as f64
    );
}

/// The whole machine's busy CPU time so far, ms (Linux `/proc/stat`):
/// on PostgreSQL the server's share of the work is in it.
fn machine_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and
    // iowait, in clock ticks (100 Hz).
    let busy: f64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, t)| t)
        .sum();
    busy * 10.0
}

/// Context switches of this process's threads so far (Linux: voluntary
/// and involuntary, summed over `/proc/self/task/*/status`). Each hand-off
/// between a tokio worker and a SQLite connection's thread is one or two.
fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// This process's user + system CPU time so far, ms (Linux).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are
    // the 12th and 13th of them, in clock ticks (100 Hz).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) * 10.0
}

async fn baseline(State(app): State<Arc<App>>, body: axum::body::Bytes) -> axum::http::StatusCode {
    let mut tx = app.db.begin().await.unwrap();
    sqlx::query("INSERT INTO bench_raw (id, body, received_at) VALUES ($1, $2, $3)")
        .bind(new_id())
        .bind(String::from_utf8_lossy(&body).into_owned())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    axum::http::StatusCode::OK
}

/// A realistic member id: distinct member numbers (bytes 2..8).
fn member(i: usize) -> String {
    accord::simulator::encode_member_id(false, 100_000_000 + i as u64)
}

fn account_name(a: usize) -> String {
    format!("bench-account-{a}")
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

async fn send(client: &reqwest::Client, url: &str, i: usize) {
    let resp = client
        .post(url)
        .header("unipile-auth", SECRET)
        .body(body(i))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

async fn closed_loop(
    client: reqwest::Client,
    url: String,
    start_index: usize,
    n: usize,
) -> (f64, Vec<Duration>) {
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, counter) = (client.clone(), url.to_string(), counter.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let k = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if k >= n {
                        return lat;
                    }
                    let t = Instant::now();
                    send(&client, &url, start_index + k).await;
                    lat.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    (n as f64 / started.elapsed().as_secs_f64(), lat)
}

/// Sends at a fixed rate; latency counts from the scheduled send time, so
/// a slow server cannot hide its queueing (no coordinated omission).
async fn open_loop(
    client: reqwest::Client,
    url: String,
    start_index: usize,
) -> (f64, Vec<Duration>) {
    let n = (OPEN_LOOP_RATE * OPEN_LOOP_SECONDS) as usize;
    let started = Instant::now();
    let interval = Duration::from_nanos(1_000_000_000 / OPEN_LOOP_RATE);
    let mut tasks = Vec::with_capacity(n);
    for k in 0..n {
        let scheduled = started + interval * k as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, url) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            send(&client, &url, start_index + k).await;
            scheduled.elapsed()
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    (n as f64 / started.elapsed().as_secs_f64(), lat)
}

/// Wall-clock ms, the clock the host stamps `received_at` with.
fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Waits for the inbox to drain; returns receive → processed latencies of
/// the rows received since `since` (ms) and the rows processed per second
/// from the first receipt to the last completion (the rows' own
/// timestamps). Read-only: until session 12 this reset the rows'
/// `processed_at` instead, one UPDATE of a whole load's rows right before
/// the next load was measured (on PostgreSQL, thousands of dead row
/// versions in the table the next load writes to).
async fn drain_and_e2e(app: &App, since: i64) -> (Vec<Duration>, f64) {
    wait_until_drained(app).await;
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT received_at, processed_at FROM webhook_inbox WHERE received_at >= $1 AND processed_at IS NOT NULL",
    )
    .bind(since)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let first = rows.iter().map(|r| r.0).min().unwrap_or(0);
    let last = rows.iter().map(|r| r.1).max().unwrap_or(0);
    if std::env::var("ACCORD_BENCH_TIMELINE").is_ok() {
        print_timeline(&rows, first);
    }
    let rate = rows.len() as f64 * 1000.0 / (last - first).max(1) as f64;
    let (start, rest): (Vec<_>, Vec<_>) = rows.iter().partition(|(r, _)| r - first < START);
    let e2e_of = |rows: Vec<&(i64, i64)>| -> Vec<Duration> {
        rows.into_iter()
            .map(|(r, p)| Duration::from_millis((p - r).max(0) as u64))
            .collect()
    };
    let (start, rest) = (e2e_of(start), e2e_of(rest));
    print_start_and_rest("e2e", &start, &rest);
    ([start, rest].concat(), rate)
}

/// Prints (stderr) a load's e2e latency over time, per 250 ms of receipt:
/// the slowest row and how many took 15 ms or more. A p99 made by a
/// spike (a stall of the VM, a cold start) shows apart from one made by a
/// slow steady state.
fn print_timeline(rows: &[(i64, i64)], first: i64) {
    let mut buckets = std::collections::BTreeMap::<i64, (i64, usize)>::new();
    for (received, processed) in rows {
        let bucket = buckets.entry((received - first) / 250).or_default();
        bucket.0 = bucket.0.max(processed - received);
        bucket.1 += usize::from(processed - received >= 15);
    }
    let line: Vec<String> = buckets
        .values()
        .map(|(max, slow)| format!("{max}/{slow}"))
        .collect();
    eprintln!(
        "e2e per 250 ms (slowest ms / rows of 15 ms or more): {}",
        line.join(" ")
    );
}

/// The first half second of a load after the host sat idle.
const START: i64 = 500;

/// Prints (stderr) the p99 of `what` for a load's first [`START`] ms and
/// for the rest. Session 11 found loads whose first batches were several
/// times slower, on both databases, the bare baseline untouched; session
/// 12 found two causes, the bench's own UPDATE of the last load's rows and
/// PostgreSQL connections running the pipeline's statements for the first
/// time (see [`accord::store::Db::dedicated`]). This shows whether a start
/// still makes the p99.
fn print_start_and_rest(what: &str, start: &[Duration], rest: &[Duration]) {
    let (mut start, mut rest) = (start.to_vec(), rest.to_vec());
    eprintln!(
        "{what} p99 of the first {START} ms: {} ({} rows); of the rest: {} ({} rows)",
        pct(&mut start, 0.99),
        start.len(),
        pct(&mut rest, 0.99),
        rest.len()
    );
}

fn pct(v: &mut [Duration], q: f64) -> String {
    if v.is_empty() {
        return "–".into();
    }
    v.sort();
    let d = v[((v.len() - 1) as f64 * q) as usize];
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn report(
    db: &str,
    target: &str,
    mode: &str,
    n: usize,
    (rps, processed): (f64, f64),
    lat: &[Duration],
    e2e: &[Duration],
) {
    let (mut lat, mut e2e) = (lat.to_vec(), e2e.to_vec());
    println!(
        "| {db} | {target} | {mode} | {n} | {rps:.0} | {processed:.0} | {} | {} | {} | {} |",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        pct(&mut e2e, 0.5),
        pct(&mut e2e, 0.99)
    );
}

/// Waits until no inbox row is pending.
async fn wait_until_drained(app: &App) {
    loop {
        // A probe that stops at the first pending row: counting them all
        // every 20 ms cost the database ~1 ms each time (a few % of the
        // machine taken from the system under test).
        let pending: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM webhook_inbox WHERE status = 'pending' LIMIT 1")
                .fetch_optional(app.db.pool())
                .await
                .unwrap();
        if pending.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
