//! The send engine against the Unipile simulator, on the manual clock:
//! the seeds' worked example, already_connected, no retry storm, polling,
//! resync coalescing, and every gate (window across DST, caps with two
//! workers, ramp, spacing, disconnect pause and resume, circuit breaker).

use crate::builders::*;
use crate::on_both_databases;
use crate::rig::*;
use crate::world::Kind;
use accord::clock::{Clock, DAY_MS, HOUR_MS, MINUTE_MS};
use accord::simulator::{PersonSpec, SimAction, WebhookFate};
use serde_json::json;

async fn at(rig: &Rig, ms: i64) {
    rig.w.clock.set(ms);
}

/// Invite Oct 1, wait_accept (7 d) times out Oct 8, the prospect accepts
/// Oct 10 14:30: the follow-up goes out within seconds, once.
async fn seeds_worked_example_window_open(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    let julien = rig
        .enroll(
            "e-julien",
            PersonSpec::new("Julien", "Crepieux").slug("julien-crepieux"),
        )
        .await;
    rig.minutes(5).await;
    assert_eq!(
        rig.sim.invites(&rig.w.account.provider_account_id).len(),
        1,
        "invited on Oct 1"
    );
    rig.run_for(7 * DAY_MS + HOUR_MS, HOUR_MS).await;
    let e = rig.w.enrollment("e-julien").await;
    assert_eq!(
        (e.workflow_state.as_str(), e.linkedin_status.as_str()),
        ("condition_skipped", "condition_skipped")
    );

    // Oct 10: the half-hourly poll runs at 14:25, then the accept at 14:30.
    at(&rig, crate::world::T0 - 5 * MINUTE_MS).await;
    rig.minutes(5).await;
    assert!(
        rig.sim
            .accept_now(&rig.w.account.provider_account_id, &julien.provider_id)
    );
    let accepted = rig.now();
    rig.run_for(60_000, 1_000).await;
    let sent = rig.sent_messages(&julien);
    assert_eq!(sent.len(), 1, "one follow-up");
    assert!(
        sent[0].at_ms - accepted <= 15_000,
        "within seconds: {} ms",
        sent[0].at_ms - accepted
    );
    let e = rig.w.enrollment("e-julien").await;
    assert!(e.late_accept_observed_at.is_some());
    assert_eq!(
        e.late_accept_followup_sent_at,
        Some(sent[0].at_ms),
        "stamped on completion"
    );
    // Days later, heals and retries change nothing.
    rig.run_for(2 * DAY_MS, HOUR_MS).await;
    assert_eq!(rig.sent_messages(&julien).len(), 1, "at most one");
}

async fn seeds_worked_example_window_closed(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    let p = rig
        .enroll("e-night", PersonSpec::new("Selva", "Night"))
        .await;
    rig.minutes(5).await;
    rig.run_for(7 * DAY_MS + HOUR_MS, HOUR_MS).await;
    at(&rig, crate::world::T0 + 8 * HOUR_MS + 30 * MINUTE_MS).await; // Oct 10 23:00
    rig.sim
        .accept_now(&rig.w.account.provider_account_id, &p.provider_id);
    rig.minutes(10).await;
    assert!(rig.sent_messages(&p).is_empty(), "outside the window");
    let (wait,): (Option<String>,) = sqlx::query_as("SELECT wait_reason FROM campaign_send_jobs WHERE enrollment_id = 'e-night' AND status = 'pending'")
        .fetch_one(rig.w.app.db.pool())
        .await
        .unwrap();
    assert_eq!(wait.as_deref(), Some("window"));
    rig.run_for(11 * HOUR_MS, 5 * MINUTE_MS).await;
    let sent = rig.sent_messages(&p);
    assert_eq!(sent.len(), 1);
    let nine = crate::world::T0 + 18 * HOUR_MS + 30 * MINUTE_MS; // Oct 11 09:00 UTC
    assert!(
        sent[0].at_ms >= nine && sent[0].at_ms <= nine + 20 * MINUTE_MS,
        "at the window start: {}",
        sent[0].at_ms - nine
    );
}

