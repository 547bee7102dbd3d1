//! Uploads that compile off the request path, over HTTP: `POST
//! /admin/policies/modules` answers 202 `compiling` after the cheap
//! checks, the compile worker makes the module `ready` (or `failed` with
//! the loader's message), and `PUT /admin/policies/{slot}?module=` binds
//! it without compiling it again (409 while compiling, 422 once failed).
//! The same bytes twice compile once; a restart resumes a module left
//! compiling; workspace tokens upload, see and bind their own scope's
//! modules only; bad inputs are typed errors that store nothing. Each
//! test uploads its own bytes (a test guest with a custom section of its
//! own), so the compile counters it reads are its own.

use crate::on_both_databases;
use crate::policy_tokens::{call, issue, module, new_workspace};
use crate::rig::{RIG_ADMIN_TOKEN, Rig};
use crate::world::Kind;
use accord::policy::Slot;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

on_both_databases!(
    an_upload_compiles_off_the_request_and_binds_at_once_when_ready,
    a_module_left_compiling_is_refused_then_resumed_after_a_restart,
    a_module_the_loader_refuses_fails_with_its_message,
    bad_inputs_are_typed_errors_and_store_nothing,
    workspace_tokens_upload_see_and_bind_their_own_scope_only,
);

/// A WebAssembly custom section named `name` holding `payload`.
fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut section = vec![0u8];
    leb(body.len(), &mut section);
    section.extend(body);
    section
}

/// The test guest `name` with a custom section of its own appended: the
/// same component, another sha256.
fn unique(name: &str) -> Vec<u8> {
    let mut bytes = module(name);
    bytes.extend(custom_section(
        "accord-test-nonce",
        accord::clock::new_id().as_bytes(),
    ));
    bytes
}

/// `POST /admin/policies/modules?{query}` with `bytes`: status and body.
async fn post(rig: &Rig, bearer: &str, query: &str, bytes: &[u8]) -> (u16, Value) {
    call(
        rig,
        bearer,
        "POST",
        &format!("/admin/policies/modules?{query}"),
        Some(bytes),
    )
    .await
}

#[track_caller]
fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
}

/// Polls the module on `base` until it is no longer `compiling`.
async fn settled(http: &reqwest::Client, base: &str, bearer: &str, sha: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let resp = http
            .get(format!("{base}/admin/policies/modules/{sha}"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let module: Value = resp.json().await.unwrap();
        if module["status"] != "compiling" {
            return module;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still compiling: {module}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The compiles of module `sha` the compile workers of this process did,
/// by outcome, from `/metrics`.
async fn compiles(rig: &Rig, sha: &str, outcome: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", rig.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let module = format!("module=\"{}\"", &sha[..12]);
    let outcome = format!("outcome=\"{outcome}\"");
    text.lines()
        .filter(|l| l.starts_with("accord_policy_module_compiles_total{"))
        .filter(|l| l.contains(&module) && l.contains(&outcome))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// An upload declaring one byte over the largest module, of which it sends a few:
/// refused before the rest is read.
async fn oversize(rig: &Rig) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = rig.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /admin/policies/modules?slot=routing HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {RIG_ADMIN_TOKEN}\r\nContent-Type: application/wasm\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n\0asm",
        accord::policy::MAX_MODULE_BYTES + 1
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut text = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut text))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&text);
    let status = text[9..12].parse().unwrap();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    (status, serde_json::from_str(body).unwrap())
}

