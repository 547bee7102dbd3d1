//! The backstops: the late-accepts heal, the stuck post-accepts heal, the
//! hourly skip-retry, their leases, and the switch that turns heals off.

use crate::builders::*;
use crate::on_both_databases;
use crate::rig::*;
use crate::world::{Kind, T0};
use accord::clock::{DAY_MS, HOUR_MS, MINUTE_MS};
use accord::engine::Ticks;
use accord_policy_core::{AcceptSignal, SignalSource};

fn signal(rig: &Rig, member: &str) -> AcceptSignal {
    AcceptSignal {
        source: SignalSource::Webhook,
        linkedin_account_id: rig.w.account.provider_account_id.clone(),
        member_id: Some(member.into()),
        public_identifier: None,
        profile_url: None,
        full_name: Some("Julien".into()),
        observed_at: rig.now(),
    }
}

/// Julien as `id` of the world's campaign, invited Oct 1 and unanswered:
/// `condition_skipped` since Oct 8; the clock stands at T0.
async fn late(rig: &Rig, id: &str) -> Cast {
    let julien = Cast::new(rig, id, "Julien", "Late");
    Story::new(rig).unanswered(&julien).until(T0).await;
    assert_eq!(
        julien.enrollment(rig).await.workflow_state,
        "condition_skipped"
    );
    julien
}

/// The person accepts on LinkedIn; their `new_relation` webhook arrives.
async fn accepts(rig: &Rig, cast: &Cast) {
    assert!(
        rig.sim
            .accept_now(&rig.w.account.provider_account_id, &cast.person.provider_id)
    );
    rig.w.clock.advance(5_000);
    rig.settle().await;
    assert!(cast.enrollment(rig).await.linkedin_accepted_at.is_some());
}

async fn active_jobs(rig: &Rig, id: &str) -> i64 {
    rig.count("SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = $1 AND status IN ('pending', 'processing')", Box::leak(id.to_string().into_boxed_str()))
        .await
}

/// Account disconnected at webhook time: a recoverable skip; after the
/// reconnect the late-accepts heal dispatches the follow-up, once.
async fn heal_late_dispatches_after_a_reconnect(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let julien = late(&rig, "e-heal").await;
    account_status(&rig, &rig.w.account.id, "disconnected").await;
    accepts(&rig, &julien).await;
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM skips WHERE enrollment_id = $1 AND reason = 'account_not_connected' AND recoverable = 1",
            "e-heal"
        )
        .await,
        1,
        "a recoverable skip"
    );
    assert_eq!(
        rig.ticks.heal_late().await.unwrap().enqueued,
        0,
        "still disconnected: skipped again"
    );
    account_status(&rig, &rig.w.account.id, "connected").await;
    let report = rig.ticks.heal_late().await.unwrap();
    assert_eq!((report.rows, report.enqueued), (1, 1));
    assert_eq!(active_jobs(&rig, "e-heal").await, 1);
    assert_eq!(
        rig.ticks.heal_late().await.unwrap().rows,
        0,
        "idempotent: nothing left to heal"
    );
    let (resolved,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM skips WHERE enrollment_id = 'e-heal' AND resolved_at IS NOT NULL",
    )
    .fetch_one(rig.w.app.db.pool())
    .await
    .unwrap();
    assert_eq!(resolved, 1);
    rig.minutes(10).await;
    assert_eq!(
        rig.sent_messages(&julien.person).len(),
        1,
        "the provider got the follow-up once"
    );
}

/// An in-time accept whose follow-up failed for good (the provider
/// answered 500 until its retries were spent) is found 24 h later by the
/// stuck post-accepts heal; once the accept is over 14 days old it is left
/// alone.
async fn heal_stuck_finds_accepts_without_follow_up(kind: Kind) {
    let rig = Rig::new(kind, |c| c.retry_backoff_ms = vec![MINUTE_MS]).await;
    let julien = Cast::new(&rig, "e-stuck", "Julien", "Stuck");
    Story::new(&rig).invited(&julien).until(T0).await;
    accepts(&rig, &julien).await;
    follow_up_failed_for_good(&rig, "e-stuck", &julien.person).await;
    assert_eq!(rig.ticks.heal_stuck().await.unwrap().rows, 0, "too recent");
    rig.w.clock.set(T0 + DAY_MS + HOUR_MS);
    let report = rig.ticks.heal_stuck().await.unwrap();
    assert_eq!((report.rows, report.enqueued), (1, 1));
    assert_eq!(
        rig.ticks.heal_stuck().await.unwrap().rows,
        0,
        "a job is queued now"
    );
    // The heal's follow-up fails the same way.
    follow_up_failed_for_good(&rig, "e-stuck", &julien.person).await;
    rig.w.clock.set(T0 + 15 * DAY_MS);
    assert_eq!(
        rig.ticks.heal_stuck().await.unwrap().rows,
        0,
        "older than 14 days: left alone"
    );
}

