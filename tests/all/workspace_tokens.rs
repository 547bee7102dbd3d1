//! Workspace tokens over real HTTP: issued, listed and revoked through
//! the admin API, stored as a hash only, and opening `/api` for their own
//! workspace only. Workspace A's token tries every `/api` route (the list
//! is checked against `/openapi.json`, so a new route fails here until it
//! is covered) on workspace B's objects: each answers 404 with the body a
//! missing object gets (or 403 for creating a workspace; lists show
//! nothing of B), and B reads the same before and after. State is made
//! through the API and the webhook edge only.

use crate::on_both_databases;
use crate::world::{Kind, T0, postgres_url};
use accord::app::{App, AppConfig};
use accord::clock::ManualClock;
use accord::provider::LinkedinProvider;
use accord::provider::unipile::UnipileClient;
use accord::simulator::{PersonSpec, SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;

on_both_databases!(
    issue_list_and_revoke,
    token_route_refusals,
    a_workspace_token_sees_only_its_own_workspace,
    traces_are_filtered_to_the_token_workspace,
    an_open_api_still_scopes_workspace_tokens,
);

const ADMIN: &str = "admin-token-of-the-token-tests";
const API: &str = "api-token-of-the-token-tests";
const WEBHOOK_SECRET: &str = "webhook-secret-of-the-token-tests";
/// An id no object has: a missing object's answer is compared with it.
const MISSING: &str = "0190c0de-0000-7000-8000-00000000dead";

struct Host {
    app: Arc<App>,
    clock: Arc<ManualClock>,
    sim: SimHandle,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// One workspace made through the API: an account, a draft campaign with
/// a prospect (to start), a running one (to pause), a paused one (to
/// resume), an empty draft (to stop), the running campaign's prospect, a
/// notification endpoint and the delivery to it of that prospect's accept.
#[derive(Debug, Clone)]
struct Objects {
    workspace: String,
    provider_account_id: String,
    account: String,
    draft: String,
    running: String,
    paused: String,
    to_stop: String,
    prospect: String,
    endpoint: String,
    delivery: String,
}

impl Host {
    /// A host with the admin token, the API token when `api_token`, the
    /// webhook secret, and the Unipile simulator as its provider (so the
    /// resync routes answer).
    async fn start(kind: Kind, api_token: bool) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let mut config = match kind {
            Kind::Sqlite => {
                AppConfig::new(format!("sqlite://{}/t.db?mode=rwc", dir.path().display()))
            }
            Kind::Postgres => {
                let mut c = AppConfig::new(postgres_url().unwrap());
                c.database_schema = Some(crate::support::fresh_schema());
                c
            }
        };
        config.admin_token = Some(ADMIN.into());
        config.api_token = api_token.then(|| API.to_string());
        config.webhook_secret = Some(WEBHOOK_SECRET.into());
        let clock = ManualClock::new(T0);
        let sim = Simulator::start(SimConfig::new("sim-key", clock.clone()))
            .await
            .unwrap();
        let provider: Arc<dyn LinkedinProvider> = Arc::new(
            UnipileClient::new(
                &sim.base_url(),
                "sim-key",
                std::time::Duration::from_secs(5),
            )
            .unwrap(),
        );
        let app = App::start_with_provider(config, clock.clone(), Some(provider))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = accord::http::router(app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Host {
            app,
            clock,
            sim,
            base,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// A request with `bearer` (none: no header): the status and the JSON
    /// body (`null` for an empty one).
    async fn call(
        &self,
        bearer: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        if text.is_empty() {
            return (status, Value::Null);
        }
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: status {status}: not JSON ({e}): {text:?}"));
        (status, body)
    }

    /// An admin request.
    async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call(Some(ADMIN), method, path, body).await
    }

    /// A request that must answer `status`; its body.
    async fn ok(
        &self,
        bearer: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let (s, got) = self.call(bearer, method, path, body.as_ref()).await;
        assert_eq!(s, status, "{method} {path}: {got}");
        got
    }

    /// Issues a token of `workspace` named `name`: (token id, secret).
    async fn issue(&self, workspace: &str, name: &str) -> (String, String) {
        let path = format!("/admin/workspaces/{workspace}/tokens");
        let issued = self
            .ok(
                Some(ADMIN),
                "POST",
                &path,
                Some(json!({ "name": name })),
                201,
            )
            .await;
        (
            issued["id"].as_str().unwrap().to_string(),
            issued["token"].as_str().unwrap().to_string(),
        )
    }

    /// A workspace with its objects, made through the API with `bearer`;
    /// `tag` keeps its provider ids and people apart from other
    /// workspaces'.
    async fn seed(&self, bearer: Option<&str>, tag: &str) -> Objects {
        let id = |v: &Value| v["id"].as_str().unwrap().to_string();
        let workspace = id(&self
            .ok(
                bearer,
                "POST",
                "/api/workspaces",
                Some(json!({ "name": format!("Team {tag}") })),
                201,
            )
            .await);
        let provider_account_id = format!("acct-{tag}");
        self.sim.add_account_with_id(&provider_account_id);
        let account = id(&self
            .ok(
                bearer,
                "POST",
                &format!("/api/workspaces/{workspace}/accounts"),
                Some(account_body(&provider_account_id)),
                201,
            )
            .await);
        let mut campaigns = Vec::new();
        for _ in 0..4 {
            let c = self
                .ok(
                    bearer,
                    "POST",
                    &format!("/api/workspaces/{workspace}/campaigns"),
                    Some(campaign_body(&account)),
                    201,
                )
                .await;
            campaigns.push(id(&c));
        }
        let [draft, running, paused, to_stop] = <[String; 4]>::try_from(campaigns).unwrap();
        let mut accepting = None;
        for (campaign, who) in [
            (&draft, "Draft"),
            (&running, "Running"),
            (&paused, "Paused"),
        ] {
            let person = self.sim.add_person(PersonSpec::new(who, tag));
            let report = self
                .ok(
                    bearer,
                    "POST",
                    &format!("/api/campaigns/{campaign}/prospects"),
                    Some(json!({ "prospects": [{ "profile_url": person.profile_url() }] })),
                    200,
                )
                .await;
            assert_eq!(report["enrolled"], 1, "{report}");
            if campaign == &running {
                accepting = Some(person);
            }
        }
        for (campaign, action) in [(&running, "start"), (&paused, "start"), (&paused, "pause")] {
            let path = format!("/api/campaigns/{campaign}/{action}");
            self.ok(bearer, "POST", &path, None, 200).await;
        }
        // An endpoint (a closed port: nothing is sent here anyway), then the
        // running campaign's prospect accepts through the webhook edge,
        // which makes a delivery to it.
        let endpoint = id(&self
            .ok(
                bearer,
                "POST",
                &format!("/api/workspaces/{workspace}/endpoints"),
                Some(endpoint_body()),
                201,
            )
            .await);
        let person = accepting.unwrap();
        self.webhook(json!({
            "event": "new_relation", "account_id": provider_account_id, "account_type": "LINKEDIN",
            "webhook_name": "", "user_full_name": person.full_name(),
            "user_provider_id": person.provider_id,
            "user_public_identifier": person.public_identifier,
            "user_profile_url": person.profile_url(),
            "user_picture_url": "https://media.licdn.com/x"
        }))
        .await;
        let deliveries = self
            .ok(
                bearer,
                "GET",
                &format!("/api/endpoints/{endpoint}/deliveries"),
                None,
                200,
            )
            .await;
        let delivery = deliveries["items"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("the accept made a delivery: {deliveries}"))
            .to_string();
        // The API names no prospect ids on import: read the one it made.
        let (prospect,): (String,) =
            sqlx::query_as("SELECT prospect_id FROM enrollments WHERE campaign_id = $1")
                .bind(&running)
                .fetch_one(self.app.db.pool())
                .await
                .unwrap();
        Objects {
            workspace,
            provider_account_id,
            account,
            draft,
            running,
            paused,
            to_stop,
            prospect,
            endpoint,
            delivery,
        }
    }

    /// Everything the admin token reads of a workspace through the API,
    /// and its audit rows and resync requests as stored.
    async fn view(&self, o: &Objects) -> Vec<(String, u16, Value)> {
        let ws = &o.workspace;
        let mut paths = vec![
            format!("/api/workspaces/{ws}"),
            format!("/api/workspaces/{ws}/accounts"),
            format!("/api/workspaces/{ws}/campaigns"),
            format!("/api/accounts/{}", o.account),
            format!("/api/traces?workspace_id={ws}&limit=500"),
            format!("/admin/workspaces/{ws}/tokens"),
            format!("/api/workspaces/{ws}/endpoints"),
            format!("/api/workspaces/{ws}/dead-letters"),
            format!("/api/endpoints/{}", o.endpoint),
            format!("/api/endpoints/{}/deliveries", o.endpoint),
            format!("/api/deliveries/{}", o.delivery),
        ];
        for campaign in [&o.draft, &o.running, &o.paused, &o.to_stop] {
            paths.push(format!("/api/campaigns/{campaign}"));
            paths.push(format!("/api/campaigns/{campaign}/stats"));
        }
        let prospects: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM prospects WHERE workspace_id = $1 ORDER BY id")
                .bind(ws)
                .fetch_all(self.app.db.pool())
                .await
                .unwrap();
        for (p,) in prospects {
            paths.push(format!("/api/prospects/{p}"));
            paths.push(format!("/api/prospects/{p}/resync"));
        }
        let mut out = Vec::new();
        for path in paths {
            let (status, body) = self.admin("GET", &path, None).await;
            out.push((path, status, body));
        }
        for (what, sql) in [
            (
                "events",
                "SELECT COUNT(*) FROM linkedin_events WHERE workspace_id = $1",
            ),
            (
                "resync requests",
                "SELECT COUNT(*) FROM resync_requests r JOIN prospects p ON p.id = r.prospect_id \
                 WHERE p.workspace_id = $1",
            ),
        ] {
            let (n,): (i64,) = sqlx::query_as(sql)
                .bind(ws)
                .fetch_one(self.app.db.pool())
                .await
                .unwrap();
            out.push((what.to_string(), 200, json!(n)));
        }
        out
    }

    /// The `(method, path)` of every `/api` route in `/openapi.json`.
    async fn documented_api_routes(&self) -> BTreeSet<(String, String)> {
        let doc = self.ok(None, "GET", "/openapi.json", None, 200).await;
        let mut routes = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.starts_with("/api/") {
                continue;
            }
            for method in item.as_object().unwrap().keys() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
        routes
    }

    /// Posts a webhook through the edge and lets the processor finish it.
    async fn webhook(&self, body: Value) {
        let resp = self
            .http
            .post(format!("{}/webhooks/unipile", self.base))
            .header("unipile-auth", WEBHOOK_SECRET)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        while self.app.inbox.process_pending(100).await.unwrap() > 0 {}
    }
}

fn account_body(provider_account_id: &str) -> Value {
    json!({
        "provider_account_id": provider_account_id,
        "display_name": "Sales",
        "time_zone": "Europe/Paris",
    })
}

fn endpoint_body() -> Value {
    json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook", "name": "CRM"})
}

fn campaign_body(account: &str) -> Value {
    json!({
        "name": "Founders",
        "linkedin_account_id": account,
        "steps": [
            {"type": "send_invite"},
            {"type": "wait_accept", "days": 7},
            {"type": "send_message", "text": "Thanks for connecting!"},
        ],
    })
}

/// A new_relation webhook for `account` from a member no prospect has.
fn stranger_accepts(account: &str, member: &str) -> Value {
    json!({
        "event": "new_relation", "account_id": account, "account_type": "LINKEDIN",
        "webhook_name": "", "user_full_name": "Nobody Known", "user_provider_id": member,
        "user_public_identifier": member.to_lowercase(),
        "user_profile_url": format!("https://www.linkedin.com/in/{}/", member.to_lowercase()),
        "user_picture_url": "https://media.licdn.com/x"
    })
}

/// One request of the coverage table.
#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    /// The route as `/openapi.json` names it.
    route: &'static str,
    /// The object id put in the route's `{id}`, if it has one.
    id: Option<String>,
    /// Query string, if any.
    query: String,
    body: Option<Value>,
}

impl Case {
    fn on(method: &'static str, route: &'static str, id: &str, body: Option<Value>) -> Case {
        Case {
            method,
            route,
            id: Some(id.to_string()),
            query: String::new(),
            body,
        }
    }

    /// The path with `id` in place of the object's id.
    fn path_with(&self, id: &str) -> String {
        format!("{}{}", self.route.replace("{id}", id), self.query)
    }

    fn path(&self) -> String {
        self.path_with(self.id.as_deref().unwrap_or(""))
    }
}

/// Every `/api` route, each on `o`'s objects with a request that succeeds
/// for a caller who may see them. Reads come first; the account is
/// disconnected last, so the resync before it has an account to ask with.
fn cases(o: &Objects) -> Vec<Case> {
    let newcomer = format!(
        "https://www.linkedin.com/in/newcomer-{}/",
        o.provider_account_id
    );
    vec![
        Case {
            method: "POST",
            route: "/api/workspaces",
            id: None,
            query: String::new(),
            body: Some(json!({"name": "Intruder"})),
        },
        Case::on("GET", "/api/workspaces/{id}", &o.workspace, None),
        Case::on("GET", "/api/workspaces/{id}/accounts", &o.workspace, None),
        Case::on("GET", "/api/workspaces/{id}/campaigns", &o.workspace, None),
        Case::on("GET", "/api/accounts/{id}", &o.account, None),
        Case::on("GET", "/api/campaigns/{id}", &o.running, None),
        Case::on("GET", "/api/campaigns/{id}/stats", &o.running, None),
        Case::on("GET", "/api/prospects/{id}", &o.prospect, None),
        Case {
            method: "GET",
            route: "/api/traces",
            id: None,
            query: format!("?workspace_id={}", o.workspace),
            body: None,
        },
        Case {
            method: "GET",
            route: "/api/workspaces",
            id: None,
            query: String::new(),
            body: None,
        },
        Case::on("GET", "/api/workspaces/{id}/overview", &o.workspace, None),
        Case::on(
            "GET",
            "/api/workspaces/{id}/late-accepts",
            &o.workspace,
            None,
        ),
        Case::on(
            "GET",
            "/api/workspaces/{id}/bridge-misses",
            &o.workspace,
            None,
        ),
        Case::on("GET", "/api/campaigns/{id}/prospects", &o.running, None),
        Case::on("GET", "/api/prospects/{id}/timeline", &o.prospect, None),
        Case::on("POST", "/api/prospects/{id}/resync", &o.prospect, None),
        Case::on("GET", "/api/prospects/{id}/resync", &o.prospect, None),
        Case::on(
            "POST",
            "/api/workspaces/{id}/accounts",
            &o.workspace,
            Some(account_body(&format!("{}-second", o.provider_account_id))),
        ),
        Case::on(
            "POST",
            "/api/workspaces/{id}/campaigns",
            &o.workspace,
            Some(campaign_body(&o.account)),
        ),
        Case::on(
            "POST",
            "/api/campaigns/{id}/prospects",
            &o.draft,
            Some(json!({ "prospects": [{ "profile_url": newcomer }] })),
        ),
        Case::on("POST", "/api/campaigns/{id}/start", &o.draft, None),
        Case::on("POST", "/api/campaigns/{id}/pause", &o.running, None),
        Case::on("POST", "/api/campaigns/{id}/resume", &o.paused, None),
        Case::on("POST", "/api/campaigns/{id}/stop", &o.to_stop, None),
        Case::on("GET", "/api/workspaces/{id}/endpoints", &o.workspace, None),
        Case::on(
            "GET",
            "/api/workspaces/{id}/dead-letters",
            &o.workspace,
            None,
        ),
        Case::on("GET", "/api/endpoints/{id}", &o.endpoint, None),
        Case::on("GET", "/api/endpoints/{id}/deliveries", &o.endpoint, None),
        Case::on("GET", "/api/deliveries/{id}", &o.delivery, None),
        // Pending, so a caller who may see it is told `not_dead`.
        Case::on("POST", "/api/deliveries/{id}/retry", &o.delivery, None),
        Case::on(
            "POST",
            "/api/workspaces/{id}/endpoints",
            &o.workspace,
            Some(endpoint_body()),
        ),
        Case::on("POST", "/api/endpoints/{id}/test", &o.endpoint, None),
        Case::on("POST", "/api/endpoints/{id}/disable", &o.endpoint, None),
        Case::on("POST", "/api/endpoints/{id}/enable", &o.endpoint, None),
        Case::on("DELETE", "/api/endpoints/{id}", &o.endpoint, None),
        Case::on(
            "POST",
            "/api/accounts/{id}/status",
            &o.account,
            Some(json!({"status": "disconnected"})),
        ),
    ]
}

#[track_caller]
fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
}

/// The secret's shape: the prefix and 64 lower-case hex digits.
fn well_formed(secret: &str) -> bool {
    secret
        .strip_prefix("acc_ws_")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn issue_list_and_revoke(kind: Kind) {
    let host = Host::start(kind, true).await;
    let ws = host
        .ok(
            Some(API),
            "POST",
            "/api/workspaces",
            Some(json!({"name": "Acme"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tokens = format!("/admin/workspaces/{ws}/tokens");
    let issued = host
        .ok(
            Some(ADMIN),
            "POST",
            &tokens,
            Some(json!({"name": "  CI pipeline "})),
            201,
        )
        .await;
    let keys: BTreeSet<&str> = issued
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["id", "workspace_id", "name", "token", "created_at"])
    );
    assert_eq!(issued["workspace_id"], ws.as_str());
    assert_eq!(issued["name"], "CI pipeline");
    assert_eq!(issued["created_at"], T0);
    let ci = issued["token"].as_str().unwrap().to_string();
    let ci_id = issued["id"].as_str().unwrap().to_string();
    assert!(well_formed(&ci), "{ci}");
    let (dash_id, dash) = host.issue(&ws, "Dashboard").await;
    assert!(well_formed(&dash) && dash != ci);

    // Each opens its workspace.
    for secret in [&ci, &dash] {
        let got = host
            .ok(
                Some(secret),
                "GET",
                &format!("/api/workspaces/{ws}"),
                None,
                200,
            )
            .await;
        assert_eq!(got["name"], "Acme");
    }

    // The list never shows a secret.
    let list = host.ok(Some(ADMIN), "GET", &tokens, None, 200).await;
    let list_text = list.to_string();
    for secret in [&ci, &dash] {
        assert!(!list_text.contains(&secret[7..]), "{list_text}");
    }
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert!(t.get("token").is_none(), "{t}");
            assert_eq!(t["revoked_at"], Value::Null);
            assert_eq!(t["workspace_id"], ws.as_str());
            t["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, ["CI pipeline", "Dashboard"]);

    // The stored rows hold the sha256 of each secret, never the secret.
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT id, workspace_id, name, token_sha256 FROM workspace_tokens ORDER BY created_at, id",
    )
    .fetch_all(host.app.db.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    for ((id, workspace, name, hash), (want_id, secret)) in
        rows.iter().zip([(&ci_id, &ci), (&dash_id, &dash)])
    {
        assert_eq!(id, want_id);
        assert_eq!(hash, &hex::encode(Sha256::digest(secret.as_bytes())));
        for column in [id, workspace, name, hash] {
            assert!(!column.contains(&secret[7..]), "{column}");
        }
    }
    // The audit trail names the tokens, not their secrets.
    let details: Vec<(String,)> = sqlx::query_as(
        "SELECT detail FROM linkedin_events WHERE kind = 'workspace_token_created' ORDER BY occurred_at, id",
    )
    .fetch_all(host.app.db.pool())
    .await
    .unwrap();
    assert_eq!(details.len(), 2);
    for (detail,) in &details {
        assert!(!detail.contains(&ci[7..]) && !detail.contains(&dash[7..]));
    }

    // Revoking: 204, again 204; the token is refused from then on, the
    // other one still works.
    host.clock.advance(1_000);
    let revoke = format!("{tokens}/{ci_id}");
    for _ in 0..2 {
        let got = host.admin("DELETE", &revoke, None).await;
        assert_eq!(got, (204, Value::Null));
    }
    let refused = host
        .call(Some(&ci), "GET", &format!("/api/workspaces/{ws}"), None)
        .await;
    assert_error(&refused, 401, "unauthorized");
    host.ok(
        Some(&dash),
        "GET",
        &format!("/api/workspaces/{ws}"),
        None,
        200,
    )
    .await;
    let list = host.ok(Some(ADMIN), "GET", &tokens, None, 200).await;
    assert_eq!(list[0]["id"], ci_id.as_str());
    assert_eq!(list[0]["revoked_at"], T0 + 1_000, "{list}");
    assert_eq!(list[1]["revoked_at"], Value::Null, "{list}");
    let (revocations,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM linkedin_events WHERE kind = 'workspace_token_revoked'",
    )
    .fetch_one(host.app.db.pool())
    .await
    .unwrap();
    assert_eq!(revocations, 1, "the second revocation changed nothing");

    // Only the admin token manages tokens.
    for bearer in [None, Some(API), Some(dash.as_str())] {
        for (method, path) in [
            ("GET", tokens.clone()),
            ("POST", tokens.clone()),
            ("DELETE", format!("{tokens}/{dash_id}")),
        ] {
            let body = json!({"name": "sneaky"});
            let got = host.call(bearer, method, &path, Some(&body)).await;
            assert_error(&got, 401, "unauthorized");
        }
    }
    let list_after = host.ok(Some(ADMIN), "GET", &tokens, None, 200).await;
    assert_eq!(list_after, list);

    // The three routes are documented.
    let doc = host.ok(None, "GET", "/openapi.json", None, 200).await;
    for (path, method) in [
        ("/admin/workspaces/{id}/tokens", "post"),
        ("/admin/workspaces/{id}/tokens", "get"),
        ("/admin/workspaces/{id}/tokens/{token_id}", "delete"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    for schema in ["IssuedToken", "WorkspaceToken", "NewWorkspaceToken"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

async fn token_route_refusals(kind: Kind) {
    let host = Host::start(kind, true).await;
    let a = host
        .ok(
            Some(ADMIN),
            "POST",
            "/api/workspaces",
            Some(json!({"name": "A"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = host
        .ok(
            Some(ADMIN),
            "POST",
            "/api/workspaces",
            Some(json!({"name": "B"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (b_token_id, _) = host.issue(&b, "B's").await;
    let count = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM workspace_tokens")
            .fetch_one(host.app.db.pool())
            .await
            .unwrap();
        n
    };
    let before = count().await;
    let tokens = format!("/admin/workspaces/{a}/tokens");
    let cases: Vec<(&str, String, Option<Value>, u16, &str)> = vec![
        (
            "POST",
            format!("/admin/workspaces/{MISSING}/tokens"),
            Some(json!({"name": "x"})),
            404,
            "workspace_not_found",
        ),
        (
            "GET",
            format!("/admin/workspaces/{MISSING}/tokens"),
            None,
            404,
            "workspace_not_found",
        ),
        (
            "DELETE",
            format!("/admin/workspaces/{MISSING}/tokens/{b_token_id}"),
            None,
            404,
            "workspace_not_found",
        ),
        (
            "DELETE",
            format!("{tokens}/{MISSING}"),
            None,
            404,
            "token_not_found",
        ),
        // B's token, named under A: not A's.
        (
            "DELETE",
            format!("{tokens}/{b_token_id}"),
            None,
            404,
            "token_not_found",
        ),
        (
            "POST",
            tokens.clone(),
            Some(json!({"name": ""})),
            422,
            "invalid_name",
        ),
        (
            "POST",
            tokens.clone(),
            Some(json!({"name": "   "})),
            422,
            "invalid_name",
        ),
        (
            "POST",
            tokens.clone(),
            Some(json!({"name": "x".repeat(201)})),
            422,
            "invalid_name",
        ),
        (
            "POST",
            tokens.clone(),
            Some(json!({"name": "a\u{0}b"})),
            422,
            "invalid_text",
        ),
        ("POST", tokens.clone(), Some(json!({})), 400, "invalid_json"),
        (
            "POST",
            tokens.clone(),
            Some(json!({"name": 7})),
            400,
            "invalid_field",
        ),
        (
            "POST",
            tokens.clone(),
            Some(json!({"name": "x", "workspace_id": b})),
            400,
            "invalid_json",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let got = host.admin(method, &path, body.as_ref()).await;
        assert_error(&got, status, code);
    }
    assert_eq!(count().await, before, "a refusal writes nothing");
    // B's token is untouched, and the longest name is taken.
    let list = host
        .ok(
            Some(ADMIN),
            "GET",
            &format!("/admin/workspaces/{b}/tokens"),
            None,
            200,
        )
        .await;
    assert_eq!(list[0]["revoked_at"], Value::Null);
    let longest = "é".repeat(200);
    let got = host
        .ok(
            Some(ADMIN),
            "POST",
            &tokens,
            Some(json!({ "name": longest })),
            201,
        )
        .await;
    assert_eq!(got["name"], longest.as_str());
}

async fn a_workspace_token_sees_only_its_own_workspace(kind: Kind) {
    let host = Host::start(kind, true).await;
    let a = host.seed(Some(ADMIN), "a").await;
    let b = host.seed(Some(API), "b").await;
    let (_, a_token) = host.issue(&a.workspace, "A's").await;
    host.issue(&b.workspace, "B's").await;

    // The table covers every documented /api route, and nothing else.
    let covered: BTreeSet<(String, String)> = cases(&b)
        .iter()
        .map(|c| (c.method.to_string(), c.route.to_string()))
        .collect();
    let documented = host.documented_api_routes().await;
    assert_eq!(
        covered, documented,
        "every /api route in /openapi.json needs a case here (and every case a route)"
    );

    let b_before = host.view(&b).await;
    let workspaces_before = sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM workspaces")
        .fetch_one(host.app.db.pool())
        .await
        .unwrap();

    // A's token on B's objects: as if they did not exist.
    for case in cases(&b) {
        let path = case.path();
        let got = host
            .call(Some(&a_token), case.method, &path, case.body.as_ref())
            .await;
        match (case.method, case.route) {
            ("POST", "/api/workspaces") => {
                assert_error(&got, 403, "forbidden_for_workspace_token");
            }
            ("GET", "/api/traces") => {
                assert_eq!(got, (200, json!([])), "{path}");
            }
            ("GET", "/api/workspaces") => {
                assert_eq!(got.0, 200, "{path}: {}", got.1);
                let ids: Vec<&Value> = got.1["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| &w["id"])
                    .collect();
                assert_eq!(
                    ids,
                    [&json!(a.workspace)],
                    "its own workspace only: {}",
                    got.1
                );
            }
            _ => {
                let id = case.id.as_deref().unwrap();
                assert_eq!(got.0, 404, "{} {path}: {}", case.method, got.1);
                assert_eq!(got.1["error"]["code"], "not_found", "{path}: {}", got.1);
                // A missing object of the same kind answers the same.
                let missing = host
                    .call(
                        Some(&a_token),
                        case.method,
                        &case.path_with(MISSING),
                        case.body.as_ref(),
                    )
                    .await;
                let as_b: Value =
                    serde_json::from_str(&missing.1.to_string().replace(MISSING, id)).unwrap();
                assert_eq!(
                    (got.0, &got.1),
                    (missing.0, &as_b),
                    "{} {path}: B's object must read as a missing one",
                    case.method
                );
            }
        }
    }
    assert_eq!(host.view(&b).await, b_before, "B is unchanged");
    let workspaces_after = sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM workspaces")
        .fetch_one(host.app.db.pool())
        .await
        .unwrap();
    assert_eq!(workspaces_after, workspaces_before, "no workspace was made");

    // A's token on A's objects: every route works (but creating a workspace).
    let a_before = host.view(&a).await;
    for case in cases(&a) {
        let path = case.path();
        let (status, body) = host
            .call(Some(&a_token), case.method, &path, case.body.as_ref())
            .await;
        let expected: &[u16] = match (case.method, case.route) {
            ("POST", "/api/workspaces") => &[403],
            (
                "POST",
                "/api/workspaces/{id}/accounts"
                | "/api/workspaces/{id}/campaigns"
                | "/api/workspaces/{id}/endpoints",
            ) => &[201],
            ("DELETE", "/api/endpoints/{id}") => &[204],
            ("POST", "/api/deliveries/{id}/retry") => &[409],
            // Answered now (200) or queued behind the account's spacing (202).
            ("POST", "/api/prospects/{id}/resync") => &[200, 202],
            _ => &[200],
        };
        assert!(
            expected.contains(&status),
            "{} {path}: {status} {body}",
            case.method
        );
    }
    assert_ne!(host.view(&a).await, a_before, "A's token changed A");
    let (s, account) = host
        .admin("GET", &format!("/api/accounts/{}", a.account), None)
        .await;
    assert_eq!((s, &account["status"]), (200, &json!("disconnected")));
    assert_eq!(host.view(&b).await, b_before, "B is still unchanged");

    // The admin and API tokens still see both.
    for bearer in [ADMIN, API] {
        for o in [&a, &b] {
            let path = format!("/api/campaigns/{}", o.running);
            host.ok(Some(bearer), "GET", &path, None, 200).await;
        }
    }
}

async fn traces_are_filtered_to_the_token_workspace(kind: Kind) {
    let host = Host::start(kind, true).await;
    let a = host.seed(Some(ADMIN), "a").await;
    let b = host.seed(Some(ADMIN), "b").await;
    let (_, a_token) = host.issue(&a.workspace, "A's").await;
    // A bridge miss in each workspace, and a webhook of no known account.
    host.webhook(stranger_accepts(&a.provider_account_id, "ACoAAStrangerOfA"))
        .await;
    host.webhook(stranger_accepts(&b.provider_account_id, "ACoAAStrangerOfB"))
        .await;
    host.webhook(stranger_accepts("acct-nobody", "ACoAAStrangerOfNone"))
        .await;

    let workspaces = |traces: &Value| -> BTreeSet<Option<String>> {
        traces
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["workspace_id"].as_str().map(str::to_string))
            .collect()
    };
    let all = host
        .ok(Some(ADMIN), "GET", "/api/traces?limit=500", None, 200)
        .await;
    assert_eq!(
        workspaces(&all),
        BTreeSet::from([None, Some(a.workspace.clone()), Some(b.workspace.clone())]),
        "{all}"
    );
    let own = host
        .ok(Some(&a_token), "GET", "/api/traces?limit=500", None, 200)
        .await;
    assert_eq!(
        workspaces(&own),
        BTreeSet::from([Some(a.workspace.clone())]),
        "{own}"
    );
    let asked_own = host
        .ok(
            Some(&a_token),
            "GET",
            &format!("/api/traces?limit=500&workspace_id={}", a.workspace),
            None,
            200,
        )
        .await;
    assert_eq!(asked_own, own);
    for other in [b.workspace.as_str(), MISSING] {
        let got = host
            .ok(
                Some(&a_token),
                "GET",
                &format!("/api/traces?workspace_id={other}&kind=bridge_miss_all_strategies"),
                None,
                200,
            )
            .await;
        assert_eq!(got, json!([]), "{other}");
    }
    // The limit is still checked first.
    let got = host
        .call(Some(&a_token), "GET", "/api/traces?limit=0", None)
        .await;
    assert_error(&got, 422, "invalid_limit");
}

async fn an_open_api_still_scopes_workspace_tokens(kind: Kind) {
    let host = Host::start(kind, false).await;
    let a = host
        .ok(
            None,
            "POST",
            "/api/workspaces",
            Some(json!({"name": "A"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = host
        .ok(
            None,
            "POST",
            "/api/workspaces",
            Some(json!({"name": "B"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (a_id, a_token) = host.issue(&a, "A's").await;
    let b_path = format!("/api/workspaces/{b}");
    // Without a header, or with any other bearer, the open API is open.
    host.ok(None, "GET", &b_path, None, 200).await;
    host.ok(Some("anything"), "GET", &b_path, None, 200).await;
    // A workspace token is still bound to its workspace.
    host.ok(
        Some(&a_token),
        "GET",
        &format!("/api/workspaces/{a}"),
        None,
        200,
    )
    .await;
    let got = host.call(Some(&a_token), "GET", &b_path, None).await;
    assert_error(&got, 404, "not_found");
    let got = host
        .call(
            Some(&a_token),
            "POST",
            "/api/workspaces",
            Some(&json!({"name": "C"})),
        )
        .await;
    assert_error(&got, 403, "forbidden_for_workspace_token");
    // A revoked or unknown one is refused rather than taken as no token.
    host.admin(
        "DELETE",
        &format!("/admin/workspaces/{a}/tokens/{a_id}"),
        None,
    )
    .await;
    let unknown = format!("acc_ws_{}", "0".repeat(64));
    for bearer in [a_token.as_str(), unknown.as_str()] {
        let got = host.call(Some(bearer), "GET", &b_path, None).await;
        assert_error(&got, 401, "unauthorized");
    }
}
