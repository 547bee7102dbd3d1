//! Notification endpoints through the JSON API over real HTTP: created
//! (the Standard Webhooks secret shown once), tested against a loopback
//! receiver and a dead port, fed by an accept webhook, failing to death,
//! listed as dead letters, retried, disabled, deleted; bad inputs refused
//! with typed errors and no change. The notifier runs on the world's
//! manual clock, driven by the test.

use crate::notify::{Receiver, verify};
use crate::on_both_databases;
use crate::world::{Kind, World};
use accord::clock::{Clock, SharedClock};
use accord::notify::Notifier;
use accord::store::deliveries::BACKOFF_MS;
use serde_json::{Value, json};

on_both_databases!(
    endpoints_are_created_with_the_secret_shown_once,
    bad_endpoint_inputs_are_refused_and_change_nothing,
    test_sends_are_signed_and_report_failures,
    a_dead_delivery_is_listed_and_retried_once,
    disable_and_delete,
);

/// A world whose API is served on loopback (open: no API token).
struct Api {
    w: World,
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(kind: Kind) -> Api {
        let w = World::new(kind).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = accord::http::router(w.app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Api {
            w,
            base,
            http: reqwest::Client::new(),
        }
    }

    /// The status and JSON body (`null` when empty) of a request.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        if text.is_empty() {
            return (status, Value::Null);
        }
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: {status}: not JSON ({e}): {text:?}"));
        (status, body)
    }

    /// A request that must answer `status`: its body.
    async fn ok(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let (s, got) = self.call(method, path, body).await;
        assert_eq!(s, status, "{method} {path}: {got}");
        got
    }

    fn ws(&self) -> &str {
        &self.w.workspace.id
    }

    /// Creates an endpoint through the API: its answer.
    async fn endpoint(&self, kind: &str, url: &str, name: &str) -> Value {
        let path = format!("/api/workspaces/{}/endpoints", self.ws());
        let body = json!({"kind": kind, "url": url, "name": name});
        self.ok("POST", &path, Some(body), 201).await
    }

    fn notifier(&self) -> Notifier {
        let clock: SharedClock = self.w.clock.clone();
        Notifier::new(self.w.app.db.clone(), clock).unwrap()
    }

    /// A prospect with member id `member`, enrolled in the running
    /// campaign, accepts: an accept webhook through the inbox.
    async fn accept(&self, enrollment: &str, member: &str) {
        let prospect = self.w.prospect(None, Some(member), None);
        self.w.enroll(&self.w.campaign, enrollment, prospect).await;
        let slug = format!("slug-{}", member.to_lowercase());
        self.w.webhook(&self.w.new_relation(member, &slug)).await;
    }

    async fn deliveries(&self, endpoint: &str) -> Vec<Value> {
        let page = self
            .ok(
                "GET",
                &format!("/api/endpoints/{endpoint}/deliveries"),
                None,
                200,
            )
            .await;
        page["items"].as_array().unwrap().clone()
    }

    async fn dead_letters(&self) -> Vec<Value> {
        let path = format!("/api/workspaces/{}/dead-letters", self.ws());
        let page = self.ok("GET", &path, None, 200).await;
        page["items"].as_array().unwrap().clone()
    }

    async fn count(&self, sql: &'static str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(self.w.app.db.pool())
            .await
            .unwrap();
        n
    }
}

#[track_caller]
fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
}

async fn endpoints_are_created_with_the_secret_shown_once(kind: Kind) {
    let api = Api::start(kind).await;
    let hook = api
        .endpoint("webhook", "https://n8n.example.com/webhook/accord", "n8n")
        .await;
    let secret = hook["signing_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{hook}");
    assert_eq!(hook["kind"], "webhook");
    assert_eq!(hook["name"], "n8n");
    assert_eq!(hook["enabled"], 1);
    assert_eq!(hook["deleted_at"], Value::Null);
    assert!(hook.get("secret").is_none(), "{hook}");
    let slack = api
        .endpoint("slack", "https://hooks.slack.com/services/T0/B0/x", "Sales")
        .await;
    assert_eq!(slack["signing_secret"], Value::Null, "{slack}");

    // Never again in a read.
    let list_path = format!("/api/workspaces/{}/endpoints", api.ws());
    let list = api.ok("GET", &list_path, None, 200).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[0]["id"], hook["id"]);
    assert_eq!(list[1]["id"], slack["id"]);
    let one = api
        .ok(
            "GET",
            &format!("/api/endpoints/{}", hook["id"].as_str().unwrap()),
            None,
            200,
        )
        .await;
    for read in [&list, &one] {
        assert!(!read.to_string().contains(&secret), "{read}");
        assert!(!read.to_string().contains("signing_secret"), "{read}");
    }
    assert_eq!(one["url"], "https://n8n.example.com/webhook/accord");
    // Created through the API: audited.
    let created = api
        .count("SELECT COUNT(*) FROM linkedin_events WHERE kind = 'notification_endpoint_created'")
        .await;
    assert_eq!(created, 2);
}

