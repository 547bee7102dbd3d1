//! Hostile bytes at every door, through the real listener on both
//! databases: NUL characters, over-long ids, wrong-typed fields, endless
//! names; then the corpus under tests/corpus/hostile.

use crate::edge::{Answer, Edge, short_bounds};
use crate::world::*;
use serde_json::{Value, json};

async fn edge(kind: Kind) -> Edge {
    Edge::start(kind, short_bounds()).await
}

/// A JSON request to the API.
async fn api(e: &Edge, method: &str, path: &str, body: &str) -> Answer {
    let head = e.head(
        method,
        path,
        &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        ),
    );
    e.exchange(&[head.as_bytes(), body.as_bytes()].concat())
        .await
}

async fn webhook(e: &Edge, body: &Value) -> Answer {
    e.exchange(&e.webhook(body.to_string().as_bytes())).await
}

fn relation(e: &Edge, account: &str, member: &str) -> Value {
    let mut v: Value = serde_json::from_str(&e.w.new_relation(member, "julien-crepieux")).unwrap();
    v["account_id"] = json!(account);
    v
}

fn message(account: &str, message_id: &str, sender: &str) -> Value {
    json!({
        "event": "message_received", "account_id": account, "account_type": "LINKEDIN",
        "account_info": {"type": "LINKEDIN", "user_id": "ACoAAOwnOwnOwnOwn"},
        "chat_id": "chat-1", "message_id": message_id, "message": "hi",
        "timestamp": "2026-10-10T14:00:00.000Z", "is_sender": false, "is_group": false,
        "sender": {"attendee_provider_id": sender, "attendee_name": "P"}
    })
}

async fn count(e: &Edge, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(e.w.app.db.pool())
        .await
        .unwrap();
    n
}

/// A NUL character in any id of a webhook, or in any text the API
/// stores or looks up, is a typed 4xx at the edge, the same on both
/// databases (PostgreSQL answered 503 with its own error text), and
/// nothing is written.
async fn nul_characters_are_refused_at_the_edge(kind: Kind) {
    let e = edge(kind).await;
    let account = e.w.account.provider_account_id.clone();
    for body in [
        relation(&e, &account, "ACoAA\u{0}x"),
        relation(&e, "acc\u{0}", JULIEN),
        message(&account, "m\u{0}1", "ACoAAprospect"),
        message(&account, "m2", "ACoAA\u{0}prospect"),
        json!({"AccountStatus": {"account_id": "a\u{0}", "message": "OK"}}),
    ] {
        let a = webhook(&e, &body).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (400, "invalid_text"),
            "{body}: {a:?}"
        );
    }
    assert_eq!(e.inbox_rows().await, 0);

    let a = api(&e, "GET", "/api/prospects/a%00b", "").await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "invalid_path"),
        "{a:?}"
    );
    let a = api(&e, "GET", "/api/traces?kind=a%00b", "").await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "invalid_query"),
        "{a:?}"
    );
    let before = count(&e, "SELECT COUNT(*) FROM workspaces").await;
    let a = api(&e, "POST", "/api/workspaces", r#"{"name":"Acme\u0000"}"#).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (422, "invalid_text"),
        "{a:?}"
    );
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`name`"),
        "{a:?}"
    );
    assert_eq!(count(&e, "SELECT COUNT(*) FROM workspaces").await, before);

    // On import, the item alone is refused; the others are imported.
    let items = json!({"prospects": [
        {"full_name": "Bad\u{0}Name", "member_id": "ACoAAB1234567890abcdefghij"},
        {"full_name": "Good", "member_id": "ACoAAB1234567890abcdefghik"},
        {"profile_url": "https://www.linkedin.com/in/a\u{0}b"},
    ]});
    let path = format!("/api/campaigns/{}/prospects", e.w.campaign.id);
    let a = api(&e, "POST", &path, &items.to_string()).await;
    assert_eq!(a.status, 200, "{a:?}");
    let report = a.json();
    assert_eq!(report["imported"], 1, "{report}");
    let codes: Vec<(u64, &str)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [(0, "invalid_text"), (2, "invalid_text")],
        "{report}"
    );
}