async fn an_upload_compiles_off_the_request_and_binds_at_once_when_ready(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let ws = rig.w.workspace.id.clone();
    let bytes = unique("hostile_routing");

    // 202 compiling after the cheap checks, with what the upload said.
    let (s, up) = post(
        &rig,
        RIG_ADMIN_TOKEN,
        "slot=routing&name=candidate&version=2.0&notes=faster",
        &bytes,
    )
    .await;
    assert_eq!(s, 202, "{up}");
    assert_eq!(up["status"], "compiling", "{up}");
    assert_eq!(
        (&up["slot"], &up["name"], &up["version_label"], &up["notes"]),
        (
            &json!("routing"),
            &json!("candidate"),
            &json!("2.0"),
            &json!("faster")
        )
    );
    assert_eq!(up["uploaded_by"], "admin");
    assert_eq!(up["size_bytes"], bytes.len());
    let sha = up["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha, accord::policy::module_sha256(&bytes));

    // The same bytes again: 200, the module as it stands, no second compile.
    let (s, again) = post(&rig, RIG_ADMIN_TOKEN, "slot=routing&name=other", &bytes).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        (&again["sha256"], &again["name"]),
        (&json!(sha), &json!("candidate"))
    );

    let ready = settled(&rig.http, &rig.base, RIG_ADMIN_TOKEN, &sha).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["error"], Value::Null);
    assert!(ready["compile_ms"].as_i64().is_some(), "{ready}");
    let (s, third) = post(&rig, RIG_ADMIN_TOKEN, "slot=routing", &bytes).await;
    assert_eq!((s, &third["status"]), (200, &json!("ready")), "{third}");
    assert_eq!(compiles(&rig, &sha, "ready").await, 1);
    assert_eq!(compiles(&rig, &sha, "failed").await, 0);

    // The list shows its status.
    let (_, modules) = rig.api("GET", "/admin/policies/modules", None).await;
    let listed = modules
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["sha256"] == sha.as_str())
        .unwrap_or_else(|| panic!("{sha} not listed: {modules}"));
    assert_eq!(listed["status"], "ready", "{listed}");
    assert_eq!(listed["kind"], "compiled", "{listed}");
    assert!(listed["limits"].is_object(), "{listed}");

    // Bound in the workspace's shadow, then active: the module compiled
    // by the worker, not compiled again.
    let compiled = rig
        .w
        .app
        .policies
        .compiled_module(&sha)
        .expect("kept compiled");
    let (s, swap) = rig
        .api(
            "PUT",
            &format!("/admin/policies/routing?module={sha}&workspace={ws}&mode=shadow"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    assert_eq!(
        (&swap["sha256"], &swap["status"]),
        (&json!(sha), &json!("done"))
    );
    let shadow = rig.w.app.policies.shadow_for(&ws, Slot::Routing).unwrap();
    assert!(
        Arc::ptr_eq(&shadow, &compiled),
        "the bind compiled it again"
    );
    let (s, swap) = rig
        .api(
            "PUT",
            &format!("/admin/policies/routing?module={sha}&workspace={ws}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    let active = rig.w.app.policies.for_workspace(&ws, Slot::Routing);
    assert!(
        Arc::ptr_eq(&active, &compiled),
        "the bind compiled it again"
    );
    let (_, history) = rig
        .api(
            "GET",
            &format!("/admin/policies/history?workspace={ws}"),
            None,
        )
        .await;
    assert_eq!(history[0]["to_sha256"], sha.as_str(), "{history}");
    assert_eq!(history[0]["actor"], "admin", "{history}");
    assert_eq!(compiles(&rig, &sha, "ready").await, 1);
}

async fn a_module_left_compiling_is_refused_then_resumed_after_a_restart(kind: Kind) {
    // This host compiles nothing: its uploads stay `compiling`.
    let rig = Rig::configured(kind, |c| c.module_compile.concurrency = 0, |_| {}).await;
    let bytes = unique("hostile_preflight");
    let (s, up) = post(&rig, RIG_ADMIN_TOKEN, "slot=preflight&name=resumed", &bytes).await;
    assert_eq!((s, &up["status"]), (202, &json!("compiling")), "{up}");
    let sha = up["sha256"].as_str().unwrap().to_string();
    let before = rig.api("GET", "/admin/policies", None).await;

    let bind = format!("/admin/policies/preflight?module={sha}");
    let refused = rig.api("PUT", &bind, None).await;
    assert_error(&refused, 409, "module_compiling");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, still) = rig
        .api("GET", &format!("/admin/policies/modules/{sha}"), None)
        .await;
    assert_eq!(still["status"], "compiling", "{still}");
    assert_eq!(rig.api("GET", "/admin/policies", None).await, before);

    // The same bytes as a PUT's body: compiled within that request, so
    // the stored module is ready (and the worker has nothing left to do).
    let small = unique("hostile_routing");
    let (s, queued) = post(&rig, RIG_ADMIN_TOKEN, "slot=routing", &small).await;
    assert_eq!(
        (s, &queued["status"]),
        (202, &json!("compiling")),
        "{queued}"
    );
    let (s, swap) = call(
        &rig,
        RIG_ADMIN_TOKEN,
        "PUT",
        "/admin/policies/routing?mode=shadow",
        Some(&small),
    )
    .await;
    assert_eq!((s, &swap["sha256"]), (200, &queued["sha256"]), "{swap}");
    let (_, now) = rig
        .api(
            "GET",
            &format!(
                "/admin/policies/modules/{}",
                queued["sha256"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(now["status"], "ready", "{now}");

    // A new host on the same database, compiling: it resumes the module.
    let mut config = rig.w.app.config.clone();
    config.module_compile.concurrency = 1;
    let restarted = accord::app::App::start(config, rig.w.clock.clone())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(accord::lifecycle::module_compile::worker(
        restarted.clone(),
        restarted.config.module_compile,
        stopped,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = accord::http::router(restarted.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let ready = settled(&rig.http, &base, RIG_ADMIN_TOKEN, &sha).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["name"], "resumed");
    assert_eq!(compiles(&rig, &sha, "ready").await, 1);

    // Bound on the restarted host: at once, with the module it compiled.
    let compiled = restarted.policies.compiled_module(&sha).expect("kept");
    let resp = rig
        .http
        .put(format!("{base}{bind}"))
        .bearer_auth(RIG_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let active = restarted.policies.active(Slot::Preflight);
    assert!(Arc::ptr_eq(&active, &compiled));
    let _ = stop.send(true);
    worker.await.unwrap();
}

async fn a_module_the_loader_refuses_fails_with_its_message(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let bytes = unique("mistyped_match");
    // What the loader says of it within a PUT (which stores nothing).
    let (s, within) = call(
        &rig,
        RIG_ADMIN_TOKEN,
        "PUT",
        "/admin/policies/match",
        Some(&bytes),
    )
    .await;
    assert_eq!(
        (s, &within["error"]["code"]),
        (422, &json!("invalid_policy"))
    );
    let loader_says = within["error"]["message"].as_str().unwrap().to_string();

    let (s, up) = post(&rig, RIG_ADMIN_TOKEN, "slot=match", &bytes).await;
    assert_eq!((s, &up["status"]), (202, &json!("compiling")), "{up}");
    let sha = up["sha256"].as_str().unwrap().to_string();
    let failed = settled(&rig.http, &rig.base, RIG_ADMIN_TOKEN, &sha).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"], loader_says.as_str());

    let refused = rig
        .api("PUT", &format!("/admin/policies/match?module={sha}"), None)
        .await;
    assert_error(&refused, 422, "module_failed");
    let message = refused.1["error"]["message"].as_str().unwrap();
    assert!(message.contains(&loader_says), "{message}");
    // Uploaded again: its status, compiled once.
    let (s, again) = post(&rig, RIG_ADMIN_TOKEN, "slot=match", &bytes).await;
    assert_eq!((s, &again["status"]), (200, &json!("failed")), "{again}");
    assert_eq!(compiles(&rig, &sha, "failed").await, 1);
    let builtin = accord::policy::builtin::for_slot(Slot::Match).1;
    assert_eq!(rig.w.app.policies.active(Slot::Match).origin(), builtin);
}

async fn bad_inputs_are_typed_errors_and_store_nothing(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let bytes = unique("hostile_routing");
    let modules = || async { rig.api("GET", "/admin/policies/modules", None).await.1 };
    let none = modules().await;
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let missing = "0190c0de-0000-7000-8000-00000000beef";
    let long_name = format!("slot=routing&name={}", "n".repeat(201));
    for (query, body, status, code) in [
        (
            "slot=routing",
            b"not a module".to_vec(),
            422,
            "invalid_policy",
        ),
        ("slot=routing", core_module, 422, "invalid_policy"),
        ("", bytes.clone(), 400, "invalid_slot"),
        ("slot=pricing", bytes.clone(), 400, "invalid_slot"),
        (
            "slot=routing&fuel=1",
            bytes.clone(),
            422,
            "limits_out_of_bounds",
        ),
        (&long_name, bytes.clone(), 422, "invalid_label"),
        (
            &format!("slot=routing&workspace={missing}"),
            bytes.clone(),
            404,
            "not_found",
        ),
    ] {
        let got = post(&rig, RIG_ADMIN_TOKEN, query, &body).await;
        assert_error(&got, status, code);
    }
    assert_error(&oversize(&rig).await, 413, "payload_too_large");
    assert_eq!(modules().await, none, "a refused upload stored something");

    // One stored module; the same bytes for another slot are refused.
    let (s, up) = post(&rig, RIG_ADMIN_TOKEN, "slot=routing", &bytes).await;
    assert_eq!(s, 202, "{up}");
    let sha = up["sha256"].as_str().unwrap().to_string();
    let other = post(&rig, RIG_ADMIN_TOKEN, "slot=preflight", &bytes).await;
    assert_error(&other, 422, "slot_mismatch");
    settled(&rig.http, &rig.base, RIG_ADMIN_TOKEN, &sha).await;
    let stored = modules().await;
    assert_eq!(
        stored.as_array().unwrap().len(),
        none.as_array().unwrap().len() + 1
    );

    // Binds that cannot be.
    let unknown = "ab".repeat(32);
    for (path, body, status, code) in [
        (
            format!("/admin/policies/routing?module={unknown}"),
            None,
            404,
            "not_found",
        ),
        (
            "/admin/policies/routing?module=xyz".to_string(),
            None,
            400,
            "invalid_module",
        ),
        (
            format!("/admin/policies/routing?module={sha}"),
            Some(bytes.as_slice()),
            400,
            "module_and_body",
        ),
        (
            format!("/admin/policies/preflight?module={sha}"),
            None,
            422,
            "slot_mismatch",
        ),
        (
            format!("/admin/policies/routing?module={sha}&workspace={missing}"),
            None,
            404,
            "not_found",
        ),
        (
            format!("/admin/policies/routing?module={sha}&mode=sideways"),
            None,
            422,
            "invalid_mode",
        ),
    ] {
        let got = call(&rig, RIG_ADMIN_TOKEN, "PUT", &path, body).await;
        assert_error(&got, status, code);
    }
    let got = call(
        &rig,
        RIG_ADMIN_TOKEN,
        "GET",
        &format!("/admin/policies/modules/{unknown}"),
        None,
    )
    .await;
    assert_error(&got, 404, "not_found");
    let got = call(
        &rig,
        RIG_ADMIN_TOKEN,
        "GET",
        "/admin/policies/modules/nope",
        None,
    )
    .await;
    assert_error(&got, 400, "invalid_module");
    let (_, bound) = rig.api("GET", "/admin/policies", None).await;
    assert_eq!(bound.as_array().unwrap().len(), Slot::ALL.len(), "{bound}");
    assert_eq!(modules().await, stored);
}

async fn workspace_tokens_upload_see_and_bind_their_own_scope_only(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let a = rig.w.workspace.id.clone();
    let b = new_workspace(&rig, "Team B").await;
    let (_, a_token) = issue(&rig, &a, "Team A CI").await;
    let (_, b_token) = issue(&rig, &b, "Team B CI").await;
    let missing = "0190c0de-0000-7000-8000-00000000beef";
    let bytes = unique("hostile_routing");

    // The global scope is not A's; B's answers as an unknown workspace.
    let global = post(&rig, &a_token, "slot=routing", &bytes).await;
    assert_error(&global, 403, "forbidden_for_workspace_token");
    let on_b = post(
        &rig,
        &a_token,
        &format!("slot=routing&workspace={b}"),
        &bytes,
    )
    .await;
    let unknown = post(
        &rig,
        &a_token,
        &format!("slot=routing&workspace={missing}"),
        &bytes,
    )
    .await;
    assert_error(&on_b, 404, "not_found");
    assert_eq!(
        on_b.1.to_string().replace(&b, missing),
        unknown.1.to_string()
    );
    let (_, modules) = rig.api("GET", "/admin/policies/modules", None).await;
    assert_eq!(modules, json!([]), "nothing stored");

    // A uploads for its own scope.
    let (s, up) = post(
        &rig,
        &a_token,
        &format!("slot=routing&workspace={a}&name=a-private"),
        &bytes,
    )
    .await;
    assert_eq!(s, 202, "{up}");
    assert_eq!(
        (&up["name"], &up["uploaded_by"]),
        (&json!("a-private"), &json!("Team A CI"))
    );
    let sha = up["sha256"].as_str().unwrap().to_string();
    let ready = settled(&rig.http, &rig.base, &a_token, &sha).await;
    assert_eq!(ready["status"], "ready", "{ready}");

    // B sees nothing of it, and cannot bind it, whether it exists or not.
    let path = format!("/admin/policies/modules/{sha}");
    let seen = call(&rig, &b_token, "GET", &path, None).await;
    let other = "cd".repeat(32);
    let never = call(
        &rig,
        &b_token,
        "GET",
        &format!("/admin/policies/modules/{other}"),
        None,
    )
    .await;
    assert_error(&seen, 404, "not_found");
    assert_eq!(
        seen.1.to_string().replace(&sha, &other),
        never.1.to_string()
    );
    let (_, listed) = call(&rig, &b_token, "GET", "/admin/policies/modules", None).await;
    assert_eq!(listed, json!([]));
    let bind_b = format!("/admin/policies/routing?module={sha}&workspace={b}");
    let got = call(&rig, &b_token, "PUT", &bind_b, None).await;
    assert_error(&got, 404, "not_found");
    // A binding into B's scope is B's: A's token gets the unknown answer.
    let got = call(&rig, &a_token, "PUT", &bind_b, None).await;
    assert_error(&got, 404, "not_found");
    assert_eq!(
        rig.w.app.policies.for_workspace(&b, Slot::Routing).origin(),
        accord::policy::builtin::for_slot(Slot::Routing).1
    );

    // A binds it in its own scope.
    let bind_a = format!("/admin/policies/routing?module={sha}&workspace={a}");
    let (s, swap) = call(&rig, &a_token, "PUT", &bind_a, None).await;
    assert_eq!((s, &swap["sha256"]), (200, &json!(sha)), "{swap}");
    let global = call(
        &rig,
        &a_token,
        "PUT",
        &format!("/admin/policies/routing?module={sha}"),
        None,
    )
    .await;
    assert_error(&global, 403, "forbidden_for_workspace_token");

    // B uploads the same bytes for its scope: stored once, compiled once,
    // without A's labels; then B may see and bind it.
    let (s, mine) = post(
        &rig,
        &b_token,
        &format!("slot=routing&workspace={b}&name=b-copy"),
        &bytes,
    )
    .await;
    assert_eq!((s, &mine["status"]), (200, &json!("ready")), "{mine}");
    assert_eq!(
        (&mine["name"], &mine["uploaded_by"]),
        (&Value::Null, &Value::Null),
        "{mine}"
    );
    let (s, seen) = call(&rig, &b_token, "GET", &path, None).await;
    assert_eq!((s, &seen["status"]), (200, &json!("ready")), "{seen}");
    let (s, swap) = call(&rig, &b_token, "PUT", &bind_b, None).await;
    assert_eq!((s, &swap["sha256"]), (200, &json!(sha)), "{swap}");
    assert_eq!(compiles(&rig, &sha, "ready").await, 1);
    // The admin sees the first upload's labels.
    let (_, full) = rig.api("GET", &path, None).await;
    assert_eq!(full["name"], "a-private");
}

/// PostgreSQL: another instance hears that an uploaded module is ready
/// and compiles it too, so that its bind there is instant as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_compiles_a_ready_module_too() {
    if crate::world::postgres_url().is_none() {
        eprintln!("skipped: ACCORD_TEST_POSTGRES_URL is unset");
        return;
    }
    let rig = Rig::new(Kind::Postgres, |_| {}).await;
    let other = accord::app::App::start(rig.w.app.config.clone(), rig.w.clock.clone())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = accord::workers::spawn_workers(&other, stopped);
    // The listener connects in the background, as in policy_scopes.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let bytes = unique("hostile_routing");
    let (s, up) = post(&rig, RIG_ADMIN_TOKEN, "slot=routing", &bytes).await;
    assert_eq!(s, 202, "{up}");
    let sha = up["sha256"].as_str().unwrap().to_string();
    let ready = settled(&rig.http, &rig.base, RIG_ADMIN_TOKEN, &sha).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let compiled = loop {
        if let Some(m) = other.policies.compiled_module(&sha) {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other instance did not compile it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Bound through the first instance: the other follows with the module
    // it compiled.
    let (s, swap) = rig
        .api(
            "PUT",
            &format!("/admin/policies/routing?module={sha}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while other.policies.active(Slot::Routing).sha256() != sha {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other instance did not follow"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(Arc::ptr_eq(
        &other.policies.active(Slot::Routing),
        &compiled
    ));
    let _ = stop.send(true);
    for w in workers {
        let _ = w.await;
    }
}

/// `accord policy upload` uploads, waits for the compile (saying so on
/// stderr) and binds; a module the loader refuses is the host's
/// `module_failed`, exit status 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_uploads_waits_for_the_compile_and_binds() {
    let rig = Rig::new(Kind::Sqlite, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let run = |slot: &'static str, guest: &'static str| {
        let path = dir.path().join(format!("{guest}.wasm"));
        std::fs::write(&path, unique(guest)).unwrap();
        let base = rig.base.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
                .args(["policy", "upload", slot])
                .arg(&path)
                .args([
                    "--url",
                    &base,
                    "--token",
                    RIG_ADMIN_TOKEN,
                    "--mode",
                    "shadow",
                ])
                .env_remove("ACCORD_ADMIN_TOKEN")
                .output()
                .unwrap()
        })
    };
    let out = run("routing", "hostile_routing").await.unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let shadow = rig
        .w
        .app
        .policies
        .bound(
            &accord::policy::Scope::Global,
            Slot::Routing,
            accord::policy::Mode::Shadow,
        )
        .unwrap();
    let sha = shadow.sha256();
    assert!(
        stdout.starts_with(&format!(
            "uploaded: routing global shadow: now {sha} (upload)"
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("uploaded {sha}: compiling")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{sha}: ready")), "{stderr}");

    let out = run("match", "mistyped_match").await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("422 module_failed"), "{stderr}");
}
