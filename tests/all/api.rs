//! The JSON API, the admin API and the OpenAPI document over real HTTP:
//! happy paths, and every refusal with its status and code, writing
//! nothing. Each test runs on SQLite, and on PostgreSQL when
//! `ACCORD_TEST_POSTGRES_URL` is set.

use accord::app::{App, AppConfig};
use accord::clock::ManualClock;
use accord::pipeline::{DispatchOutcome, DispatchRequest};
use accord::policy::{Slot, builtin};
use accord::store::{accounts, campaigns, enrollments, traces};
use accord_policy_core::{DispatchSource, SignalSource, SkipReason};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// 2026-10-10 14:30:00 UTC, a Saturday (outside the default window).
const T0: i64 = 1_791_642_600_000;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Sqlite,
    Postgres,
}

fn postgres_url() -> Option<String> {
    std::env::var("ACCORD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// `sqlite` and `postgres` tests for an `async fn(Kind)`.
macro_rules! api_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Kind::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if super::postgres_url().is_none() {
                    eprintln!("skipped: ACCORD_TEST_POSTGRES_URL is unset");
                    return;
                }
                super::$name(super::Kind::Postgres).await
            }
        }
    )+};
}

api_tests!(
    create_and_read,
    refusals_write_nothing,
    import_and_lifecycle,
    resume_is_refused_without_usable_prospects,
    resume_sweep_dispatches_recoverable_skips,
    stats_and_traces,
    authentication,
    admin_disabled_without_token,
    policy_upload_and_rekey,
    inbox_replay,
    openapi_document,
    refusals_before_the_body_keep_the_connection_usable,
);

const API_TOKEN: &str = "api-token-0123456789";
const ADMIN_TOKEN: &str = "admin-token-9876543210";

/// Every table a request could write to.
const TABLES: &[&str] = &[
    "workspaces",
    "linkedin_accounts",
    "campaigns",
    "prospects",
    "enrollments",
    "match_keys",
    "linkedin_events",
    "traces",
    "campaign_send_jobs",
    "skips",
    "policy_modules",
    "policy_bindings",
    "policy_binding_history",
];

struct Api {
    app: Arc<App>,
    base: String,
    client: reqwest::Client,
    config: AppConfig,
    /// The bearer sent to /api (None: no header).
    token: Option<String>,
    _dir: tempfile::TempDir,
}

fn config(kind: Kind, dir: &tempfile::TempDir) -> AppConfig {
    match kind {
        Kind::Sqlite => AppConfig::new(format!("sqlite://{}/a.db?mode=rwc", dir.path().display())),
        Kind::Postgres => {
            let mut c = AppConfig::new(postgres_url().unwrap());
            c.database_schema = Some(crate::support::fresh_schema());
            c
        }
    }
}

impl Api {
    async fn start(kind: Kind, api_token: Option<&str>, admin_token: Option<&str>) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(kind, &dir);
        config.api_token = api_token.map(str::to_string);
        config.admin_token = admin_token.map(str::to_string);
        let app = App::start(config.clone(), ManualClock::new(T0))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = accord::http::router(app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Api {
            app,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            config,
            token: api_token.map(str::to_string),
            _dir: dir,
        }
    }

    /// A host with an admin token and an open API.
    async fn new(kind: Kind) -> Api {
        Api::start(kind, None, Some(ADMIN_TOKEN)).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
        (status, body)
    }

    fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req
    }

    /// A JSON request to the API (with the API token, if any).
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    /// A request with a raw body.
    async fn raw(&self, method: &str, path: &str, body: &'static str) -> (u16, Value) {
        let req = self
            .request(method, path)
            .header("content-type", "application/json")
            .body(body);
        self.send(req).await
    }

    /// An admin request.
    async fn admin(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.header("content-type", "application/wasm").body(b);
        }
        self.send(req).await
    }

    /// `PUT /admin/policies/match` declaring a body one byte over the module cap (64 MiB)
    /// (over a raw socket: the server answers before the body is sent).
    async fn oversize_upload(&self) -> (u16, Value) {
        use tokio::io::AsyncWriteExt;
        let addr = self.base.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "PUT /admin/policies/match HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: application/wasm\r\nContent-Length: {}\r\nConnection: close\r\n\r\n\0asm",
            accord::policy::MAX_MODULE_BYTES + 1
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let text = read_to_close(&mut s).await;
        let status = text[9..12].parse().unwrap();
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        (status, serde_json::from_str(body).unwrap())
    }

    async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(self.app.db.pool())
            .await
            .unwrap();
        n
    }

    /// Row counts of every table.
    async fn snapshot(&self) -> Vec<(&'static str, i64)> {
        let mut out = Vec::new();
        for t in TABLES {
            out.push((*t, self.count(&format!("SELECT COUNT(*) FROM {t}")).await));
        }
        out
    }

    async fn workspace(&self, name: &str) -> String {
        let (s, w) = self
            .call("POST", "/api/workspaces", Some(json!({"name": name})))
            .await;
        assert_eq!(s, 201, "{w}");
        w["id"].as_str().unwrap().to_string()
    }

    async fn account(&self, workspace: &str, provider_id: &str) -> Value {
        let (s, a) = self
            .call(
                "POST",
                &format!("/api/workspaces/{workspace}/accounts"),
                Some(json!({
                    "provider_account_id": provider_id,
                    "display_name": "Sales – Anna",
                    "time_zone": "Europe/Paris",
                })),
            )
            .await;
        assert_eq!(s, 201, "{a}");
        a
    }

    async fn campaign(&self, workspace: &str, account: &str) -> Value {
        let (s, c) = self
            .call(
                "POST",
                &format!("/api/workspaces/{workspace}/campaigns"),
                Some(json!({
                    "name": "Q4 founders",
                    "linkedin_account_id": account,
                    "steps": steps(),
                })),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        c
    }

    /// A workspace, an account and a draft campaign: (workspace, account, campaign) ids.
    async fn setup(&self) -> (String, String, String) {
        let ws = self.workspace("Acme").await;
        let account = self.account(&ws, "SDF4tGaPSPSzNe1D1xsOs").await;
        let account = account["id"].as_str().unwrap().to_string();
        let campaign = self.campaign(&ws, &account).await;
        (ws, account, campaign["id"].as_str().unwrap().to_string())
    }

    async fn import(&self, campaign: &str, prospects: Value) -> Value {
        let (s, r) = self
            .call(
                "POST",
                &format!("/api/campaigns/{campaign}/prospects"),
                Some(json!({ "prospects": prospects })),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        r
    }
}

/// The seeds' worked example: invite → wait_accept 7 d → if accepted
/// message → wait 3 d → message.
fn steps() -> Value {
    json!([
        {"type": "send_invite", "note": "Hi!"},
        {"type": "wait_accept", "days": 7},
        {"type": "condition", "if_accepted": 3},
        {"type": "send_message", "text": "Thanks for connecting!"},
        {"type": "wait", "days": 3},
        {"type": "send_message", "text": "Following up"},
    ])
}

#[track_caller]
fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
}