/// An id over the documented bound (it made PostgreSQL's unique index
/// fail, a 503 the provider retried forever) is stored and answered 200,
/// so the provider stops retrying, and traced as refused, on both
/// databases; a retry of it is a duplicate.
async fn over_long_ids_are_stored_answered_and_refused(kind: Kind) {
    let e = edge(kind).await;
    let account = e.w.account.provider_account_id.clone();
    let long = "A".repeat(3000);
    let bodies = [
        relation(&e, &account, &format!("ACoAA{long}")),
        relation(&e, &long, JULIEN),
        message(&account, &long, "ACoAAprospect"),
        json!({"AccountStatus": {"account_id": long, "message": "OK"}}),
    ];
    for body in &bodies {
        let a = webhook(&e, body).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json()["duplicate"], false, "{a:?}");
        assert_eq!(a.json()["refused"], true, "{a:?}");
        let again = webhook(&e, body).await;
        assert_eq!(again.json()["duplicate"], true, "{again:?}");
    }
    while e.w.app.inbox.process_pending(100).await.unwrap() > 0 {}
    assert_eq!(e.inbox_rows().await, 4);
    assert_eq!(
        count(
            &e,
            "SELECT COUNT(*) FROM webhook_inbox WHERE status = 'ignored'"
        )
        .await,
        4
    );
    assert_eq!(
        count(
            &e,
            "SELECT COUNT(*) FROM traces WHERE kind = 'webhook_refused'"
        )
        .await,
        4
    );
    let (longest,): (i64,) = sqlx::query_as("SELECT MAX(LENGTH(natural_key)) FROM webhook_inbox")
        .fetch_one(e.w.app.db.pool())
        .await
        .unwrap();
    assert!(longest < 300, "natural keys stay short: {longest}");
}

/// A wrong-typed field Accord reads is `invalid_field` naming that field
/// and the type it must have (serde named another field as missing); a
/// wrong type in a field Accord does not read is tolerated.
async fn wrong_types_name_the_field(kind: Kind) {
    let e = edge(kind).await;
    let account = e.w.account.provider_account_id.clone();
    let with = |mut v: Value, field: &str, value: Value| {
        v[field] = value;
        v
    };
    let cases = [
        (
            with(message(&account, "m1", "ACoAAp"), "timestamp", json!(123)),
            "timestamp",
            "a string",
        ),
        (
            with(relation(&e, &account, JULIEN), "account_id", json!(5)),
            "account_id",
            "a string",
        ),
        (
            with(
                relation(&e, &account, JULIEN),
                "user_provider_id",
                json!([]),
            ),
            "user_provider_id",
            "a string",
        ),
        (
            with(message(&account, "m1", "ACoAAp"), "sender", json!("x")),
            "sender",
            "an object",
        ),
        (
            with(message(&account, "m1", "ACoAAp"), "is_sender", json!("no")),
            "is_sender",
            "a boolean",
        ),
    ];
    for (body, field, expected) in cases {
        let a = webhook(&e, &body).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (400, "invalid_field"),
            "{body}: {a:?}"
        );
        let message = a.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(&format!("`{field}`")), "{message}");
        assert!(message.contains(expected), "{message}");
    }
    assert_eq!(e.inbox_rows().await, 0);
    for body in [
        with(message(&account, "m7", "ACoAAp"), "chat_id", json!(5)),
        with(
            relation(&e, &account, JULIEN),
            "user_picture_url",
            json!({"x": 1}),
        ),
        with(relation(&e, &account, JULIEN), "account_type", json!(null)),
        with(message(&account, "m8", "ACoAAp"), "message", json!([1, 2])),
    ] {
        let a = webhook(&e, &body).await;
        assert_eq!(a.status, 200, "{body}: {a:?}");
    }
    // The API names the field too.
    let a = api(&e, "POST", "/api/workspaces", r#"{"name": 5}"#).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "invalid_field"),
        "{a:?}"
    );
    let message = a.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("`name`") && message.contains("string"),
        "{message}"
    );
}

