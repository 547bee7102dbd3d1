//! Relations polling against the Unipile simulator, on the manual clock:
//! every page is one call inside the account's spacing, a failed page
//! keeps the watermark, an account's first poll is a baseline, and two
//! instances never poll the same account twice.

use crate::on_both_databases;
use crate::rig::*;
use crate::world::Kind;
use accord::clock::MINUTE_MS;
use accord::engine::Ticks;
use accord::simulator::{CallRecord, PersonSpec, WebhookFate};
use serde_json::{Value, json};

const RELATIONS: &str = "/api/v1/users/relations";

/// Serves the rig's host API on a free port; returns its base URL.
pub async fn serve_api(rig: &Rig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = accord::http::router(rig.w.app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// POSTs JSON; returns the status and the JSON answer.
pub async fn post(url: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// GETs JSON; returns the status and the JSON answer.
pub async fn get(url: &str) -> (u16, Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every provider call made for `account`, in time order.
pub fn calls_of(rig: &Rig, account: &str) -> Vec<CallRecord> {
    let mut calls: Vec<CallRecord> = rig
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.account_id.as_deref() == Some(account))
        .collect();
    calls.sort_by_key(|c| c.at_ms);
    calls
}

/// No two consecutive actions closer than `spacing`. The engine's
/// profile look-up and the invite or message it resolves the target for
/// go out together as one action, so such a pair counts once.
#[track_caller]
pub fn assert_spaced(calls: &[CallRecord], spacing: i64) {
    let sends = |c: &CallRecord| {
        c.method == "POST" && matches!(c.route.as_str(), "/api/v1/users/invite" | "/api/v1/chats")
    };
    let actions: Vec<&CallRecord> = calls
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            let next = calls.get(i + 1);
            !(c.route == "/api/v1/users/{identifier}"
                && next.is_some_and(|n| sends(n) && n.at_ms == c.at_ms))
        })
        .map(|(_, c)| c)
        .collect();
    for pair in actions.windows(2) {
        assert!(
            pair[1].at_ms - pair[0].at_ms >= spacing,
            "{} {} then {} {} only {} ms apart (spacing {spacing} ms)",
            pair[0].method,
            pair[0].route,
            pair[1].method,
            pair[1].route,
            pair[1].at_ms - pair[0].at_ms
        );
    }
}

fn relation_calls(rig: &Rig) -> Vec<CallRecord> {
    calls_of(rig, &rig.w.account.provider_account_id)
        .into_iter()
        .filter(|c| c.route == RELATIONS)
        .collect()
}

/// `n` people outside any campaign who connected with `account` at
/// `first`, `first + step`, …
fn connect_outsiders(rig: &Rig, account: &str, tag: &str, n: usize, first: i64, step: i64) {
    for i in 0..n {
        let p = rig
            .sim
            .add_person(PersonSpec::new("Out", &format!("{tag}{i}")));
        assert!(
            rig.sim
                .connect(account, &p.provider_id, first + i as i64 * step)
        );
    }
}

/// The account's relation with `person`, ms.
fn relation_at(rig: &Rig, person: &str) -> i64 {
    rig.sim
        .relations(&rig.w.account.provider_account_id)
        .into_iter()
        .find(|(id, _)| id == person)
        .map(|(_, at)| at)
        .expect("connected")
}

/// Four pages of new relations are four calls, each inside the
/// account's spacing and sharing it with the engine's invites: no two
/// calls of the account closer than its spacing.
async fn every_page_is_a_spaced_call(kind: Kind) {
    let rig = Rig::new(kind, |c| c.heals_enabled = false).await;
    let account = rig.w.account.provider_account_id.clone();
    rig.run_for(MINUTE_MS, 10_000).await; // the account's first poll
    let deep = rig
        .enroll(
            "e-deep",
            PersonSpec::new("Deep", "Page")
                .accepts_after(2 * MINUTE_MS)
                .relation_webhook(WebhookFate::Drop),
        )
        .await;
    rig.run_for(5 * MINUTE_MS, 10_000).await; // invited, accepted, no webhook
    let accepted = relation_at(&rig, &deep.provider_id);
    // 250 newer relations: the accept is on page 4 of the next poll (a
    // pass's first page holds 10, the next ones 100).
    connect_outsiders(&rig, &account, "P", 250, accepted + 1_000, 10);
    for i in 0..2 {
        rig.enroll(
            &format!("e-busy-{i}"),
            PersonSpec::new("Busy", &format!("Sender{i}")),
        )
        .await;
    }
    rig.run_for(45 * MINUTE_MS, 10_000).await;

    let pages = relation_calls(&rig);
    assert!(pages.len() >= 5, "the first poll and four pages: {pages:?}");
    assert_spaced(&calls_of(&rig, &account), 90_000);
    let e = rig.w.enrollment("e-deep").await;
    assert_eq!(
        e.accept_source.as_deref(),
        Some("polling"),
        "page 4 was read"
    );
    assert_eq!(e.linkedin_accepted_at, Some(accepted));
}

/// Page 2 fails: the watermark stays where it was, so a later poll reads
/// pages 2 to 4 again and their accepts become signals.
async fn a_failed_page_keeps_the_watermark(kind: Kind) {
    let rig = Rig::new(kind, |c| c.heals_enabled = false).await;
    let account = rig.w.account.provider_account_id.clone();
    rig.run_for(MINUTE_MS, 10_000).await; // the account's first poll
    let people: Vec<_> = ["Early", "Late"]
        .iter()
        .map(|name| {
            PersonSpec::new("Lost", name)
                .accepts_after(2 * MINUTE_MS)
                .relation_webhook(WebhookFate::Drop)
        })
        .collect();
    let mut persons = Vec::new();
    for (i, spec) in people.into_iter().enumerate() {
        persons.push(rig.enroll(&format!("e-lost-{i}"), spec).await);
    }
    rig.run_for(7 * MINUTE_MS, 10_000).await; // invited, accepted, no webhooks
    let mut times: Vec<(usize, i64)> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| (i, relation_at(&rig, &p.provider_id)))
        .collect();
    times.sort_by_key(|t| t.1);
    let ((older, t_older), (newer, t_newer)) = (times[0], times[1]);
    assert!(t_newer - t_older > 1_000);
    // Newest first (10 on a pass's first page, then 100 a page): 150
    // after both (pages 1 to 3), the newer accept on page 3, 99 between
    // them, the older accept on page 4.
    connect_outsiders(&rig, &account, "Mid", 99, t_older + 1, 1);
    connect_outsiders(&rig, &account, "Top", 150, t_newer + 1, 1);
    // The next poll's page 1 is answered, its page 2 fails once.
    rig.sim.fail_next_after(1, 1, 500, Some(RELATIONS));
    rig.run_for(90 * MINUTE_MS, 10_000).await;

    let failed = relation_calls(&rig)
        .iter()
        .filter(|c| c.status == 500)
        .count();
    assert_eq!(failed, 1, "page 2 failed once");
    for (i, at) in [(older, t_older), (newer, t_newer)] {
        let e = rig.w.enrollment(&format!("e-lost-{i}")).await;
        assert_eq!(
            e.accept_source.as_deref(),
            Some("polling"),
            "e-lost-{i} (page {}) stamped by a later poll",
            if i == older { 4 } else { 3 }
        );
        assert_eq!(e.linkedin_accepted_at, Some(at));
    }
    assert_spaced(&calls_of(&rig, &account), 90_000);
}