/// An invite answered `already_connected` is an accept: stamped once, by
/// the engine's path, and the follow-up is sent.
async fn already_connected_on_invite_stamps_once(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    let p = rig.enroll("e-known", PersonSpec::new("Ann", "Known")).await;
    rig.sim.connect(
        &rig.w.account.provider_account_id,
        &p.provider_id,
        OCT1_10AM - 30 * DAY_MS,
    );
    rig.minutes(10).await;
    let e = rig.w.enrollment("e-known").await;
    assert_eq!(e.accept_source.as_deref(), Some("engine_already_connected"));
    assert_eq!(rig.count("SELECT COUNT(*) FROM linkedin_events WHERE kind = 'accept_stamped' AND enrollment_id = $1", "e-known").await, 1);
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE $1",
            "li-accept:%:e-known"
        )
        .await,
        1
    );
    assert_eq!(rig.sent_messages(&p).len(), 1, "the follow-up went out");
}

/// `no_connection_with_recipient` is never retried: one attempt, however
/// long the engine runs.
async fn no_connection_with_recipient_is_one_attempt(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    let p = rig
        .enroll(
            "e-storm",
            PersonSpec::new("No", "Conn").accepts_after(HOUR_MS),
        )
        .await;
    rig.sim.force_error(
        SimAction::Message,
        Some(&p.provider_id),
        "no_connection_with_recipient",
    );
    rig.run_for(3 * DAY_MS, 30 * MINUTE_MS).await;
    assert_eq!(
        rig.sim.count_calls("POST", "/api/v1/chats"),
        1,
        "exactly one attempt"
    );
    let e = rig.w.enrollment("e-storm").await;
    assert_eq!(e.workflow_state, "stopped");
    assert_eq!(rig.count("SELECT COUNT(*) FROM linkedin_events WHERE kind = 'message_refused_no_connection' AND enrollment_id = $1", "e-storm").await, 1);
}

/// A dropped webhook is caught by relations polling, stamped at the
/// relation's real time.
async fn polling_catches_a_dropped_webhook(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    let p = rig
        .enroll(
            "e-dropped",
            PersonSpec::new("Drop", "Ped")
                .accepts_after(2 * HOUR_MS)
                .relation_webhook(WebhookFate::Drop),
        )
        .await;
    rig.run_for(3 * HOUR_MS, 10 * MINUTE_MS).await;
    let e = rig.w.enrollment("e-dropped").await;
    assert_eq!(e.accept_source.as_deref(), Some("polling"));
    let invite = rig
        .sim
        .invites(&rig.w.account.provider_account_id)
        .into_iter()
        .find(|i| i.provider_id == p.provider_id)
        .unwrap();
    assert_eq!(
        e.linkedin_accepted_at, invite.accepted_at_ms,
        "the relation's own created_at"
    );
    assert!(
        rig.sim.count_calls("GET", "/api/v1/users/relations") <= 8,
        "polled every 30 min, not more"
    );
}