/// An endless event name is stored and answered, but never becomes a
/// metric label (`other`), and its echo is truncated.
async fn endless_event_names_are_labelled_other(kind: Kind) {
    let e = edge(kind).await;
    let name = format!("evil_{}", "x".repeat(5000));
    let a = webhook(&e, &json!({"event": name, "account_id": "a"})).await;
    assert_eq!(a.status, 200, "{a:?}");
    let echoed = a.json()["event"].as_str().unwrap().to_string();
    assert!(echoed.len() <= 80, "{echoed}");
    let metrics = e
        .exchange(
            e.head("GET", "/metrics", "Connection: close\r\n")
                .as_bytes(),
        )
        .await
        .body;
    assert!(!metrics.contains("evil_x"), "the name became a label");
    assert!(
        metrics.contains("accord_webhooks_total{event=\"other\",outcome=\"stored\"}"),
        "{metrics}"
    );
    let (longest,): (i64,) = sqlx::query_as("SELECT MAX(LENGTH(event)) FROM webhook_inbox")
        .fetch_one(e.w.app.db.pool())
        .await
        .unwrap();
    assert!(longest <= 80, "{longest}");
}

/// Imported fields are bounded to what the match policy can key: an item
/// over the bound is refused alone with a reason, and every imported
/// prospect has its keys (a 2,048-character member id used to be
/// imported with no keys at all, so its accept could never match).
async fn import_fields_are_bounded_to_what_can_be_keyed(kind: Kind) {
    let e = edge(kind).await;
    let long_id = format!("ACoAA{}", "b".repeat(400));
    let long_slug = format!("https://www.linkedin.com/in/{}", "c".repeat(400));
    let items = json!({"prospects": [
        {"member_id": long_id},
        {"profile_url": long_slug},
        {"public_identifier": "d".repeat(400)},
        {"sales_nav_lead_url": format!("https://www.linkedin.com/sales/lead/ACwAA{},NAME", "e".repeat(400))},
        {"full_name": "f".repeat(3000), "member_id": "ACoAAB1234567890abcdefghij"},
        {"full_name": "Good", "member_id": "ACoAAB1234567890abcdefghik", "profile_url": "https://www.linkedin.com/in/good"},
    ]});
    let path = format!("/api/campaigns/{}/prospects", e.w.campaign.id);
    let a = api(&e, "POST", &path, &items.to_string()).await;
    assert_eq!(a.status, 200, "{a:?}");
    let report = a.json();
    assert_eq!(report["imported"], 1, "{report}");
    let codes: Vec<(u64, &str)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            (0, "field_too_long"),
            (1, "field_too_long"),
            (2, "field_too_long"),
            (3, "field_too_long"),
            (4, "field_too_long"),
        ],
        "{report}"
    );
    let without_keys = count(
        &e,
        "SELECT COUNT(*) FROM prospects p WHERE NOT EXISTS (SELECT 1 FROM match_keys k WHERE k.prospect_id = p.id)",
    )
    .await;
    assert_eq!(without_keys, 0);
    // A wrong-typed item field names the item and the field.
    let wrong = json!({"prospects": [{"full_name": 5, "member_id": "ACoAAB1234567890abcdefghil"}]});
    let a = api(&e, "POST", &path, &wrong.to_string()).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "invalid_field"),
        "{a:?}"
    );
    let message = a.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("`prospects[0].full_name`"), "{message}");
}

/// An account's provider id is the `account_id` of its webhooks, which
/// are bounded at 200 bytes: the API bounds it the same way, in bytes
/// (found by the fuzzer: it counted characters, so 101 `é`, 202 bytes,
/// made an account whose every webhook was refused as over-long, stored
/// and never processed). The own member id, compared with the webhooks'
/// `account_info.user_id`, is bounded the same way. At the bound, the
/// account is created and its webhooks are processed.
async fn account_ids_are_bounded_like_webhook_ids(kind: Kind) {
    let e = edge(kind).await;
    let path = format!("/api/workspaces/{}/accounts", e.w.workspace.id);
    let before = count(&e, "SELECT COUNT(*) FROM linkedin_accounts").await;
    let account = |provider: &str, own: Option<String>| {
        json!({"provider_account_id": provider, "display_name": "Sales", "time_zone": "UTC",
            "own_member_id": own})
        .to_string()
    };
    for (body, code) in [
        (
            account(&"é".repeat(101), None),
            "invalid_provider_account_id",
        ),
        (
            account("acct-ok", Some("A".repeat(201))),
            "invalid_own_member_id",
        ),
    ] {
        let a = api(&e, "POST", &path, &body).await;
        assert_eq!((a.status, a.code().as_str()), (422, code), "{a:?}");
    }
    assert_eq!(
        count(&e, "SELECT COUNT(*) FROM linkedin_accounts").await,
        before
    );
    let at_bound = "é".repeat(100);
    let a = api(
        &e,
        "POST",
        &path,
        &account(&at_bound, Some("B".repeat(200))),
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    let a = webhook(&e, &relation(&e, &at_bound, JULIEN)).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json()["refused"], false, "{a:?}");
}