/// An account added through the API with 50 existing connections: its
/// first poll records where the list stands and signals nothing (no
/// stamp, no trace); a connection made afterwards is a signal.
async fn the_first_poll_is_a_baseline(kind: Kind) {
    let rig = Rig::new(kind, |c| c.heals_enabled = false).await;
    let api = serve_api(&rig).await;
    let added = "NEWacc0000000000000001";
    rig.sim.add_account_with_id(added);
    let now = rig.now();
    connect_outsiders(&rig, added, "Old", 50, now - 400 * MINUTE_MS, MINUTE_MS);
    let (status, body) = post(
        &format!("{api}/api/workspaces/{}/accounts", rig.w.workspace.id),
        &json!({"provider_account_id": added, "display_name": "Sales – Ben",
                "time_zone": "UTC", "min_spacing_seconds": 90}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    rig.run_for(20 * MINUTE_MS, 10_000).await;
    let polled = rig
        .sim
        .calls()
        .iter()
        .filter(|c| c.route == RELATIONS && c.account_id.as_deref() == Some(added))
        .count();
    assert!(polled >= 1, "the new account was polled");
    assert_eq!(
        rig.count("SELECT COUNT(*) FROM traces WHERE kind <> $1", "-")
            .await,
        0,
        "existing connections are not accepts"
    );
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM linkedin_events WHERE kind = $1",
            "accept_stamped"
        )
        .await,
        0
    );

    // A connection after the baseline is a signal (here: an outsider).
    let newcomer = rig.sim.add_person(PersonSpec::new("New", "Comer"));
    rig.sim
        .set_relation_webhook(&newcomer.provider_id, Some(WebhookFate::Drop));
    assert!(rig.sim.accept_now(added, &newcomer.provider_id));
    rig.run_for(40 * MINUTE_MS, 10_000).await;
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM traces WHERE kind = $1",
            "bridge_miss_all_strategies"
        )
        .await,
        1,
        "only the newcomer"
    );
}

/// Two instances on one database: each page is requested once.
async fn two_instances_poll_each_page_once(kind: Kind) {
    let rig = Rig::new(kind, |c| c.heals_enabled = false).await;
    let account = rig.w.account.provider_account_id.clone();
    let other = Ticks::new(rig.engine.clone_as_new_worker());
    let step = || async {
        rig.w.clock.advance(10_000);
        rig.settle().await;
        let (a, b) = tokio::join!(rig.ticks.run_due(), other.run_due());
        a.unwrap();
        b.unwrap();
    };
    step().await; // the first poll
    let first = relation_calls(&rig).len();
    assert_eq!(first, 1, "one instance took the first poll");
    connect_outsiders(&rig, &account, "Two", 250, rig.now() - 10_000, 10);
    for _ in 0..(45 * MINUTE_MS / 10_000) {
        step().await;
    }
    let pages: Vec<Option<String>> = relation_calls(&rig)
        .into_iter()
        .skip(first)
        .map(|c| c.cursor)
        .collect();
    // A first page of 10, then 100 a page.
    assert_eq!(pages.len(), 4, "four pages, each once: {pages:?}");
    let mut distinct = pages.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{pages:?}");
    assert_spaced(&calls_of(&rig, &account), 90_000);
}

on_both_databases!(
    every_page_is_a_spaced_call,
    a_failed_page_keeps_the_watermark,
    the_first_poll_is_a_baseline,
    two_instances_poll_each_page_once,
);
