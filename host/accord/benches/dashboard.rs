//! The dashboard's reads (issue 21) on a campaign of 100,000 prospects
//! (`ACCORD_BENCH_PROSPECTS`), on SQLite and (with
//! `ACCORD_BENCH_POSTGRES_URL`) PostgreSQL.
//!
//! The campaign is filled through the product: prospects imported by the
//! import lifecycle in batches of 5,000 (validated, keyed by the match
//! policy, enrolled), then accepts stamped by `new_relation` webhooks
//! through the inbox and the accept pipeline (`ACCORD_BENCH_ACCEPTS`,
//! default 2,000), and webhooks no strategy can attribute (200 bridge
//! misses). Each read, then each dashboard page, is timed through the HTTP router in process
//! (handler, lifecycle, store, JSON), `ACCORD_BENCH_RUNS` times (default
//! 40) after 3 unmeasured calls: median and p95. Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use accord::app::{App, AppConfig};
use accord::clock::{SharedClock, SystemClock};
use accord::lifecycle::prospects::{ImportRequest, ProspectInput, import};
use axum::body::Body;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Prospects per import (the API's bound).
const BATCH: usize = 5_000;
/// Webhooks for members nobody enrolled: the bridge-misses list.
const MISSES: usize = 200;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let n = env("ACCORD_BENCH_PROSPECTS", 100_000);
        let accepts = env("ACCORD_BENCH_ACCEPTS", 2_000).min(n);
        let runs = env("ACCORD_BENCH_RUNS", 40);
        let mut targets = vec![("sqlite", None)];
        if let Ok(url) = std::env::var("ACCORD_BENCH_POSTGRES_URL") {
            targets.push(("postgres", Some(url)));
        }
        for (name, url) in &targets {
            bench(name, url.as_deref(), n, accepts, runs).await;
        }
        if let Some((_, Some(url))) = targets.last() {
            common::drop_bench_schemas(url).await;
        }
    });
}

fn member(i: usize) -> String {
    accord::simulator::encode_member_id(false, 200_000_000 + i as u64)
}

fn new_relation(account: &str, member: &str, slug: &str) -> String {
    serde_json::json!({
        "event": "new_relation", "account_id": account, "account_type": "LINKEDIN", "webhook_name": "",
        "user_full_name": "Someone", "user_provider_id": member,
        "user_public_identifier": slug,
        "user_profile_url": format!("https://www.linkedin.com/in/{slug}/"),
        "user_picture_url": "https://media.licdn.com/x"
    })
    .to_string()
}

