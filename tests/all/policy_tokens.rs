//! Workspace tokens on the policy routes, over real HTTP: workspace A's
//! token acts on A's scope (upload, promote, rollback, unassign, its
//! lists), recorded under the token's name; on workspace B's scope every
//! scoped policy route answers 404 exactly as an unknown workspace does
//! (the routes are read from `/openapi.json`, so a new one fails here
//! until it is covered) and B's bindings, history and modules read the
//! same before and after; the global scope is 403; every other `/admin`
//! route stays the admin token's (401).

use crate::on_both_databases;
use crate::rig::{RIG_ADMIN_TOKEN, Rig};
use crate::support::{root, test_guest};
use crate::world::Kind;
use accord::policy::Slot;
use serde_json::{Value, json};
use std::collections::BTreeSet;

on_both_databases!(
    a_workspace_token_cannot_reach_another_workspace_scope,
    a_workspace_token_manages_its_own_scope,
);

/// A workspace id no workspace has.
const MISSING: &str = "0190c0de-0000-7000-8000-00000000beef";

/// A request with `bearer` and, when given, a module as the body: the
/// status and the JSON body.
pub async fn call(
    rig: &Rig,
    bearer: &str,
    method: &str,
    path: &str,
    module: Option<&[u8]>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = rig
        .http
        .request(method, format!("{}{path}", rig.base))
        .bearer_auth(bearer);
    if let Some(bytes) = module {
        req = req
            .header("content-type", "application/wasm")
            .body(bytes.to_vec());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{path}: status {status}: not JSON ({e}): {text:?}"));
    (status, body)
}

/// A request that must answer `status`; its body.
async fn ok(
    rig: &Rig,
    bearer: &str,
    method: &str,
    path: &str,
    module: Option<&[u8]>,
    status: u16,
) -> Value {
    let (s, body) = call(rig, bearer, method, path, module).await;
    assert_eq!(s, status, "{method} {path}: {body}");
    body
}

#[track_caller]
fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
}

/// A workspace made through the API: its id.
pub async fn new_workspace(rig: &Rig, name: &str) -> String {
    let (s, ws) = rig
        .api("POST", "/api/workspaces", Some(json!({ "name": name })))
        .await;
    assert_eq!(s, 201, "{ws}");
    ws["id"].as_str().unwrap().to_string()
}