async fn bad_endpoint_inputs_are_refused_and_change_nothing(kind: Kind) {
    let api = Api::start(kind).await;
    let path = format!("/api/workspaces/{}/endpoints", api.ws());
    let good = "https://example.com/hook";
    for (body, status, code) in [
        (
            json!({"kind": "webhook", "url": "ftp://example.com/x"}),
            422,
            "invalid_url",
        ),
        (
            json!({"kind": "webhook", "url": "not a url"}),
            422,
            "invalid_url",
        ),
        (
            json!({"kind": "slack", "url": "https://"}),
            422,
            "invalid_url",
        ),
        (json!({"kind": "teams", "url": good}), 422, "invalid_kind"),
        (
            json!({"kind": "webhook", "url": good, "name": "  "}),
            422,
            "invalid_name",
        ),
        (
            json!({"kind": "webhook", "url": good, "name": "x".repeat(201)}),
            422,
            "invalid_name",
        ),
        (
            json!({"kind": "webhook", "url": good, "secret": "whsec_x"}),
            400,
            "invalid_json",
        ),
        (json!({"kind": 3, "url": good}), 400, "invalid_field"),
        (json!({"url": good}), 400, "invalid_json"),
        (
            json!({"kind": "webhook", "url": "https://a.example/\u{0}"}),
            422,
            "invalid_text",
        ),
    ] {
        let got = api.call("POST", &path, Some(body.clone())).await;
        assert_error(&got, status, code);
    }
    let got = api
        .call(
            "POST",
            "/api/workspaces/nope/endpoints",
            Some(json!({"kind": "webhook", "url": good})),
        )
        .await;
    assert_error(&got, 404, "not_found");
    for path in ["/api/endpoints/nope", "/api/deliveries/nope"] {
        assert_error(&api.call("GET", path, None).await, 404, "not_found");
    }
    assert_error(
        &api.call("POST", "/api/deliveries/nope/retry", None).await,
        404,
        "not_found",
    );
    let list = api.ok("GET", &path, None, 200).await;
    assert_eq!(list, json!([]));
    let rows = api
        .count("SELECT COUNT(*) FROM notification_endpoints")
        .await;
    assert_eq!(rows, 0, "nothing was stored");
    let events = api
        .count("SELECT COUNT(*) FROM linkedin_events WHERE kind LIKE 'notification_%'")
        .await;
    assert_eq!(events, 0);

    // Page bounds.
    let hook = api.endpoint("webhook", good, "hook").await;
    let id = hook["id"].as_str().unwrap();
    let got = api
        .call(
            "GET",
            &format!("/api/endpoints/{id}/deliveries?limit=0"),
            None,
        )
        .await;
    assert_error(&got, 422, "invalid_limit");
    let got = api
        .call(
            "GET",
            &format!("/api/workspaces/{}/dead-letters?cursor=zzz", api.ws()),
            None,
        )
        .await;
    assert_error(&got, 422, "invalid_cursor");
    let got = api
        .call(
            "GET",
            &format!("/api/endpoints/{id}/deliveries?limit=x"),
            None,
        )
        .await;
    assert_error(&got, 400, "invalid_query");
}

