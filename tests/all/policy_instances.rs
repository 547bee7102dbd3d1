//! Two instances on one PostgreSQL database, accepts arriving at both,
//! while the first one's admin API swaps the pre-flight and routing
//! modules again and again (upload active, upload shadow, promote,
//! rollback): the second instance follows every change within the bound,
//! no decision fails, and every accept is stamped, routed and followed up
//! exactly once.

use crate::builders::*;
use crate::rig::{RIG_ADMIN_TOKEN, Rig};
use crate::support::test_guest;
use crate::world::*;
use accord::app::App;
use accord::policy::{Scope, Slot, builtin};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "s3cret-header-value";

async fn serve(app: &Arc<App>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = accord::http::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// One admin call to the first instance; the status and body.
async fn admin(rig: &Rig, method: &str, path: &str, body: Option<Vec<u8>>) -> serde_json::Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = rig
        .http
        .request(method, format!("{}{path}", rig.base))
        .bearer_auth(RIG_ADMIN_TOKEN);
    if let Some(body) = body {
        req = req.header("content-type", "application/wasm").body(body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {json}");
    json
}

/// Waits until `app` decides `slot` with `sha256`.
async fn follows(app: &App, slot: Slot, sha256: &str) {
    // The point here is that no call fails while instances follow; how
    // fast they follow is policy_scopes' test, so this bound is loose.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.policies.active(slot).sha256() != sha256 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second instance still decides {slot} with {}, not {sha256}",
            app.policies.active(slot).sha256()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_swap_under_load_with_no_failed_call() {
    if postgres_url().is_none() {
        eprintln!("skipped: ACCORD_TEST_POSTGRES_URL is unset");
        return;
    }
    const N: usize = 300;
    let rig = Rig::processor_only(Kind::Postgres).await;
    let w = &rig.w;
    let (sender, people) = invited_crowd(&rig, N).await;
    let other = App::start(w.app.config.clone(), w.clock.clone())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // The second instance runs as deployed: its workers (the listener
    // that follows policy changes, its inbox processor); the first one's
    // inbox processor runs beside them.
    let mut workers = accord::workers::spawn_workers(&other, stopped.clone());
    workers.push(tokio::spawn(w.app.inbox.clone().run(stopped.clone())));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let urls = [
        format!("{}/webhooks/unipile", rig.base),
        format!("{}/webhooks/unipile", serve(&other).await),
    ];

    // The load: every accept, alternating instances, 16 at a time.
    let account = sender.account.provider_account_id.clone();
    let bodies: Vec<String> = people
        .iter()
        .enumerate()
        .map(|(i, p)| new_relation_of(&account, &p.provider_id, &format!("swap-{i}")))
        .collect();
    let client = reqwest::Client::new();
    let load = tokio::spawn(async move {
        for (round, chunk) in bodies.chunks(16).enumerate() {
            let mut sending = tokio::task::JoinSet::new();
            for (i, body) in chunk.iter().enumerate() {
                let (client, url) = (client.clone(), urls[(round + i) % 2].clone());
                let body = body.clone();
                sending.spawn(async move {
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("Unipile-Auth", SECRET)
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 200);
                });
            }
            sending.join_all().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // The swaps, while the load runs: each followed by the second instance.
    let candidate = std::fs::read(test_guest("no_late_steps")).unwrap();
    let default_preflight = builtin::for_slot(Slot::Preflight).0.to_vec();
    let default_routing = builtin::for_slot(Slot::Routing).0.to_vec();
    let mut swaps = 0;
    while !load.is_finished() || swaps < 4 {
        let shadow = admin(
            &rig,
            "PUT",
            "/admin/policies/preflight?mode=shadow",
            Some(candidate.clone()),
        )
        .await;
        let promoted = admin(&rig, "POST", "/admin/policies/preflight/promote", None).await;
        assert_eq!(promoted["sha256"], shadow["sha256"]);
        follows(
            &other,
            Slot::Preflight,
            promoted["sha256"].as_str().unwrap(),
        )
        .await;
        let back = admin(&rig, "POST", "/admin/policies/preflight/rollback", None).await;
        follows(&other, Slot::Preflight, back["sha256"].as_str().unwrap()).await;
        let active = admin(
            &rig,
            "PUT",
            "/admin/policies/preflight",
            Some(default_preflight.clone()),
        )
        .await;
        follows(&other, Slot::Preflight, active["sha256"].as_str().unwrap()).await;
        let routing = admin(
            &rig,
            "PUT",
            "/admin/policies/routing",
            Some(default_routing.clone()),
        )
        .await;
        follows(&other, Slot::Routing, routing["sha256"].as_str().unwrap()).await;
        swaps += 1;
    }
    load.await.unwrap();
    // Everything stored is processed before the checks (a bound for a
    // debug build sharing two cores with the rest of the suite).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'processed'")
                .fetch_one(w.app.db.pool())
                .await
                .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} rows unprocessed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    for worker in workers {
        let _ = worker.await;
    }

    let count = |sql: &'static str| {
        let pool = w.app.db.pool().clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            n
        }
    };
    let n = N as i64;
    assert!(swaps >= 4, "{swaps}");
    let failures: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT detail, module_sha256 FROM traces WHERE kind = 'policy_failure' LIMIT 5",
    )
    .fetch_all(w.app.db.pool())
    .await
    .unwrap();
    assert!(
        failures.is_empty(),
        "a decision failed during the swaps: {failures:?}"
    );
    let errors: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT slot, module_sha256, error_kind FROM policy_decisions \
         WHERE error_kind IS NOT NULL LIMIT 5",
    )
    .fetch_all(w.app.db.pool())
    .await
    .unwrap();
    assert!(
        errors.is_empty(),
        "decisions logged with errors: {errors:?}"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM enrollments WHERE linkedin_accepted_at IS NOT NULL").await,
        n
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT enrollment_id) FROM linkedin_events WHERE kind = 'accept_stamped'")
            .await,
        n
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM campaign_send_jobs WHERE action = 'send_message'").await,
        n,
        "one follow-up each, whichever module decided"
    );
    // Both modules decided some of the load, and the log says which.
    let modules = count(
        "SELECT COUNT(DISTINCT module_sha256) FROM policy_decisions WHERE slot = 'preflight'",
    )
    .await;
    assert!(modules >= 2, "the swaps fell inside the load: {modules}");
    assert!(
        other
            .policies
            .bound(
                &Scope::Global,
                Slot::Preflight,
                accord::policy::Mode::Shadow
            )
            .is_none(),
        "the promoted shadow left the shadow slot on both"
    );
}
