//! The real `UnipileClient` against the in-process Unipile simulator over
//! loopback: every endpoint, every error type and class, pagination,
//! created_at units, Sales Navigator conversion; and the simulator's
//! webhooks delivered to a real axum receiver (exact shapes, the secret
//! header, late delivery only when the ManualClock moves, drops,
//! duplicates, retries).

use accord::clock::{Clock, HOUR_MS, MINUTE_MS, ManualClock, SharedClock};
use accord::ingest::unipile::{WebhookEvent, classify as classify_webhook};
use accord::provider::{
    ErrorClass, KNOWN_ERRORS, LinkedinProvider, MAX_INVITE_NOTE_CHARS, ProviderError,
    UnipileClient, member_number, sales_navigator_lead_id,
};
use accord::simulator::{
    CreatedAtUnit, PersonSpec, SimAccount, SimAction, SimConfig, SimHandle, Simulator,
    WEBHOOK_RETRY_DELAYS_MS, WebhookFate, WebhookKind,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T0: i64 = 1_791_650_000_000;
const KEY: &str = "sim-api-key-7f3a";
const SECRET: &str = "whsec-static-9c1e";
const HEADER: &str = "Unipile-Auth";

// ---------------------------------------------------------------- receiver

#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    fail: AtomicUsize,
}

/// A webhook receiver on 127.0.0.1 that records every request and answers
/// 200 (or 500 while `fail` is positive).
struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state
        .received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let failing = state
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new().fallback(receive).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/webhooks/unipile", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    fn bodies(&self) -> Vec<Value> {
        self.received()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    fn events(&self, name: &str) -> Vec<Value> {
        self.bodies()
            .into_iter()
            .filter(|b| {
                b.get("event").and_then(Value::as_str) == Some(name)
                    || (name == "AccountStatus" && b.get("AccountStatus").is_some())
            })
            .collect()
    }
}

// --------------------------------------------------------------------- rig

struct Rig {
    clock: Arc<ManualClock>,
    sim: SimHandle,
    client: UnipileClient,
    receiver: Receiver,
    account: SimAccount,
}

impl Rig {
    async fn new() -> Rig {
        let clock = ManualClock::new(T0);
        let shared: SharedClock = clock.clone();
        let receiver = Receiver::start().await;
        let sim =
            Simulator::start(SimConfig::new(KEY, shared).webhook(&receiver.url(), HEADER, SECRET))
                .await
                .unwrap();
        let client = UnipileClient::new(&sim.base_url(), KEY, Duration::from_secs(10)).unwrap();
        let account = sim.add_account_with_id("SDF4tGaPSPSzNe1D1xsOs");
        Rig {
            clock,
            sim,
            client,
            receiver,
            account,
        }
    }

    fn acc(&self) -> &str {
        &self.account.id
    }

    /// Moves the clock and ticks.
    async fn advance(&self, ms: i64) {
        self.clock.advance(ms);
        self.sim.tick().await;
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn assert_error(e: &ProviderError, class: ErrorClass, status: Option<u16>, kind: &str) {
    assert_eq!(
        (e.class, e.status, e.kind.as_str()),
        (class, status, kind),
        "{e}"
    );
}

// ------------------------------------------------------------------- auth

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_or_with_a_wrong_key_get_401_missing_credentials() {
    let rig = Rig::new().await;
    let http = reqwest::Client::new();
    let answer = http
        .get(format!("{}/api/v1/accounts", rig.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(keys(&body), set(&["status", "type", "title", "detail"]));
    assert_eq!(body["status"], 401);
    assert_eq!(body["type"], "errors/missing_credentials");

    let wrong =
        UnipileClient::new(&rig.sim.base_url(), "not-the-key", Duration::from_secs(5)).unwrap();
    let e = wrong.list_accounts().await.unwrap_err();
    assert_error(
        &e,
        ErrorClass::AccountLevel,
        Some(401),
        "missing_credentials",
    );
    let e = wrong.list_relations(rig.acc(), None, 10).await.unwrap_err();
    assert_eq!(e.kind, "missing_credentials");
    // Every refused call is in the log, with its status.
    let calls = rig.sim.calls();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c.status == 401));
    // The right key works.
    assert_eq!(rig.client.list_accounts().await.unwrap().len(), 1);
}

// --------------------------------------------------------------- accounts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_carry_the_own_member_id_and_source_status() {
    let rig = Rig::new().await;
    let second = rig.sim.add_account();
    assert!(rig.sim.disconnect_account(&second.id));
    let accounts = rig.client.list_accounts().await.unwrap();
    assert_eq!(accounts.len(), 2);
    let first = accounts.iter().find(|a| a.id == rig.acc()).unwrap();
    assert_eq!(
        first.own_member_id.as_deref(),
        Some(rig.account.own_member_id.as_str())
    );
    assert!(first.is_ok());
    let other = accounts.iter().find(|a| a.id == second.id).unwrap();
    assert_eq!(other.status, "CREDENTIALS");
    assert!(!other.is_ok());
    assert!(rig.account.own_member_id.starts_with("ACo"));
}

// -------------------------------------------------------------- relations

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relations_paginate_newest_first_with_ms_or_seconds() {
    let rig = Rig::new().await;
    let mut expected = Vec::new();
    for i in 0..25i64 {
        let p = rig
            .sim
            .add_person(PersonSpec::new("Person", &format!("Number {i}")));
        // Pairs share a timestamp: the cursor must still be exact.
        let at = T0 - HOUR_MS + (i / 2) * 60_000 + 123;
        assert!(rig.sim.connect(rig.acc(), &p.provider_id, at));
        expected.push((p.provider_id.clone(), at));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = rig
            .client
            .list_relations(rig.acc(), cursor.as_deref(), 10)
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        seen.extend(page.items);
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    let ids: HashSet<_> = seen.iter().map(|r| r.member_id.clone()).collect();
    assert_eq!(ids.len(), 25, "no duplicates across pages");
    let times: Vec<i64> = seen.iter().map(|r| r.created_at_ms.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    for r in &seen {
        let (_, at) = expected.iter().find(|(id, _)| *id == r.member_id).unwrap();
        assert_eq!(r.created_at_ms, Some(*at));
        let slug = r.public_identifier.clone().unwrap();
        assert_eq!(
            r.public_profile_url.as_deref(),
            Some(format!("https://www.linkedin.com/in/{slug}/").as_str())
        );
        assert_eq!(r.first_name.as_deref(), Some("Person"));
    }
    assert_eq!(rig.sim.count_calls("GET", "/api/v1/users/relations"), 3);

    // The exact REST shape.
    let body: Value = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/users/relations?account_id={}&limit=1",
            rig.sim.base_url(),
            rig.acc()
        ))
        .header("X-API-KEY", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "UserRelationsList");
    assert!(body["cursor"].is_string());
    assert_eq!(
        keys(&body["items"][0]),
        set(&[
            "object",
            "connection_urn",
            "created_at",
            "first_name",
            "last_name",
            "member_id",
            "member_urn",
            "headline",
            "public_identifier",
            "public_profile_url",
            "profile_picture_url"
        ])
    );
    assert_eq!(
        body["items"][0]["created_at"],
        json!(T0 - HOUR_MS + 12 * 60_000 + 123)
    );

    // Seconds, as in the documentation examples: read as seconds.
    rig.sim.set_created_at_unit(CreatedAtUnit::Seconds);
    let page = rig
        .client
        .list_relations(rig.acc(), None, 100)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 25);
    assert!(page.cursor.is_none());
    for r in &page.items {
        let (_, at) = expected.iter().find(|(id, _)| *id == r.member_id).unwrap();
        assert_eq!(r.created_at_ms, Some(at / 1000 * 1000));
    }