/// Resync clicks within the spacing window share one provider call.
async fn resync_clicks_coalesce(kind: Kind) {
    let rig = Rig::new(kind, |c| c.heals_enabled = false).await;
    at(&rig, OCT1_10AM).await;
    let p = rig.enroll("e-resync", PersonSpec::new("Re", "Sync")).await;
    rig.minutes(5).await; // invited
    rig.sim
        .accept_now(&rig.w.account.provider_account_id, &p.provider_id);
    rig.sim
        .set_relation_webhook(&p.provider_id, Some(WebhookFate::Drop));
    rig.sim.clear_calls();
    let prospect_id = rig.w.enrollment("e-resync").await.prospect_id;
    let resync = rig.w.app.resync.clone().unwrap();
    let clicks: Vec<_> = (0..5)
        .map(|_| {
            let (r, id) = (resync.clone(), prospect_id.clone());
            tokio::spawn(async move { r.resync(&id).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for c in clicks {
        outcomes.push(c.await.unwrap());
    }
    assert_eq!(
        rig.sim.count_calls("GET", "/api/v1/users/{identifier}"),
        1,
        "one provider call"
    );
    assert_eq!(outcomes.iter().filter(|o| !o.coalesced).count(), 1);
    assert!(outcomes.iter().all(|o| o.connected == Some(true)));
    assert_eq!(
        rig.w.enrollment("e-resync").await.accept_source.as_deref(),
        Some("manual_resync")
    );
    // After the spacing window, a click asks again.
    rig.w.clock.advance(10 * MINUTE_MS);
    resync.resync(&prospect_id).await.unwrap();
    assert_eq!(rig.sim.count_calls("GET", "/api/v1/users/{identifier}"), 2);
}

/// Daily invite caps hold; the rest wait for tomorrow with reason `cap`.
async fn daily_caps_hold(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    let sender = Sender::connected(
        &rig,
        json!({"daily_invite_cap": 5, "min_spacing_seconds": 0}),
        json!({}),
    )
    .await;
    sender.enroll_numbered(&rig, "e-cap", "Cap", 8).await;
    rig.run_for(6 * HOUR_MS, 10 * MINUTE_MS).await;
    assert_eq!(sender.invites(&rig).len(), 5);
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE status = 'pending' AND wait_reason = $1",
            "cap"
        )
        .await,
        3
    );
    rig.run_for(DAY_MS, HOUR_MS).await;
    assert_eq!(
        sender.invites(&rig).len(),
        8,
        "the rest went out the next day"
    );
}

/// The weekly cap binds across days: 5 a day but 6 a rolling week, so day
/// two sends one and the rest wait a week after the first, with `cap`.
/// Counted from the provider's own record of invites.
async fn weekly_caps_hold(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    let sender = Sender::connected(
        &rig,
        json!({"daily_invite_cap": 5, "weekly_invite_cap": 6, "min_spacing_seconds": 0}),
        json!({}),
    )
    .await;
    sender.enroll_numbered(&rig, "e-week", "Week", 9).await;
    let sent = || sender.invites(&rig);
    rig.run_for(3 * DAY_MS, HOUR_MS).await;
    assert_eq!(
        sent().len(),
        6,
        "5 on day one, 1 on day two, then the week is full"
    );
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE status = 'pending' AND wait_reason = $1",
            "cap"
        )
        .await,
        3
    );
    let first = sent().iter().map(|i| i.sent_at_ms).min().unwrap();
    rig.run_for(6 * DAY_MS, HOUR_MS).await;
    let all = sent();
    assert_eq!(all.len(), 9, "the rest went out once the week rolled on");
    for invite in &all {
        let in_week = all
            .iter()
            .filter(|o| {
                o.sent_at_ms <= invite.sent_at_ms && o.sent_at_ms > invite.sent_at_ms - 7 * DAY_MS
            })
            .count();
        assert!(
            in_week <= 6,
            "{in_week} invites in the week up to {}",
            invite.sent_at_ms
        );
    }
    assert!(
        all.iter()
            .filter(|i| i.sent_at_ms >= first + 7 * DAY_MS)
            .count()
            >= 3
    );
}

/// Day 1 of warm-up allows a quarter of the cap; the rest wait with `ramp`.
async fn the_warm_up_ramp_holds(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    // Connected now: day 1 of its warm-up.
    let sender = Sender::connected_now(
        &rig,
        json!({"daily_invite_cap": 20, "min_spacing_seconds": 0}),
        json!({}),
    )
    .await;
    sender.enroll_numbered(&rig, "e-ramp", "Ramp", 8).await;
    rig.run_for(6 * HOUR_MS, 10 * MINUTE_MS).await;
    assert_eq!(sender.invites(&rig).len(), 5, "25% of 20");
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE status = 'pending' AND wait_reason = $1",
            "ramp"
        )
        .await,
        3
    );
}

/// Consecutive actions of one account are at least the spacing apart.
async fn spacing_holds(kind: Kind) {
    let rig = Rig::new(kind, |c| c.spacing_jitter_ms = 0).await;
    at(&rig, OCT1_10AM).await;
    let sender = Sender::connected(&rig, json!({"min_spacing_seconds": 120}), json!({})).await;
    sender.enroll_numbered(&rig, "e-space", "Space", 4).await;
    rig.run_for(30 * MINUTE_MS, 30_000).await;
    let mut times: Vec<i64> = sender.invites(&rig).iter().map(|i| i.sent_at_ms).collect();
    times.sort();
    assert_eq!(times.len(), 4);
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= 120_000,
            "{} ms apart",
            pair[1] - pair[0]
        );
    }
}

/// A disconnect holds the account's jobs (reason `account`); a reconnect
/// lets them run.
async fn disconnect_pauses_and_reconnect_resumes(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    rig.sim
        .disconnect_account(&rig.w.account.provider_account_id);
    rig.minutes(2).await; // the AccountStatus webhook arrives
    rig.enroll("e-held", PersonSpec::new("Held", "Job")).await;
    rig.minutes(30).await;
    assert!(
        rig.sim
            .invites(&rig.w.account.provider_account_id)
            .is_empty()
    );
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE status = 'pending' AND wait_reason = $1",
            "account"
        )
        .await,
        1
    );
    rig.sim
        .reconnect_account(&rig.w.account.provider_account_id);
    rig.minutes(5).await;
    assert_eq!(rig.sim.invites(&rig.w.account.provider_account_id).len(), 1);
}

