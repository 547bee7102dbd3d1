//! Several host instances on one database share one inbox: each row is
//! processed by one of them, once, its recorded outcome is never
//! overwritten, and account-status webhooks apply in the order they were
//! received whichever instance processes them, and in whatever order.

use crate::builders::*;
use crate::on_both_databases;
use crate::rig::Rig;
use crate::world::*;
use accord::app::App;
use accord::clock::MINUTE_MS;
use accord::store::{accounts, inbox};
use std::sync::Arc;

const SECRET: &str = "s3cret-header-value";

/// Serves `app`'s router on a loopback port; returns the webhook URL.
async fn serve(app: &Arc<App>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = accord::http::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/webhooks/unipile")
}

/// Posts one webhook as Unipile does; returns the inbox row's id.
async fn post(client: &reqwest::Client, url: &str, body: String) -> String {
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("Unipile-Auth", SECRET)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    json["inbox_id"].as_str().unwrap().to_string()
}

/// A second instance on the world's database (same settings and clock).
async fn second_instance(w: &World) -> Arc<App> {
    App::start(w.app.config.clone(), w.clock.clone())
        .await
        .unwrap()
}

/// Processes the inbox until this instance finds nothing it can take.
async fn drain(app: Arc<App>) {
    while app.inbox.process_pending(512).await.unwrap() > 0 {}
}

/// Accept webhooks arrive at two instances on one PostgreSQL database
/// while both run their inbox processors: every row is processed once
/// (one attempt, its outcome the first and only one: stamped, routed,
/// its job named), and each accept has one stamp, one outbox row and one
/// active job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_instances_process_each_row_once() {
    if postgres_url().is_none() {
        eprintln!("skipped: ACCORD_TEST_POSTGRES_URL is unset");
        return;
    }
    const N: usize = 1_000;
    let rig = Rig::processor_only(Kind::Postgres).await;
    let w = &rig.w;
    let (sender, people) = invited_crowd(&rig, N).await;
    let other = second_instance(w).await;
    let instances = [w.app.clone(), other.clone()];
    let urls = [serve(&instances[0]).await, serve(&instances[1]).await];
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let processors: Vec<_> = instances
        .iter()
        .map(|app| tokio::spawn(app.inbox.clone().run(stopped.clone())))
        .collect();

    // 32 senders at a time, alternating instances, as behind a load
    // balancer.
    let client = reqwest::Client::new();
    let account = &sender.account.provider_account_id;
    let bodies: Vec<String> = people
        .iter()
        .enumerate()
        .map(|(i, p)| new_relation_of(account, &p.provider_id, &format!("inst-{i}")))
        .collect();
    for (round, chunk) in bodies.chunks(32).enumerate() {
        let mut sending = tokio::task::JoinSet::new();
        for (i, body) in chunk.iter().enumerate() {
            let (client, url) = (client.clone(), urls[(round + i) % 2].clone());
            let body = body.clone();
            sending.spawn(async move { post(&client, &url, body).await });
        }
        sending.join_all().await;
    }
    stop.send(true).unwrap();
    for p in processors {
        p.await.unwrap();
    }
    // Whatever is left, both take at once.
    tokio::join!(drain(instances[0].clone()), drain(instances[1].clone()));

    // Key, status, attempts, outcome, error.
    type Row = (String, String, i64, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT natural_key, status, attempts, outcome, error FROM webhook_inbox ORDER BY natural_key",
    )
    .fetch_all(w.app.db.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), N);
    let twice: Vec<_> = rows.iter().filter(|r| r.2 != 1).collect();
    assert!(
        twice.is_empty(),
        "{} of {N} rows were processed other than once, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    for (key, status, _, outcome, error) in &rows {
        assert_eq!((status.as_str(), error), ("processed", &None), "{key}");
        let outcome: serde_json::Value = serde_json::from_str(outcome.as_deref().unwrap()).unwrap();
        let matched = &outcome["matches"][0];
        assert_eq!(matched["stamp"], "stamped", "{key}: {outcome}");
        assert_eq!(matched["route"], "advance", "{key}: {outcome}");
        assert_eq!(
            matched["dispatch"]["outcome"], "enqueued",
            "{key}: {outcome}"
        );
        assert!(matched["dispatch"]["job_id"].is_string(), "{outcome}");
    }
    let count = |sql: &'static str| {
        let pool = w.app.db.pool().clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            n
        }
    };
    let n = N as i64;
    assert_eq!(
        count("SELECT COUNT(*) FROM linkedin_events WHERE kind = 'accept_stamped'").await,
        n
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT enrollment_id) FROM linkedin_events WHERE kind = 'accept_stamped'")
            .await,
        n
    );
    assert_eq!(count("SELECT COUNT(*) FROM outbox").await, n);
    assert_eq!(
        count("SELECT COUNT(*) FROM campaign_send_jobs WHERE status IN ('pending', 'processing')")
            .await,
        n
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM enrollments WHERE linkedin_accepted_at IS NOT NULL").await,
        n
    );
}