/// An accept followed up through the simulator is stamped as followed up
/// on send, and the stuck heal never picks it in the days that follow.
async fn heal_stuck_leaves_a_sent_follow_up_alone(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let person = rig
        .enroll(
            "e-sent",
            accord::simulator::PersonSpec::new("Ada", "Sent").accepts_after(HOUR_MS),
        )
        .await;
    rig.run_for(2 * HOUR_MS, accord::clock::MINUTE_MS).await;
    let sent = rig.sent_messages(&person);
    assert_eq!(sent.len(), 1, "the follow-up went out");
    let e = rig.enrollment("e-sent").await;
    assert_eq!(
        e.followup_sent_at,
        Some(sent[0].at_ms),
        "stamped on send: {e:?}"
    );
    // Heal ticks run through three days (the workflow's own next message
    // may go out meanwhile; the heal's never does).
    rig.run_for(3 * DAY_MS, HOUR_MS).await;
    assert_eq!(rig.ticks.heal_stuck().await.unwrap().rows, 0);
    let (heal_jobs,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = 'e-sent' AND source = 'heal_stuck'",
    )
    .fetch_one(rig.w.app.db.pool())
    .await
    .unwrap();
    assert_eq!(heal_jobs, 0, "the stuck heal never dispatched it");
}

/// A late accept on a paused campaign is a recoverable skip. The resume's
/// own sweep cannot send it while the account is disconnected; once the
/// account is back, the hourly skip-retry tick enqueues it.
async fn skip_retry_picks_up_after_resume(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    rig.w.second_campaign().await; // keeps the workspace "running"
    let julien = late(&rig, "e-skip").await;
    let campaign = rig.w.campaign.id.clone();
    campaign_action(&rig, &campaign, "pause").await;
    rig.w
        .app
        .pipeline
        .accept_signal(&signal(&rig, &julien.person.provider_id))
        .await
        .unwrap();
    assert_eq!(
        rig.ticks.skip_retry().await.unwrap().enqueued,
        0,
        "still paused"
    );
    account_status(&rig, &rig.w.account.id, "disconnected").await;
    let resumed = campaign_action(&rig, &campaign, "resume").await;
    assert_eq!(resumed["resume_sweep"]["skipped"], 1, "{resumed}");
    assert_eq!(
        rig.ticks.skip_retry().await.unwrap().enqueued,
        0,
        "still disconnected"
    );
    account_status(&rig, &rig.w.account.id, "connected").await;
    let report = rig.ticks.skip_retry().await.unwrap();
    assert_eq!((report.rows, report.enqueued), (1, 1));
    assert_eq!(active_jobs(&rig, "e-skip").await, 1);
    rig.w.clock.set(T0 + 2 * DAY_MS);
    assert_eq!(rig.ticks.skip_retry().await.unwrap().rows, 0);
}

/// The schedule: heals every 6 h (the stuck one 30 min later), skip-retry
/// hourly; only one of two instances runs a tick (the lease); heals off
/// when configured so.
async fn the_schedule_leases_and_the_switch(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let other = Ticks::new(rig.engine.clone_as_new_worker());
    let names = |r: &Vec<accord::engine::TickReport>| {
        r.iter()
            .map(|t| t.name)
            .filter(|n| *n != "poll_relations")
            .collect::<Vec<_>>()
    };
    let (a, b) = tokio::join!(rig.ticks.run_due(), other.run_due());
    let (a, b) = (names(&a.unwrap()), names(&b.unwrap()));
    assert_eq!(
        a.iter()
            .chain(b.iter())
            .filter(|n| **n == "heal_late")
            .count(),
        1,
        "one instance ran it: {a:?} {b:?}"
    );
    rig.w.clock.advance(30 * 60_000);
    let r = names(&rig.ticks.run_due().await.unwrap());
    assert_eq!(r, vec!["heal_stuck"]);
    rig.w.clock.advance(30 * 60_000);
    assert_eq!(
        names(&rig.ticks.run_due().await.unwrap()),
        vec!["skip_retry"]
    );

    let off = Rig::new(kind, |c| c.heals_enabled = false).await;
    off.w.clock.advance(6 * HOUR_MS + 1);
    let r = names(&off.ticks.run_due().await.unwrap());
    assert!(
        !r.contains(&"heal_late") && !r.contains(&"heal_stuck"),
        "{r:?}"
    );
}

on_both_databases!(
    heal_late_dispatches_after_a_reconnect,
    heal_stuck_finds_accepts_without_follow_up,
    heal_stuck_leaves_a_sent_follow_up_alone,
    skip_retry_picks_up_after_resume,
    the_schedule_leases_and_the_switch,
);