/// A profile URL or public identifier is percent-decoded when it is
/// keyed, so `%00` is a NUL character like `\u0000`: refused at the edge
/// the same way (found by the fuzzer: the webhook was answered 200, then
/// its processing failed on PostgreSQL, five times, and it ended
/// `failed`; an import item with one failed the whole import with a
/// 503). On both databases: the webhook is a 400 `invalid_text` naming
/// the field, the import item alone is rejected, nothing else changes.
async fn percent_encoded_nul_characters_are_refused(kind: Kind) {
    let e = edge(kind).await;
    let account = e.w.account.provider_account_id.clone();
    let mut with_slug = relation(&e, &account, JULIEN);
    with_slug["user_public_identifier"] = json!("julien%00crepieux");
    let mut with_url = relation(&e, &account, JULIEN);
    with_url["user_profile_url"] = json!("https://www.linkedin.com/in/julien%00crepieux/");
    let mut with_sender_url = message(&account, "m-nul", "ACoAAprospect");
    with_sender_url["sender"]["attendee_profile_url"] = json!("https://www.linkedin.com/in/a%00b");
    let mut with_sender_slug = message(&account, "m-nul-2", "ACoAAprospect");
    with_sender_slug["sender"]["attendee_public_identifier"] = json!("%00");
    for (body, field) in [
        (with_slug, "user_public_identifier"),
        (with_url, "user_profile_url"),
        (with_sender_url, "sender.attendee_profile_url"),
        (with_sender_slug, "sender.attendee_public_identifier"),
    ] {
        let a = webhook(&e, &body).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (400, "invalid_text"),
            "{body}: {a:?}"
        );
        let message = a.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
    assert_eq!(e.inbox_rows().await, 0);

    let items = json!({"prospects": [
        {"member_id": "ACoAAB1111111111", "profile_url": "https://www.linkedin.com/in/a%00b"},
        {"member_id": "ACoAAC2222222222", "public_identifier": "x%00"},
        {"full_name": "Good", "member_id": "ACoAAD3333333333"},
    ]});
    let path = format!("/api/campaigns/{}/prospects", e.w.campaign.id);
    let a = api(&e, "POST", &path, &items.to_string()).await;
    assert_eq!(a.status, 200, "{a:?}");
    let report = a.json();
    assert_eq!(report["imported"], 1, "{report}");
    let codes: Vec<(u64, &str)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [(0, "invalid_text"), (1, "invalid_text")],
        "{report}"
    );
    assert_eq!(count(&e, "SELECT COUNT(*) FROM prospects").await, 1);
}