async fn test_sends_are_signed_and_report_failures(kind: Kind) {
    let api = Api::start(kind).await;
    let rx = Receiver::start().await;
    let hook = api.endpoint("webhook", &rx.url("/n8n"), "n8n").await;
    let secret = hook["signing_secret"].as_str().unwrap().to_string();
    let hook_id = hook["id"].as_str().unwrap().to_string();

    let report = api
        .ok("POST", &format!("/api/endpoints/{hook_id}/test"), None, 200)
        .await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["status_code"], 200);
    assert_eq!(report["error"], Value::Null);
    assert!(report["latency_ms"].as_u64().is_some(), "{report}");
    assert_eq!(report["event_type"], "accord.test");
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/n8n");
    assert_eq!(r.header("webhook-id"), report["webhook_id"].as_str());
    assert_eq!(
        r.header("webhook-timestamp"),
        Some((api.w.clock.now_ms() / 1000).to_string().as_str())
    );
    assert!(
        verify(&secret, r),
        "the test send is signed with the endpoint's secret"
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body, report["payload"]);
    assert_eq!(body["type"], "accord.test");
    assert_eq!(body["data"]["test"], true);
    assert_eq!(body["data"]["endpoint_id"], hook_id.as_str());

    // A failing receiver: its status and body excerpt.
    rx.fail_next(1);
    let report = api
        .ok("POST", &format!("/api/endpoints/{hook_id}/test"), None, 200)
        .await;
    assert_eq!(
        (report["ok"].clone(), report["status_code"].clone()),
        (json!(false), json!(500))
    );
    assert!(
        report["error"].as_str().unwrap().contains("boom"),
        "{report}"
    );

    // Slack: its one-line text.
    let slack = api
        .endpoint("slack", &rx.url("/services/T0/B0/x"), "Sales")
        .await;
    let report = api
        .ok(
            "POST",
            &format!("/api/endpoints/{}/test", slack["id"].as_str().unwrap()),
            None,
            200,
        )
        .await;
    assert_eq!(report["ok"], true, "{report}");
    let reqs = rx.requests();
    let text: Value = serde_json::from_slice(&reqs[2].body).unwrap();
    assert!(
        text["text"]
            .as_str()
            .unwrap()
            .contains("Test notification from Accord"),
        "{text}"
    );
    assert!(reqs[2].header("webhook-signature").is_none());

    // A dead port: no answer, the failure told.
    let dead = api
        .endpoint("webhook", "http://127.0.0.1:9/hook", "nobody")
        .await;
    let report = api
        .ok(
            "POST",
            &format!("/api/endpoints/{}/test", dead["id"].as_str().unwrap()),
            None,
            200,
        )
        .await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["status_code"], Value::Null);
    assert!(!report["error"].as_str().unwrap().is_empty(), "{report}");

    // Nothing was stored: no outbox row, no delivery.
    assert_eq!(api.count("SELECT COUNT(*) FROM outbox").await, 0);
    assert_eq!(api.count("SELECT COUNT(*) FROM outbox_deliveries").await, 0);
}

async fn a_dead_delivery_is_listed_and_retried_once(kind: Kind) {
    let api = Api::start(kind).await;
    let rx = Receiver::start().await;
    let hook = api.endpoint("webhook", &rx.url("/zap"), "Zapier").await;
    let secret = hook["signing_secret"].as_str().unwrap().to_string();
    let hook_id = hook["id"].as_str().unwrap().to_string();

    api.accept("e-dead", "ACoAAAmemberDead").await;
    let listed = api.deliveries(&hook_id).await;
    assert_eq!(listed.len(), 1, "the accept made a delivery: {listed:?}");
    let d = &listed[0];
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"], 0);
    assert_eq!(d["event_type"], "linkedin.invite_accepted");
    let delivery = d["id"].as_str().unwrap().to_string();
    let retry_path = format!("/api/deliveries/{delivery}/retry");
    assert_error(&api.call("POST", &retry_path, None).await, 409, "not_dead");

    // Every attempt fails: retried on the schedule, then dead.
    rx.fail_next(usize::MAX);
    let notifier = api.notifier();
    for (i, wait) in std::iter::once(0).chain(BACKOFF_MS).enumerate() {
        api.w.clock.advance(wait);
        let report = notifier.deliver_due(10).await.unwrap();
        assert_eq!(report.claimed, 1, "attempt {}", i + 1);
    }
    assert_eq!(rx.requests().len(), 8);
    let d = api
        .ok("GET", &format!("/api/deliveries/{delivery}"), None, 200)
        .await;
    assert_eq!(d["status"], "dead", "{d}");
    assert_eq!(d["attempts"], 8);
    assert_eq!(d["last_status_code"], 500);
    assert!(
        d["last_error"].as_str().unwrap().contains("HTTP 500"),
        "{d}"
    );
    let dead = api.dead_letters().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["id"], delivery.as_str());
    assert_eq!(dead[0]["endpoint_id"], hook_id.as_str());
    assert_eq!(dead[0]["attempts"], 8);

    // Retried with the receiver healthy: delivered once.
    rx.fail_next(0);
    let d = api.ok("POST", &retry_path, None, 200).await;
    assert_eq!(
        (d["status"].clone(), d["attempts"].clone()),
        (json!("pending"), json!(0))
    );
    assert_eq!(api.dead_letters().await, Vec::<Value>::new());
    let report = notifier.deliver_due(10).await.unwrap();
    assert_eq!((report.claimed, report.delivered), (1, 1));
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 9);
    assert!(reqs[8].ok && verify(&secret, &reqs[8]));
    api.w.clock.advance(BACKOFF_MS[6]);
    assert_eq!(notifier.deliver_due(10).await.unwrap().claimed, 0);
    assert_eq!(rx.requests().len(), 9, "delivered once");
    let d = api.deliveries(&hook_id).await;
    assert_eq!(d[0]["status"], "delivered");
    assert_eq!(d[0]["last_status_code"], 200);
    // A delivered one is not retried.
    assert_error(&api.call("POST", &retry_path, None).await, 409, "not_dead");
    let retried = api
        .count("SELECT COUNT(*) FROM linkedin_events WHERE kind = 'notification_delivery_retried'")
        .await;
    assert_eq!(retried, 1);
}