async fn create_and_read(kind: Kind) {
    let api = Api::new(kind).await;
    let ws = api.workspace("Acme").await;
    let (s, w) = api
        .call("GET", &format!("/api/workspaces/{ws}"), None)
        .await;
    assert_eq!((s, w["name"].as_str()), (200, Some("Acme")));
    assert_eq!(w["created_at"], T0);

    let account = api.account(&ws, "SDF4tGaPSPSzNe1D1xsOs").await;
    assert_eq!(account["status"], "connected");
    assert_eq!(account["daily_invite_cap"], 20);
    assert_eq!(account["weekly_invite_cap"], 100);
    assert_eq!(account["daily_message_cap"], 50);
    assert_eq!(account["weekly_message_cap"], 200);
    assert_eq!(account["min_spacing_ms"], 90_000);
    assert_eq!(account["time_zone"], "Europe/Paris");
    assert_eq!(account["warmup_started_at"], T0);
    let account_id = account["id"].as_str().unwrap();

    let (s, custom) = api
        .call(
            "POST",
            &format!("/api/workspaces/{ws}/accounts"),
            Some(json!({
                "provider_account_id": "other", "display_name": "Bob", "time_zone": "America/New_York",
                "own_member_id": "ACoAAOwnOwnOwnOwn", "daily_invite_cap": 5, "weekly_invite_cap": 30,
                "daily_message_cap": 10, "weekly_message_cap": 40, "min_spacing_seconds": 120,
                "status": "connecting",
            })),
        )
        .await;
    assert_eq!(s, 201, "{custom}");
    assert_eq!(custom["status"], "connecting");
    assert_eq!(custom["min_spacing_ms"], 120_000);
    assert_eq!(custom["own_member_id"], "ACoAAOwnOwnOwnOwn");
    assert_eq!(custom["daily_invite_cap"], 5);

    let (s, got) = api
        .call("GET", &format!("/api/accounts/{account_id}"), None)
        .await;
    assert_eq!((s, &got), (200, &account));
    let (s, list) = api
        .call("GET", &format!("/api/workspaces/{ws}/accounts"), None)
        .await;
    assert_eq!((s, list.as_array().unwrap().len()), (200, 2));

    // Status flips: one event per change, none when unchanged.
    let events = "SELECT COUNT(*) FROM linkedin_events WHERE kind = 'account_status_changed'";
    let path = format!("/api/accounts/{account_id}/status");
    let (s, a) = api
        .call("POST", &path, Some(json!({"status": "disconnected"})))
        .await;
    assert_eq!(
        (s, a["status"].as_str()),
        (200, Some("disconnected")),
        "{a}"
    );
    assert_eq!(api.count(events).await, 1);
    let detail: (String, String) = sqlx::query_as(
        "SELECT source, detail FROM linkedin_events WHERE kind = 'account_status_changed'",
    )
    .fetch_one(api.app.db.pool())
    .await
    .unwrap();
    assert_eq!(detail.0, "api");
    let detail: Value = serde_json::from_str(&detail.1).unwrap();
    assert_eq!(detail, json!({"from": "connected", "to": "disconnected"}));
    let (s, _) = api
        .call("POST", &path, Some(json!({"status": "disconnected"})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(api.count(events).await, 1);
    let (s, a) = api
        .call("POST", &path, Some(json!({"status": "connected"})))
        .await;
    assert_eq!((s, a["status"].as_str()), (200, Some("connected")));
    assert_eq!(api.count(events).await, 2);

    // Campaigns: defaults (window 09:00-17:00 Mon-Fri, the account's zone).
    let campaign = api.campaign(&ws, account_id).await;
    assert_eq!(campaign["status"], "draft");
    assert_eq!(campaign["window_start_minute"], 540);
    assert_eq!(campaign["window_end_minute"], 1020);
    assert_eq!(campaign["window_days"], "1,2,3,4,5");
    assert_eq!(campaign["time_zone"], "Europe/Paris");
    let mut expected = steps();
    expected[2]["otherwise"] = Value::Null;
    assert_eq!(campaign["steps"], expected);
    let (s, c) = api
        .call(
            "POST",
            &format!("/api/workspaces/{ws}/campaigns"),
            Some(json!({
                "name": "Weekend", "linkedin_account_id": account_id, "steps": [{"type": "send_invite"}],
                "window": {"start_minute": 600, "end_minute": 660, "days": [7, 6, 6]}, "time_zone": "Asia/Tokyo",
            })),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["window_days"], "6,7");
    assert_eq!(c["time_zone"], "Asia/Tokyo");
    let id = campaign["id"].as_str().unwrap();
    let (s, got) = api.call("GET", &format!("/api/campaigns/{id}"), None).await;
    assert_eq!((s, &got), (200, &campaign));
    let (s, list) = api
        .call("GET", &format!("/api/workspaces/{ws}/campaigns"), None)
        .await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Q4 founders", "Weekend"]);
}

async fn refusals_write_nothing(kind: Kind) {
    let api = Api::new(kind).await;
    let (ws, account, campaign) = api.setup().await;
    let other_ws = api.workspace("Other").await;
    let other_account = api.account(&other_ws, "other-provider-id").await;
    let other_account = other_account["id"].as_str().unwrap().to_string();
    api.import(
        &campaign,
        json!([{"profile_url": "https://www.linkedin.com/in/julien-crepieux/"}]),
    )
    .await;
    let before = api.snapshot().await;

    let account_body = |patch: Value| {
        let mut b = json!({
            "provider_account_id": "new-provider-id", "display_name": "X", "time_zone": "UTC",
        });
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let campaign_body = |patch: Value| {
        let mut b = json!({"name": "C", "linkedin_account_id": account, "steps": steps()});
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let accounts = format!("/api/workspaces/{ws}/accounts");
    let campaigns = format!("/api/workspaces/{ws}/campaigns");
    let prospects = format!("/api/campaigns/{campaign}/prospects");
    let status = format!("/api/accounts/{account}/status");
    let too_many: Vec<Value> = (0..5001)
        .map(|i| json!({"member_id": format!("ACoAAA{i:08}xx")}))
        .collect();
    let cases: Vec<(&str, String, Option<Value>, u16, &str)> = vec![
        (
            "POST",
            "/api/workspaces".into(),
            Some(json!({})),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/workspaces".into(),
            Some(json!({"name": 7})),
            400,
            "invalid_field",
        ),
        (
            "POST",
            "/api/workspaces".into(),
            Some(json!({"name": "  "})),
            422,
            "invalid_name",
        ),
        (
            "POST",
            "/api/workspaces".into(),
            Some(json!({"name": "x".repeat(201)})),
            422,
            "invalid_name",
        ),
        ("GET", "/api/workspaces/nope".into(), None, 404, "not_found"),
        (
            "POST",
            "/api/workspaces/nope/accounts".into(),
            Some(account_body(json!({}))),
            404,
            "not_found",
        ),
        (
            "GET",
            "/api/workspaces/nope/accounts".into(),
            None,
            404,
            "not_found",
        ),
        (
            "POST",
            accounts.clone(),
            Some(account_body(json!({"time_zone": "Mars/Olympus"}))),
            422,
            "invalid_time_zone",
        ),
        (
            "POST",
            accounts.clone(),
            Some(account_body(json!({"daily_invite_cap": -1}))),
            422,
            "invalid_daily_invite_cap",
        ),
        (
            "POST",
            accounts.clone(),
            Some(account_body(json!({"weekly_message_cap": 100_001}))),
            422,
            "invalid_weekly_message_cap",
        ),
        (
            "POST",
            accounts.clone(),
            Some(account_body(json!({"min_spacing_seconds": -5}))),
            422,
            "invalid_min_spacing_seconds",
        ),
        (
            "POST",
            accounts.clone(),
            Some(account_body(json!({"status": "asleep"}))),
            422,
            "invalid_status",
        ),
        (
            "POST",
            accounts.clone(),
            Some(account_body(json!({"provider_account_id": ""}))),
            422,
            "invalid_provider_account_id",
        ),
        (
            "POST",
            accounts.clone(),
            Some(account_body(json!({"display_name": ""}))),
            422,
            "invalid_display_name",
        ),
        (
            "POST",
            accounts.clone(),
            Some(account_body(json!({"daily_cap": 3}))),
            400,
            "invalid_json",
        ),
        (
            "POST",
            accounts.clone(),
            Some(account_body(
                json!({"provider_account_id": "SDF4tGaPSPSzNe1D1xsOs"}),
            )),
            409,
            "account_exists",
        ),
        ("GET", "/api/accounts/nope".into(), None, 404, "not_found"),
        (
            "POST",
            "/api/accounts/nope/status".into(),
            Some(json!({"status": "connected"})),
            404,
            "not_found",
        ),
        (
            "POST",
            status.clone(),
            Some(json!({"status": "asleep"})),
            422,
            "invalid_status",
        ),
        ("POST", status.clone(), Some(json!({})), 400, "invalid_json"),
        (
            "POST",
            "/api/workspaces/nope/campaigns".into(),
            Some(campaign_body(json!({}))),
            404,
            "not_found",
        ),
        (
            "GET",
            "/api/workspaces/nope/campaigns".into(),
            None,
            404,
            "not_found",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(json!({"steps": []}))),
            422,
            "invalid_steps",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(json!({"steps": [{"type": "teleport"}]}))),
            422,
            "invalid_steps",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(
                json!({"steps": [{"type": "wait", "days": 0}]}),
            )),
            422,
            "invalid_steps",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(
                json!({"steps": [{"type": "send_invite"}, {"type": "condition", "if_accepted": 0}]}),
            )),
            422,
            "invalid_steps",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(
                json!({"steps": [{"type": "send_message", "text": ""}]}),
            )),
            422,
            "invalid_steps",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(json!({"steps": "invite"}))),
            400,
            "invalid_field",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(json!({"name": ""}))),
            422,
            "invalid_name",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(json!({"linkedin_account_id": other_account}))),
            422,
            "invalid_linkedin_account_id",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(json!({"linkedin_account_id": "nope"}))),
            422,
            "invalid_linkedin_account_id",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(
                json!({"window": {"start_minute": 600, "end_minute": 500, "days": [1]}}),
            )),
            422,
            "invalid_window",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(
                json!({"window": {"start_minute": 0, "end_minute": 60, "days": [8]}}),
            )),
            422,
            "invalid_window",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(
                json!({"window": {"start_minute": 0, "end_minute": 60, "days": []}}),
            )),
            422,
            "invalid_window",
        ),
        (
            "POST",
            campaigns.clone(),
            Some(campaign_body(json!({"time_zone": "Nowhere/Land"}))),
            422,
            "invalid_time_zone",
        ),
        ("GET", "/api/campaigns/nope".into(), None, 404, "not_found"),
        (
            "GET",
            "/api/campaigns/nope/stats".into(),
            None,
            404,
            "not_found",
        ),
        (
            "POST",
            "/api/campaigns/nope/start".into(),
            None,
            404,
            "not_found",
        ),
        (
            "POST",
            "/api/campaigns/nope/pause".into(),
            None,
            404,
            "not_found",
        ),
        (
            "POST",
            "/api/campaigns/nope/resume".into(),
            None,
            404,
            "not_found",
        ),
        (
            "POST",
            "/api/campaigns/nope/stop".into(),
            None,
            404,
            "not_found",
        ),
        (
            "POST",
            "/api/campaigns/nope/prospects".into(),
            Some(json!({"prospects": [{"member_id": "ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM"}]})),
            404,
            "not_found",
        ),
        (
            "POST",
            prospects.clone(),
            Some(json!({"prospects": []})),
            422,
            "invalid_prospects",
        ),
        (
            "POST",
            prospects.clone(),
            Some(json!({"prospects": too_many})),
            422,
            "invalid_prospects",
        ),
        (
            "POST",
            prospects.clone(),
            Some(json!({"prospects": [{"linkedin": "x"}]})),
            400,
            "invalid_json",
        ),
        ("GET", "/api/prospects/nope".into(), None, 404, "not_found"),
        (
            "GET",
            "/api/traces?limit=0".into(),
            None,
            422,
            "invalid_limit",
        ),
        (
            "GET",
            "/api/traces?limit=501".into(),
            None,
            422,
            "invalid_limit",
        ),
        (
            "GET",
            "/api/traces?limit=many".into(),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/api/nothing-here".into(),
            None,
            404,
            "route_not_found",
        ),
        (
            "DELETE",
            format!("/api/campaigns/{campaign}"),
            None,
            405,
            "method_not_allowed",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let got = api.call(method, &path, body.clone()).await;
        assert_error(&got, status, code);
        assert_eq!(
            api.snapshot().await,
            before,
            "{method} {path} {body:?} wrote something"
        );
    }

    // Bodies that are not JSON at all: 400 with the parser's message.
    for path in [
        "/api/workspaces",
        accounts.as_str(),
        campaigns.as_str(),
        prospects.as_str(),
        status.as_str(),
    ] {
        for body in ["{\"name\": ", "not json", ""] {
            let got = api.raw("POST", path, body).await;
            assert_error(&got, 400, "invalid_json");
            let message = got.1["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("line") || message.contains("EOF"),
                "the parser's message: {message}"
            );
        }
    }
    assert_eq!(api.snapshot().await, before);
    // A refused status change leaves the account as it was.
    let (_, a) = api
        .call("GET", &format!("/api/accounts/{account}"), None)
        .await;
    assert_eq!(a["status"], "connected");
}