/// A due job held by its account or campaign says which, the most lasting
/// cause first, and follows the causes as they change: its account's
/// spacing, then the account disconnected, then its campaign paused (which
/// outlasts both), the account again once the campaign runs; sent after
/// the reconnect, once the spacing is over.
async fn a_held_job_says_what_holds_it(kind: Kind) {
    let rig = Rig::new(kind, |c| c.spacing_jitter_ms = 0).await;
    at(&rig, OCT1_10AM).await;
    let sender = Sender::connected(&rig, json!({"min_spacing_seconds": 3600}), json!({})).await;
    sender.enroll_numbered(&rig, "e-held", "Held", 2).await;
    let held = |reason: &'static str| {
        rig.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE status = 'pending' AND wait_reason = $1",
            reason,
        )
    };
    rig.minutes(3).await;
    assert_eq!(sender.invites(&rig).len(), 1);
    assert_eq!(held("spacing").await, 1);

    let provider_id = &sender.account.provider_account_id;
    rig.sim.disconnect_account(provider_id);
    rig.minutes(2).await;
    assert_eq!(
        held("account").await,
        1,
        "a disconnect outlasts the spacing"
    );

    let campaign = &sender.campaign.id;
    let (status, body) = rig
        .api("POST", &format!("/api/campaigns/{campaign}/pause"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    rig.minutes(2).await;
    assert_eq!(held("campaign").await, 1, "a pause outlasts the disconnect");

    let (status, body) = rig
        .api("POST", &format!("/api/campaigns/{campaign}/resume"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    rig.minutes(2).await;
    assert_eq!(
        held("account").await,
        1,
        "the campaign runs, the account not"
    );
    assert_eq!(sender.invites(&rig).len(), 1);

    rig.sim.reconnect_account(provider_id);
    rig.minutes(60).await;
    assert_eq!(
        sender.invites(&rig).len(),
        2,
        "sent once the spacing was over"
    );
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE status = $1",
            "pending"
        )
        .await,
        0
    );
}

/// Repeated transient failures open the account's breaker: no calls until
/// it cools down; then the job succeeds.
async fn the_circuit_breaker_opens_and_closes(kind: Kind) {
    let rig = Rig::new(kind, |c| {
        c.breaker_threshold = 3;
        c.breaker_cooldown_ms = HOUR_MS;
        c.retry_backoff_ms = vec![MINUTE_MS; 10];
    })
    .await;
    at(&rig, OCT1_10AM).await;
    let sender = Sender::connected(&rig, json!({"min_spacing_seconds": 0}), json!({})).await;
    rig.sim.fail_next(20, 500, None);
    sender
        .enroll(&rig, "e-breaker", PersonSpec::new("Break", "Er"))
        .await;
    rig.minutes(10).await;
    let actions = || {
        rig.sim
            .calls()
            .into_iter()
            .filter(|c| c.route != "/api/v1/users/relations")
            .count()
    };
    let calls = actions();
    assert_eq!(
        calls, 3,
        "three failures, then the breaker holds the account"
    );
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM linkedin_events WHERE kind = $1",
            "circuit_breaker_opened"
        )
        .await,
        1
    );
    rig.minutes(40).await;
    assert_eq!(actions(), calls, "no calls while open");
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE status = 'pending' AND wait_reason = $1",
            "breaker"
        )
        .await,
        1,
        "the held job says why"
    );
    rig.sim.clear_faults();
    rig.minutes(30).await;
    assert_eq!(sender.invites(&rig).len(), 1, "sent after the cooldown");
}

/// The window clamp across the end of summer time in Paris.
async fn the_window_clamp_follows_dst(kind: Kind) {
    let rig = Rig::new(kind, |c| c.window_jitter_ms = 0).await;
    let paris = draft_campaign(&rig, json!({"time_zone": "Europe/Paris"})).await;
    // Saturday 2026-10-24 20:00 UTC = 22:00 Paris (summer time).
    let saturday_evening = "2026-10-24T20:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    at(&rig, saturday_evening).await;
    enroll_in(&rig, &paris, "e-dst", PersonSpec::new("Dst", "Paris")).await;
    rig.settle().await;
    let (run_at,): (i64,) =
        sqlx::query_as("SELECT run_at FROM campaign_send_jobs WHERE enrollment_id = 'e-dst'")
            .fetch_one(rig.w.app.db.pool())
            .await
            .unwrap();
    // Sunday 09:00 Paris is 08:00 UTC: the clocks went back overnight.
    let sunday_nine = "2026-10-25T08:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    assert_eq!(run_at, sunday_nine);
    rig.run_for(12 * HOUR_MS, 15 * MINUTE_MS).await;
    let invites = rig.sim.invites(&rig.w.account.provider_account_id);
    assert_eq!(invites.len(), 1);
    assert!(
        invites[0].sent_at_ms >= sunday_nine
            && invites[0].sent_at_ms < sunday_nine + 20 * MINUTE_MS
    );
}

