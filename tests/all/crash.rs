//! `kill -9` of the real binary under load: a stream of distinct accept
//! webhooks, SIGKILL in the middle, a restart on the same database. Every
//! webhook that was answered 200 is processed after the restart, and no
//! accept is stamped or notified twice, though the provider retries the
//! deliveries whose answer it never got.

use crate::world::{Kind, World};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SECRET: &str = "s3cret-header-value";
const PROSPECTS: usize = 240;

fn member(i: usize) -> String {
    format!("ACoAAAKill{i:05}xx")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn serve(database_url: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["serve", "--database-url", database_url])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--webhook-secret", SECRET])
        .env("ACCORD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn ready(http: &reqwest::Client, port: u16) {
    for _ in 0..600 {
        let up = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the host did not become ready");
}

/// Posts `body`; the receipt when answered 200.
async fn deliver(http: &reqwest::Client, port: u16, body: String) -> Option<serde_json::Value> {
    let resp = http
        .post(format!("http://127.0.0.1:{port}/webhooks/unipile"))
        .header("content-type", "application/json")
        .header("Unipile-Auth", SECRET)
        .body(body)
        .send()
        .await
        .ok()?;
    if resp.status().as_u16() != 200 {
        eprintln!("answered {}: {:?}", resp.status(), resp.text().await);
        return None;
    }
    resp.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_loses_no_acknowledged_webhook() {
    let w = World::new(Kind::Sqlite).await;
    for i in 0..PROSPECTS {
        let prospect = w.prospect(None, Some(&member(i)), None);
        w.enroll(&w.campaign, &format!("e-{i:05}"), prospect).await;
    }
    let database_url = w.app.config.database_url.clone();
    let bodies: Vec<String> = (0..PROSPECTS)
        .map(|i| w.new_relation(&member(i), &format!("kill-{i}")))
        .collect();
    w.app.db.pool().close().await;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let port = free_port();
    let mut host = serve(&database_url, port);
    ready(&http, port).await;

    // Four senders stream the deliveries; the host dies a third of the way.
    let acked: Arc<std::sync::Mutex<Vec<(usize, String)>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (http, bodies, acked, next) =
            (http.clone(), bodies.clone(), acked.clone(), next.clone());
        senders.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(body) = bodies.get(i) else { return };
                if let Some(receipt) = deliver(&http, port, body.clone()).await {
                    let id = receipt["inbox_id"].as_str().expect("a new delivery's row");
                    acked.lock().unwrap().push((i, id.to_string()));
                }
            }
        });
    }
    while acked.lock().unwrap().len() < PROSPECTS / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    host.kill().unwrap(); // SIGKILL
    host.wait().unwrap();
    while senders.join_next().await.is_some() {}
    let before_kill: Vec<(usize, String)> = acked.lock().unwrap().clone();
    assert!(before_kill.len() >= PROSPECTS / 3);
    assert!(
        before_kill.len() < PROSPECTS,
        "the kill came after every delivery"
    );

    // The restart; the provider retries every delivery (acknowledged or
    // not), as it would for those whose answer was lost.
    let mut host = serve(&database_url, port);
    ready(&http, port).await;
    for (i, body) in bodies.iter().enumerate() {
        let mut answered = None;
        for _ in 0..20 {
            answered = deliver(&http, port, body.clone()).await;
            if answered.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(answered.is_some(), "delivery {i} is never answered 200");
    }
    let db = accord::store::Db::connect(&database_url).await.unwrap();
    let mut pending = i64::MAX;
    for _ in 0..600 {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'processed'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        pending = n;
        if n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    host.kill().unwrap();
    host.wait().unwrap();
    assert_eq!(pending, 0, "every stored webhook is processed");

    for (i, inbox_id) in &before_kill {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT status FROM webhook_inbox WHERE id = $1")
                .bind(inbox_id)
                .fetch_optional(db.pool())
                .await
                .unwrap();
        assert_eq!(
            row.map(|r| r.0).as_deref(),
            Some("processed"),
            "delivery {i} was answered 200 before the kill"
        );
    }
    let count = |sql: &'static str| {
        let pool = db.pool().clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            n
        }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM webhook_inbox").await,
        PROSPECTS as i64,
        "one row per delivery, retries deduplicated"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM enrollments WHERE linkedin_accepted_at IS NOT NULL").await,
        PROSPECTS as i64
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM linkedin_events WHERE kind = 'accept_stamped'").await,
        PROSPECTS as i64,
        "each accept stamped once"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM outbox").await,
        PROSPECTS as i64,
        "each accept notified once"
    );
}
