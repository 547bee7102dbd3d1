//! Hostile policy modules driven through the product: a policy that
//! sleeps costs its own webhook one fail-safe decision and never holds
//! up another account's webhooks.

use crate::builders::{Cast, Story};
use crate::on_both_databases;
use crate::rig::{RIG_ADMIN_TOKEN, Rig};
use crate::support::test_guest;
use crate::world::*;
use accord::clock::new_id;
use accord::policy::Slot;
use accord::store::accounts::{self, Account, Workspace};
use accord::store::campaigns::{self, Campaign};
use std::time::{Duration, Instant};

const SECRET: &str = "s3cret-header-value";

async fn serve(w: &World) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = accord::http::router(w.app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/webhooks/unipile")
}

async fn post(url: String, body: String) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("Unipile-Auth", SECRET)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// A new_relation webhook of `account` for `member`, whose display name
/// (the hostile match guest's mode) is `full_name`.
fn new_relation(account: &str, member: &str, full_name: &str) -> String {
    serde_json::json!({
        "event": "new_relation", "account_id": account, "account_type": "LINKEDIN",
        "webhook_name": "", "user_full_name": full_name, "user_provider_id": member,
        "user_public_identifier": "someone", "user_profile_url": "https://www.linkedin.com/in/someone/",
        "user_picture_url": "https://media.licdn.com/x"
    })
    .to_string()
}

/// A second workspace with its own connected account and running
/// campaign (the world's campaign, moved there).
async fn other_workspace(w: &World) -> (Account, Campaign) {
    let mut c = w.app.db.pool().acquire().await.unwrap();
    let workspace = Workspace {
        id: new_id(),
        name: "Other".into(),
        created_at: T0,
    };
    accounts::insert_workspace(&mut c, &workspace)
        .await
        .unwrap();
    let account = Account {
        id: new_id(),
        workspace_id: workspace.id.clone(),
        provider_account_id: "OtherAccount00000001".into(),
        ..w.account.clone()
    };
    accounts::insert_account(&mut c, &account).await.unwrap();
    let campaign = Campaign {
        id: new_id(),
        workspace_id: workspace.id.clone(),
        linkedin_account_id: account.id.clone(),
        ..w.campaign.clone()
    };
    campaigns::insert(&mut c, &campaign).await.unwrap();
    (account, campaign)
}

