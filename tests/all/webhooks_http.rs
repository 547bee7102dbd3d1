//! `POST /webhooks/unipile` over real HTTP: every rejection has its JSON
//! code and writes nothing; accepted deliveries are stored before the 200.

use crate::builders::{Cast, Story};
use crate::on_both_databases;
use crate::rig::Rig;
use crate::world::*;

async fn serve(w: &World) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = accord::http::router(w.app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/webhooks/unipile")
}

async fn inbox_rows(w: &World) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_inbox")
        .fetch_one(w.app.db.pool())
        .await
        .unwrap();
    n
}

async fn post(url: &str, secret: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = secret {
        req = req.header("Unipile-Auth", s);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

const SECRET: &str = "s3cret-header-value";

async fn rejections_write_nothing(kind: Kind) {
    let w = World::new(kind).await;
    let url = serve(&w).await;
    let good = w.new_relation(JULIEN, "julien-crepieux").into_bytes();
    let cases: Vec<(Option<&str>, Vec<u8>, u16, &str)> = vec![
        (None, good.clone(), 401, "unauthorized"),
        (
            Some("wrong-secret-value!"),
            good.clone(),
            401,
            "unauthorized",
        ),
        (
            Some("s3cret-header-valu"),
            good.clone(),
            401,
            "unauthorized",
        ),
        (
            Some(SECRET),
            b"{\"event\": \"new_relation\",".to_vec(),
            400,
            "invalid_json",
        ),
        (Some(SECRET), b"[]".to_vec(), 400, "invalid_payload"),
        (
            Some(SECRET),
            br#"{"event":"new_relation","account_id":"A"}"#.to_vec(),
            400,
            "missing_field",
        ),
        (
            Some(SECRET),
            br#"{"event":"message_received","account_id":"A"}"#.to_vec(),
            400,
            "missing_field",
        ),
        (
            Some(SECRET),
            vec![b' '; (1 << 20) + 1],
            413,
            "payload_too_large",
        ),
    ];
    for (secret, body, status, code) in cases {
        let (got, json) = post(&url, secret, body).await;
        assert_eq!(got, status, "{json}");
        assert_eq!(json["error"]["code"], code, "{json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    assert_eq!(inbox_rows(&w).await, 0, "no rejection writes anything");
}

async fn accepted_deliveries_are_stored_before_the_200(kind: Kind) {
    let w = World::new(kind).await;
    let url = serve(&w).await;
    let body = w.new_relation(JULIEN, "julien-crepieux");
    let (status, json) = post(&url, Some(SECRET), body.clone().into_bytes()).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["duplicate"], false);
    // SQLite processes it before answering (write-through); PostgreSQL
    // leaves it to the processor.
    assert_eq!(json["processed"], kind == Kind::Sqlite, "{json}");
    let id = json["inbox_id"].as_str().unwrap().to_string();
    // The row exists as soon as the 200 is out, whatever processing does.
    let (stored,): (String,) = sqlx::query_as("SELECT body FROM webhook_inbox WHERE id = $1")
        .bind(&id)
        .fetch_one(w.app.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, body);
    let (status, json) = post(&url, Some(SECRET), body.into_bytes()).await;
    assert_eq!(
        (status, json["duplicate"].as_bool()),
        (200, Some(true)),
        "a provider retry is acknowledged"
    );
    assert_eq!(json["processed"], false, "a retry is not processed again");
    // Unknown and irrelevant events: 200, stored, marked ignored.
    for other in [
        r#"{"event":"message_read","account_id":"A","message_id":"m9"}"#,
        r#"{"event":"message_reaction","account_id":"A","message_id":"m9","reaction":"+1"}"#,
        r#"{"event":"something_new","whatever":[1,2,3]}"#,
    ] {
        let (status, _) = post(&url, Some(SECRET), other.as_bytes().to_vec()).await;
        assert_eq!(status, 200);
    }
    while w.app.inbox.process_pending(100).await.unwrap() > 0 {}
    let (ignored,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM webhook_inbox WHERE status = 'ignored'")
            .fetch_one(w.app.db.pool())
            .await
            .unwrap();
    assert_eq!(ignored, 3);
    assert_eq!(inbox_rows(&w).await, 4);
}

async fn webhooks_are_refused_without_a_configured_secret(kind: Kind) {
    let mut w = World::new(kind).await;
    let mut config = w.app.config.clone();
    config.webhook_secret = None;
    w.app = accord::app::App::start(config, w.clock.clone())
        .await
        .unwrap();
    let url = serve(&w).await;
    let (status, json) = post(&url, Some(SECRET), w.new_relation(JULIEN, "x").into_bytes()).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (503, Some("webhook_secret_unset"))
    );
    assert_eq!(inbox_rows(&w).await, 0);
}

/// Many deliveries at once, each sent three times side by side (provider
/// retries racing the first try): whatever groups they are written in,
/// each natural key is stored once, exactly one of its three answers says
/// it is new, and the row it names is in the inbox when the 200 is out.
async fn concurrent_deliveries_and_retries_store_each_key_once(kind: Kind) {
    let w = World::new(kind).await;
    let url = serve(&w).await;
    let members: Vec<String> = (0..40).map(|i| format!("ACoAAConcurrent{i:03}")).collect();
    let mut sends = tokio::task::JoinSet::new();
    for (i, member) in members.iter().enumerate() {
        let body = w.new_relation(member, &format!("concurrent-{i}"));
        for _ in 0..3 {
            let (url, body) = (url.clone(), body.clone());
            sends.spawn(async move { (i, post(&url, Some(SECRET), body.into_bytes()).await) });
        }
    }
    let mut fresh = vec![Vec::new(); members.len()];
    while let Some(done) = sends.join_next().await {
        let (i, (status, json)) = done.unwrap();
        assert_eq!(status, 200, "{json}");
        if json["duplicate"] == false {
            fresh[i].push(json["inbox_id"].as_str().unwrap().to_string());
        }
    }
    for (i, ids) in fresh.iter().enumerate() {
        assert_eq!(ids.len(), 1, "delivery {i}: one answer says new");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_inbox WHERE id = $1")
            .bind(&ids[0])
            .fetch_one(w.app.db.pool())
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    assert_eq!(inbox_rows(&w).await, members.len() as i64);
}

on_both_databases!(
    rejections_write_nothing,
    accepted_deliveries_are_stored_before_the_200,
    concurrent_deliveries_and_retries_store_each_key_once,
    webhooks_are_refused_without_a_configured_secret,
);

/// The counters an operator graphs are exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_exported() {
    let rig = Rig::new(Kind::Sqlite, |_| {}).await;
    let w = &rig.w;
    let julien = Cast::new(&rig, "e-metrics", "Julien", "Crépieux");
    Story::new(&rig).invited(&julien).until(T0).await;
    let url = serve(w).await;
    post(
        &url,
        Some(SECRET),
        w.new_relation(&julien.person.provider_id, "julien-crepieux")
            .into_bytes(),
    )
    .await;
    post(&url, None, b"{}".to_vec()).await;
    while w.app.inbox.process_pending(10).await.unwrap() > 0 {}
    let text = reqwest::get(url.replace("/webhooks/unipile", "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "accord_webhooks_total{event=\"new_relation\",outcome=\"stored\"}",
        "accord_webhooks_total{event=\"unknown\",outcome=\"unauthorized\"}",
        "accord_accepts_stamped_total{source=\"webhook\",strategy=\"invite-bridge\"}",
        "accord_policy_calls_total{slot=\"match\"",
        "accord_pipeline_seconds_bucket",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

/// An invalid setting stops the start and names the setting.
#[test]
fn invalid_configuration_names_the_setting() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["serve", "--listen", "not-an-address"]);
    assert!(!ok && err.contains("ACCORD_LISTEN"), "{err}");
    let (ok, err) = run(&["serve", "--database-url", "mysql://x"]);
    assert!(!ok && err.contains("ACCORD_DATABASE_URL"), "{err}");
    let (ok, err) = run(&["serve", "--webhook-secret", " "]);
    assert!(!ok && err.contains("ACCORD_WEBHOOK_SECRET"), "{err}");
    let (ok, err) = run(&["serve", "--unipile-dsn", "http://127.0.0.1:1"]);
    assert!(!ok && err.contains("ACCORD_UNIPILE_API_KEY"), "{err}");
}