on_both_databases!(status_webhooks_apply_in_receipt_order);

/// The account's status as stored.
async fn status(w: &World) -> String {
    let mut c = w.app.db.pool().acquire().await.unwrap();
    accounts::account(&mut c, &w.account.id)
        .await
        .unwrap()
        .unwrap()
        .status
}

/// A CREDENTIALS delivery, then a newer OK, received by two instances
/// and processed newest first, each by the other instance: the account
/// ends connected (the older delivery changes nothing and says so), a
/// replay of every row changes nothing, and an accept that follows gets
/// its follow-up queued.
async fn status_webhooks_apply_in_receipt_order(kind: Kind) {
    let rig = Rig::processor_only(kind).await;
    let w = &rig.w;
    // Invited the day before, before any of the status webhooks.
    let member = Cast::new(&rig, "e-after-status", "After", "Status");
    Story::new(&rig).invited(&member).until(T0).await;
    let other = second_instance(w).await;
    let urls = [serve(&w.app).await, serve(&other).await];
    let client = reqwest::Client::new();
    let status_body = |m: &str| {
        serde_json::json!({"AccountStatus": {"account_id": w.account.provider_account_id, "account_type": "LINKEDIN", "message": m}})
            .to_string()
    };
    let credentials = post(&client, &urls[0], status_body("CREDENTIALS")).await;
    w.clock.advance(MINUTE_MS);
    let ok = post(&client, &urls[1], status_body("OK")).await;
    let row = |id: String| {
        let pool = w.app.db.pool().clone();
        async move {
            let mut c = pool.acquire().await.unwrap();
            inbox::get(&mut c, &id).await.unwrap().unwrap()
        }
    };
    let (credentials, ok) = (row(credentials).await, row(ok).await);
    assert_eq!(
        (credentials.status.as_str(), ok.status.as_str()),
        ("pending", "pending")
    );

    w.clock.advance(MINUTE_MS);
    other.inbox.process(&ok).await.unwrap();
    w.app.inbox.process(&credentials).await.unwrap();
    assert_eq!(
        status(w).await,
        "connected",
        "the older CREDENTIALS came last"
    );
    let credentials = row(credentials.id).await;
    assert_eq!(credentials.status, "ignored");
    assert!(
        credentials.outcome.as_deref().unwrap().contains("older"),
        "{:?}",
        credentials.outcome
    );
    let changes = || {
        w.count(
            "SELECT COUNT(*) FROM linkedin_events WHERE kind = $1",
            "account_status_changed",
        )
    };
    assert_eq!(changes().await, 0, "the account never left connected");

    // Everything again, oldest first: nothing changes.
    let report = other.inbox.replay(true).await.unwrap();
    assert_eq!((report.processed, report.failed), (2, 0));
    assert_eq!(status(w).await, "connected");
    assert_eq!(changes().await, 0);
    assert_eq!(row(credentials.id).await.outcome, credentials.outcome);

    // The account is usable: an accept gets its follow-up queued.
    let relation = w.new_relation(&member.person.provider_id, "after-status");
    post(&client, &urls[1], relation).await;
    while other.inbox.process_pending(100).await.unwrap() > 0 {}
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = $1 AND status = 'pending'",
            "e-after-status",
        )
        .await,
        1
    );
}