/// Two workers claiming at once never exceed the caps.
async fn two_workers_never_exceed_the_caps(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    at(&rig, OCT1_10AM).await;
    let sender = Sender::connected(
        &rig,
        json!({"daily_invite_cap": 7, "min_spacing_seconds": 0}),
        json!({}),
    )
    .await;
    for i in 0..20 {
        sender
            .enroll(
                &rig,
                &format!("e-two-{i}"),
                PersonSpec::new("Two", &format!("W{i}")),
            )
            .await;
    }
    let second = accord::engine::Engine::new(
        rig.w.app.pipeline.clone(),
        {
            let c: std::sync::Arc<dyn accord::provider::LinkedinProvider> = std::sync::Arc::new(
                accord::provider::unipile::UnipileClient::new(
                    &rig.sim.base_url(),
                    "sim-key",
                    std::time::Duration::from_secs(5),
                )
                .unwrap(),
            );
            c
        },
        accord::engine::EngineConfig::default(),
    );
    for _ in 0..30 {
        rig.w.clock.advance(MINUTE_MS);
        let (a, b) = tokio::join!(rig.engine.run_once(), second.run_once());
        a.unwrap();
        b.unwrap();
    }
    assert_eq!(sender.invites(&rig).len(), 7);
    let now = rig.w.clock.now_ms();
    assert!(now > OCT1_10AM);
}

on_both_databases!(
    seeds_worked_example_window_open,
    seeds_worked_example_window_closed,
    already_connected_on_invite_stamps_once,
    no_connection_with_recipient_is_one_attempt,
    polling_catches_a_dropped_webhook,
    resync_clicks_coalesce,
    daily_caps_hold,
    weekly_caps_hold,
    the_warm_up_ramp_holds,
    spacing_holds,
    disconnect_pauses_and_reconnect_resumes,
    a_held_job_says_what_holds_it,
    the_circuit_breaker_opens_and_closes,
    the_window_clamp_follows_dst,
    two_workers_never_exceed_the_caps,
);

/// A worker that dies holding a job: its lease expires, another worker
/// reclaims the job (the fence moves on) and sends it; the dead worker's
/// late attempt sends nothing and records nothing.
async fn an_expired_lease_is_reclaimed_and_fenced(kind: Kind) {
    let rig = Rig::new(kind, |c| {
        c.lease_ms = 5 * MINUTE_MS;
        c.window_jitter_ms = 0;
    })
    .await;
    // Enrolled before the window opens: the invite is queued for 09:00.
    let lea = Cast::new(&rig, "e-lease", "Lea", "Se");
    let opening = OCT1_10AM - HOUR_MS;
    Story::new(&rig)
        .queued(&lea)
        .until(opening - 10 * MINUTE_MS)
        .await;
    at(&rig, opening).await;
    let dead = rig.engine.clone_as_new_worker();
    let claims = dead.claim().await.unwrap();
    assert_eq!(claims.len(), 1);
    rig.w.clock.advance(6 * MINUTE_MS);
    // The live worker reclaims, reads the sent invitations (the dead one
    // may have sent), then sends after the account's spacing.
    rig.minutes(4).await;
    assert_eq!(rig.sim.invites(&rig.w.account.provider_account_id).len(), 1);
    let calls = rig.sim.calls().len();
    for claim in claims {
        dead.execute(claim).await.unwrap();
    }
    assert_eq!(
        rig.sim.calls().len(),
        calls,
        "the stale worker did not call the provider"
    );
    let (status, fence): (String, i64) = sqlx::query_as(
        "SELECT status, fence FROM campaign_send_jobs WHERE enrollment_id = 'e-lease'",
    )
    .fetch_one(rig.w.app.db.pool())
    .await
    .unwrap();
    // Claimed by the dead worker, then for the read, then for the send.
    assert_eq!((status.as_str(), fence), ("succeeded", 3));
}

on_both_databases!(an_expired_lease_is_reclaimed_and_fenced);