/// The hostile corpus (tests/corpus/hostile, see its README): every
/// case through the real listener. Never a 5xx; every refusal a JSON
/// error with the stable code `expected.txt` pins (the same on both
/// databases); the inbox holds exactly the deliveries answered 200 as
/// new. `ACCORD_CORPUS_RECORD=1` rewrites `expected.txt` instead.
async fn the_hostile_corpus(kind: Kind) {
    let e = edge(kind).await;
    let root = crate::support::root().join("tests/corpus/hostile");
    let files = |dir: &str| {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|f| f.unwrap().path())
            .collect();
        paths.sort();
        paths
    };
    let import = format!("/api/campaigns/{}/prospects", e.w.campaign.id);
    let accounts = format!("/api/workspaces/{}/accounts", e.w.workspace.id);
    let mut requests: Vec<(String, Vec<u8>)> = Vec::new();
    for (dir, path) in [
        ("webhook", None),
        ("api-workspaces", Some("/api/workspaces")),
        ("api-accounts", Some(accounts.as_str())),
        ("api-import", Some(import.as_str())),
    ] {
        for file in files(dir) {
            let body = std::fs::read(&file).unwrap();
            let name = format!("{dir}/{}", file.file_name().unwrap().to_string_lossy());
            let request = match path {
                None => e.webhook(&body),
                Some(path) => {
                    let head = e.head(
                        "POST",
                        path,
                        &format!(
                            "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                            body.len()
                        ),
                    );
                    [head.as_bytes(), &body].concat()
                }
            };
            requests.push((name, request));
        }
    }
    for file in files("raw") {
        let raw = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        let raw = raw
            .replace("{host}", &e.addr.to_string())
            .replace("{secret}", crate::edge::SECRET);
        let name = format!("raw/{}", file.file_name().unwrap().to_string_lossy());
        requests.push((name, raw.into_bytes()));
    }
    let paths = std::fs::read_to_string(root.join("paths.txt")).unwrap();
    for (i, line) in paths.lines().enumerate() {
        let (method, target) = line.split_once(' ').unwrap();
        let request = e.head(method, target, "Connection: close\r\n");
        requests.push((format!("paths.txt:{}", i + 1), request.into_bytes()));
    }

    let mut outcomes = std::collections::BTreeMap::new();
    let mut stored = std::collections::BTreeSet::new();
    for (name, request) in &requests {
        let a = e.exchange(request).await;
        assert!(a.status < 500, "{name}: {a:?}");
        let outcome = if a.status >= 400 {
            assert!(
                a.head.contains("content-type: application/json"),
                "{name}: {a:?}"
            );
            let json = a.json();
            let code = json["error"]["code"].as_str().unwrap_or_default();
            let message = json["error"]["message"].as_str().unwrap_or_default();
            assert!(!code.is_empty() && !message.is_empty(), "{name}: {a:?}");
            format!("{} {code}", a.status)
        } else {
            if a.status == 200
                && let Ok(json) = serde_json::from_str::<Value>(&a.body)
                && json["duplicate"] == false
                && let Some(id) = json["inbox_id"].as_str()
            {
                stored.insert(id.to_string());
            }
            format!("{} -", a.status)
        };
        outcomes.insert(name.clone(), outcome);
    }
    let actual: String = outcomes
        .iter()
        .map(|(name, outcome)| format!("{name} {outcome}\n"))
        .collect();
    let manifest = root.join("expected.txt");
    if std::env::var("ACCORD_CORPUS_RECORD").is_ok_and(|v| v == "1") {
        std::fs::write(&manifest, &actual).unwrap();
    } else {
        let expected = std::fs::read_to_string(&manifest).unwrap();
        let diff: Vec<String> = actual
            .lines()
            .zip(expected.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("got {a}\n want {b}"))
            .collect();
        assert!(
            diff.is_empty() && actual.lines().count() == expected.lines().count(),
            "the corpus answered differently ({} cases, {} expected):\n{}",
            actual.lines().count(),
            expected.lines().count(),
            diff.join("\n")
        );
    }
    while e.w.app.inbox.process_pending(100).await.unwrap() > 0 {}
    let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM webhook_inbox")
        .fetch_all(e.w.app.db.pool())
        .await
        .unwrap();
    let ids: std::collections::BTreeSet<String> = ids.into_iter().map(|(id,)| id).collect();
    assert_eq!(
        ids, stored,
        "the inbox holds exactly the deliveries answered 200"
    );
    assert_eq!(
        count(
            &e,
            "SELECT COUNT(*) FROM webhook_inbox WHERE status IN ('pending', 'failed')"
        )
        .await,
        0,
        "every stored delivery was processed"
    );
}

crate::on_both_databases!(
    the_hostile_corpus,
    nul_characters_are_refused_at_the_edge,
    over_long_ids_are_stored_answered_and_refused,
    wrong_types_name_the_field,
    endless_event_names_are_labelled_other,
    import_fields_are_bounded_to_what_can_be_keyed,
    account_ids_are_bounded_like_webhook_ids,
    percent_encoded_nul_characters_are_refused,
);