/// Waits (up to `limit`) for an enrollment's accept stamp.
async fn stamped_within(w: &World, enrollment: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if w.enrollment(enrollment)
            .await
            .linkedin_accepted_at
            .is_some()
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn a_sleeping_policy_stalls_no_other_account(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let hostile = w
        .app
        .policies
        .runtime()
        .load_file(&test_guest("hostile_match"), Some(Slot::Match))
        .unwrap();
    w.app.policies.activate(hostile);
    let (other, other_campaign) = other_workspace(w).await;
    rig.sim.add_account_with_id(&other.provider_account_id);
    let sleeper = Cast::new(&rig, "e-sleeper", "Julien", "Sleeper");
    let neighbour = Cast::new(&rig, "e-neighbour", "Bob", "Neighbour").in_campaign(&other_campaign);
    Story::new(&rig)
        .invited(&sleeper)
        .invited(&neighbour)
        .until(T0)
        .await;
    let (julien, bob) = (
        sleeper.person.provider_id.as_str(),
        neighbour.person.provider_id.as_str(),
    );
    let url = serve(w).await;
    // The inbox processor, as `accord serve` runs it (PostgreSQL answers
    // once a webhook is stored and leaves the rest to it).
    let (_stop, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(w.app.inbox.clone().run(stop));

    // The sleeper's webhook goes first; the other workspace's follows
    // while the sleeper's decision would still be sleeping (10 s).
    let started = Instant::now();
    let sleeping = tokio::spawn(post(
        url.clone(),
        new_relation(&w.account.provider_account_id, julien, "sleep"),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, answer) = post(
        url.clone(),
        new_relation(&other.provider_account_id, bob, "Bob"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let stamped = stamped_within(w, "e-neighbour", Duration::from_secs(5)).await;
    assert!(
        stamped.is_some() && started.elapsed() < Duration::from_secs(3),
        "the other workspace's accept waited on the sleeping policy: stamped {stamped:?}, {:?} after the sleeper's webhook",
        started.elapsed()
    );
    let (status, answer) = tokio::time::timeout(Duration::from_secs(3), sleeping)
        .await
        .expect("the sleeper's webhook is answered at once")
        .unwrap();
    assert_eq!(status, 200, "{answer}");

    // The sleeper's own decision failed at once, with the slot's
    // fail-safe (unmatched, traced) and the reason.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let failures = w
            .count(
                "SELECT COUNT(*) FROM traces WHERE kind = 'policy_failure' AND detail LIKE $1",
                "%\"kind\":\"wait\"%",
            )
            .await;
        if failures >= 1 {
            break;
        }
        if Instant::now() >= deadline {
            let rows: Vec<(String, String)> = sqlx::query_as("SELECT kind, detail FROM traces")
                .fetch_all(w.app.db.pool())
                .await
                .unwrap();
            panic!("no policy_failure trace of kind wait: {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        w.enrollment("e-sleeper")
            .await
            .linkedin_accepted_at
            .is_none()
    );
}

on_both_databases!(a_sleeping_policy_stalls_no_other_account);

/// A world with the admin API on, served over HTTP.
struct Admin {
    w: World,
    base: String,
    client: reqwest::Client,
}

const ADMIN: &str = "admin-token-0123456789";

impl Admin {
    async fn new(kind: Kind) -> Admin {
        let w = World::configured(kind, |c| c.admin_token = Some(ADMIN.into())).await;
        let base = serve(&w).await.replace("/webhooks/unipile", "");
        Admin {
            w,
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `PUT /admin/policies/match` with a test guest.
    async fn upload_match(&self, guest: &str) -> (u16, serde_json::Value) {
        upload_match(&self.client, &self.base, ADMIN, guest).await
    }

    /// Imports prospects into the world's campaign; returns their ids in
    /// order.
    async fn import(&self, prospects: serde_json::Value) -> Vec<String> {
        let n = prospects.as_array().unwrap().len();
        let resp = self
            .client
            .post(format!(
                "{}/api/campaigns/{}/prospects",
                self.base, self.w.campaign.id
            ))
            .json(&serde_json::json!({ "prospects": prospects }))
            .send()
            .await
            .unwrap();
        let (status, report) = Admin::json(resp).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["imported"], n, "{report}");
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM prospects ORDER BY created_at, member_id")
                .fetch_all(self.w.app.db.pool())
                .await
                .unwrap();
        rows.into_iter().map(|r| r.0).collect()
    }

    /// Every (prospect, key, module) row of match_keys, sorted.
    async fn keys(&self) -> Vec<(String, String, String)> {
        match_keys(&self.w).await
    }
}

/// `PUT /admin/policies/match` with a test guest, on the host at `base`.
async fn upload_match(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    guest: &str,
) -> (u16, serde_json::Value) {
    let bytes = std::fs::read(test_guest(guest)).unwrap();
    let resp = client
        .put(format!("{base}/admin/policies/match"))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    Admin::json(resp).await
}

/// Every (prospect, key, module) row of match_keys, sorted.
async fn match_keys(w: &World) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT prospect_id, key, key_space FROM match_keys ORDER BY prospect_id, key")
        .fetch_all(w.app.db.pool())
        .await
        .unwrap()
}

async fn an_upload_with_a_mistyped_export_is_refused(kind: Kind) {
    let a = Admin::new(kind).await;
    let before = a.w.app.policies.active(Slot::Match).sha256().to_string();
    let (status, body) = a.upload_match("mistyped_match").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_policy", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`prospect-keys`")
            && message.contains("`string`")
            && message.contains("`list<string>`"),
        "{message}"
    );
    assert_eq!(a.w.app.policies.active(Slot::Match).sha256(), before);
    let stored = "SELECT COUNT(*) FROM policy_modules WHERE slot = $1";
    assert_eq!(a.w.count(stored, "match").await, 0, "nothing stored");
    let assigned = "SELECT COUNT(*) FROM policy_bindings WHERE slot = $1";
    assert_eq!(a.w.count(assigned, "match").await, 0, "nothing assigned");
}

async fn one_over_long_key_keeps_the_good_ones(kind: Kind) {
    let a = Admin::new(kind).await;
    let (status, swap) = a.upload_match("hostile_match").await;
    assert_eq!(status, 200, "{swap}");
    let ids = a
        .import(serde_json::json!([
            {"member_id": "ACoAAALongKeyLongKey1", "public_identifier": "long-key"},
        ]))
        .await;
    let keys: Vec<String> = a.keys().await.into_iter().map(|(_, k, _)| k).collect();
    assert_eq!(keys, vec!["good-key".to_string()], "the good key is stored");
    let traced =
        a.w.count(
            "SELECT COUNT(*) FROM traces WHERE kind = 'policy_failure' AND detail LIKE $1",
            "%300 bytes%",
        )
        .await;
    assert_eq!(traced, 1, "the dropped key is traced for {ids:?}");
}

async fn a_match_module_failing_most_rekeys_is_refused(kind: Kind) {
    let a = Admin::new(kind).await;
    a.import(serde_json::json!([
        {"member_id": "ACoAABPanic1xxxxxxxxx1", "public_identifier": "panic.1"},
        {"member_id": "ACoAACPanic2xxxxxxxxx2", "public_identifier": "panic.2"},
        {"member_id": "ACoAADPanic3xxxxxxxxx3", "public_identifier": "panic.3"},
        {"member_id": "ACoAAEFine4xxxxxxxxxx4", "public_identifier": "fine"},
    ]))
    .await;
    let keys_before = a.keys().await;
    assert!(keys_before.len() >= 4, "{keys_before:?}");
    let before = a.w.app.policies.active(Slot::Match).sha256().to_string();
    let (status, body) = a.upload_match("hostile_match").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "rekey_failed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("3 of 4 prospects"), "{message}");
    assert!(message.contains("guest panic"), "{message}");
    assert_eq!(a.w.app.policies.active(Slot::Match).sha256(), before);
    assert_eq!(a.keys().await, keys_before, "every prospect keeps its keys");
    // Stored (its job needs the bytes to resume), bound nowhere; the job
    // is listed as failed and its key space is gone.
    let bound = "SELECT COUNT(*) FROM policy_bindings WHERE slot = $1";
    assert_eq!(a.w.count(bound, "match").await, 0, "nothing bound");
    let failed = "SELECT COUNT(*) FROM rekey_jobs WHERE status = $1";
    assert_eq!(a.w.count(failed, "failed").await, 1);
}

async fn a_rekey_keeps_the_keys_of_prospects_it_fails_on(kind: Kind) {
    let a = Admin::new(kind).await;
    let ids = a
        .import(serde_json::json!([
            {"member_id": "ACoAAFFine1xxxxxxxxxx1", "public_identifier": "fine.1"},
            {"member_id": "ACoAAGFine2xxxxxxxxxx2", "public_identifier": "fine.2"},
            {"member_id": "ACoAAHFine3xxxxxxxxxx3", "public_identifier": "fine.3"},
            {"member_id": "ACoAAIPanic4xxxxxxxxx4", "public_identifier": "panic"},
        ]))
        .await;
    let keys_before = a.keys().await;
    let builtin = a.w.app.policies.active(Slot::Match).sha256().to_string();
    let (status, swap) = a.upload_match("hostile_match").await;
    assert_eq!(status, 200, "{swap}");
    assert_eq!(swap["rekeyed"], 3, "{swap}");
    assert_eq!(swap["rekey_failures"], 1, "{swap}");
    let hostile = swap["sha256"].as_str().unwrap().to_string();
    let panicked = ids
        .iter()
        .find(|id| {
            keys_before
                .iter()
                .any(|(p, k, _)| p == *id && k.contains("panic"))
        })
        .expect("the panicking prospect")
        .clone();
    for (prospect, key, module) in a.keys().await {
        if prospect == panicked {
            // Copied into the new module's space: the old space is gone.
            assert_eq!(
                module, hostile,
                "{key}: the failed prospect keeps its old keys"
            );
        } else {
            assert_eq!(
                (key.as_str(), module.as_str()),
                ("hostile", hostile.as_str())
            );
        }
    }
    assert!(
        a.keys().await.iter().all(|(_, _, m)| *m != builtin),
        "the old module's space is deleted once unused"
    );
    let kept: Vec<_> = a
        .keys()
        .await
        .into_iter()
        .filter(|(p, _, _)| *p == panicked)
        .map(|(p, k, _)| (p, k))
        .collect();
    let old: Vec<_> = keys_before
        .into_iter()
        .filter(|(p, _, _)| *p == panicked)
        .map(|(p, k, _)| (p, k))
        .collect();
    assert_eq!(kept, old);
}

async fn a_rekey_keeps_the_invite_bridge_key(kind: Kind) {
    // The engine adds the invite target's key once it sent the invite; a
    // re-key must compute it again, not key the prospect as if uninvited.
    let rig = Rig::new(kind, |_| {}).await;
    let julien = Cast::of(
        &rig,
        "e1",
        accord::simulator::PersonSpec::new("Julien", "Crépieux").slug("julien-crepieux"),
    )
    .by_profile_url();
    Story::new(&rig).invited(&julien).until(T0).await;
    let target = julien.person.provider_id.as_str();
    let before = match_keys(&rig.w).await;
    assert!(
        before.iter().any(|(_, k, _)| k.contains(target)),
        "the invite target is a key: {before:?}"
    );
    let (status, swap) = upload_match(&rig.http, &rig.base, RIG_ADMIN_TOKEN, "hostile_match").await;
    assert_eq!(status, 200, "{swap}");
    let (status, swap) = rig.api("DELETE", "/admin/policies/match", None).await;
    assert_eq!(status, 200, "{swap}");
    assert_eq!(swap["rekeyed"], 1, "{swap}");
    assert_eq!(match_keys(&rig.w).await, before);
    // His accept, under a slug the prospect was never known by, still
    // matches through the invite.
    rig.w
        .webhook(&rig.w.new_relation(target, "julien-renamed"))
        .await;
    let e = julien.enrollment(&rig).await;
    assert_eq!(e.accept_strategy.as_deref(), Some("invite-bridge"), "{e:?}");
}

on_both_databases!(
    a_rekey_keeps_the_invite_bridge_key,
    an_upload_with_a_mistyped_export_is_refused,
    one_over_long_key_keeps_the_good_ones,
    a_match_module_failing_most_rekeys_is_refused,
    a_rekey_keeps_the_keys_of_prospects_it_fails_on,
);