/// Issues a token of `workspace` named `name`: (token id, secret).
pub async fn issue(rig: &Rig, workspace: &str, name: &str) -> (String, String) {
    let (s, issued) = rig
        .api(
            "POST",
            &format!("/admin/workspaces/{workspace}/tokens"),
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    (
        issued["id"].as_str().unwrap().to_string(),
        issued["token"].as_str().unwrap().to_string(),
    )
}

/// The bytes of a test guest or a default policy (`accord_<slot>_default`).
pub fn module(name: &str) -> Vec<u8> {
    let path = if name.starts_with("accord_") {
        root()
            .join("target/guests/wasm32-wasip2/release")
            .join(format!("{name}.wasm"))
    } else {
        test_guest(name)
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the admin token reads of the policies (bindings, modules, the
/// whole history) and what decides for `workspace` in each slot.
async fn policy_view(rig: &Rig, workspace: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/admin/policies",
        "/admin/policies/modules",
        "/admin/policies/history?limit=1000",
        "/admin/policies/rekey-jobs?limit=1000",
    ] {
        out.push(ok(rig, RIG_ADMIN_TOKEN, "GET", path, None, 200).await);
    }
    for slot in Slot::ALL {
        let deciding = rig.w.app.policies.for_workspace(workspace, slot);
        out.push(json!([slot.as_str(), deciding.sha256()]));
    }
    out
}

/// The `(method, path)` of every documented route under `prefix`.
async fn documented(rig: &Rig, prefix: &str) -> BTreeSet<(String, String)> {
    let (s, doc) = rig.api("GET", "/openapi.json", None).await;
    assert_eq!(s, 200);
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with(prefix) {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

/// One scoped policy request: the route as documented, the query after
/// `workspace=…`, and whether it carries a module.
struct Scoped {
    method: &'static str,
    route: &'static str,
    query: &'static str,
    module: Option<Vec<u8>>,
}

impl Scoped {
    fn path(&self, workspace: Option<&str>) -> String {
        let route = self.route.replace("{slot}", "routing");
        match workspace {
            Some(w) => format!("{route}?workspace={w}{}", self.query),
            None if self.query.is_empty() => route,
            None => format!("{route}?{}", &self.query[1..]),
        }
    }
}

/// Every scoped policy request, each one that succeeds for a caller who
/// may act on the scope (B has an active and a shadow module).
fn scoped_requests(valid: &[u8]) -> Vec<Scoped> {
    let put = |query, module: &[u8]| Scoped {
        method: "PUT",
        route: "/admin/policies/{slot}",
        query,
        module: Some(module.to_vec()),
    };
    let bare = |method, route, query| Scoped {
        method,
        route,
        query,
        module: None,
    };
    vec![
        put("", valid),
        put("&mode=shadow&name=intruder&notes=mine-now", valid),
        // Garbage bytes: refused as another workspace's scope before the
        // module is even looked at, as an unknown workspace's would be.
        put("", b"not a module"),
        bare("POST", "/admin/policies/{slot}/promote", ""),
        bare("POST", "/admin/policies/{slot}/rollback", ""),
        bare("DELETE", "/admin/policies/{slot}", "&mode=shadow"),
        bare("DELETE", "/admin/policies/{slot}", ""),
        bare("GET", "/admin/policies/{slot}/shadow", ""),
        Scoped {
            method: "POST",
            route: "/admin/policies/{slot}/replay",
            query: "",
            module: Some(valid.to_vec()),
        },
    ]
}

async fn a_workspace_token_cannot_reach_another_workspace_scope(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let a = rig.w.workspace.id.clone();
    let b = new_workspace(&rig, "Team B").await;
    let (hostile, default) = (module("hostile_routing"), module("accord_routing_default"));

    // B has an active and a shadow module of its own, bound by the admin.
    let b_active = format!("/admin/policies/routing?workspace={b}&name=b-secret&notes=for-b-only");
    ok(&rig, RIG_ADMIN_TOKEN, "PUT", &b_active, Some(&hostile), 200).await;
    let b_shadow = format!("/admin/policies/routing?workspace={b}&mode=shadow");
    ok(&rig, RIG_ADMIN_TOKEN, "PUT", &b_shadow, Some(&default), 200).await;
    let (a_token_id, a_token) = issue(&rig, &a, "Team A CI").await;
    let before = policy_view(&rig, &b).await;

    // Every scoped route of the document is covered below.
    let requests = scoped_requests(&hostile);
    let covered: BTreeSet<(String, String)> = requests
        .iter()
        .map(|r| (r.method.to_string(), r.route.to_string()))
        .collect();
    let scoped: BTreeSet<(String, String)> = documented(&rig, "/admin/policies/")
        .await
        .into_iter()
        .filter(|(_, path)| path.contains("{slot}"))
        .collect();
    assert_eq!(covered, scoped, "a scoped policy route is not covered");

    for r in &requests {
        let module = r.module.as_deref();
        // An unknown workspace, as the admin token and A's token see it.
        let unknown = call(
            &rig,
            RIG_ADMIN_TOKEN,
            r.method,
            &r.path(Some(MISSING)),
            module,
        )
        .await;
        let unknown_a = call(&rig, &a_token, r.method, &r.path(Some(MISSING)), module).await;
        let on_b = call(&rig, &a_token, r.method, &r.path(Some(&b)), module).await;
        let path = r.path(Some(&b));
        // B's scope answers A's token as an unknown workspace does.
        assert_error(&on_b, 404, "not_found");
        let b_as_unknown = on_b.1.to_string().replace(&b, MISSING);
        assert_eq!(b_as_unknown, unknown_a.1.to_string(), "{} {path}", r.method);
        // And as the admin token's unknown workspace, where the admin's
        // request gets that far (garbage bytes are the loader's 422 first).
        if r.module.as_deref() == Some(b"not a module".as_slice()) {
            assert_error(&unknown, 422, "invalid_policy");
        } else {
            assert_eq!(unknown_a, unknown, "{} {path}", r.method);
        }
        // The global scope is not a workspace token's to change.
        let global = call(&rig, &a_token, r.method, &r.path(None), module).await;
        assert_error(&global, 403, "forbidden_for_workspace_token");
    }

    // The lists show A's token nothing of B.
    let lists = documented(&rig, "/admin/policies")
        .await
        .into_iter()
        .filter(|(method, path)| method == "GET" && !path.contains('{'))
        .collect::<BTreeSet<_>>();
    let listed: BTreeSet<(String, String)> = [
        "/admin/policies",
        "/admin/policies/modules",
        "/admin/policies/history",
        "/admin/policies/rekey-jobs",
    ]
    .into_iter()
    .map(|p| ("GET".to_string(), p.to_string()))
    .collect();
    assert_eq!(lists, listed, "a policy list is not covered");
    let bindings = ok(&rig, &a_token, "GET", "/admin/policies", None, 200).await;
    for row in bindings.as_array().unwrap() {
        assert_eq!(row["workspace_id"], Value::Null, "{bindings}");
        assert_eq!(row["mode"], "active", "{bindings}");
    }
    assert_eq!(bindings.as_array().unwrap().len(), Slot::ALL.len());
    let modules = ok(&rig, &a_token, "GET", "/admin/policies/modules", None, 200).await;
    assert_eq!(modules, json!([]));
    for path in [
        "/admin/policies/history".to_string(),
        "/admin/policies/history?workspace=global".to_string(),
        format!("/admin/policies/history?workspace={b}"),
        format!("/admin/policies/history?workspace={b}&slot=routing"),
    ] {
        let history = ok(&rig, &a_token, "GET", &path, None, 200).await;
        assert_eq!(history, json!([]), "{path}");
        let jobs = path
            .replace("history", "rekey-jobs")
            .replace("&slot=routing", "");
        let jobs = ok(&rig, &a_token, "GET", &jobs, None, 200).await;
        assert_eq!(jobs, json!([]), "{path}");
    }

    // Nothing of B changed, and the global scope neither.
    assert_eq!(policy_view(&rig, &b).await, before);

    // Every other admin route is the admin token's alone.
    let others = documented(&rig, "/admin/")
        .await
        .into_iter()
        .filter(|(_, path)| !path.starts_with("/admin/policies"))
        .collect::<Vec<_>>();
    assert!(others.len() >= 6, "{others:?}");
    for (method, route) in &others {
        let path = route.replace("{id}", &a).replace("{token_id}", &a_token_id);
        let got = call(&rig, &a_token, method, &path, None).await;
        assert_error(&got, 401, "unauthorized");
    }
    let (s, tokens) = rig
        .api("GET", &format!("/admin/workspaces/{a}/tokens"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(tokens.as_array().unwrap().len(), 1, "{tokens}");
    assert_eq!(tokens[0]["revoked_at"], Value::Null);

    // No token, a wrong one, a revoked one: 401 on the policy routes.
    let revoked = rig
        .http
        .delete(format!(
            "{}/admin/workspaces/{a}/tokens/{a_token_id}",
            rig.base
        ))
        .bearer_auth(RIG_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 204);
    let own = format!("/admin/policies/routing?workspace={a}");
    for bearer in [a_token.as_str(), "acc_ws_0000", "not-a-token"] {
        for (method, path) in [("GET", "/admin/policies"), ("DELETE", own.as_str())] {
            let got = call(&rig, bearer, method, path, None).await;
            assert_error(&got, 401, "unauthorized");
        }
    }
}

async fn a_workspace_token_manages_its_own_scope(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let a = rig.w.workspace.id.clone();
    let b = new_workspace(&rig, "Team B").await;
    let (hostile, default) = (module("hostile_routing"), module("accord_routing_default"));
    let (_, a_token) = issue(&rig, &a, "Team A CI").await;
    let (_, b_token) = issue(&rig, &b, "Team B deploys").await;
    let global = rig.w.app.policies.for_workspace(&a, Slot::Routing);
    let global = global.sha256().to_string();

    // B's own module, bound by B's token: A's lists do not show it.
    let b_path = format!("/admin/policies/routing?workspace={b}&name=b-only");
    ok(&rig, &b_token, "PUT", &b_path, Some(&default), 200).await;

    // A candidate beside what decides, then made active, then rolled back.
    let shadow =
        format!("/admin/policies/routing?workspace={a}&mode=shadow&name=candidate&version=2");
    let swap = ok(&rig, &a_token, "PUT", &shadow, Some(&hostile), 200).await;
    assert_eq!(
        (swap["mode"].as_str(), swap["workspace_id"].as_str()),
        (Some("shadow"), Some(a.as_str()))
    );
    let candidate = swap["sha256"].as_str().unwrap().to_string();
    let bindings = ok(&rig, &a_token, "GET", "/admin/policies", None, 200).await;
    let own: Vec<&Value> = bindings
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["workspace_id"].is_null())
        .collect();
    assert_eq!(
        own.len(),
        1,
        "only A's binding beside the global ones: {bindings}"
    );
    assert_eq!(
        (own[0]["workspace_id"].as_str(), own[0]["mode"].as_str()),
        (Some(a.as_str()), Some("shadow"))
    );
    assert_eq!(own[0]["sha256"], candidate.as_str());
    let modules = ok(&rig, &a_token, "GET", "/admin/policies/modules", None, 200).await;
    assert_eq!(modules.as_array().unwrap().len(), 1, "{modules}");
    assert_eq!(modules[0]["sha256"], candidate.as_str());
    assert_eq!(modules[0]["name"], "candidate");
    assert_eq!(modules[0]["version_label"], "2");
    assert_eq!(modules[0]["uploaded_by"], "Team A CI");

    rig.w.clock.advance(1_000);
    let promote = format!("/admin/policies/routing/promote?workspace={a}");
    let swap = ok(&rig, &a_token, "POST", &promote, None, 200).await;
    assert_eq!(swap["sha256"], candidate.as_str());
    assert_eq!(
        rig.w.app.policies.for_workspace(&a, Slot::Routing).sha256(),
        candidate
    );
    rig.w.clock.advance(1_000);
    let rollback = format!("/admin/policies/routing/rollback?workspace={a}");
    let swap = ok(&rig, &a_token, "POST", &rollback, None, 200).await;
    assert_eq!(swap["previous_sha256"], candidate.as_str());
    assert_eq!(
        rig.w.app.policies.for_workspace(&a, Slot::Routing).sha256(),
        global
    );
    // An active module of its own, then unassigned: back to the global one.
    rig.w.clock.advance(1_000);
    let active = format!("/admin/policies/routing?workspace={a}");
    ok(&rig, &a_token, "PUT", &active, Some(&hostile), 200).await;
    rig.w.clock.advance(1_000);
    let swap = ok(&rig, &a_token, "DELETE", &active, None, 200).await;
    assert_eq!(swap["sha256"], global.as_str());

    // The history: A's scope only, every change under the token's name;
    // the admin reads the same rows.
    let history = ok(&rig, &a_token, "GET", "/admin/policies/history", None, 200).await;
    let rows = history.as_array().unwrap();
    let mut actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|h| (h["action"].as_str().unwrap(), h["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(actions.first(), Some(&("unassign", "active")), "{history}");
    actions.sort();
    assert_eq!(
        actions,
        [
            ("assign", "active"),
            ("assign", "shadow"),
            ("promote", "active"),
            ("promote", "shadow"),
            ("rollback", "active"),
            ("unassign", "active"),
        ],
        "{history}"
    );
    for row in rows {
        assert_eq!(row["scope"], a.as_str(), "{row}");
        assert_eq!(row["actor"], "Team A CI", "{row}");
    }
    let (_, seen_by_admin) = rig
        .api(
            "GET",
            &format!("/admin/policies/history?workspace={a}"),
            None,
        )
        .await;
    assert_eq!(seen_by_admin, history);
    let (_, b_history) = rig
        .api(
            "GET",
            &format!("/admin/policies/history?workspace={b}"),
            None,
        )
        .await;
    assert_eq!(b_history[0]["actor"], "Team B deploys", "{b_history}");

    // The same bytes as B's module, uploaded by A: listed for A (it is
    // bound in A's scope) without B's labels; B and the admin see them.
    let same = format!("/admin/policies/routing?workspace={a}&mode=shadow&name=a-label");
    ok(&rig, &a_token, "PUT", &same, Some(&default), 200).await;
    let b_sha = rig
        .w
        .app
        .policies
        .for_workspace(&b, Slot::Routing)
        .sha256()
        .to_string();
    let find = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|m| m["sha256"] == b_sha.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{b_sha} not in {list}"))
    };
    let for_a = find(&ok(&rig, &a_token, "GET", "/admin/policies/modules", None, 200).await);
    assert_eq!(
        (&for_a["name"], &for_a["uploaded_by"], &for_a["notes"]),
        (&Value::Null, &Value::Null, &Value::Null),
        "{for_a}"
    );
    let for_b = find(&ok(&rig, &b_token, "GET", "/admin/policies/modules", None, 200).await);
    assert_eq!(
        (for_b["name"].as_str(), for_b["uploaded_by"].as_str()),
        (Some("b-only"), Some("Team B deploys"))
    );
    let (_, all) = rig.api("GET", "/admin/policies/modules", None).await;
    assert_eq!(find(&all)["name"], "b-only");
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
}

/// `/openapi.json` says which routes take a workspace token and what it
/// gets there.
#[tokio::test]
async fn the_policy_routes_document_workspace_tokens() {
    let doc = serde_json::to_value(accord::http::openapi::openapi_json().await.0).unwrap();
    let scheme = &doc["components"]["securitySchemes"]["workspace_token"];
    let described = scheme["description"].as_str().unwrap_or_default();
    assert!(
        described.contains("forbidden_for_workspace_token") && described.contains("404"),
        "{scheme}"
    );
    let mut policy_operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/admin/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let schemes: Vec<&str> = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
                .collect();
            let responses = &op["responses"];
            if !path.starts_with("/admin/policies") {
                assert_eq!(schemes, ["admin_token"], "{method} {path}");
                continue;
            }
            policy_operations += 1;
            assert_eq!(
                schemes,
                ["admin_token", "workspace_token"],
                "{method} {path}"
            );
            let says = |status: &str| {
                responses[status]["description"]
                    .as_str()
                    .unwrap_or_default()
            };
            assert!(says("401").contains("workspace token"), "{method} {path}");
            assert!(says("403").contains("admin_disabled"), "{method} {path}");
            if path.contains("{slot}") {
                assert!(
                    says("403").contains("forbidden_for_workspace_token"),
                    "{method} {path}"
                );
                assert!(says("404").contains("another workspace"), "{method} {path}");
            }
        }
    }
    assert_eq!(policy_operations, 12);
}
