//! Manual resync against the Unipile simulator, on the manual clock: every
//! look-up goes through the account's spacing like any other provider
//! call, clicks are coalesced across instances, and any of the prospect's
//! accounts that can ask is used.

use crate::on_both_databases;
use crate::polling::{assert_spaced, calls_of, get, post, serve_api};
use crate::rig::*;
use crate::world::Kind;
use accord::clock::{DAY_MS, MINUTE_MS};
use accord::engine::Resyncer;
use accord::simulator::{CallRecord, PersonSpec, WebhookFate};
use accord::store::enrollments::{self, EnrollmentRow};
use serde_json::json;
use std::sync::Arc;

const PROFILE: &str = "/api/v1/users/{identifier}";

fn profile_calls(rig: &Rig) -> Vec<CallRecord> {
    let mut calls: Vec<CallRecord> = rig
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.route == PROFILE)
        .collect();
    calls.sort_by_key(|c| c.at_ms);
    calls
}

/// Resync clicks on three prospects of one account, right after the
/// engine sent an invite: the three look-ups go out one spacing apart,
/// the first one spacing after the invite; each click is answered
/// `202 queued` and its request is served later.
async fn clicks_on_three_prospects_are_spaced(kind: Kind) {
    let rig = Rig::new(kind, |c| {
        c.heals_enabled = false;
        c.poll_relations_every_ms = 7 * DAY_MS; // polling stays out of the way
    })
    .await;
    let api = serve_api(&rig).await;
    let account = rig.w.account.provider_account_id.clone();
    for i in 0..3 {
        rig.enroll(
            &format!("e-click-{i}"),
            PersonSpec::new("Click", &format!("Me{i}"))
                .accepts_after(10 * MINUTE_MS)
                .relation_webhook(WebhookFate::Drop),
        )
        .await;
    }
    rig.run_for(20 * MINUTE_MS, 10_000).await; // invited, accepted, webhooks lost
    rig.enroll("e-click-busy", PersonSpec::new("Busy", "Now"))
        .await;
    rig.settle().await; // its invite goes out now
    let looked_up = profile_calls(&rig).len();
    let mut answers = Vec::new();
    for i in 0..3 {
        let prospect = rig.w.enrollment(&format!("e-click-{i}")).await.prospect_id;
        let answer = post(
            &format!("{api}/api/prospects/{prospect}/resync"),
            &json!({}),
        )
        .await;
        answers.push((prospect, answer));
    }
    rig.run_for(10 * MINUTE_MS, 10_000).await;

    assert_eq!(
        profile_calls(&rig).len() - looked_up,
        3,
        "one look-up per prospect"
    );
    assert_spaced(&calls_of(&rig, &account), 90_000);
    for i in 0..3 {
        let e = rig.w.enrollment(&format!("e-click-{i}")).await;
        assert_eq!(e.accept_source.as_deref(), Some("manual_resync"));
    }
    for (prospect, (status, body)) in answers {
        assert_eq!(status, 202, "queued behind the spacing: {body}");
        assert_eq!(body["status"], "queued", "{body}");
        assert_eq!(body["prospect_id"], prospect.as_str());
        let (status, state) = get(&format!("{api}/api/prospects/{prospect}/resync")).await;
        assert_eq!(status, 200, "{state}");
        assert_eq!(state["status"], "done", "{state}");
        assert_eq!(state["connected"], true, "{state}");
        assert_eq!(state["stamped"].as_array().map(Vec::len), Some(1));
    }
}

/// Two instances (each its own resyncer) get clicks for one prospect at
/// once, and again within the spacing: one provider call.
async fn clicks_coalesce_across_instances(kind: Kind) {
    let rig = Rig::new(kind, |c| c.heals_enabled = false).await;
    rig.enroll(
        "e-both",
        PersonSpec::new("Both", "Instances")
            .accepts_after(5 * MINUTE_MS)
            .relation_webhook(WebhookFate::Drop),
    )
    .await;
    rig.run_for(10 * MINUTE_MS, 10_000).await;
    let looked_up = profile_calls(&rig).len();
    let prospect = rig.w.enrollment("e-both").await.prospect_id;
    let a = rig.w.app.resync.clone().unwrap();
    let b = Arc::new(Resyncer::new(rig.engine.clone_as_new_worker()));
    let (ra, rb) = tokio::join!(a.resync(&prospect), b.resync(&prospect));
    ra.unwrap();
    rb.unwrap();
    rig.w.clock.advance(10_000);
    let (ra, rb) = tokio::join!(a.resync(&prospect), b.resync(&prospect));
    ra.unwrap();
    rb.unwrap();
    rig.run_for(MINUTE_MS, 10_000).await;
    assert_eq!(
        profile_calls(&rig).len() - looked_up,
        1,
        "one provider call"
    );
    let e = rig.w.enrollment("e-both").await;
    assert_eq!(e.accept_source.as_deref(), Some("manual_resync"));
}

/// A prospect enrolled from two accounts, the first disconnected: the
/// resync asks with the other one.
async fn any_account_of_the_prospect_can_ask(kind: Kind) {
    let rig = Rig::new(kind, |c| c.heals_enabled = false).await;
    let api = serve_api(&rig).await;
    let first = rig.w.account.provider_account_id.clone();
    let other = "OTHERacc00000000000001";
    rig.sim.add_account_with_id(other);
    let (status, account) = post(
        &format!("{api}/api/workspaces/{}/accounts", rig.w.workspace.id),
        &json!({"provider_account_id": other, "display_name": "Sales – Ben", "time_zone": "UTC"}),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    let (status, campaign) = post(
        &format!("{api}/api/workspaces/{}/campaigns", rig.w.workspace.id),
        &json!({"name": "Other", "linkedin_account_id": account["id"], "steps": [
            {"type": "send_invite"}, {"type": "wait_accept", "days": 7},
            {"type": "condition", "if_accepted": 3}, {"type": "send_message", "text": "Hi"}]}),
    )
    .await;
    assert_eq!(status, 201, "{campaign}");
    let person = rig
        .enroll("e-first", PersonSpec::new("Two", "Accounts"))
        .await;
    let prospect = rig.w.enrollment("e-first").await.prospect_id;
    {
        let mut c = rig.w.app.db.pool().acquire().await.unwrap();
        let row = EnrollmentRow::pending(
            "e-other",
            campaign["id"].as_str().unwrap(),
            &prospect,
            account["id"].as_str().unwrap(),
            rig.now(),
        );
        assert!(enrollments::insert(&mut c, &row).await.unwrap());
    }
    rig.sim.disconnect_account(&first);
    rig.minutes(3).await; // the AccountStatus webhook arrives
    assert!(
        rig.sim
            .connect(other, &person.provider_id, rig.now() - DAY_MS)
    );
    let looked_up = profile_calls(&rig).len();
    let (status, body) = post(
        &format!("{api}/api/prospects/{prospect}/resync"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connected"], true, "{body}");
    let calls = &profile_calls(&rig)[looked_up..];
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].account_id.as_deref(), Some(other));
}

on_both_databases!(
    clicks_on_three_prospects_are_spaced,
    clicks_coalesce_across_instances,
    any_account_of_the_prospect_can_ask,
);
