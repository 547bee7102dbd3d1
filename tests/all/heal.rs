//! The backstops: the late-accepts heal, the stuck post-accepts heal, the
//! hourly skip-retry, their leases, and the switch that turns heals off.

use crate::on_both_databases;
use crate::rig::*;
use crate::world::{JULIEN, Kind, T0};
use accord::clock::{DAY_MS, HOUR_MS};
use accord::engine::Ticks;
use accord::pipeline::DispatchOutcome;
use accord_policy_core::{AcceptSignal, SignalSource};

fn signal(rig: &Rig) -> AcceptSignal {
    AcceptSignal {
        source: SignalSource::Webhook,
        linkedin_account_id: rig.w.account.provider_account_id.clone(),
        member_id: Some(JULIEN.into()),
        public_identifier: None,
        profile_url: None,
        full_name: Some("Julien".into()),
        observed_at: rig.now(),
    }
}

async fn late(rig: &Rig, id: &str) {
    rig.w
        .enroll(
            &rig.w.campaign,
            id,
            rig.w.prospect(None, Some(JULIEN), None),
            Some(JULIEN),
        )
        .await;
    rig.w
        .exec("UPDATE enrollments SET workflow_state = 'condition_skipped', step_index = 6 WHERE id = $1", &[id])
        .await;
}

async fn active_jobs(rig: &Rig, id: &str) -> i64 {
    rig.count("SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = $1 AND status IN ('pending', 'processing')", Box::leak(id.to_string().into_boxed_str()))
        .await
}

/// Account disconnected at webhook time: a recoverable skip; after the
/// reconnect the late-accepts heal dispatches the follow-up, once.
async fn heal_late_dispatches_after_a_reconnect(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    late(&rig, "e-heal").await;
    rig.w
        .exec(
            "UPDATE linkedin_accounts SET status = 'disconnected' WHERE id = $1",
            &[&rig.w.account.id],
        )
        .await;
    let out = rig
        .w
        .app
        .pipeline
        .accept_signal(&signal(&rig))
        .await
        .unwrap();
    assert!(matches!(
        out.matches[0].dispatch,
        Some(DispatchOutcome::Skipped {
            recoverable: true,
            ..
        })
    ));
    assert_eq!(
        rig.ticks.heal_late().await.unwrap().enqueued,
        0,
        "still disconnected: skipped again"
    );
    rig.w
        .exec(
            "UPDATE linkedin_accounts SET status = 'connected' WHERE id = $1",
            &[&rig.w.account.id],
        )
        .await;
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
}

/// An in-time accept whose follow-up job vanished (a transient failure)
/// is found 24 h later by the stuck post-accepts heal.
async fn heal_stuck_finds_accepts_without_follow_up(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    rig.w
        .enroll(
            &rig.w.campaign,
            "e-stuck",
            rig.w.prospect(None, Some(JULIEN), None),
            Some(JULIEN),
        )
        .await;
    rig.w
        .app
        .pipeline
        .accept_signal(&signal(&rig))
        .await
        .unwrap();
    rig.w
        .exec(
            "DELETE FROM campaign_send_jobs WHERE enrollment_id = $1",
            &["e-stuck"],
        )
        .await;
    assert_eq!(rig.ticks.heal_stuck().await.unwrap().rows, 0, "too recent");
    rig.w.clock.set(T0 + DAY_MS + HOUR_MS);
    let report = rig.ticks.heal_stuck().await.unwrap();
    assert_eq!((report.rows, report.enqueued), (1, 1));
    assert_eq!(
        rig.ticks.heal_stuck().await.unwrap().rows,
        0,
        "a job is queued now"
    );
    rig.w.clock.set(T0 + 15 * DAY_MS);
    rig.w
        .exec(
            "DELETE FROM campaign_send_jobs WHERE enrollment_id = $1",
            &["e-stuck"],
        )
        .await;
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

/// A late accept on a paused campaign is a recoverable skip; after the
/// resume, the hourly skip-retry tick enqueues it.
async fn skip_retry_picks_up_after_resume(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let second = rig.w.second_campaign().await;
    let _ = second;
    late(&rig, "e-skip").await;
    rig.w
        .exec(
            "UPDATE campaigns SET status = 'paused' WHERE id = $1",
            &[&rig.w.campaign.id],
        )
        .await;
    rig.w
        .app
        .pipeline
        .accept_signal(&signal(&rig))
        .await
        .unwrap();
    assert_eq!(
        rig.ticks.skip_retry().await.unwrap().enqueued,
        0,
        "still paused"
    );
    rig.w
        .exec(
            "UPDATE campaigns SET status = 'running' WHERE id = $1",
            &[&rig.w.campaign.id],
        )
        .await;
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