/// The guard holds on resume too. The API never lets a campaign without a
/// usable prospect start, so the paused one is made with the store's own
/// transition (data from before the guard); its prospect is imported
/// through the API.
async fn resume_is_refused_without_usable_prospects(kind: Kind) {
    let api = Api::new(kind).await;
    let (_, _, campaign) = api.setup().await;
    let r = api
        .import(
            &campaign,
            json!([{"full_name": "Lead", "sales_nav_lead_url": "https://example.com/lead/1"}]),
        )
        .await;
    assert_eq!(r["enrolled"], 1);
    {
        let mut c = api.app.db.pool().acquire().await.unwrap();
        let moved = accord::store::campaigns::transition(
            &mut c,
            &campaign,
            &[accord_policy_core::CampaignStatus::Draft],
            accord_policy_core::CampaignStatus::Paused,
            T0,
        )
        .await
        .unwrap();
        assert!(moved);
    }
    let before = api.snapshot().await;
    let got = api
        .call("POST", &format!("/api/campaigns/{campaign}/resume"), None)
        .await;
    assert_error(&got, 409, "no_prospects_with_linkedin_url");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot resume"),
        "{}",
        got.1
    );
    assert_eq!(api.snapshot().await, before, "nothing written");
    let (_, c) = api
        .call("GET", &format!("/api/campaigns/{campaign}"), None)
        .await;
    assert_eq!(c["status"], "paused");
}