    // A bad cursor is a 400: Invalid, not retried.
    let e = rig
        .client
        .list_relations(rig.acc(), Some("garbage!"), 10)
        .await
        .unwrap_err();
    assert_error(&e, ErrorClass::Invalid, Some(400), "invalid_parameters");
}

// ---------------------------------------------------------------- profile

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_by_slug_classic_id_and_sales_navigator_id() {
    let rig = Rig::new().await;
    let p = rig.sim.add_person(PersonSpec::new("Julien", "Crépieux"));
    assert_eq!(p.public_identifier, "julien-crepieux");
    assert_eq!(member_number(&p.provider_id), Some(p.number));
    assert_eq!(member_number(&p.sales_navigator_id), Some(p.number));

    let by_slug = rig
        .client
        .get_profile(rig.acc(), "julien-crepieux", false)
        .await
        .unwrap();
    assert_eq!(by_slug.provider_id, p.provider_id);
    assert_eq!(
        by_slug.public_identifier.as_deref(),
        Some("julien-crepieux")
    );
    assert_eq!(by_slug.is_relationship, Some(false));
    assert_eq!(by_slug.first_name.as_deref(), Some("Julien"));

    rig.sim.connect(rig.acc(), &p.provider_id, T0);
    let by_id = rig
        .client
        .get_profile(rig.acc(), &p.provider_id, false)
        .await
        .unwrap();
    assert_eq!(by_id.is_relationship, Some(true));
    assert_eq!(by_id.network_distance.as_deref(), Some("FIRST_DEGREE"));

    // Sales Navigator: the lead URL's id converts to the classic id.
    let lead = p.sales_navigator_lead_url();
    let acw = sales_navigator_lead_id(&lead).unwrap();
    assert_eq!(acw, p.sales_navigator_id);
    let converted = rig.client.get_profile(rig.acc(), acw, true).await.unwrap();
    assert_eq!(converted.provider_id, p.provider_id);
    assert_eq!(member_number(&converted.provider_id), member_number(acw));
    let calls = rig.sim.calls();
    let last = calls.last().unwrap();
    assert_eq!(last.route, "/api/v1/users/{identifier}");
    assert_eq!(last.account_id.as_deref(), Some(rig.acc()));

    // An ACw id without the Sales Navigator API, and unknown people.
    let e = rig
        .client
        .get_profile(rig.acc(), acw, false)
        .await
        .unwrap_err();
    assert_error(
        &e,
        ErrorClass::TerminalForRecipient,
        Some(422),
        "invalid_recipient",
    );
    let e = rig
        .client
        .get_profile(rig.acc(), "nobody-here", false)
        .await
        .unwrap_err();
    assert_eq!(e.kind, "invalid_recipient");
    // Odd slugs are percent-encoded as one path segment.
    let e = rig
        .client
        .get_profile(rig.acc(), "a/b?c#d é", false)
        .await
        .unwrap_err();
    assert_eq!(e.kind, "invalid_recipient");
    // Unknown account.
    let e = rig
        .client
        .get_profile("no-such-account", &p.provider_id, false)
        .await
        .unwrap_err();
    assert_error(&e, ErrorClass::AccountLevel, Some(422), "invalid_account");
}

