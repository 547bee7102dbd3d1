//! The dashboard's reads (issue 21) over real HTTP, on both databases,
//! from states the product reached itself (the API, the engine sending to
//! the Unipile simulator, webhooks, the manual clock): the overview's
//! counters move when an accept arrives, pages hold every row once,
//! filters and search select what they say, the tiles' lists page newest
//! first, a workspace token sees its own workspace only, and bad paging
//! is a 422 that changes nothing.

use crate::builders::*;
use crate::on_both_databases;
use crate::rig::*;
use crate::world::{Kind, T0};
use accord::clock::{HOUR_MS, MINUTE_MS};
use accord::simulator::PersonSpec;
use serde_json::{Value, json};
use std::collections::BTreeSet;

on_both_databases!(
    counts_move_when_an_accept_arrives,
    pages_hold_every_row_once,
    late_accepts_and_bridge_misses_are_listed,
    workspace_tokens_see_their_own_only,
    bad_paging_is_refused_and_changes_nothing,
);

/// A GET through the API that must answer 2xx: its body.
async fn get(rig: &Rig, path: &str) -> Value {
    call(rig, "GET", path, None).await
}

/// A GET with `token` as the bearer: the status and the body.
async fn get_as(rig: &Rig, token: &str, path: &str) -> (u16, Value) {
    let resp = rig
        .http
        .get(format!("{}{path}", rig.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// The campaign's card in an overview.
fn card<'a>(overview: &'a Value, campaign: &str) -> &'a Value {
    overview["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["campaign_id"] == campaign)
        .unwrap_or_else(|| panic!("no card for {campaign}: {overview}"))
}

/// Every page of `path` (which has a query string) with `limit`: the
/// rows in the order served, and how many pages it took.
async fn all_pages(rig: &Rig, path: &str, limit: usize) -> (Vec<Value>, usize) {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1..1000 {
        let mut url = format!("{path}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let page = get(rig, &url).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit, "{page}");
        rows.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return (rows, pages),
        }
    }
    panic!("{path}: pages never end");
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The string field `field` of each row.
fn field(rows: &[Value], field: &str) -> Vec<String> {
    rows.iter()
        .map(|r| r[field].as_str().unwrap().to_string())
        .collect()
}

/// A crowd invited through the product; one of them accepts an hour
/// later: the campaign's card, the account's health, the prospects table
/// and the prospect's timeline all show it.
async fn counts_move_when_an_accept_arrives(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let (sender, people) = invited_crowd(&rig, 4).await;
    let ws = &rig.w.workspace.id;
    let campaign = &sender.campaign.id;

    let before = get(&rig, &format!("/api/workspaces/{ws}/overview")).await;
    let c = card(&before, campaign);
    assert_eq!(
        (&c["enrolled"], &c["invited"], &c["accepted"], &c["replied"]),
        (&json!(4), &json!(4), &json!(0), &json!(0)),
        "{c}"
    );
    assert_eq!(c["status"], "running");
    let account = before["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == sender.account.id.as_str())
        .unwrap();
    assert_eq!(account["status"], "connected");
    assert_eq!(account["invites"]["today"], 4, "{account}");
    assert_eq!(
        account["invites"]["today_cap"], 10_000,
        "warmed up: {account}"
    );
    assert_eq!(account["warmup"]["warming_up"], false);
    assert_eq!(account["breaker"]["state"], "closed");
    assert!(account["next_job"].is_null(), "nothing queued: {account}");
    assert_eq!(before["tiles"]["late_accepts"], 0);

    rig.w.clock.advance(HOUR_MS);
    assert!(
        rig.sim
            .accept_now(&sender.account.provider_account_id, &people[0].provider_id)
    );
    rig.w.clock.advance(5_000);
    rig.settle().await;

    let after = get(&rig, &format!("/api/workspaces/{ws}/overview")).await;
    let c = card(&after, campaign);
    assert_eq!(
        (&c["enrolled"], &c["accepted"]),
        (&json!(4), &json!(1)),
        "{c}"
    );
    let stats = get(&rig, &format!("/api/campaigns/{campaign}/stats")).await;
    assert_eq!(stats["accepted"], 1, "the stats route counts alike");

    let accepted = get(
        &rig,
        &format!("/api/campaigns/{campaign}/prospects?status=accepted"),
    )
    .await;
    let items = accepted["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{accepted}");
    let row = &items[0];
    assert_eq!(row["full_name"], people[0].full_name());
    assert_eq!(row["linkedin_status"], "connected");
    assert_eq!(row["accept_source"], "webhook");
    assert!(row["linkedin_accepted_at"].as_i64().unwrap() > T0);
    assert_eq!(row["has_linkedin_url"], true);
    assert_eq!(accepted["has_prospects_with_linkedin_url"], true);
    assert_eq!(accepted["no_linkedin_url_alert"], false);
    let invited = get(
        &rig,
        &format!("/api/campaigns/{campaign}/prospects?status=invited"),
    )
    .await;
    assert_eq!(invited["items"].as_array().unwrap().len(), 3, "{invited}");

    let prospect = row["prospect_id"].as_str().unwrap();
    let timeline = get(&rig, &format!("/api/prospects/{prospect}/timeline")).await;
    let items = timeline["items"].as_array().unwrap();
    let kinds: BTreeSet<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    for kind in ["accept_signal", "stamp", "event", "decision", "job"] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    let times: Vec<i64> = items.iter().map(|i| i["at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "sorted: {times:?}");
    assert!(
        items
            .iter()
            .any(|i| i["kind"] == "stamp" && i["title"].as_str().unwrap().starts_with("Accepted")),
        "{timeline}"
    );
}

/// 23 prospects imported through the API: every page of every filter
/// and search holds each row once, none missing, in enrollment order.
async fn pages_hold_every_row_once(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let campaign = draft_campaign(&rig, json!({"name": "Table"})).await;
    let prospects: Vec<Value> = (0..23)
        .map(|i| {
            json!({
                "full_name": format!("Table Person{i:02}"),
                "profile_url": format!("https://www.linkedin.com/in/table-person-{i}"),
            })
        })
        .collect();
    let path = format!("/api/campaigns/{}/prospects", campaign.id);
    let imported = call(&rig, "POST", &path, Some(json!({ "prospects": prospects }))).await;
    assert_eq!(imported["enrolled"], 23, "{imported}");
    rig.w.clock.advance(MINUTE_MS);

    let (rows, pages) = all_pages(&rig, &format!("{path}?"), 5).await;
    assert_eq!(pages, 5, "23 rows by 5: five pages");
    let ids = field(&rows, "enrollment_id");
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (23, 23), "each row once");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "in enrollment order");
    let names: BTreeSet<String> = field(&rows, "full_name").into_iter().collect();
    assert_eq!(names.len(), 23);
    assert!(rows.iter().all(|r| r["workflow_state"] == "pending"));

    let (not_invited, _) = all_pages(&rig, &format!("{path}?status=not_invited"), 7).await;
    assert_eq!(field(&not_invited, "enrollment_id"), ids);
    let none = get(&rig, &format!("{path}?status=invited")).await;
    assert_eq!(
        none,
        json!({
            "campaign_id": campaign.id, "items": [], "next_cursor": null,
            "has_prospects_with_linkedin_url": true, "no_linkedin_url_alert": false,
        })
    );

    // Person10 … Person19, by name, case-insensitively, three at a time.
    let (found, _) = all_pages(&rig, &format!("{path}?q=PERSON1"), 3).await;
    let found = field(&found, "full_name");
    let expected: Vec<String> = (10..20).map(|i| format!("Table Person{i}")).collect();
    assert_eq!(found, expected);
    // By URL: table-person-2, -20, -21, -22.
    let (by_url, _) = all_pages(&rig, &format!("{path}?q=in/table-person-2"), 2).await;
    assert_eq!(by_url.len(), 4, "{by_url:?}");
    // A LIKE wildcard is a literal character.
    let (literal, _) = all_pages(&rig, &format!("{path}?q=%25"), 10).await;
    assert!(literal.is_empty(), "{literal:?}");
}

/// Two late accepts an hour apart and two bridge misses: each list pages
/// newest first with the trace and follow-up of each row; the tiles
/// count them.
async fn late_accepts_and_bridge_misses_are_listed(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let julien = Cast::new(&rig, "e-late-1", "Julien", "Late");
    let anna = Cast::new(&rig, "e-late-2", "Anna", "Later");
    Story::new(&rig)
        .unanswered(&julien)
        .unanswered(&anna)
        .until(T0)
        .await;
    let account = &rig.w.account.provider_account_id;
    for cast in [&julien, &anna] {
        assert!(rig.sim.accept_now(account, &cast.person.provider_id));
        rig.w.clock.advance(5_000);
        rig.settle().await;
        rig.w.clock.advance(HOUR_MS);
        rig.settle().await;
        assert!(
            cast.enrollment(&rig)
                .await
                .late_accept_observed_at
                .is_some()
        );
    }
    let ws = &rig.w.workspace.id;
    let (late, pages) = all_pages(&rig, &format!("/api/workspaces/{ws}/late-accepts?"), 1).await;
    assert_eq!(pages, 3, "two full pages, then an empty last one");
    assert_eq!(field(&late, "enrollment_id"), ["e-late-2", "e-late-1"]);
    for row in &late {
        assert_eq!(row["campaign_name"], "Q4 founders");
        let job = &row["followup_job"];
        assert_eq!(job["action"], "send_message", "{row}");
        assert_eq!(
            row["followup_sent"],
            job["status"] == "succeeded",
            "the stamp and the job agree: {row}"
        );
        assert!(row["late_accept_observed_at"].is_i64());
    }

    for (i, slug) in ["nobody-one", "nobody-two"].iter().enumerate() {
        let body = rig.w.new_relation(&format!("ACoAAANobody{i}"), slug);
        rig.w.webhook(&body).await;
        rig.w.clock.advance(MINUTE_MS);
    }
    let (misses, _) = all_pages(&rig, &format!("/api/workspaces/{ws}/bridge-misses?"), 1).await;
    assert_eq!(misses.len(), 2, "{misses:?}");
    assert!(
        misses
            .iter()
            .all(|m| m["kind"] == "bridge_miss_all_strategies")
    );
    assert_eq!(
        misses[0]["signal"]["public_identifier"], "nobody-two",
        "newest first: {misses:?}"
    );
    assert_eq!(misses[1]["signal"]["public_identifier"], "nobody-one");

    let overview = get(&rig, &format!("/api/workspaces/{ws}/overview")).await;
    let tiles = &overview["tiles"];
    assert_eq!(tiles["late_accepts"], 2, "{tiles}");
    assert_eq!(tiles["bridge_misses"], 2, "{tiles}");
    assert_eq!(tiles["bridge_misses_24h"], 2, "{tiles}");
    assert_eq!(tiles["policy_failures_24h"], 0, "{tiles}");
}

/// Issues a token of `workspace` through the admin API: its secret.
async fn issue(rig: &Rig, workspace: &str) -> String {
    let (status, issued) = rig
        .api(
            "POST",
            &format!("/admin/workspaces/{workspace}/tokens"),
            Some(json!({"name": "dashboard"})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    issued["token"].as_str().unwrap().to_string()
}

/// A workspace token lists its own workspace only, and every read of
/// another workspace's objects answers 404 `not_found` as a missing one.
async fn workspace_tokens_see_their_own_only(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    rig.enroll("e-a", PersonSpec::new("Ann", "Alpha")).await;
    let a = rig.w.workspace.id.clone();
    let b = call(
        &rig,
        "POST",
        "/api/workspaces",
        Some(json!({"name": "Beta"})),
    )
    .await;
    let b = b["id"].as_str().unwrap().to_string();
    let (token_a, token_b) = (issue(&rig, &a).await, issue(&rig, &b).await);
    rig.w.clock.advance(MINUTE_MS);

    let all = get(&rig, "/api/workspaces?limit=500").await;
    let ids: BTreeSet<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([a.as_str(), b.as_str()]));
    let (s, own) = get_as(&rig, &token_b, "/api/workspaces").await;
    assert_eq!(s, 200);
    assert_eq!(own["items"].as_array().unwrap().len(), 1, "{own}");
    assert_eq!(own["items"][0]["id"], b.as_str());
    assert_eq!(own["items"][0]["campaigns"], 0);
    let (_, own) = get_as(&rig, &token_a, "/api/workspaces").await;
    assert_eq!(own["items"][0]["id"], a.as_str());
    assert_eq!(own["items"][0]["campaigns"], 1);
    assert_eq!(own["items"][0]["accounts"], 1);

    let prospect = rig.enrollment("e-a").await.prospect_id;
    let campaign = &rig.w.campaign.id;
    let paths = |ws: &str, campaign: &str, prospect: &str| {
        vec![
            format!("/api/workspaces/{ws}/overview"),
            format!("/api/workspaces/{ws}/late-accepts"),
            format!("/api/workspaces/{ws}/bridge-misses"),
            format!("/api/campaigns/{campaign}/prospects"),
            format!("/api/prospects/{prospect}/timeline"),
        ]
    };
    let missing = paths("no-such-ws", "no-such-campaign", "no-such-prospect");
    for (path, absent) in paths(&a, campaign, &prospect).iter().zip(&missing) {
        let (s, body) = get_as(&rig, &token_a, path).await;
        assert_eq!(s, 200, "{path}: {body}");
        let (s, body) = get_as(&rig, &token_b, path).await;
        assert_eq!(
            (s, &body["error"]["code"]),
            (404, &json!("not_found")),
            "{path}: {body}"
        );
        let (s_missing, missing_body) = get_as(&rig, &token_b, absent).await;
        assert_eq!(s_missing, 404);
        let shape = |v: &Value| {
            v["error"]["message"]
                .as_str()
                .unwrap()
                .split('`')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            shape(&body),
            shape(&missing_body),
            "{path}: like a missing one"
        );
    }
}

/// Bad cursors, limits, statuses and searches are 422s with stable codes,
/// and reading changes nothing.
async fn bad_paging_is_refused_and_changes_nothing(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    rig.enroll("e-1", PersonSpec::new("Bad", "Paging")).await;
    rig.settle().await;
    let ws = &rig.w.workspace.id;
    let table = format!("/api/campaigns/{}/prospects", rig.w.campaign.id);
    let snapshot = || async {
        let mut counts = Vec::new();
        for table in [
            "linkedin_events",
            "traces",
            "policy_decisions",
            "campaign_send_jobs",
            "enrollments",
        ] {
            let (n,): (i64,) =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(rig.w.app.db.pool())
                    .await
                    .unwrap();
            counts.push(n);
        }
        counts
    };
    let before = snapshot().await;
    let long = "x".repeat(201);
    let cases = [
        (format!("{table}?cursor=garbage"), "invalid_cursor"),
        (format!("{table}?cursor=w.{ws}"), "invalid_cursor"),
        (format!("{table}?limit=0"), "invalid_limit"),
        (format!("{table}?limit=501"), "invalid_limit"),
        (format!("{table}?limit=ten"), "invalid_limit"),
        (format!("{table}?status=bogus"), "invalid_status"),
        (format!("{table}?q={long}"), "invalid_q"),
        (
            format!("/api/workspaces/{ws}/late-accepts?cursor=abc"),
            "invalid_cursor",
        ),
        (
            format!("/api/workspaces/{ws}/late-accepts?cursor=12."),
            "invalid_cursor",
        ),
        (
            format!("/api/workspaces/{ws}/bridge-misses?limit=-1"),
            "invalid_limit",
        ),
        (
            format!("/api/workspaces/{ws}/bridge-misses?cursor=x.y"),
            "invalid_cursor",
        ),
        ("/api/workspaces?cursor=p.x".to_string(), "invalid_cursor"),
        ("/api/workspaces?limit=0".to_string(), "invalid_limit"),
    ];
    for (path, code) in &cases {
        let (status, body) = rig.api("GET", path, None).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (422, &json!(code)),
            "{path}: {body}"
        );
    }
    assert_eq!(snapshot().await, before, "reads change nothing");
}