async fn import_and_lifecycle(kind: Kind) {
    let api = Api::new(kind).await;
    let (_, _, campaign) = api.setup().await;
    let path = |action: &str| format!("/api/campaigns/{campaign}/{action}");
    let status = || async {
        let (_, c) = api
            .call("GET", &format!("/api/campaigns/{campaign}"), None)
            .await;
        c["status"].as_str().unwrap().to_string()
    };

    // No prospects at all: start is refused, nothing written.
    let before = api.snapshot().await;
    let got = api.call("POST", &path("start"), None).await;
    assert_error(&got, 409, "no_prospects_with_linkedin_url");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Import contacts with LinkedIn URLs"),
        "{}",
        got.1
    );
    assert_eq!(api.snapshot().await, before);
    assert_eq!(status().await, "draft");

    // A prospect without a usable LinkedIn URL is imported, but still no start.
    let r = api
        .import(
            &campaign,
            json!([{"full_name": "Lead", "sales_nav_lead_url": "https://example.com/lead/1"}]),
        )
        .await;
    assert_eq!(r, json!({"imported": 1, "enrolled": 1, "rejected": []}));
    let before = api.snapshot().await;
    assert_error(
        &api.call("POST", &path("start"), None).await,
        409,
        "no_prospects_with_linkedin_url",
    );
    assert_eq!(api.snapshot().await, before);

    // A mixed batch: the good ones are imported, the others listed.
    let r = api
        .import(
            &campaign,
            json!([
                {"full_name": "Julien", "profile_url": "https://www.linkedin.com/in/julien-crepieux/"},
                {"member_id": "ACoAAB1234567890abcdefghij"},
                {"profile_url": "https://example.com/in/someone"},
                {"full_name": "Nobody"},
                {"public_identifier": "only-a-slug"},
                {"profile_url": "linkedin.com/in/Julien-Crepieux?trk=x"},
                {"sales_nav_lead_url": "https://www.linkedin.com/sales/lead/ACwAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM,NAME_SEARCH,abc"},
                {"member_id": "ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM"},
                {"profile_url": "   "},
            ]),
        )
        .await;
    assert_eq!(r["imported"], 3, "{r}");
    assert_eq!(r["enrolled"], 3, "{r}");
    let rejected: Vec<(u64, &str)> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["index"].as_u64().unwrap(), x["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        [
            (2, "invalid_profile_url"),
            (3, "missing_identifier"),
            (4, "missing_identifier"),
            (5, "duplicate_prospect"),
            (7, "duplicate_prospect"),
            (8, "missing_identifier"),
        ]
    );
    // The same person again in a later import is refused too.
    let r = api
        .import(
            &campaign,
            json!([{"profile_url": "https://uk.linkedin.com/in/julien-crepieux"}]),
        )
        .await;
    assert_eq!(r["imported"], 0);
    assert_eq!(r["rejected"][0]["code"], "duplicate_prospect");

    assert_eq!(api.count("SELECT COUNT(*) FROM prospects").await, 4);
    assert_eq!(
        api.count("SELECT COUNT(*) FROM enrollments WHERE linkedin_status = 'not_invited' AND workflow_state = 'pending' AND step_index = 0").await,
        4
    );
    assert_eq!(
        api.count("SELECT COUNT(*) FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id WHERE e.linkedin_account_id = c.linkedin_account_id").await,
        4
    );
    // Match keys from the active match policy, for every usable prospect.
    let match_sha = api.app.policies.active(Slot::Match).sha256().to_string();
    assert_eq!(
        api.count(&format!(
            "SELECT COUNT(DISTINCT prospect_id) FROM match_keys WHERE key_space = '{match_sha}'"
        ))
        .await,
        3
    );

    // Lifecycle.
    let transitions = "SELECT COUNT(*) FROM linkedin_events WHERE kind IN ('campaign_start', 'campaign_pause', 'campaign_resume', 'campaign_stop')";
    for (action, from) in [("pause", "draft"), ("resume", "draft")] {
        let before = api.snapshot().await;
        let got = api.call("POST", &path(action), None).await;
        assert_error(&got, 409, "invalid_transition");
        let message = got.1["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(action) && message.contains(from),
            "{message}"
        );
        assert_eq!(api.snapshot().await, before);
    }
    let (s, c) = api.call("POST", &path("start"), None).await;
    assert_eq!((s, c["status"].as_str()), (200, Some("running")), "{c}");
    assert!(c.get("resume_sweep").is_none());
    assert_eq!(api.count(transitions).await, 1);
    assert_eq!(
        api.count(
            "SELECT COUNT(*) FROM linkedin_events WHERE kind = 'campaign_start' AND source = 'api'"
        )
        .await,
        1
    );
    assert_error(
        &api.call("POST", &path("start"), None).await,
        409,
        "invalid_transition",
    );
    assert_error(
        &api.call("POST", &path("resume"), None).await,
        409,
        "invalid_transition",
    );
    let (s, c) = api.call("POST", &path("pause"), None).await;
    assert_eq!((s, c["status"].as_str()), (200, Some("paused")));
    assert_error(
        &api.call("POST", &path("pause"), None).await,
        409,
        "invalid_transition",
    );
    assert_error(
        &api.call("POST", &path("start"), None).await,
        409,
        "invalid_transition",
    );
    let (s, c) = api.call("POST", &path("resume"), None).await;
    assert_eq!((s, c["status"].as_str()), (200, Some("running")), "{c}");
    assert_eq!(
        c["resume_sweep"],
        json!({"retried": 0, "enqueued": 0, "skipped": 0, "already_queued": 0, "failed": 0})
    );
    let (s, c) = api.call("POST", &path("stop"), None).await;
    assert_eq!((s, c["status"].as_str()), (200, Some("stopped")));
    assert_eq!(c["cancelled_jobs"], 0);
    assert_eq!(api.count(transitions).await, 4);
    let before = api.snapshot().await;
    for action in ["start", "pause", "resume", "stop"] {
        let got = api.call("POST", &path(action), None).await;
        assert_error(&got, 409, "invalid_transition");
        assert!(
            got.1["error"]["message"]
                .as_str()
                .unwrap()
                .contains("stopped")
        );
    }
    assert_error(
        &api.call(
            "POST",
            &path("prospects"),
            Some(json!({"prospects": [{"member_id": "ACoAAAnewnewnewnew"}]})),
        )
        .await,
        409,
        "campaign_closed",
    );
    assert_eq!(api.snapshot().await, before);
    assert_eq!(status().await, "stopped");

    // A draft can be stopped directly.
    let ws: (String, String) =
        sqlx::query_as("SELECT workspace_id, linkedin_account_id FROM campaigns")
            .fetch_one(api.app.db.pool())
            .await
            .unwrap();
    let draft = api.campaign(&ws.0, &ws.1).await;
    let (s, c) = api
        .call(
            "POST",
            &format!("/api/campaigns/{}/stop", draft["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((s, c["status"].as_str()), (200, Some("stopped")));
}

async fn resume_sweep_dispatches_recoverable_skips(kind: Kind) {
    let api = Api::new(kind).await;
    let (_, _, campaign_id) = api.setup().await;
    let r = api
        .import(
            &campaign_id,
            json!([{"full_name": "Julien", "member_id": "ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM"}]),
        )
        .await;
    assert_eq!(r["enrolled"], 1);
    let (prospect_id, enrollment_id): (String, String) =
        sqlx::query_as("SELECT prospect_id, id FROM enrollments")
            .fetch_one(api.app.db.pool())
            .await
            .unwrap();
    let (s, _) = api
        .call("POST", &format!("/api/campaigns/{campaign_id}/start"), None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .call("POST", &format!("/api/campaigns/{campaign_id}/pause"), None)
        .await;
    assert_eq!(s, 200);

    // The prospect accepts while the campaign is paused: the dispatcher's
    // pre-flight records a recoverable campaign_paused skip.
    let mut tx = api.app.db.begin().await.unwrap();
    let stamp = enrollments::AcceptStamp {
        accepted_at: T0,
        source: SignalSource::Webhook,
        strategy: "direct-member-id",
        landing: None,
        late_observed_at: None,
    };
    assert!(
        enrollments::stamp_accept(&mut tx, &enrollment_id, &stamp, T0)
            .await
            .unwrap()
            .is_some()
    );
    let enrollment = enrollments::get(&mut tx, &enrollment_id, "")
        .await
        .unwrap()
        .unwrap();
    let campaign = campaigns::get(&mut tx, &campaign_id)
        .await
        .unwrap()
        .unwrap();
    let account = accounts::account(&mut tx, &campaign.linkedin_account_id)
        .await
        .unwrap()
        .unwrap();
    let request = DispatchRequest {
        source: DispatchSource::InTimeAdvance,
        step_index: 3,
    };
    let outcome = api
        .app
        .pipeline
        .dispatch(&mut tx, &account, &campaign, &enrollment, request)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        outcome,
        DispatchOutcome::Skipped {
            reason: SkipReason::CampaignPaused,
            recoverable: true
        }
    );
    let (_, stats) = api
        .call("GET", &format!("/api/campaigns/{campaign_id}/stats"), None)
        .await;
    assert_eq!(stats["open_recoverable_skips"], 1, "{stats}");
    assert_eq!(stats["jobs"]["pending"], 0);

    let (s, c) = api
        .call(
            "POST",
            &format!("/api/campaigns/{campaign_id}/resume"),
            None,
        )
        .await;
    assert_eq!((s, c["status"].as_str()), (200, Some("running")), "{c}");
    assert_eq!(
        c["resume_sweep"],
        json!({"retried": 1, "enqueued": 1, "skipped": 0, "already_queued": 0, "failed": 0})
    );
    assert_eq!(
        api.count("SELECT COUNT(*) FROM campaign_send_jobs WHERE source = 'resume' AND status = 'pending' AND step_index = 3").await,
        1
    );
    let (_, stats) = api
        .call("GET", &format!("/api/campaigns/{campaign_id}/stats"), None)
        .await;
    assert_eq!(stats["open_recoverable_skips"], 0, "{stats}");
    assert_eq!(stats["jobs"]["pending"], 1);
    assert_eq!(stats["accepted"], 1);

    // A second resume cycle finds nothing left to sweep.
    api.call("POST", &format!("/api/campaigns/{campaign_id}/pause"), None)
        .await;
    let (_, c) = api
        .call(
            "POST",
            &format!("/api/campaigns/{campaign_id}/resume"),
            None,
        )
        .await;
    assert_eq!(c["resume_sweep"]["retried"], 0);

    // The prospect page shows the timeline, the job's run time and why it
    // waits (Saturday: the Mon-Fri window), and the resolved skip.
    let (s, p) = api
        .call("GET", &format!("/api/prospects/{prospect_id}"), None)
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["full_name"], "Julien");
    let e = &p["enrollments"][0];
    assert_eq!(e["id"], enrollment_id.as_str());
    assert_eq!(e["linkedin_status"], "connected");
    let job = &e["jobs"][0];
    assert_eq!(job["wait_reason"], "window");
    assert!(job["run_at"].as_i64().unwrap() > T0);
    assert_eq!(e["next_run"]["run_at"], job["run_at"]);
    assert_eq!(e["next_run"]["wait_reason"], "window");
    assert!(
        e["next_run"]["run_at_utc"]
            .as_str()
            .unwrap()
            .starts_with("2026-10-12T"),
        "{e}"
    );
    let kinds: Vec<&str> = e["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["dispatch_skipped", "job_enqueued"]);
    assert_eq!(e["skips"][0]["reason"], "campaign_paused");
    assert!(e["skips"][0]["resolved_at"].is_i64());

    // Stopping cancels the pending job.
    let (_, c) = api
        .call("POST", &format!("/api/campaigns/{campaign_id}/stop"), None)
        .await;
    assert_eq!(c["cancelled_jobs"], 1);
    let (_, stats) = api
        .call("GET", &format!("/api/campaigns/{campaign_id}/stats"), None)
        .await;
    assert_eq!(stats["jobs"]["pending"], 0);
    assert_eq!(stats["jobs"]["cancelled"], 1);
}

async fn stats_and_traces(kind: Kind) {
    let api = Api::new(kind).await;
    let (ws, account, campaign) = api.setup().await;
    api.import(
        &campaign,
        json!([
            {"profile_url": "https://www.linkedin.com/in/a"},
            {"profile_url": "https://www.linkedin.com/in/b"},
        ]),
    )
    .await;
    let mut c = api.app.db.pool().acquire().await.unwrap();
    for kind in [
        "bridge_miss_all_strategies",
        "bridge_miss_all_strategies",
        "orphan_webhook",
    ] {
        let t = traces::NewTrace {
            workspace_id: Some(&ws),
            linkedin_account_id: Some(&account),
            kind,
            ..traces::NewTrace::default()
        };
        traces::record(&mut c, t, T0).await.unwrap();
    }
    let t = traces::NewTrace {
        kind: "unknown_account",
        ..traces::NewTrace::default()
    };
    traces::record(&mut c, t, T0 + 1).await.unwrap();
    drop(c);

    let (s, stats) = api
        .call("GET", &format!("/api/campaigns/{campaign}/stats"), None)
        .await;
    assert_eq!(s, 200, "{stats}");
    assert_eq!(stats["campaign_id"], campaign.as_str());
    assert_eq!(stats["status"], "draft");
    assert_eq!(stats["enrolled"], 2);
    assert_eq!(stats["invited"], 0);
    assert_eq!(stats["accepted"], 0);
    assert_eq!(stats["bridge_misses"], 2);
    assert_eq!(stats["orphan_webhooks"], 1);
    assert_eq!(stats["open_recoverable_skips"], 0);
    assert_eq!(
        stats["jobs"],
        json!({"cancelled": 0, "failed": 0, "pending": 0, "processing": 0, "succeeded": 0})
    );

    let (s, all) = api.call("GET", "/api/traces", None).await;
    assert_eq!((s, all.as_array().unwrap().len()), (200, 4));
    assert_eq!(all[0]["kind"], "unknown_account", "newest first");
    let (_, some) = api
        .call(
            "GET",
            &format!("/api/traces?workspace_id={ws}&kind=bridge_miss_all_strategies"),
            None,
        )
        .await;
    assert_eq!(some.as_array().unwrap().len(), 2);
    let (_, one) = api.call("GET", "/api/traces?limit=1", None).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    let (_, none) = api.call("GET", "/api/traces?kind=nothing", None).await;
    assert_eq!(none, json!([]));
}

async fn authentication(kind: Kind) {
    let mut api = Api::start(kind, Some(API_TOKEN), Some(ADMIN_TOKEN)).await;
    let ws = api.workspace("Acme").await;
    let before = api.snapshot().await;
    let url = |p: &str| format!("{}{p}", api.base);
    let client = reqwest::Client::new();
    let attempts = [
        None,
        Some("Bearer wrong-token".to_string()),
        Some(format!("Bearer {API_TOKEN}x")),
        Some(format!("Basic {API_TOKEN}")),
        Some(API_TOKEN.to_string()),
        Some("Bearer ".to_string()),
        Some(format!("Bearer {ADMIN_TOKEN}x")),
        Some(
            "Bearer acc_ws_0000000000000000000000000000000000000000000000000000000000000000"
                .to_string(),
        ),
    ];
    for auth in &attempts {
        for (method, path, body) in [
            ("GET", format!("/api/workspaces/{ws}"), None),
            (
                "POST",
                "/api/workspaces".to_string(),
                Some(json!({"name": "Intruder"})),
            ),
            (
                "POST",
                "/api/workspaces".to_string(),
                Some(json!({"name": ""})),
            ),
            ("GET", "/api/traces?limit=0".to_string(), None),
        ] {
            let mut req = client.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                url(&path),
            );
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
            let got = (resp.status().as_u16(), resp.json::<Value>().await.unwrap());
            assert_error(&got, 401, "unauthorized");
        }
    }
    assert_eq!(api.snapshot().await, before);
    // The right token (scheme case-insensitive) passes.
    let (s, _) = api
        .call("GET", &format!("/api/workspaces/{ws}"), None)
        .await;
    assert_eq!(s, 200);
    let resp = client
        .get(url(&format!("/api/workspaces/{ws}")))
        .header("authorization", format!("bearer {API_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // The admin token opens the API too.
    let resp = client
        .get(url(&format!("/api/workspaces/{ws}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Health, metrics and the OpenAPI document are open.
    for path in ["/healthz", "/openapi.json"] {
        assert_eq!(
            client
                .get(url(path))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            200,
            "{path}"
        );
    }

    // The admin API wants the admin token, not the API token.
    for auth in [
        None,
        Some(format!("Bearer {API_TOKEN}")),
        Some("Bearer nope".into()),
    ] {
        for (method, path) in [
            ("GET", "/admin/policies"),
            ("PUT", "/admin/policies/match"),
            ("DELETE", "/admin/policies/match"),
            ("POST", "/admin/inbox/replay"),
        ] {
            let mut req = client.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                url(path),
            );
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            let got = api.send(req.body(b"\0asm".to_vec())).await;
            assert_error(&got, 401, "unauthorized");
        }
    }
    assert_eq!(api.snapshot().await, before);
    let (s, _) = api.admin("GET", "/admin/policies", None).await;
    assert_eq!(s, 200);

    // Without a configured API token the API is open.
    api = Api::start(kind, None, None).await;
    api.token = None;
    let (s, _) = api
        .call("POST", "/api/workspaces", Some(json!({"name": "Open"})))
        .await;
    assert_eq!(s, 201);
}

async fn admin_disabled_without_token(kind: Kind) {
    let api = Api::start(kind, None, None).await;
    let before = api.snapshot().await;
    for (method, path) in [
        ("GET", "/admin/policies"),
        ("PUT", "/admin/policies/match"),
        ("DELETE", "/admin/policies/routing"),
        ("POST", "/admin/inbox/replay"),
    ] {
        for auth in [None, Some(format!("Bearer {ADMIN_TOKEN}"))] {
            let mut req = api.client.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", api.base),
            );
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let got = api.send(req.body(b"\0asm".to_vec())).await;
            assert_error(&got, 403, "admin_disabled");
        }
    }
    assert_eq!(api.snapshot().await, before);
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn policy_upload_and_rekey(kind: Kind) {
    let api = Api::new(kind).await;
    let (_, _, campaign) = api.setup().await;
    api.import(
        &campaign,
        json!([
            {"profile_url": "https://www.linkedin.com/in/julien-crepieux/"},
            {"member_id": "ACoAAB1234567890abcdefghij"},
            {"sales_nav_lead_url": "https://www.linkedin.com/sales/lead/ACwAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM,NAME_SEARCH,abc"},
        ]),
    )
    .await;
    let builtin_match = sha256(builtin::MATCH);
    let (s, list) = api.admin("GET", "/admin/policies", None).await;
    assert_eq!(s, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    for (entry, slot) in list.iter().zip(Slot::ALL) {
        let (bytes, origin) = builtin::for_slot(slot);
        assert_eq!(entry["slot"], slot.as_str());
        assert_eq!(entry["sha256"], sha256(bytes));
        assert_eq!(entry["origin"], origin);
        assert_eq!(entry["builtin"], true);
    }

    // Refusals: nothing stored, nothing activated, keys untouched.
    let keys = || async {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT prospect_id, key, key_space FROM match_keys ORDER BY prospect_id, key",
        )
        .fetch_all(api.app.db.pool())
        .await
        .unwrap();
        rows
    };
    let keys_before = keys().await;
    assert!(!keys_before.is_empty());
    let before = api.snapshot().await;
    let garbage = api
        .admin(
            "PUT",
            "/admin/policies/match",
            Some(b"definitely not wasm".to_vec()),
        )
        .await;
    assert_error(&garbage, 422, "invalid_policy");
    assert!(
        garbage.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly binary"),
        "{}",
        garbage.1
    );
    let empty = api
        .admin("PUT", "/admin/policies/match", Some(Vec::new()))
        .await;
    assert_error(&empty, 422, "invalid_policy");
    let wrong_world = api
        .admin(
            "PUT",
            "/admin/policies/match",
            Some(builtin::ROUTING.to_vec()),
        )
        .await;
    assert_error(&wrong_world, 422, "invalid_policy");
    assert!(
        wrong_world.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wrong world"),
        "{}",
        wrong_world.1
    );
    let bad_slot = api
        .admin(
            "PUT",
            "/admin/policies/matcher",
            Some(builtin::MATCH.to_vec()),
        )
        .await;
    assert_error(&bad_slot, 400, "invalid_slot");
    assert_error(
        &api.admin("DELETE", "/admin/policies/nope", None).await,
        400,
        "invalid_slot",
    );
    let huge = api.oversize_upload().await;
    assert_error(&huge, 413, "payload_too_large");
    assert_eq!(api.snapshot().await, before);
    assert_eq!(keys().await, keys_before);
    assert_eq!(api.app.policies.active(Slot::Match).sha256(), builtin_match);

    // A real upload: stored, assigned, active, every prospect re-keyed.
    let hostile = std::fs::read(crate::support::test_guest("hostile_match")).unwrap();
    let hostile_sha = sha256(&hostile);
    let (s, swap) = api
        .admin("PUT", "/admin/policies/match", Some(hostile.clone()))
        .await;
    assert_eq!(s, 200, "{swap}");
    let mut swap = swap;
    let job = swap["rekey_job"].take();
    assert_eq!(
        (
            job["status"].as_str(),
            job["done"].as_i64(),
            job["total"].as_i64()
        ),
        (Some("done"), Some(3), Some(3)),
        "{job}"
    );
    assert_eq!(
        swap,
        json!({
            "slot": "match", "workspace_id": null, "mode": "active", "sha256": hostile_sha,
            "origin": "upload", "previous_sha256": builtin_match, "rekeyed": 3, "rekey_failures": 0,
            "status": "done", "rekey_job": null,
        })
    );
    assert_eq!(api.app.policies.active(Slot::Match).sha256(), hostile_sha);
    assert_eq!(api.count("SELECT COUNT(*) FROM policy_modules").await, 1);
    assert_eq!(
        api.count(&format!("SELECT COUNT(*) FROM policy_bindings WHERE scope = '' AND slot = 'match' AND mode = 'active' AND sha256 = '{hostile_sha}'")).await,
        1
    );
    let rekeyed = keys().await;
    assert_eq!(rekeyed.len(), 3);
    assert!(
        rekeyed
            .iter()
            .all(|(_, k, sha)| k == "hostile" && *sha == hostile_sha),
        "{rekeyed:?}"
    );
    let (_, list) = api.admin("GET", "/admin/policies", None).await;
    assert_eq!(list[0]["sha256"], hostile_sha);
    assert_eq!(list[0]["origin"], "upload");
    assert_eq!(list[0]["builtin"], false);
    // New imports use the new module.
    api.import(&campaign, json!([{"member_id": "ACoAAAnewnewnewnewnew"}]))
        .await;
    assert_eq!(
        api.count(&format!(
            "SELECT COUNT(*) FROM match_keys WHERE key = 'hostile' AND key_space = '{hostile_sha}'"
        ))
        .await,
        4
    );

    // A second host on the same database starts with the stored module.
    let again = App::start(api.config.clone(), ManualClock::new(T0))
        .await
        .unwrap();
    assert_eq!(again.policies.active(Slot::Match).sha256(), hostile_sha);
    drop(again);

    // Back to the built-in default: unassigned, re-keyed again.
    let (s, swap) = api.admin("DELETE", "/admin/policies/match", None).await;
    assert_eq!(s, 200, "{swap}");
    assert_eq!(swap["sha256"], builtin_match);
    assert_eq!(swap["previous_sha256"], hostile_sha);
    assert_eq!(swap["rekeyed"], 4);
    assert_eq!(api.count("SELECT COUNT(*) FROM policy_bindings").await, 0);
    assert_eq!(api.app.policies.active(Slot::Match).sha256(), builtin_match);
    let restored = keys().await;
    assert!(
        restored
            .iter()
            .all(|(_, k, sha)| k != "hostile" && *sha == builtin_match)
    );
    assert_eq!(
        restored
            .iter()
            .filter(|(p, _, _)| keys_before.iter().any(|(q, _, _)| q == p))
            .cloned()
            .collect::<Vec<_>>(),
        keys_before
    );

    // Another slot: no re-key.
    let (s, swap) = api
        .admin(
            "PUT",
            "/admin/policies/routing",
            Some(builtin::ROUTING.to_vec()),
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    assert_eq!(swap["rekeyed"], 0);
    assert_eq!(swap["sha256"], sha256(builtin::ROUTING));
}

async fn inbox_replay(kind: Kind) {
    let api = Api::new(kind).await;
    let (s, r) = api.admin("POST", "/admin/inbox/replay", None).await;
    assert_eq!((s, &r), (200, &json!({"processed": 0, "failed": 0})));
    let (s, _) = api
        .admin("POST", "/admin/inbox/replay?all=true", None)
        .await;
    assert_eq!(s, 200);
    let got = api
        .admin("POST", "/admin/inbox/replay?all=maybe", None)
        .await;
    assert_error(&got, 400, "invalid_query");
}

async fn openapi_document(kind: Kind) {
    let api = Api::new(kind).await;
    let resp = api
        .client
        .get(format!("{}/openapi.json", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/workspaces", "post"),
        ("/api/workspaces/{id}", "get"),
        ("/api/workspaces/{id}/accounts", "post"),
        ("/api/workspaces/{id}/accounts", "get"),
        ("/api/accounts/{id}", "get"),
        ("/api/accounts/{id}/status", "post"),
        ("/api/workspaces/{id}/campaigns", "post"),
        ("/api/workspaces/{id}/campaigns", "get"),
        ("/api/campaigns/{id}", "get"),
        ("/api/campaigns/{id}/prospects", "post"),
        ("/api/campaigns/{id}/start", "post"),
        ("/api/campaigns/{id}/pause", "post"),
        ("/api/campaigns/{id}/resume", "post"),
        ("/api/campaigns/{id}/stop", "post"),
        ("/api/campaigns/{id}/stats", "get"),
        ("/api/prospects/{id}", "get"),
        ("/api/traces", "get"),
        ("/api/workspaces/{id}/endpoints", "post"),
        ("/api/workspaces/{id}/endpoints", "get"),
        ("/api/endpoints/{id}", "get"),
        ("/api/endpoints/{id}", "delete"),
        ("/api/endpoints/{id}/disable", "post"),
        ("/api/endpoints/{id}/enable", "post"),
        ("/api/endpoints/{id}/test", "post"),
        ("/api/endpoints/{id}/deliveries", "get"),
        ("/api/workspaces/{id}/dead-letters", "get"),
        ("/api/deliveries/{id}", "get"),
        ("/api/deliveries/{id}/retry", "post"),
        ("/admin/policies", "get"),
        ("/admin/policies/{slot}", "put"),
        ("/admin/policies/{slot}", "delete"),
        ("/admin/inbox/replay", "post"),
        ("/admin/workspaces/{id}/tokens", "post"),
        ("/admin/workspaces/{id}/tokens", "get"),
        ("/admin/workspaces/{id}/tokens/{token_id}", "delete"),
        ("/webhooks/unipile", "post"),
        ("/healthz", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "Campaign",
        "Account",
        "StepDef",
        "ErrorBody",
        "ImportReport",
        "CampaignStatsView",
        "ProspectDetail",
        "PolicySwap",
        "CreatedEndpoint",
        "DeliveryPage",
        "DeadLetterPage",
        "TestSend",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
    let security = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(security.contains_key("api_token") && security.contains_key("admin_token"));
    // Every `$ref` resolves.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
}

/// A refusal given before the body was read leaves the connection
/// usable for a keep-alive client: the rest of the body is read and
/// dropped, so the client's next request never meets a connection the
/// server dropped (it would fail without reaching the server).
async fn refusals_before_the_body_keep_the_connection_usable(kind: Kind) {
    let api = Api::new(kind).await;
    let connection = |resp: &reqwest::Response| {
        resp.headers()
            .get("connection")
            .map(|v| v.to_str().unwrap_or_default().to_string())
    };
    // An unknown slot, with a module far over the drain limit: read whole.
    let resp = api
        .client
        .put(format!("{}/admin/policies/matcher", api.base))
        .bearer_auth(ADMIN_TOKEN)
        .body(vec![0u8; 4 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(connection(&resp), None);
    // A webhook without the secret, refused before its body is read, on
    // a keep-alive connection whose body is still arriving: the rest is
    // read, and the next request on the connection is answered.
    use tokio::io::AsyncWriteExt;
    let addr = api.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let half = vec![b' '; 64 << 10];
    let head = format!(
        "POST /webhooks/unipile HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        2 * half.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&half).await.unwrap();
    // Time for the server to answer before the rest arrives (it used to
    // drop the connection then); the outcome does not depend on it.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let _ = socket.write_all(&half).await;
    let next = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let _ = socket.write_all(next.as_bytes()).await;
    let answers = read_to_close(&mut socket).await;
    let statuses: Vec<&str> = answers
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| answers.get(i + 9..i + 12))
        .collect();
    assert_eq!(statuses, ["503", "200"], "{answers}");

    // A body over the drain limit is not waited for: the refusal says the
    // connection closes.
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /admin/policies/match HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        accord::http::unread_body::DRAIN_LIMIT + 1
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut socket).await.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 401"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
}

/// What a raw connection receives until the server closes it (at most
/// 30 s; whatever arrived before a reset).
async fn read_to_close(socket: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = socket.read_to_end(&mut received);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), read).await;
    String::from_utf8_lossy(&received).into_owned()
}