async fn disable_and_delete(kind: Kind) {
    let api = Api::start(kind).await;
    let rx = Receiver::start().await;
    let hook = api.endpoint("webhook", &rx.url("/n8n"), "n8n").await;
    let id = hook["id"].as_str().unwrap().to_string();

    let off = api
        .ok("POST", &format!("/api/endpoints/{id}/disable"), None, 200)
        .await;
    assert_eq!(off["enabled"], 0);
    api.accept("e-1", "ACoAAAmemberOne").await;
    assert_eq!(
        api.deliveries(&id).await,
        Vec::<Value>::new(),
        "disabled: no delivery"
    );
    let on = api
        .ok("POST", &format!("/api/endpoints/{id}/enable"), None, 200)
        .await;
    assert_eq!(on["enabled"], 1);
    api.accept("e-2", "ACoAAAmemberTwo").await;
    api.accept("e-3", "ACoAAAmemberThree").await;
    let listed = api.deliveries(&id).await;
    assert_eq!(listed.len(), 2, "{listed:?}");

    // Paginated, newest first.
    let page = api
        .ok(
            "GET",
            &format!("/api/endpoints/{id}/deliveries?limit=1"),
            None,
            200,
        )
        .await;
    assert_eq!(page["items"][0]["id"], listed[0]["id"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let page = api
        .ok(
            "GET",
            &format!("/api/endpoints/{id}/deliveries?limit=1&cursor={cursor}"),
            None,
            200,
        )
        .await;
    assert_eq!(page["items"][0]["id"], listed[1]["id"]);
    let last = page["next_cursor"].as_str().unwrap().to_string();
    let page = api
        .ok(
            "GET",
            &format!("/api/endpoints/{id}/deliveries?limit=1&cursor={last}"),
            None,
            200,
        )
        .await;
    assert_eq!(
        (page["items"].clone(), page["next_cursor"].clone()),
        (json!([]), Value::Null)
    );
    let dedupe_keys: Vec<&str> = listed
        .iter()
        .map(|d| d["dedupe_key"].as_str().unwrap())
        .collect();
    assert!(
        dedupe_keys[0].ends_with("e-3") && dedupe_keys[1].ends_with("e-2"),
        "{dedupe_keys:?}"
    );

    // Deleted: gone from the list, kept by id with its history; its
    // pending deliveries given up, not dead letters.
    api.ok("DELETE", &format!("/api/endpoints/{id}"), None, 204)
        .await;
    api.ok("DELETE", &format!("/api/endpoints/{id}"), None, 204)
        .await;
    let list = api
        .ok(
            "GET",
            &format!("/api/workspaces/{}/endpoints", api.ws()),
            None,
            200,
        )
        .await;
    assert_eq!(list, json!([]));
    let gone = api
        .ok("GET", &format!("/api/endpoints/{id}"), None, 200)
        .await;
    assert!(gone["deleted_at"].as_i64().is_some(), "{gone}");
    assert_eq!(gone["enabled"], 0);
    let kept = api.deliveries(&id).await;
    assert_eq!(kept.len(), 2);
    for d in &kept {
        assert_eq!(d["status"], "dead", "{d}");
        assert_eq!(d["last_error"], "endpoint deleted");
    }
    assert_eq!(api.dead_letters().await, Vec::<Value>::new());
    for action in ["enable", "disable", "test"] {
        let got = api
            .call("POST", &format!("/api/endpoints/{id}/{action}"), None)
            .await;
        assert_error(&got, 409, "endpoint_deleted");
    }
    let retry = format!("/api/deliveries/{}/retry", kept[0]["id"].as_str().unwrap());
    assert_error(
        &api.call("POST", &retry, None).await,
        409,
        "endpoint_deleted",
    );
    // Nothing more reaches it.
    api.accept("e-4", "ACoAAAmemberFour").await;
    assert_eq!(api.deliveries(&id).await.len(), 2);
    assert_eq!(api.notifier().deliver_due(10).await.unwrap().claimed, 0);
    assert_eq!(rx.requests().len(), 0);
    assert_eq!(
        api.count("SELECT COUNT(*) FROM notification_endpoints")
            .await,
        1,
        "kept"
    );
    let deleted = api
        .count("SELECT COUNT(*) FROM linkedin_events WHERE kind = 'notification_endpoint_deleted'")
        .await;
    assert_eq!(deleted, 1, "deleted once");
}