async fn bench(name: &str, postgres: Option<&str>, n: usize, accepts: usize, runs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let config = match postgres {
        None => AppConfig::new(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("dashboard.db").display()
        )),
        Some(url) => {
            let mut c = AppConfig::new(url);
            c.database_schema = Some(common::bench_schema());
            c
        }
    };
    let clock: SharedClock = Arc::new(SystemClock);
    let app = App::start(config, clock).await.unwrap();
    let seeding = Instant::now();
    let (account, campaign) = common::seed_campaign(&app, "dashboard-bench", 60_000, 100).await;
    for batch in 0..n.div_ceil(BATCH) {
        let prospects = (batch * BATCH..((batch + 1) * BATCH).min(n))
            .map(|i| ProspectInput {
                full_name: Some(format!("Prospect {i:06}")),
                profile_url: Some(format!("https://www.linkedin.com/in/prospect-{i}")),
                member_id: Some(member(i)),
                ..ProspectInput::default()
            })
            .collect();
        let report = import(&app, &campaign.id, ImportRequest { prospects }, "bench")
            .await
            .unwrap();
        assert!(report.rejected.is_empty(), "{:?}", report.rejected.first());
    }
    let imported_s = seeding.elapsed().as_secs_f64();
    // Accepts spread over the campaign, then members nobody enrolled.
    let step = (n / accepts.max(1)).max(1);
    let bodies = (0..accepts)
        .map(|k| {
            let i = k * step;
            new_relation(
                &account.provider_account_id,
                &member(i),
                &format!("prospect-{i}"),
            )
        })
        .chain((0..MISSES).map(|k| {
            new_relation(
                &account.provider_account_id,
                &member(n + 10_000 + k),
                &format!("stranger-{k}"),
            )
        }));
    for body in bodies {
        app.inbox.receive(body.as_bytes()).await.unwrap();
    }
    while app.inbox.process_pending(500).await.unwrap() > 0 {}
    app.db.refresh_statistics().await.unwrap();
    let seed_s = seeding.elapsed().as_secs_f64();

    let router = accord::http::router(app.clone());
    let get = |path: String| {
        let router = router.clone();
        async move {
            let req = axum::http::Request::get(&path).body(Body::empty()).unwrap();
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            assert!(status.is_success(), "{path}: {status} {body:?}");
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        }
    };
    let ws = &account.workspace_id;
    let k = &campaign.id;
    let table = format!("/api/campaigns/{k}/prospects");
    let stats = get(format!("/api/campaigns/{k}/stats")).await;
    assert_eq!(stats["enrolled"], n, "{stats}");
    let accepted = stats["accepted"].as_i64().unwrap();
    // A cursor in the middle of the campaign: 100 pages of 500 on.
    let mut cursor = String::new();
    for _ in 0..(n / 2 / 500) {
        let page = get(format!("{table}?limit=500{cursor}")).await;
        cursor = format!("&cursor={}", page["next_cursor"].as_str().unwrap());
    }
    let accepted_page = get(format!("{table}?status=accepted&limit=1")).await;
    let prospect = accepted_page["items"][0]["prospect_id"]
        .as_str()
        .unwrap()
        .to_string();
    let reads: Vec<(&str, String)> = vec![
        ("workspaces", "/api/workspaces".into()),
        ("overview", format!("/api/workspaces/{ws}/overview")),
        ("campaign stats", format!("/api/campaigns/{k}/stats")),
        ("table: first page (50)", format!("{table}?limit=50")),
        (
            "table: page in the middle (50)",
            format!("{table}?limit=50{cursor}"),
        ),
        (
            "table: status=accepted (50)",
            format!("{table}?status=accepted&limit=50"),
        ),
        (
            "table: status=not_invited (50)",
            format!("{table}?status=not_invited&limit=50"),
        ),
        (
            "table: status=replied (none)",
            format!("{table}?status=replied&limit=50"),
        ),
        (
            "table: status=late_accept (none)",
            format!("{table}?status=late_accept&limit=50"),
        ),
        (
            "table: q=prospect (every row matches)",
            format!("{table}?q=prospect&limit=50"),
        ),
        (
            "table: q=004321 (one row, in the first window)",
            format!("{table}?q=004321&limit=50"),
        ),
        (
            "table: q=zz-nobody (no row, one window)",
            format!("{table}?q=zz-nobody&limit=50"),
        ),
        ("table: 500 rows", format!("{table}?limit=500")),
        (
            "late accepts (50)",
            format!("/api/workspaces/{ws}/late-accepts?limit=50"),
        ),
        (
            "bridge misses (50)",
            format!("/api/workspaces/{ws}/bridge-misses?limit=50"),
        ),
        (
            "prospect timeline (accepted)",
            format!("/api/prospects/{prospect}/timeline"),
        ),
    ];
    // The dashboard's pages (HTML, open access: no token configured), on
    // the same data: each is its reads plus the template's rendering.
    let page = |path: String| {
        let router = router.clone();
        async move {
            let req = axum::http::Request::get(&path).body(Body::empty()).unwrap();
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            assert!(status.is_success(), "{path}: {status}");
            body.len()
        }
    };
    let page_cursor = cursor.replacen("&cursor=", "?cursor=", 1);
    let pages: Vec<(&str, String)> = vec![
        ("page: overview", format!("/ui/workspaces/{ws}")),
        ("page: live counts", format!("/ui/workspaces/{ws}/counts")),
        ("page: campaign (first 50)", format!("/ui/campaigns/{k}")),
        (
            "page: campaign, middle page",
            format!("/ui/campaigns/{k}{page_cursor}"),
        ),
        (
            "page: campaign, status=accepted",
            format!("/ui/campaigns/{k}?status=accepted"),
        ),
        (
            "page: campaign, q=004321",
            format!("/ui/campaigns/{k}?q=004321"),
        ),
        ("page: prospect", format!("/ui/prospects/{prospect}")),
        (
            "page: late accepts",
            format!("/ui/workspaces/{ws}/late-accepts"),
        ),
        (
            "page: bridge misses",
            format!("/ui/workspaces/{ws}/bridge-misses"),
        ),
    ];
    println!(
        "\n{name}: {n} prospects imported in {imported_s:.0} s, {accepted} accepts stamped by webhook, \
         {MISSES} bridge misses; seeded in {seed_s:.0} s; {runs} runs per read\n"
    );
    println!("| database | read | rows | median ms | p95 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|");
    for (label, path) in reads {
        for _ in 0..3 {
            get(path.clone()).await;
        }
        let mut times = Vec::with_capacity(runs);
        let mut rows = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let body = get(path.clone()).await;
            times.push(started.elapsed());
            rows = body["items"].as_array().map_or(0, Vec::len);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
        println!(
            "| {name} | {label} | {rows} | {:.1} | {:.1} | {:.1} |",
            ms(times[times.len() / 2]),
            ms(p95),
            ms(times[times.len() - 1])
        );
    }
    println!("\n| database | page | KiB | median ms | p95 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|");
    for (label, path) in pages {
        for _ in 0..3 {
            page(path.clone()).await;
        }
        let mut times = Vec::with_capacity(runs);
        let mut bytes = 0;
        for _ in 0..runs {
            let started = Instant::now();
            bytes = page(path.clone()).await;
            times.push(started.elapsed());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
        println!(
            "| {name} | {label} | {} | {:.1} | {:.1} | {:.1} |",
            bytes / 1024,
            ms(times[times.len() / 2]),
            ms(p95),
            ms(times[times.len() - 1])
        );
    }
}