// ---------------------------------------------------------------- invites

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_note_limit_pending_duplicates_connections_and_quota() {
    let rig = Rig::new().await;
    let people: Vec<_> = (0..6)
        .map(|i| {
            rig.sim
                .add_person(PersonSpec::new("Inv", &format!("Itee {i}")))
        })
        .collect();

    // A note over 300 characters never leaves the host.
    let long = "x".repeat(MAX_INVITE_NOTE_CHARS + 1);
    let e = rig
        .client
        .send_invite(rig.acc(), &people[0].provider_id, Some(&long))
        .await
        .unwrap_err();
    assert_error(&e, ErrorClass::Invalid, None, "too_many_characters");
    assert_eq!(rig.sim.count_calls("POST", "/api/v1/users/invite"), 0);
    // The simulator refuses it too, like Unipile (400).
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/users/invite", rig.sim.base_url()))
        .header("X-API-KEY", KEY)
        .json(&json!({"provider_id": people[0].provider_id, "account_id": rig.acc(), "message": long}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["type"], "errors/too_many_characters");

    // 300 characters (600 bytes) is fine: characters are counted.
    let note = "é".repeat(MAX_INVITE_NOTE_CHARS);
    let sent = rig
        .client
        .send_invite(rig.acc(), &people[0].provider_id, Some(&note))
        .await
        .unwrap();
    assert!(!sent.invitation_id.is_empty());
    assert_eq!(sent.usage, None);
    let invites = rig.sim.invites(rig.acc());
    assert_eq!(invites.len(), 1);
    assert_eq!(invites[0].message.as_deref(), Some(note.as_str()));
    assert_eq!(invites[0].sent_at_ms, T0);

    // Pending: Unipile's already_invited_recently.
    let e = rig
        .client
        .send_invite(rig.acc(), &people[0].provider_id, None)
        .await
        .unwrap_err();
    assert_error(
        &e,
        ErrorClass::TerminalForRecipient,
        Some(422),
        "already_invited_recently",
    );
    assert_eq!(e.title, "Should delay new invitation to this recipient");

    // Already connected: the forensic accept signal.
    rig.sim
        .connect(rig.acc(), &people[1].provider_id, T0 - 1000);
    let e = rig
        .client
        .send_invite(rig.acc(), &people[1].provider_id, Some("hi"))
        .await
        .unwrap_err();
    assert_error(
        &e,
        ErrorClass::AlreadyConnected,
        Some(422),
        "already_connected",
    );
    assert!(!e.is_retryable());

    // A Sales Navigator id is not an invite target.
    let e = rig
        .client
        .send_invite(rig.acc(), &people[2].sales_navigator_id, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, "invalid_recipient");

    // Quota: usage reported past 50 %, then limit_exceeded (account-level).
    rig.sim.set_invite_quota(rig.acc(), 4);
    let usage = rig
        .client
        .send_invite(rig.acc(), &people[2].provider_id, None)
        .await
        .unwrap()
        .usage;
    assert_eq!(usage, Some(50));
    let usage = rig
        .client
        .send_invite(rig.acc(), &people[3].provider_id, None)
        .await
        .unwrap()
        .usage;
    assert_eq!(usage, Some(75));
    let usage = rig
        .client
        .send_invite(rig.acc(), &people[4].provider_id, None)
        .await
        .unwrap()
        .usage;
    assert_eq!(usage, Some(100));
    let e = rig
        .client
        .send_invite(rig.acc(), &people[5].provider_id, None)
        .await
        .unwrap_err();
    assert_error(&e, ErrorClass::AccountLevel, Some(422), "limit_exceeded");

    // The JSON body carried the account: the call log knows it.
    let calls = rig.sim.calls();
    assert!(
        calls
            .iter()
            .filter(|c| c.route == "/api/v1/users/invite")
            .all(|c| c.account_id.as_deref() == Some(rig.acc()))
    );

    // The pending invites, newest first, with their notes and times.
    let page = rig.client.list_sent_invites(rig.acc(), None).await.unwrap();
    assert_eq!(page.items.len(), 4);
    assert!(page.cursor.is_none());
    let first = page
        .items
        .iter()
        .find(|i| i.invited_user_id.as_deref() == Some(people[0].provider_id.as_str()))
        .unwrap();
    assert_eq!(first.invitation_text.as_deref(), Some(note.as_str()));
    assert_eq!(
        first.invited_user_public_id.as_deref(),
        Some(people[0].public_identifier.as_str())
    );
    assert_eq!(first.sent_at_ms, Some(T0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_invites_paginate_and_drop_accepted_ones() {
    let rig = Rig::new().await;
    let mut ids = Vec::new();
    for i in 0..130 {
        let p = rig
            .sim
            .add_person(PersonSpec::new("Many", &format!("Invitee {i}")));
        rig.client
            .send_invite(rig.acc(), &p.provider_id, None)
            .await
            .unwrap();
        ids.push(p.provider_id);
        rig.clock.advance(1000);
    }
    let first = rig.client.list_sent_invites(rig.acc(), None).await.unwrap();
    assert_eq!(first.items.len(), 100);
    assert_eq!(
        first.items[0].invited_user_id.as_deref(),
        Some(ids[129].as_str()),
        "newest first"
    );
    let second = rig
        .client
        .list_sent_invites(rig.acc(), first.cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(second.items.len(), 30);
    assert!(second.cursor.is_none());
    let all: HashSet<_> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(all.len(), 130);

    // Accepted invites leave the list.
    assert!(rig.sim.accept_now(rig.acc(), &ids[0]));
    let page = rig.client.list_sent_invites(rig.acc(), None).await.unwrap();
    let rest = rig
        .client
        .list_sent_invites(rig.acc(), page.cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(page.items.len() + rest.items.len(), 129);
}

// --------------------------------------------------------------- messages

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_need_a_connection_and_go_as_multipart() {
    let rig = Rig::new().await;
    let p = rig.sim.add_person(PersonSpec::new("Selva", "Raman"));

    let e = rig
        .client
        .send_message(rig.acc(), &p.provider_id, "Hello!")
        .await
        .unwrap_err();
    assert_error(
        &e,
        ErrorClass::NoConnectionWithRecipient,
        Some(422),
        "no_connection_with_recipient",
    );
    assert!(!e.is_retryable());

    rig.sim.connect(rig.acc(), &p.provider_id, T0 - 1000);
    let first = rig
        .client
        .send_message(rig.acc(), &p.provider_id, "Hello!")
        .await
        .unwrap();
    assert!(first.message_id.is_some());
    let second = rig
        .client
        .send_message(rig.acc(), &p.provider_id, "Following up")
        .await
        .unwrap();
    assert_eq!(second.chat_id, first.chat_id, "one chat per attendee");
    assert_ne!(second.message_id, first.message_id);
    let third = rig
        .client
        .send_in_chat(&first.chat_id, "In the chat")
        .await
        .unwrap();
    assert_eq!(third.chat_id, first.chat_id);
    let messages = rig.sim.messages(rig.acc(), &p.provider_id);
    assert_eq!(
        messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["Hello!", "Following up", "In the chat"]
    );
    assert!(messages.iter().all(|m| m.from_self));

    // The multipart body named the account; the chat path is attributed too.
    let calls = rig.sim.calls();
    let chats: Vec<_> = calls
        .iter()
        .filter(|c| c.path.starts_with("/api/v1/chats"))
        .collect();
    assert_eq!(chats.len(), 4);
    assert!(
        chats
            .iter()
            .all(|c| c.account_id.as_deref() == Some(rig.acc()))
    );
    assert_eq!(chats[1].status, 201);

    // JSON where Unipile wants multipart is refused.
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/chats", rig.sim.base_url()))
        .header("X-API-KEY", KEY)
        .json(&json!({"account_id": rig.acc(), "attendees_ids": p.provider_id, "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);

    // Unknown chat, empty text.
    let e = rig.client.send_in_chat("nope", "x").await.unwrap_err();
    assert_error(&e, ErrorClass::Invalid, Some(404), "resource_not_found");
    let e = rig
        .client
        .send_message(rig.acc(), &p.provider_id, "  ")
        .await
        .unwrap_err();
    assert_error(&e, ErrorClass::Invalid, None, "invalid_message");
}

// ------------------------------------------------------ transient failures

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_429_and_5xx_are_transient_and_each_is_one_call() {
    let rig = Rig::new().await;
    rig.sim.fail_next(3, 429, None);
    for _ in 0..3 {
        let e = rig.client.list_accounts().await.unwrap_err();
        assert_error(&e, ErrorClass::Transient, Some(429), "too_many_requests");
        assert!(e.is_retryable());
    }
    assert_eq!(rig.client.list_accounts().await.unwrap().len(), 1);
    assert_eq!(rig.sim.count_calls("GET", "/api/v1/accounts"), 4);

    // Scoped to one path: other paths are untouched.
    rig.sim.fail_next(2, 500, Some("/api/v1/users/relations"));
    rig.client.list_accounts().await.unwrap();
    for _ in 0..2 {
        let e = rig
            .client
            .list_relations(rig.acc(), None, 10)
            .await
            .unwrap_err();
        assert_error(&e, ErrorClass::Transient, Some(500), "provider_error");
    }
    rig.client
        .list_relations(rig.acc(), None, 10)
        .await
        .unwrap();

    // Scoped by method and route.
    rig.sim.fail_next(1, 503, Some("POST /api/v1/chats"));
    rig.sim
        .fail_next(1, 504, Some("/api/v1/users/{identifier}"));
    let p = rig.sim.add_person(PersonSpec::new("A", "B"));
    rig.sim.connect(rig.acc(), &p.provider_id, T0);
    let e = rig
        .client
        .send_message(rig.acc(), &p.provider_id, "hi")
        .await
        .unwrap_err();
    assert_error(&e, ErrorClass::Transient, Some(503), "service_unavailable");
    let e = rig
        .client
        .get_profile(rig.acc(), &p.provider_id, false)
        .await
        .unwrap_err();
    assert_error(&e, ErrorClass::Transient, Some(504), "request_timeout");
    rig.client
        .send_message(rig.acc(), &p.provider_id, "hi")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_errors_and_timeouts_are_transient() {
    // Nothing listens.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    let client =
        UnipileClient::new(&format!("http://{dead}"), KEY, Duration::from_secs(2)).unwrap();
    let e = client.list_accounts().await.unwrap_err();
    assert_error(&e, ErrorClass::Transient, None, "connect_error");
    assert!(!e.outcome_unknown(), "the request never left");

    // Accepts the connection, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let client =
        UnipileClient::new(&format!("http://{addr}"), KEY, Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    let e = client
        .send_message("acc", "ACoAAA", "hello")
        .await
        .unwrap_err();
    assert_error(&e, ErrorClass::Transient, None, "timeout");
    assert!(e.outcome_unknown(), "the message may have gone out");
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ------------------------------------------------------ the error catalogue

/// The classes the issue asks for, written out independently of the code.
fn expected_class(status: u16, kind: &str) -> ErrorClass {
    match kind {
        "already_connected" => ErrorClass::AlreadyConnected,
        "no_connection_with_recipient" => ErrorClass::NoConnectionWithRecipient,
        "invalid_account" | "payment_error" | "insufficient_credits" | "limit_exceeded" => {
            ErrorClass::AccountLevel
        }
        _ => match status {
            400 => ErrorClass::Invalid,
            401 | 403 => ErrorClass::AccountLevel,
            422 => ErrorClass::TerminalForRecipient,
            429 | 500 | 503 | 504 => ErrorClass::Transient,
            other => panic!("unexpected status {other}"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_error_type_arrives_typed_and_classified() {
    let rig = Rig::new().await;
    let p = rig.sim.add_person(PersonSpec::new("Err", "Or"));
    assert_eq!(KNOWN_ERRORS.len(), 30);
    for k in KNOWN_ERRORS {
        rig.sim
            .fail_next_with(1, k.kind, Some("POST /api/v1/users/invite"));
        let e = rig
            .client
            .send_invite(rig.acc(), &p.provider_id, None)
            .await
            .unwrap_err();
        assert_eq!(e.status, Some(k.status), "{}", k.kind);
        assert_eq!(e.kind, k.kind);
        assert_eq!(e.title, k.title);
        assert_eq!(e.class, expected_class(k.status, k.kind), "{}", k.kind);
    }
    assert!(rig.sim.invites(rig.acc()).is_empty());

    // Forced per person and action: every 422 type on invites, messages
    // and profile lookups, for that person only.
    let other = rig.sim.add_person(PersonSpec::new("Not", "Forced"));
    rig.sim.connect(rig.acc(), &p.provider_id, T0);
    rig.sim.connect(rig.acc(), &other.provider_id, T0);
    for k in KNOWN_ERRORS.iter().filter(|k| k.status == 422) {
        rig.sim.clear_forced_errors();
        assert!(
            rig.sim
                .force_error(SimAction::Invite, Some(&p.public_identifier), k.kind)
        );
        assert!(
            rig.sim
                .force_error(SimAction::Message, Some(&p.provider_id), k.kind)
        );
        assert!(
            rig.sim
                .force_error(SimAction::Profile, Some(&p.sales_navigator_id), k.kind)
        );
        let e = rig
            .client
            .send_invite(rig.acc(), &p.provider_id, None)
            .await
            .unwrap_err();
        assert_eq!((e.status, e.kind.as_str()), (Some(422), k.kind));
        assert_eq!(e.class, expected_class(422, k.kind));
        let e = rig
            .client
            .send_message(rig.acc(), &p.provider_id, "hi")
            .await
            .unwrap_err();
        assert_eq!(e.kind, k.kind);
        let e = rig
            .client
            .get_profile(rig.acc(), &p.public_identifier, false)
            .await
            .unwrap_err();
        assert_eq!(e.kind, k.kind);
        rig.client
            .send_message(rig.acc(), &other.provider_id, "hi")
            .await
            .unwrap();
    }
    rig.sim.clear_forced_errors();
    rig.client
        .send_message(rig.acc(), &p.provider_id, "hi")
        .await
        .unwrap();
    assert!(
        !rig.sim
            .force_error(SimAction::Invite, Some("ghost"), "blocked_recipient")
    );
}

// ---------------------------------------------------- account disconnects

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnected_and_restricted_accounts_refuse_every_call_and_notify() {
    let rig = Rig::new().await;
    let other = rig.sim.add_account();
    let p = rig
        .sim
        .add_person(PersonSpec::new("Late", "Accepter").accepts_after(10 * MINUTE_MS));
    rig.client
        .send_invite(rig.acc(), &p.provider_id, None)
        .await
        .unwrap();
    rig.sim.connect(&other.id, &p.provider_id, T0);

    assert!(rig.sim.disconnect_account(rig.acc()));
    rig.sim.tick().await;
    let status = rig.receiver.events("AccountStatus");
    assert_eq!(status.len(), 1);
    assert_eq!(
        status[0],
        json!({"AccountStatus": {"account_id": rig.acc(), "account_type": "LINKEDIN", "message": "CREDENTIALS"}})
    );
    assert!(matches!(
        classify_webhook(&serde_json::to_vec(&status[0]).unwrap())
            .unwrap()
            .event,
        WebhookEvent::AccountStatus(_)
    ));

    let errors = vec![
        rig.client
            .list_relations(rig.acc(), None, 10)
            .await
            .unwrap_err(),
        rig.client
            .get_profile(rig.acc(), &p.provider_id, false)
            .await
            .unwrap_err(),
        rig.client
            .send_invite(rig.acc(), &p.provider_id, None)
            .await
            .unwrap_err(),
        rig.client
            .send_message(rig.acc(), &p.provider_id, "hi")
            .await
            .unwrap_err(),
        rig.client
            .list_sent_invites(rig.acc(), None)
            .await
            .unwrap_err(),
    ];
    for e in &errors {
        assert_error(
            e,
            ErrorClass::AccountLevel,
            Some(401),
            "disconnected_account",
        );
    }
    // Another account is unaffected.
    rig.client
        .send_message(&other.id, &p.provider_id, "hi")
        .await
        .unwrap();

    // The accept happens on LinkedIn meanwhile, but its webhook waits for
    // the reconnection.
    rig.advance(11 * MINUTE_MS).await;
    assert!(rig.receiver.events("new_relation").is_empty());
    assert_eq!(rig.sim.relations(rig.acc()).len(), 1);
    assert!(rig.sim.reconnect_account(rig.acc()));
    rig.sim.tick().await;
    let status = rig.receiver.events("AccountStatus");
    assert_eq!(status.len(), 2);
    assert_eq!(status[1]["AccountStatus"]["message"], "OK");
    assert_eq!(rig.receiver.events("new_relation").len(), 1);
    rig.client
        .list_relations(rig.acc(), None, 10)
        .await
        .unwrap();

    assert!(rig.sim.restrict_account(rig.acc()));
    let e = rig
        .client
        .send_invite(rig.acc(), &p.provider_id, None)
        .await
        .unwrap_err();
    assert_error(
        &e,
        ErrorClass::AccountLevel,
        Some(403),
        "account_restricted",
    );
    let accounts = rig.client.list_accounts().await.unwrap();
    assert!(accounts.iter().any(|a| a.id == rig.acc() && !a.is_ok()));
}

// --------------------------------------------------------------- webhooks

const NEW_RELATION_KEYS: &[&str] = &[
    "event",
    "account_id",
    "account_type",
    "webhook_name",
    "user_full_name",
    "user_provider_id",
    "user_public_identifier",
    "user_profile_url",
    "user_picture_url",
];

const MESSAGE_KEYS: &[&str] = &[
    "event",
    "account_id",
    "account_type",
    "account_info",
    "webhook_name",
    "chat_id",
    "message_id",
    "message",
    "timestamp",
    "is_sender",
    "sender",
    "attendees",
    "attachments",
    "provider_chat_id",
    "provider_message_id",
    "message_type",
    "is_group",
    "folder",
    "subject",
    "quoted",
    "reply_to",
    "is_event",
    "chat_pinned",
    "event_type",
];

const SENDER_KEYS: &[&str] = &[
    "attendee_id",
    "attendee_provider_id",
    "attendee_name",
    "attendee_profile_url",
    "attendee_specifics",
    "attendee_public_identifier",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accept_posts_new_relation_in_unipile_shape_with_the_secret_header() {
    let rig = Rig::new().await;
    let p = rig
        .sim
        .add_person(PersonSpec::new("Julien", "Crépieux").accepts_after(10 * MINUTE_MS));
    rig.client
        .send_invite(rig.acc(), &p.provider_id, Some("Hello Julien"))
        .await
        .unwrap();
    rig.advance(10 * MINUTE_MS - 1).await;
    assert!(rig.sim.relations(rig.acc()).is_empty(), "not accepted yet");
    assert_eq!(rig.sim.next_due_ms(), Some(T0 + 10 * MINUTE_MS));
    rig.advance(1).await;
    assert_eq!(
        rig.sim.relations(rig.acc()),
        vec![(p.provider_id.clone(), T0 + 10 * MINUTE_MS)]
    );
    assert!(rig.receiver.received().is_empty(), "default delay is 3 s");
    rig.advance(2_999).await;
    assert!(rig.receiver.received().is_empty());
    rig.advance(1).await;
    let received = rig.receiver.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(
        r.headers.get("unipile-auth").unwrap().to_str().unwrap(),
        SECRET
    );
    assert_eq!(
        r.headers.get("content-type").unwrap().to_str().unwrap(),
        "application/json"
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(keys(&body), set(NEW_RELATION_KEYS));
    assert_eq!(body["event"], "new_relation");
    assert_eq!(body["account_id"], rig.acc());
    assert_eq!(body["account_type"], "LINKEDIN");
    assert_eq!(body["user_full_name"], "Julien Crépieux");
    assert_eq!(body["user_provider_id"], p.provider_id.as_str());
    assert_eq!(body["user_public_identifier"], "julien-crepieux");
    assert_eq!(
        body["user_profile_url"],
        "https://www.linkedin.com/in/julien-crepieux/"
    );
    // The host's own parser takes it as it is.
    let classified = classify_webhook(&r.body).unwrap();
    assert_eq!(
        classified.natural_key,
        format!("relation:{}:{}", rig.acc(), p.provider_id)
    );
    assert!(matches!(classified.event, WebhookEvent::NewRelation(_)));
    let deliveries = rig.sim.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(200));
    assert_eq!(deliveries[0].at_ms, T0 + 10 * MINUTE_MS + 3_000);
    assert_eq!(rig.sim.pending_deliveries(), 0);
    // The invite left the pending list; the profile says connected.
    assert!(
        rig.client
            .list_sent_invites(rig.acc(), None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let profile = rig
        .client
        .get_profile(rig.acc(), &p.provider_id, false)
        .await
        .unwrap();
    assert_eq!(profile.is_relationship, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_webhook_arrives_only_after_the_clock_moves_8_hours() {
    let rig = Rig::new().await;
    let p = rig.sim.add_person(
        PersonSpec::new("Very", "Late")
            .accepts_after(MINUTE_MS)
            .relation_webhook(WebhookFate::Deliver {
                delay_ms: 8 * HOUR_MS,
            }),
    );
    rig.client
        .send_invite(rig.acc(), &p.provider_id, None)
        .await
        .unwrap();
    rig.advance(MINUTE_MS).await;
    // Polling already sees it.
    let page = rig
        .client
        .list_relations(rig.acc(), None, 10)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].created_at_ms, Some(T0 + MINUTE_MS));
    // Ticking without moving the clock delivers nothing.
    for _ in 0..5 {
        rig.sim.tick().await;
    }
    rig.advance(8 * HOUR_MS - 1).await;
    assert!(rig.receiver.received().is_empty());
    assert_eq!(rig.sim.pending_deliveries(), 1);
    rig.advance(1).await;
    let events = rig.receiver.events("new_relation");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["user_provider_id"], p.provider_id.as_str());
    assert_eq!(rig.sim.deliveries()[0].at_ms, T0 + MINUTE_MS + 8 * HOUR_MS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_webhooks_never_arrive_and_duplicates_arrive_twice() {
    let rig = Rig::new().await;
    let dropped = rig.sim.add_person(
        PersonSpec::new("Dropped", "Webhook")
            .accepts_after(MINUTE_MS)
            .relation_webhook(WebhookFate::Drop),
    );
    let doubled = rig.sim.add_person(
        PersonSpec::new("Doubled", "Webhook")
            .accepts_after(MINUTE_MS)
            .relation_webhook(WebhookFate::Duplicate {
                delay_ms: 5_000,
                gap_ms: 20 * MINUTE_MS,
            }),
    );
    let never = rig.sim.add_person(PersonSpec::new("Never", "Accepts"));
    for p in [&dropped, &doubled, &never] {
        rig.client
            .send_invite(rig.acc(), &p.provider_id, None)
            .await
            .unwrap();
    }
    rig.advance(MINUTE_MS).await;
    rig.advance(5_000).await;
    let events = rig.receiver.events("new_relation");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["user_provider_id"], doubled.provider_id.as_str());
    rig.advance(20 * MINUTE_MS).await;
    rig.advance(30 * 24 * HOUR_MS).await;
    let events = rig.receiver.events("new_relation");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], events[1], "the duplicate is identical");
    // The dropped accept is still visible to polling; the other never accepts.
    let ids: HashSet<_> = rig
        .client
        .list_relations(rig.acc(), None, 10)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.member_id)
        .collect();
    assert_eq!(
        ids,
        HashSet::from([dropped.provider_id.clone(), doubled.provider_id.clone()])
    );
    assert_eq!(
        rig.sim
            .invites(rig.acc())
            .iter()
            .filter(|i| i.accepted_at_ms.is_none())
            .count(),
        1
    );

    // The default fate can be changed per source.
    rig.sim
        .set_webhook_fate(WebhookKind::NewRelation, WebhookFate::Drop);
    let quiet = rig.sim.add_person(PersonSpec::new("Quiet", "One"));
    assert!(rig.sim.accept_now(rig.acc(), &quiet.provider_id));
    rig.advance(HOUR_MS).await;
    assert_eq!(rig.receiver.events("new_relation").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_five_times_with_growing_delays() {
    let rig = Rig::new().await;
    rig.sim.set_webhook_fate(
        WebhookKind::NewRelation,
        WebhookFate::Deliver { delay_ms: 0 },
    );
    let p = rig.sim.add_person(PersonSpec::new("Retry", "Me"));
    rig.receiver.state.fail.store(2, Ordering::SeqCst);
    assert!(rig.sim.accept_now(rig.acc(), &p.provider_id));
    rig.sim.tick().await;
    assert_eq!(rig.receiver.received().len(), 1);
    rig.advance(WEBHOOK_RETRY_DELAYS_MS[0] - 1).await;
    assert_eq!(rig.receiver.received().len(), 1, "not before the delay");
    rig.advance(1).await;
    assert_eq!(rig.receiver.received().len(), 2);
    rig.advance(WEBHOOK_RETRY_DELAYS_MS[1]).await;
    assert_eq!(rig.receiver.received().len(), 3);
    let statuses: Vec<_> = rig.sim.deliveries().iter().map(|d| d.status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(200)]);
    assert_eq!(rig.sim.pending_deliveries(), 0);

    // A receiver that always fails gets 1 + 5 attempts, then nothing.
    let q = rig.sim.add_person(PersonSpec::new("Give", "Up"));
    rig.receiver.state.fail.store(100, Ordering::SeqCst);
    assert!(rig.sim.accept_now(rig.acc(), &q.provider_id));
    rig.sim.tick().await;
    for delay in WEBHOOK_RETRY_DELAYS_MS {
        rig.advance(delay).await;
    }
    rig.advance(24 * HOUR_MS).await;
    let attempts: Vec<_> = rig
        .sim
        .deliveries()
        .into_iter()
        .filter(|d| d.body["user_provider_id"] == q.provider_id.as_str())
        .collect();
    assert_eq!(attempts.len(), 6);
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    let gaps: Vec<i64> = attempts
        .windows(2)
        .map(|w| w[1].at_ms - w[0].at_ms)
        .collect();
    assert_eq!(gaps, WEBHOOK_RETRY_DELAYS_MS);
    assert!(gaps.windows(2).all(|g| g[1] > g[0]), "growing delays");
    assert_eq!(rig.sim.pending_deliveries(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_and_echoes_arrive_as_message_received() {
    let rig = Rig::new().await;
    let p = rig.sim.add_person(
        PersonSpec::new("Vishwanath", "Iyer")
            .accepts_after(MINUTE_MS)
            .replies_after_accept(5 * MINUTE_MS, "Thanks for connecting!"),
    );
    rig.client
        .send_invite(rig.acc(), &p.provider_id, None)
        .await
        .unwrap();
    rig.advance(MINUTE_MS).await;
    rig.advance(3_000).await;
    assert_eq!(rig.receiver.events("new_relation").len(), 1);
    rig.advance(5 * MINUTE_MS).await;
    let messages = rig.receiver.events("message_received");
    assert_eq!(messages.len(), 1);
    let reply = &messages[0];
    assert_eq!(keys(reply), set(MESSAGE_KEYS));
    assert_eq!(keys(&reply["sender"]), set(SENDER_KEYS));
    assert_eq!(reply["is_sender"], false);
    assert_eq!(reply["message"], "Thanks for connecting!");
    assert_eq!(
        reply["sender"]["attendee_provider_id"],
        p.provider_id.as_str()
    );
    assert_eq!(reply["sender"]["attendee_name"], "Vishwanath Iyer");
    assert_eq!(
        reply["sender"]["attendee_specifics"]["member_urn"],
        format!("urn:li:member:{}", p.number)
    );
    assert_eq!(
        reply["account_info"],
        json!({"type": "LINKEDIN", "feature": "classic", "user_id": rig.account.own_member_id})
    );
    assert_eq!(reply["timestamp"], "2026-10-10T16:39:20.000Z");
    assert_eq!(reply["is_group"], false);
    assert_eq!(reply["is_event"], 0);
    assert!(
        reply["provider_chat_id"]
            .as_str()
            .unwrap()
            .starts_with("2-")
    );
    let parsed = classify_webhook(&serde_json::to_vec(reply).unwrap()).unwrap();
    match parsed.event {
        WebhookEvent::MessageReceived(m) => {
            assert!(!m.is_sender);
            assert_eq!(
                m.sender.unwrap().attendee_provider_id.as_deref(),
                Some(p.provider_id.as_str())
            );
        }
        other => panic!("{other:?}"),
    }

    // Our follow-up echoes back with the account as sender.
    rig.sim
        .set_reply_to_messages(&p.provider_id, Some((2 * MINUTE_MS, "Sure, let's talk")));
    let sent = rig
        .client
        .send_message(rig.acc(), &p.provider_id, "Great to connect")
        .await
        .unwrap();
    assert_eq!(
        sent.chat_id,
        reply["chat_id"].as_str().unwrap(),
        "same chat"
    );
    rig.advance(1_000).await;
    let messages = rig.receiver.events("message_received");
    assert_eq!(messages.len(), 2);
    let echo = &messages[1];
    assert_eq!(keys(echo), set(MESSAGE_KEYS));
    assert_eq!(echo["is_sender"], true);
    assert_eq!(
        echo["sender"]["attendee_provider_id"],
        echo["account_info"]["user_id"]
    );
    assert_eq!(echo["message_id"].as_str(), sent.message_id.as_deref());
    rig.advance(2 * MINUTE_MS).await;
    let messages = rig.receiver.events("message_received");
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[2]["message"], "Sure, let's talk");
    assert_eq!(messages[2]["is_sender"], false);
    // A message out of the blue.
    assert!(rig.sim.receive_message(rig.acc(), &p.provider_id, "Ping"));
    rig.advance(1_000).await;
    assert_eq!(rig.receiver.events("message_received").len(), 4);
    let ids: HashSet<_> = rig
        .receiver
        .events("message_received")
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4, "message ids are unique");
}

// --------------------------------------------------------------- call log

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_log_counts_every_provider_call_with_account_and_time() {
    let rig = Rig::new().await;
    // Usable as a shared trait object from other tasks.
    let provider: Arc<dyn LinkedinProvider> = Arc::new(rig.client.clone());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let provider = provider.clone();
        let account = rig.acc().to_string();
        tasks.push(tokio::spawn(async move {
            provider.list_relations(&account, None, 50).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    rig.clock.advance(MINUTE_MS);
    provider.list_accounts().await.unwrap();
    let calls = rig.sim.calls();
    assert_eq!(calls.len(), 5);
    assert_eq!(rig.sim.count_calls("GET", "/api/v1/users/relations"), 4);
    assert!(
        calls[..4]
            .iter()
            .all(|c| c.account_id.as_deref() == Some(rig.acc())
                && c.at_ms == T0
                && c.status == 200)
    );
    assert_eq!(calls[4].at_ms, rig.now());
    assert_eq!(calls[4].account_id, None);
    rig.sim.clear_calls();
    assert!(rig.sim.calls().is_empty());
}

// -------------------------------------------------------------------- cli

#[test]
fn the_cli_parses_simulate_unipile() {
    use accord::cli::simulate::SimulateCommand;
    use accord::cli::{Cli, Command};
    use clap::Parser;
    let cli = Cli::try_parse_from([
        "accord",
        "simulate",
        "unipile",
        "--listen",
        "127.0.0.1:9090",
        "--api-key",
        "KEY",
        "--webhook-url",
        "http://127.0.0.1:8080/webhooks/unipile",
        "--webhook-secret",
        "S",
        "--seed-accounts",
        "3",
    ])
    .unwrap();
    let Command::Simulate(SimulateCommand::Unipile(args)) = cli.command else {
        panic!("not simulate unipile");
    };
    assert_eq!(args.listen, "127.0.0.1:9090");
    assert_eq!(args.api_key, "KEY");
    assert_eq!(args.webhook_header, "unipile-auth");
    assert_eq!(args.seed_accounts, 3);
    assert_eq!(args.webhook_secret.as_deref(), Some("S"));
    // A webhook URL without its secret is refused.
    assert!(
        Cli::try_parse_from([
            "accord",
            "simulate",
            "unipile",
            "--api-key",
            "KEY",
            "--webhook-url",
            "http://x/",
        ])
        .is_err()
    );
}
