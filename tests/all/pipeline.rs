//! The accept pipeline end to end, on SQLite and PostgreSQL: each match
//! strategy with real payloads, the seeds' late-accept scenarios, exactly
//! once under concurrency, crash safety, reply-inferred accepts, traces,
//! failing policies.

use crate::builders::*;
use crate::on_both_databases;
use crate::rig::{OCT1_10AM, Rig};
use crate::world::*;
use accord::clock::HOUR_MS;
use accord::pipeline::{DispatchOutcome, StampOutcome};
use accord::policy::Slot;
use accord::simulator::PersonSpec;
use accord_policy_core::{AcceptSignal, SignalSource};
use serde_json::json;

const SALES_NAV_JULIEN: &str = "ACwAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM";

fn signal(w: &World, source: SignalSource, member: &str) -> AcceptSignal {
    AcceptSignal {
        source,
        linkedin_account_id: w.account.provider_account_id.clone(),
        member_id: Some(member.into()),
        public_identifier: None,
        profile_url: None,
        full_name: Some("Julien Crépieux".into()),
        observed_at: w.clock_now(),
    }
}

/// The first match of `outcome` was skipped for `reason`, recoverable or
/// not.
fn assert_skipped(outcome: &accord::pipeline::SignalOutcome, reason: &str, recoverable: bool) {
    let Some(DispatchOutcome::Skipped {
        reason: got,
        recoverable: got_recoverable,
    }) = &outcome.matches[0].dispatch
    else {
        panic!("{outcome:?}")
    };
    assert_eq!((got.as_str(), *got_recoverable), (reason, recoverable));
}

trait Now {
    fn clock_now(&self) -> i64;
}
impl Now for World {
    fn clock_now(&self) -> i64 {
        accord::clock::Clock::now_ms(&*self.clock)
    }
}

/// A message_received from `sender` (a real payload of unipile.md).
fn reply_message(w: &World, sender: &str, id: &str) -> String {
    serde_json::json!({
        "event": "message_received", "account_id": w.account.provider_account_id, "account_type": "LINKEDIN",
        "account_info": {"type": "LINKEDIN", "feature": "classic", "user_id": "ACoAAOwnOwnOwnOwn"},
        "webhook_name": "x", "chat_id": "chat1", "message_id": id, "message": "Hi!",
        "timestamp": "2026-10-10T14:00:00.000Z", "is_sender": false,
        "sender": {"attendee_id": "a", "attendee_provider_id": sender, "attendee_name": "Julien",
            "attendee_profile_url": format!("https://www.linkedin.com/in/{sender}"),
            "attendee_specifics": {"provider": "LINKEDIN", "member_urn": "urn:li:member:1", "network_distance": "DISTANCE_1"},
            "attendee_public_identifier": null},
        "attendees": [], "attachments": [], "provider_chat_id": "2-x", "provider_message_id": "2-y",
        "message_type": "MESSAGE", "is_group": false, "folder": ["INBOX"], "subject": null, "quoted": null,
        "reply_to": null, "is_event": 0, "chat_pinned": 0, "event_type": null
    })
    .to_string()
}

async fn accepted_by(
    w: &World,
    enrollment: &str,
) -> (Option<i64>, Option<String>, Option<String>, String) {
    let e = w.enrollment(enrollment).await;
    (
        e.linkedin_accepted_at,
        e.accept_source,
        e.accept_strategy,
        e.linkedin_status,
    )
}

async fn outbox_rows(w: &World, enrollment: &str) -> i64 {
    let key = format!("li-accept:{}:{enrollment}", w.account.provider_account_id);
    w.count(
        "SELECT COUNT(*) FROM outbox WHERE dedupe_key = $1",
        Box::leak(key.into_boxed_str()),
    )
    .await
}

async fn stamps(w: &World, enrollment: &str) -> i64 {
    w.count(
        "SELECT COUNT(*) FROM linkedin_events WHERE kind = 'accept_stamped' AND enrollment_id = $1",
        enrollment,
    )
    .await
}

async fn active_jobs(w: &World, enrollment: &str) -> i64 {
    w.count(
        "SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = $1 AND status IN ('pending', 'processing')",
        enrollment,
    )
    .await
}

/// Julien Crépieux on the simulated LinkedIn, as `enrollment` of the
/// world's campaign (known to the host by member id).
fn julien(rig: &Rig, enrollment: &str) -> Cast {
    Cast::of(
        rig,
        enrollment,
        PersonSpec::new("Julien", "Crépieux").slug("julien-crepieux"),
    )
}

/// The cast's `new_relation` webhook (unipile.md's payload).
fn relation(w: &World, cast: &Cast) -> String {
    w.new_relation(&cast.person.provider_id, &cast.person.public_identifier)
}

/// One person per `i` in 1..=n, each invited by the engine the day before
/// T0 as `e-<tag>-<i>` of the world's campaign.
async fn invited_members(rig: &Rig, tag: &str, n: u64) -> Vec<Cast> {
    let cast: Vec<Cast> = (1..=n)
        .map(|i| {
            Cast::new(
                rig,
                &format!("e-{tag}-{i}"),
                "Member",
                &format!("{tag} {i}"),
            )
        })
        .collect();
    let mut story = Story::new(rig);
    for member in &cast {
        story = story.invited(member);
    }
    story.until(T0).await;
    cast
}

/// Julien was invited under the profile URL he had then and changed it
/// before accepting: only the invite bridge (the invite's target) finds
/// him.
async fn invite_bridge_via_webhook(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let julien = Cast::of(
        &rig,
        "e-bridge",
        PersonSpec::new("Julien", "Crépieux").slug("someone-else"),
    )
    .by_profile_url();
    Story::new(&rig).invited(&julien).until(T0).await;
    let invites = rig.sim.invites(&w.account.provider_account_id);
    assert_eq!(invites.len(), 1, "the engine invited him");
    assert!(
        rig.sim
            .change_slug(&julien.person.provider_id, "julien-crepieux")
    );
    w.webhook(&w.new_relation(&julien.person.provider_id, "julien-crepieux"))
        .await;
    let (at, source, strategy, status) = accepted_by(w, "e-bridge").await;
    assert_eq!(at, Some(T0));
    assert_eq!(source.as_deref(), Some("webhook"));
    assert_eq!(strategy.as_deref(), Some("invite-bridge"));
    assert_eq!(status, "connected");
    assert_eq!(outbox_rows(w, "e-bridge").await, 1);
    // In time: the workflow advanced to the message, enqueued at once
    // (14:30 UTC is inside 09:00-17:00).
    let e = w.enrollment("e-bridge").await;
    assert_eq!((e.step_index, e.workflow_state.as_str()), (3, "active"));
    let run_at: (i64,) = sqlx::query_as(
        "SELECT run_at FROM campaign_send_jobs WHERE enrollment_id = 'e-bridge' AND step_index = 3",
    )
    .fetch_one(w.app.db.pool())
    .await
    .unwrap();
    assert_eq!(run_at.0, T0);
    let row = w
        .count(
            "SELECT COUNT(*) FROM webhook_inbox WHERE status = $1",
            "processed",
        )
        .await;
    assert_eq!(row, 1);
}

async fn member_id_match(kind: Kind) {
    let w = World::new(kind).await;
    w.enroll(
        &w.campaign,
        "e-member",
        w.prospect(None, Some(JULIEN), None),
    )
    .await;
    w.webhook(&w.new_relation(JULIEN, "julien-crepieux")).await;
    assert_eq!(
        accepted_by(&w, "e-member").await.2.as_deref(),
        Some("member-id")
    );
}

async fn sales_nav_decode(kind: Kind) {
    let w = World::new(kind).await;
    let lead = format!("https://www.linkedin.com/sales/lead/{SALES_NAV_JULIEN},NAME_SEARCH,Xk2p");
    w.enroll(
        &w.campaign,
        "e-salesnav",
        w.prospect(None, None, Some(&lead)),
    )
    .await;
    w.webhook(&w.new_relation(JULIEN, "julien-crepieux")).await;
    assert_eq!(
        accepted_by(&w, "e-salesnav").await.2.as_deref(),
        Some("sales-nav-decode")
    );
}

async fn public_identifier_with_url_normalisation(kind: Kind) {
    let w = World::new(kind).await;
    let url = "https://uk.linkedin.com/in/Julien-Crepieux/?trk=public_profile#about";
    w.enroll(&w.campaign, "e-slug", w.prospect(Some(url), None, None))
        .await;
    let pct = w.prospect(Some("linkedin.com/in/j%C3%BCrgen-m%C3%BCller"), None, None);
    w.enroll(&w.campaign, "e-pct", pct).await;
    w.webhook(&w.new_relation(JULIEN, "julien-crepieux")).await;
    w.webhook(&w.new_relation("ACoAABRqAmsKxxxxxxxxxxxx", "jürgen-müller"))
        .await;
    assert_eq!(
        accepted_by(&w, "e-slug").await.2.as_deref(),
        Some("public-identifier")
    );
    assert_eq!(
        accepted_by(&w, "e-pct").await.2.as_deref(),
        Some("public-identifier")
    );
}

/// Julien is in two campaigns of one account: the world's invited him; the
/// second, which sends on weekdays only, has his invite queued for Monday
/// (one account holds one pending invite per person). His accept matches
/// both: each is stamped, notified and gets its follow-up.
async fn one_accept_matches_several_campaigns(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let second = draft_campaign(&rig, json!({"name": "Second", "window": weekdays()})).await;
    let a = julien(&rig, "e-a");
    let b = a.again("e-b").in_campaign(&second);
    Story::new(&rig).invited(&a).queued(&b).until(T0).await;
    w.webhook(&relation(w, &a)).await;
    assert_eq!(outbox_rows(w, "e-a").await, 1);
    assert_eq!(outbox_rows(w, "e-b").await, 1);
    assert_eq!(active_jobs(w, "e-a").await, 1);
    assert_eq!(active_jobs(w, "e-b").await, 1);
}

/// The same accept through every path, 50 tasks at once, plus provider
/// retries of the webhook: one stamp, one notification, at most one job.
async fn fifty_concurrent_signals_stamp_once(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let julien = julien(&rig, "e-race");
    Story::new(&rig).invited(&julien).until(T0).await;
    let body = relation(w, &julien);
    let sources = [
        SignalSource::Webhook,
        SignalSource::Polling,
        SignalSource::EngineAlreadyConnected,
        SignalSource::ManualResync,
    ];
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (app, body) = (w.app.clone(), body.clone());
            let s = signal(w, sources[i % sources.len()], &julien.person.provider_id);
            tokio::spawn(async move {
                if i % 5 == 0 {
                    app.inbox.receive(body.as_bytes()).await.unwrap();
                    app.inbox.process_pending(10).await.unwrap();
                } else {
                    app.pipeline.accept_signal(&s).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    while w.app.inbox.process_pending(100).await.unwrap() > 0 {}
    assert_eq!(stamps(w, "e-race").await, 1, "exactly one stamp");
    assert_eq!(
        outbox_rows(w, "e-race").await,
        1,
        "exactly one notification"
    );
    assert_eq!(active_jobs(w, "e-race").await, 1, "one follow-up job");
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM webhook_inbox WHERE natural_key LIKE $1",
            "relation:%"
        )
        .await,
        1
    );
}

/// Julien, invited by the engine the day before T0 as `enrollment` of the
/// world's campaign, accepts: his `new_relation` webhook is received.
async fn invite_julien_and_receive(rig: &Rig, enrollment: &str) -> accord::ingest::inbox::Receipt {
    let julien = julien(rig, enrollment);
    Story::new(rig).invited(&julien).until(T0).await;
    receive(&rig.w, &relation(&rig.w, &julien)).await
}

/// Receives one webhook body through the inbox.
async fn receive(w: &World, body: &str) -> accord::ingest::inbox::Receipt {
    w.app.inbox.receive(body.as_bytes()).await.unwrap()
}

/// Processing stops after the inbox write (a crash); a restarted host
/// replays: stamped once, nothing lost; replaying again changes nothing.
async fn crash_after_inbox_write_then_replay(kind: Kind) {
    let rig = Rig::processor_only(kind).await;
    let w = &rig.w;
    let receipt = invite_julien_and_receive(&rig, "e-crash").await;
    assert!(!receipt.duplicate);
    assert_eq!(accepted_by(w, "e-crash").await.0, None, "not processed yet");
    // "Restart": a second host on the same database.
    let config = w.app.config.clone();
    let restarted = accord::app::App::start(config, w.clock.clone())
        .await
        .unwrap();
    let report = restarted.inbox.replay(false).await.unwrap();
    assert_eq!((report.processed, report.failed), (1, 0));
    assert_eq!(stamps(w, "e-crash").await, 1);
    assert_eq!(outbox_rows(w, "e-crash").await, 1);
    let again = restarted.inbox.replay(true).await.unwrap();
    assert_eq!(again.processed, 1);
    assert_eq!(
        stamps(w, "e-crash").await,
        1,
        "replaying everything is a no-op"
    );
    assert_eq!(active_jobs(w, "e-crash").await, 1);
}

/// Rows processed in one batch: a row that fails (its campaign's steps
/// are corrupt) rolls the batch back, the others are then processed one
/// per transaction, and the bad row stays pending with its error; nothing
/// of it was written. A concurrent duplicate of a stored webhook is
/// answered as such by the group writer.
async fn a_bad_row_fails_only_itself(kind: Kind) {
    let rig = Rig::processor_only(kind).await;
    let w = &rig.w;
    let broken = w.second_campaign().await;
    let cast: Vec<Cast> = (0..3)
        .map(|i| {
            let member = Cast::new(&rig, &format!("e-batch-{i}"), "Batch", &format!("M{i}"));
            if i == 1 {
                member.in_campaign(&broken)
            } else {
                member
            }
        })
        .collect();
    Story::new(&rig)
        .invited(&cast[0])
        .invited(&cast[1])
        .invited(&cast[2])
        .until(T0)
        .await;
    let members: Vec<&String> = cast.iter().map(|c| &c.person.provider_id).collect();
    // Kept raw: a corrupt row is the point, and the API refuses such steps.
    w.exec(
        "UPDATE campaigns SET steps = 'not json' WHERE id = $1",
        &[Box::leak(broken.id.clone().into_boxed_str())],
    )
    .await;
    // Stored together (group commit) while nothing processes them; the
    // same body twice at once is stored once.
    let bodies: Vec<String> = members
        .iter()
        .enumerate()
        .map(|(i, m)| w.new_relation(m, &format!("batch-{i}")))
        .collect();
    let mut sending = tokio::task::JoinSet::new();
    for body in bodies.iter().chain(std::iter::once(&bodies[0])) {
        let (inbox, body) = (w.app.inbox.clone(), body.clone());
        sending.spawn(async move { inbox.receive(body.as_bytes()).await });
    }
    let receipts = sending.join_all().await;
    let duplicates = receipts
        .iter()
        .filter(|r| r.as_ref().unwrap().duplicate)
        .count();
    assert_eq!(duplicates, 1, "{receipts:?}");

    assert_eq!(w.app.inbox.process_pending(100).await.unwrap(), 3);
    assert!(accepted_by(w, "e-batch-0").await.0.is_some());
    assert!(accepted_by(w, "e-batch-2").await.0.is_some());
    assert_eq!(active_jobs(w, "e-batch-0").await, 1);
    assert_eq!(active_jobs(w, "e-batch-2").await, 1);
    assert_eq!(accepted_by(w, "e-batch-1").await.0, None, "rolled back");
    assert_eq!(stamps(w, "e-batch-1").await, 0);
    assert_eq!(outbox_rows(w, "e-batch-1").await, 0);
    let (status, attempts, error): (String, i64, Option<String>) =
        sqlx::query_as("SELECT status, attempts, error FROM webhook_inbox WHERE body LIKE $1")
            .bind(format!("%{}%", members[1]))
            .fetch_one(w.app.db.pool())
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!(error.unwrap().contains("campaigns"), "names the table");
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM webhook_inbox WHERE status = $1",
            "processed"
        )
        .await,
        2
    );
}

/// The seeds' worked example: invited Oct 1, wait_accept timed out Oct 8
/// (condition_skipped), accepted Oct 10 14:30: the follow-up is enqueued
/// at once inside the window.
async fn late_accept_after_timeout_auto_fires_once(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let julien = julien(&rig, "e-late");
    Story::new(&rig).unanswered(&julien).until(T0).await;
    let e = w.enrollment("e-late").await;
    assert_eq!(
        (
            e.workflow_state.as_str(),
            e.linkedin_status.as_str(),
            e.step_index,
            e.next_run_at
        ),
        ("condition_skipped", "condition_skipped", 6, None)
    );
    let invite = &rig.sim.invites(&w.account.provider_account_id)[0];
    assert!(
        (OCT1_10AM..OCT1_10AM + HOUR_MS).contains(&invite.sent_at_ms),
        "invited on Oct 1: {invite:?}"
    );
    let member = julien.person.provider_id.as_str();
    // He accepts on LinkedIn; the signals below are how the host hears.
    assert!(rig.sim.connect(&w.account.provider_account_id, member, T0));
    let outcome = w
        .app
        .pipeline
        .accept_signal(&signal(w, SignalSource::Webhook, member))
        .await
        .unwrap();
    let report = &outcome.matches[0];
    assert_eq!(report.route.as_deref(), Some("late_auto_fire"));
    let Some(DispatchOutcome::Enqueued { run_at, .. }) = &report.dispatch else {
        panic!("{report:?}")
    };
    assert_eq!(*run_at, T0, "window open: runs now");
    let e = w.enrollment("e-late").await;
    assert_eq!(e.late_accept_observed_at, Some(T0));
    assert_eq!(e.linkedin_status, "connected");
    // Retries and other paths add nothing.
    for source in [
        SignalSource::Webhook,
        SignalSource::Polling,
        SignalSource::ManualResync,
    ] {
        let again = w
            .app
            .pipeline
            .accept_signal(&signal(w, source, member))
            .await
            .unwrap();
        assert_eq!(again.matches[0].stamp, StampOutcome::AlreadyStamped);
    }
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = $1 AND action = 'send_message'",
            "e-late"
        )
        .await,
        1
    );
    let source: (String,) =
        sqlx::query_as("SELECT source FROM campaign_send_jobs WHERE enrollment_id = 'e-late' AND action = 'send_message'")
            .fetch_one(w.app.db.pool())
            .await
            .unwrap();
    assert_eq!(source.0, "late_auto_fire");
    rig.minutes(5).await;
    assert_eq!(
        rig.sent_messages(&julien.person).len(),
        1,
        "the provider got the follow-up, once"
    );
}

async fn late_accept_outside_the_window_waits_for_it(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let campaign = draft_campaign(&rig, json!({"steps": without_condition()})).await;
    let julien = julien(&rig, "e-night").in_campaign(&campaign);
    Story::new(&rig)
        .unanswered(&julien)
        .until(T0 + 8 * 3_600_000 + 30 * 60_000) // 23:00 UTC
        .await;
    assert_eq!(w.enrollment("e-night").await.workflow_state, "timed_out");
    let outcome = w
        .app
        .pipeline
        .accept_signal(&signal(
            w,
            SignalSource::Webhook,
            &julien.person.provider_id,
        ))
        .await
        .unwrap();
    let Some(DispatchOutcome::Enqueued { run_at, .. }) = &outcome.matches[0].dispatch else {
        panic!("{outcome:?}")
    };
    let next_morning = T0 + 18 * 3_600_000 + 30 * 60_000; // Oct 11 09:00 UTC
    assert!(
        *run_at >= next_morning && *run_at < next_morning + 10 * 60_000,
        "09:00 plus jitter, got {run_at}"
    );
    let reason: (Option<String>,) = sqlx::query_as(
        "SELECT wait_reason FROM campaign_send_jobs WHERE enrollment_id = 'e-night' AND action = 'send_message'",
    )
    .fetch_one(w.app.db.pool())
    .await
    .unwrap();
    assert_eq!(reason.0.as_deref(), Some("window"));
}

async fn late_accept_on_a_completed_campaign_auto_fires(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let done = draft_campaign(&rig, json!({"name": "Done", "steps": ending_in_a_wait()})).await;
    let julien = julien(&rig, "e-done").in_campaign(&done);
    Story::new(&rig).unanswered(&julien).until(T0).await;
    assert_eq!(w.enrollment("e-done").await.workflow_state, "completed");
    campaign_action(&rig, &w.campaign.id, "stop").await;
    // Kept raw: nothing in the host moves a campaign to `completed` (no
    // API action, no engine path), and that status is this test's subject.
    w.exec(
        "UPDATE campaigns SET status = 'completed' WHERE id = $1",
        &[&done.id],
    )
    .await;
    let outcome = w
        .app
        .pipeline
        .accept_signal(&signal(
            w,
            SignalSource::Polling,
            &julien.person.provider_id,
        ))
        .await
        .unwrap();
    assert_eq!(
        outcome.trace,
        Some("orphan_webhook"),
        "no running campaign left in the workspace"
    );
    assert!(
        matches!(
            outcome.matches[0].dispatch,
            Some(DispatchOutcome::Enqueued { .. })
        ),
        "{outcome:?}"
    );
}

async fn late_accept_on_a_paused_campaign_is_a_recoverable_skip(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    // The world's campaign keeps the workspace "running".
    let campaign = draft_campaign(&rig, json!({"steps": without_condition()})).await;
    let julien = julien(&rig, "e-paused").in_campaign(&campaign);
    Story::new(&rig).unanswered(&julien).until(T0).await;
    assert_eq!(w.enrollment("e-paused").await.workflow_state, "timed_out");
    campaign_action(&rig, &campaign.id, "pause").await;
    let outcome = w
        .app
        .pipeline
        .accept_signal(&signal(
            w,
            SignalSource::Webhook,
            &julien.person.provider_id,
        ))
        .await
        .unwrap();
    assert_skipped(&outcome, "campaign_paused", true);
    assert_eq!(active_jobs(w, "e-paused").await, 0);
    assert_eq!(w.count("SELECT COUNT(*) FROM skips WHERE enrollment_id = $1 AND recoverable = 1 AND resolved_at IS NULL", "e-paused").await, 1);
    assert_eq!(
        w.enrollment("e-paused").await.late_accept_observed_at,
        Some(T0),
        "the late accept is recorded"
    );
}

/// The pipeline remembers campaigns between transactions, but never their
/// status: a campaign paused after an accept went through is seen paused
/// by the next one (a recoverable skip, no job).
async fn a_campaign_paused_after_an_accept_is_seen_paused(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    // The world's campaign keeps the workspace "running".
    let campaign = draft_campaign(&rig, json!({"steps": without_condition()})).await;
    let first_member = Cast::new(&rig, "e-seen-1", "Seen", "First").in_campaign(&campaign);
    let second_member = Cast::new(&rig, "e-seen-2", "Seen", "Second").in_campaign(&campaign);
    Story::new(&rig)
        .unanswered(&second_member)
        .invited(&first_member)
        .until(T0)
        .await;
    assert_eq!(w.enrollment("e-seen-2").await.workflow_state, "timed_out");
    let first = w
        .app
        .pipeline
        .accept_signal(&signal(
            w,
            SignalSource::Webhook,
            &first_member.person.provider_id,
        ))
        .await
        .unwrap();
    assert_eq!(first.matches[0].stamp, StampOutcome::Stamped, "{first:?}");
    campaign_action(&rig, &campaign.id, "pause").await;
    let second = w
        .app
        .pipeline
        .accept_signal(&signal(
            w,
            SignalSource::Webhook,
            &second_member.person.provider_id,
        ))
        .await
        .unwrap();
    assert_skipped(&second, "campaign_paused", true);
    assert_eq!(active_jobs(w, "e-seen-2").await, 0);
}

async fn late_accept_with_account_disconnected_is_a_recoverable_skip(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let julien = julien(&rig, "e-disc");
    Story::new(&rig).unanswered(&julien).until(T0).await;
    assert_eq!(
        w.enrollment("e-disc").await.workflow_state,
        "condition_skipped"
    );
    let status = serde_json::json!({"AccountStatus": {"account_id": w.account.provider_account_id, "account_type": "LINKEDIN", "message": "CREDENTIALS"}});
    w.webhook(&status.to_string()).await;
    let outcome = w
        .app
        .pipeline
        .accept_signal(&signal(
            w,
            SignalSource::Webhook,
            &julien.person.provider_id,
        ))
        .await
        .unwrap();
    assert_skipped(&outcome, "account_not_connected", true);
    assert_eq!(
        outbox_rows(w, "e-disc").await,
        1,
        "the team is still told about the accept"
    );
}

async fn reply_inferred_stamps_both_and_stops(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let julien = julien(&rig, "e-reply");
    Story::new(&rig).invited(&julien).until(T0).await;
    let member = julien.person.provider_id.as_str();
    let message = |sender: &str, id: &str| reply_message(w, sender, id);
    // Our own echo changes nothing.
    w.webhook(&message("ACoAAOwnOwnOwnOwn", "m-echo")).await;
    assert_eq!(w.enrollment("e-reply").await.linkedin_accepted_at, None);
    w.webhook(&message(member, "m-1")).await;
    w.webhook(&message(member, "m-1")).await; // provider retry
    w.webhook(&message(member, "m-2")).await; // a second reply
    let e = w.enrollment("e-reply").await;
    let at = 1_791_640_800_000; // 14:00 UTC, the message's own time
    assert_eq!(
        (e.linkedin_accepted_at, e.linkedin_replied_at),
        (Some(at), Some(at))
    );
    assert_eq!(
        (e.linkedin_status.as_str(), e.workflow_state.as_str()),
        ("replied", "stopped")
    );
    assert_eq!(e.accept_source.as_deref(), Some("reply_inferred"));
    assert_eq!(outbox_rows(w, "e-reply").await, 1);
    // A late webhook for the same accept is a no-op.
    w.webhook(&relation(w, &julien)).await;
    assert_eq!(outbox_rows(w, "e-reply").await, 1);
    assert_eq!(
        active_jobs(w, "e-reply").await,
        0,
        "a reply stops follow-ups"
    );
}

async fn a_reply_after_the_accept_cancels_the_queued_follow_up(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let julien = julien(&rig, "e-rc");
    Story::new(&rig).invited(&julien).until(T0).await;
    let member = julien.person.provider_id.as_str();
    w.app
        .pipeline
        .accept_signal(&signal(w, SignalSource::Webhook, member))
        .await
        .unwrap();
    assert_eq!(active_jobs(w, "e-rc").await, 1);
    w.app
        .pipeline
        .accept_signal(&signal(w, SignalSource::ReplyInferred, member))
        .await
        .unwrap();
    assert_eq!(active_jobs(w, "e-rc").await, 0);
    assert_eq!(outbox_rows(w, "e-rc").await, 1, "still one notification");
    assert_eq!(w.enrollment("e-rc").await.linkedin_status, "replied");
}

async fn unmatched_accepts_leave_traces(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    w.enroll(&w.campaign, "e-x", w.prospect(None, Some(JULIEN), None))
        .await;
    let stranger = w
        .app
        .pipeline
        .accept_signal(&signal(w, SignalSource::Webhook, "ACoAABRqAmsKstranger"))
        .await
        .unwrap();
    assert_eq!(stranger.trace, Some("bridge_miss_all_strategies"));
    let mut unknown = signal(w, SignalSource::Webhook, JULIEN);
    unknown.linkedin_account_id = "not-our-account".into();
    assert_eq!(
        w.app.pipeline.accept_signal(&unknown).await.unwrap().trace,
        Some("unknown_account")
    );
    campaign_action(&rig, &w.campaign.id, "pause").await;
    let orphan = w
        .app
        .pipeline
        .accept_signal(&signal(w, SignalSource::Webhook, "ACoAABRqAmsKother"))
        .await
        .unwrap();
    assert_eq!(orphan.trace, Some("orphan_webhook"));
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM traces WHERE kind = $1",
            "bridge_miss_all_strategies"
        )
        .await,
        1
    );
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM traces WHERE kind = $1",
            "orphan_webhook"
        )
        .await,
        1
    );
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM outbox WHERE event_type = $1",
            "linkedin.invite_accepted"
        )
        .await,
        0
    );
}

async fn failing_policies_take_their_fail_safe(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let rt = w.app.policies.runtime().clone();
    let load = |name: &str, slot| {
        rt.load_file(&crate::support::test_guest(name), Some(slot))
            .unwrap()
    };
    // The guests read their mode from the enrollment id: "panic" waits on
    // its accept, "loop" timed out.
    let panic = julien(&rig, "panic");
    let without = draft_campaign(&rig, json!({"steps": without_condition()})).await;
    let looping = Cast::new(&rig, "loop", "Loop", "Member").in_campaign(&without);
    Story::new(&rig)
        .unanswered(&looping)
        .invited(&panic)
        .until(T0)
        .await;
    assert_eq!(w.enrollment("loop").await.workflow_state, "timed_out");
    // Routing traps on enrollment "panic": stamp only, notified, no job.
    w.app
        .policies
        .activate(load("hostile_routing", Slot::Routing));
    let out = w
        .app
        .pipeline
        .accept_signal(&signal(w, SignalSource::Webhook, &panic.person.provider_id))
        .await
        .unwrap();
    assert_eq!(out.matches[0].route.as_deref(), Some("stamp_only"));
    assert_eq!(outbox_rows(w, "panic").await, 1);
    assert_eq!(active_jobs(w, "panic").await, 0);
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM traces WHERE kind = 'policy_failure' AND enrollment_id = $1",
            "panic"
        )
        .await,
        1
    );

    // Pre-flight loops on enrollment "loop": a recoverable policy_error skip.
    let (bytes, origin) = accord::policy::builtin::for_slot(Slot::Routing);
    w.app
        .policies
        .activate(rt.load(bytes, origin, None).unwrap());
    w.app
        .policies
        .activate(load("hostile_preflight", Slot::Preflight));
    let out = w
        .app
        .pipeline
        .accept_signal(&signal(
            w,
            SignalSource::Webhook,
            &looping.person.provider_id,
        ))
        .await
        .unwrap();
    assert_skipped(&out, "policy_error", true);

    // Match fails on a signal named "loop": unmatched, traced.
    w.app.policies.activate(load("hostile_match", Slot::Match));
    let mut s = signal(w, SignalSource::Webhook, "ACoAABRqAmsKnobody");
    s.full_name = Some("loop".into());
    let out = w.app.pipeline.accept_signal(&s).await.unwrap();
    assert!(out.matches.is_empty());
    assert_eq!(out.trace, Some("bridge_miss_all_strategies"));
    // Routing, pre-flight, then signal-keys and resolve (both loop).
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM traces WHERE kind = $1",
            "policy_failure"
        )
        .await,
        4
    );
}

async fn account_status_webhooks_flip_the_account(kind: Kind) {
    let w = World::new(kind).await;
    let status = |m: &str| {
        serde_json::json!({"AccountStatus": {"account_id": w.account.provider_account_id, "account_type": "LINKEDIN", "message": m}}).to_string()
    };
    let current = |w: &World| {
        let id = w.account.id.clone();
        let pool = w.app.db.pool().clone();
        async move {
            let (s,): (String,) =
                sqlx::query_as("SELECT status FROM linkedin_accounts WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            s
        }
    };
    w.webhook(&status("CREDENTIALS")).await;
    assert_eq!(current(&w).await, "disconnected");
    w.webhook(&status("OK")).await;
    assert_eq!(current(&w).await, "connected");
    w.webhook(&status("CREDENTIALS")).await; // the same body again is not deduplicated away
    assert_eq!(current(&w).await, "disconnected");
}

/// `enqueue_many` reports, per job and in order, whether it went in: a
/// job whose (enrollment, step) already has an active one is refused by
/// the partial unique index, and only the others get ids (the statement
/// returns no rows, so the refused case reads the ids back).
async fn enqueue_many_reports_refused_jobs_in_order(kind: Kind) {
    use accord::store::jobs::{self, NewJob};
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    invited_members(&rig, "q", 2).await;
    let job = |enrollment_id| NewJob {
        enrollment_id,
        campaign_id: &w.campaign.id,
        linkedin_account_id: &w.campaign.linkedin_account_id,
        step_index: 3,
        action: "send_message",
        source: "late_accept",
        run_at: T0,
        wait_reason: None,
    };
    let mut tx = w.app.db.begin().await.unwrap();
    let first = jobs::enqueue_many(&mut tx, &[job("e-q-1")], T0)
        .await
        .unwrap();
    assert!(first[0].is_some());
    let both = jobs::enqueue_many(&mut tx, &[job("e-q-1"), job("e-q-2")], T0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(both[0], None, "e-q-1 already had an active job at step 3");
    let second = both[1].clone().expect("e-q-2 had none");
    assert_ne!(Some(second.clone()), first[0]);
    assert_eq!(active_jobs(w, "e-q-1").await, 1);
    assert_eq!(active_jobs(w, "e-q-2").await, 1);
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE id = $1",
            &second
        )
        .await,
        1
    );
}

/// The rows a transaction defers (audit events, traces, outbox rows with
/// their deliveries, inbox outcomes) all land at commit, whether they go
/// in one statement (PostgreSQL: an array per column, any count; SQLite:
/// one script up to its parameter bound) or table by table in chunks of
/// 200 (SQLite past the bound, 3,400 events): an outbox row whose dedupe
/// key exists is skipped with its deliveries.
async fn deferred_rows_land_at_commit_in_any_shape(kind: Kind) {
    use accord::store::endpoints::{self, EndpointKind, NewEndpoint};
    use accord::store::events::NewEvent;
    use accord::store::inbox::{self, Finished, NewInboxRow};
    use accord::store::outbox::NewOutbox;
    use accord::store::traces::NewTrace;
    let w = World::new(kind).await;
    let ws = w.workspace.id.clone();
    let mut c = w.app.db.pool().acquire().await.unwrap();
    let endpoint = NewEndpoint {
        workspace_id: &ws,
        kind: EndpointKind::Webhook,
        url: "http://127.0.0.1:9/hook",
        name: None,
        secret: None,
        enabled: true,
    };
    endpoints::insert(&mut c, &endpoint, T0).await.unwrap();
    drop(c);
    let payload = serde_json::json!({"k": "v"});
    let mut expected = (0, 0, 0);
    for (round, (events, others)) in [(3, 3), (250, 250), (3_400, 1)].into_iter().enumerate() {
        let rows: Vec<NewInboxRow> = (0..others)
            .map(|i| NewInboxRow::new(&format!("nk-{round}-{i}"), "new_relation", "{}", T0))
            .collect();
        let mut tx = w.app.db.begin().await.unwrap();
        inbox::insert_many(&mut tx, &rows.iter().collect::<Vec<_>>())
            .await
            .unwrap();
        for i in 0..events {
            let event = NewEvent {
                workspace_id: &ws,
                kind: "deferred_test",
                detail: Some(serde_json::json!({"i": i})),
                ..NewEvent::default()
            };
            tx.defer_event(event, T0);
        }
        for i in 0..others {
            let trace = NewTrace {
                workspace_id: Some(&ws),
                kind: "deferred_test",
                detail: serde_json::json!({"i": i}),
                ..NewTrace::default()
            };
            tx.defer_trace(trace, T0);
            // Key 0 repeats the first round's: skipped, no delivery.
            let key = if i == 0 {
                "dk-0-0".to_string()
            } else {
                format!("dk-{round}-{i}")
            };
            tx.defer_outbox(NewOutbox::new(&ws, "deferred.test", &key, &payload, T0));
        }
        let finished = rows
            .iter()
            .map(|r| Finished {
                id: r.id.clone(),
                status: "processed",
                outcome: serde_json::json!({"round": round}),
            })
            .collect();
        tx.defer_inbox_finish(finished, T0 + 1);
        tx.commit().await.unwrap();
        let fresh_outbox = if round == 0 { others } else { others - 1 };
        expected = (
            expected.0 + events,
            expected.1 + others,
            expected.2 + fresh_outbox,
        );
        let count = |sql: &'static str| w.count(sql, "deferred_test");
        assert_eq!(
            count("SELECT COUNT(*) FROM linkedin_events WHERE kind = $1").await,
            expected.0 as i64
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM traces WHERE kind = $1").await,
            expected.1 as i64
        );
        let outbox = w
            .count(
                "SELECT COUNT(*) FROM outbox WHERE event_type = $1",
                "deferred.test",
            )
            .await;
        assert_eq!(outbox, expected.2 as i64, "round {round}");
        let deliveries = w
            .count(
                "SELECT COUNT(*) FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id WHERE o.event_type = $1",
                "deferred.test",
            )
            .await;
        assert_eq!(
            deliveries, expected.2 as i64,
            "one delivery per new outbox row"
        );
        let processed = w
            .count(
                "SELECT COUNT(*) FROM webhook_inbox WHERE status = 'processed' AND processed_at IS NOT NULL AND natural_key LIKE $1",
                &format!("nk-{round}-%"),
            )
            .await;
        assert_eq!(processed, others as i64, "round {round}");
    }
}

/// Text that could end an array element or the array, or read as NULL,
/// goes through every statement that binds a list (on PostgreSQL one
/// array literal per column) and comes back byte for byte; a `None`
/// stays NULL.
async fn hostile_text_survives_list_statements(kind: Kind) {
    use accord::store::events::NewEvent;
    use accord::store::inbox::{self, Finished, NewInboxRow};
    use accord::store::outbox::NewOutbox;
    use accord::store::traces::NewTrace;
    let w = World::new(kind).await;
    let ws = w.workspace.id.clone();
    let hostile = [
        r#"a","b"#,
        r"back\slash\",
        "{NULL}",
        "NULL",
        "",
        "comma, and } brace",
        "line\nbreak\ttab",
        "unicode ✓ — é",
        r#"{"json": "with \"quotes\""}"#,
    ];
    let rows: Vec<NewInboxRow> = hostile
        .iter()
        .enumerate()
        .map(|(i, h)| NewInboxRow::new(&format!("{h}|{i}"), "new_relation", h, T0))
        .collect();
    let mut tx = w.app.db.begin().await.unwrap();
    let stored = inbox::insert_many(&mut tx, &rows.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(stored.len(), hostile.len());
    for (i, h) in hostile.iter().enumerate() {
        let event = NewEvent {
            workspace_id: &ws,
            kind: "hostile_test",
            strategy: Some(h),
            source: (i % 2 == 0).then_some(*h),
            detail: Some(serde_json::json!({"text": h})),
            ..NewEvent::default()
        };
        tx.defer_event(event, T0 + i as i64);
        let trace = NewTrace {
            workspace_id: Some(&ws),
            kind: "hostile_test",
            signal: Some(h.to_string()),
            module_sha256: (i % 2 == 1).then_some(*h),
            ..NewTrace::default()
        };
        tx.defer_trace(trace, T0 + i as i64);
        let payload = serde_json::json!({"text": h});
        tx.defer_outbox(NewOutbox::new(
            &ws,
            "hostile.test",
            &format!("{h}|{i}"),
            &payload,
            T0,
        ));
    }
    let finished = rows
        .iter()
        .zip(hostile)
        .map(|(r, h)| Finished {
            id: r.id.clone(),
            status: "processed",
            outcome: serde_json::json!({"text": h}),
        })
        .collect();
    tx.defer_inbox_finish(finished, T0 + 1);
    tx.commit().await.unwrap();

    let pool = w.app.db.pool();
    let mut inbox: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT natural_key, body, outcome FROM webhook_inbox WHERE event = 'new_relation'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    inbox.sort();
    let mut want: Vec<(String, String, Option<String>)> = hostile
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let outcome = serde_json::json!({"text": h}).to_string();
            (format!("{h}|{i}"), h.to_string(), Some(outcome))
        })
        .collect();
    want.sort();
    assert_eq!(inbox, want);
    let events: Vec<(Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT strategy, source, detail FROM linkedin_events WHERE kind = 'hostile_test' ORDER BY occurred_at",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let traces: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT signal, module_sha256 FROM traces WHERE kind = 'hostile_test' ORDER BY created_at",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (i, h) in hostile.iter().enumerate() {
        let detail = serde_json::json!({"text": h}).to_string();
        let source = (i % 2 == 0).then(|| h.to_string());
        assert_eq!(
            events[i],
            (Some(h.to_string()), source, detail),
            "event {i}"
        );
        let module = (i % 2 == 1).then(|| h.to_string());
        assert_eq!(traces[i], (Some(h.to_string()), module), "trace {i}");
    }
    let mut outbox: Vec<(String, String)> =
        sqlx::query_as("SELECT dedupe_key, payload FROM outbox WHERE event_type = 'hostile.test'")
            .fetch_all(pool)
            .await
            .unwrap();
    outbox.sort();
    let mut want: Vec<(String, String)> = hostile
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (
                format!("{h}|{i}"),
                serde_json::json!({"text": h}).to_string(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(outbox, want);
}

/// On PostgreSQL the inbox's and the jobs' statistics are refreshed once
/// 1,000 inbox rows have been processed (a cached plan made while they
/// were empty is replaced); on SQLite nothing runs.
async fn statistics_are_refreshed_as_the_inbox_grows(kind: Kind) {
    let w = World::new(kind).await;
    let analyzed = || async {
        if kind == Kind::Sqlite {
            return 0;
        }
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(SUM(analyze_count), 0)::BIGINT FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname IN ('webhook_inbox', 'campaign_send_jobs')",
        )
        .fetch_one(w.app.db.pool())
        .await
        .unwrap();
        n
    };
    assert_eq!(analyzed().await, 0);
    w.app.db.note_growth(999);
    w.app.db.note_growth(1);
    if kind == Kind::Sqlite {
        return;
    }
    // The ANALYZE runs in the background; its statistics reach
    // pg_stat_user_tables when its backend reports them.
    let mut seen = 0;
    for _ in 0..200 {
        seen = analyzed().await;
        if seen >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, 2, "both tables analyzed once");
}

/// Stores the bodies in order with nothing processing them, then
/// processes the inbox once: all of them in one batch.
async fn one_batch(w: &World, bodies: &[String]) {
    for body in bodies {
        w.app.inbox.receive(body.as_bytes()).await.unwrap();
    }
    let n = w.app.inbox.process_pending(100).await.unwrap();
    assert_eq!(n, bodies.len());
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM webhook_inbox WHERE status = $1",
            "pending"
        )
        .await,
        0
    );
}

/// A batch is matched, stamped and dispatched set-wise, yet each row gets
/// the outcome it would get alone, in order: a reply arriving in the same
/// batch as its accept (same enrollment) is applied after the accept
/// (a second round), and cancels the follow-up the accept just queued; a
/// signal nobody matches leaves its trace; the others stamp and enqueue.
async fn a_batch_is_processed_set_wise_in_order(kind: Kind) {
    let rig = Rig::processor_only(kind).await;
    let w = &rig.w;
    let cast = invited_members(&rig, "set", 3).await;
    let m: Vec<&str> = cast.iter().map(|c| c.person.provider_id.as_str()).collect();
    let stranger = accord::simulator::encode_member_id(false, 299_999_999);
    one_batch(
        w,
        &[
            w.new_relation(m[0], "set-1"),
            w.new_relation(m[1], "set-2"),
            w.new_relation(&stranger, "stranger"),
            reply_message(w, m[0], "m-set-1"),
            w.new_relation(m[2], "set-3"),
        ],
    )
    .await;
    let first = w.enrollment("e-set-1").await;
    assert_eq!(
        first.accept_source.as_deref(),
        Some("webhook"),
        "the accept came first"
    );
    assert_eq!(first.linkedin_status, "replied");
    assert!(first.linkedin_replied_at.is_some());
    assert_eq!(active_jobs(w, "e-set-1").await, 0, "the reply cancelled it");
    for e in ["e-set-1", "e-set-2", "e-set-3"] {
        assert_eq!(outbox_rows(w, e).await, 1, "{e}");
        assert_eq!(stamps(w, e).await, 1, "{e}");
    }
    for e in ["e-set-2", "e-set-3"] {
        assert_eq!(active_jobs(w, e).await, 1, "{e}");
        assert_eq!(w.enrollment(e).await.linkedin_status, "connected");
    }
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM traces WHERE kind = $1",
            "bridge_miss_all_strategies"
        )
        .await,
        1
    );
    let (outcome,): (String,) =
        sqlx::query_as("SELECT outcome FROM webhook_inbox WHERE natural_key = $1")
            .bind("message:m-set-1")
            .fetch_one(w.app.db.pool())
            .await
            .unwrap();
    assert!(outcome.contains("reply_stamped"), "{outcome}");
}

/// An account-status webhook in the middle of a batch splits it: the
/// accept before it dispatches on a connected account, the one after it
/// sees the account disconnected (a recoverable skip).
async fn an_account_status_change_splits_a_batch(kind: Kind) {
    let rig = Rig::processor_only(kind).await;
    let w = &rig.w;
    let m = invited_members(&rig, "split", 2).await;
    let status = serde_json::json!({"AccountStatus": {"account_id": w.account.provider_account_id, "account_type": "LINKEDIN", "message": "CREDENTIALS"}});
    one_batch(
        w,
        &[
            w.new_relation(&m[0].person.provider_id, "split-1"),
            status.to_string(),
            w.new_relation(&m[1].person.provider_id, "split-2"),
        ],
    )
    .await;
    assert_eq!(active_jobs(w, "e-split-1").await, 1);
    assert_eq!(active_jobs(w, "e-split-2").await, 0);
    assert!(
        w.enrollment("e-split-2")
            .await
            .linkedin_accepted_at
            .is_some()
    );
    assert_eq!(
        w.count(
            "SELECT COUNT(*) FROM skips WHERE reason = 'account_not_connected' AND recoverable = 1 AND enrollment_id = $1",
            "e-split-2"
        )
        .await,
        1
    );
}

/// `accept_many` answers every signal as if it ran alone: the same accept
/// twice in one call stamps once (the second waits for a new round and
/// finds the stamp), and `dispatch_many` naming one enrollment twice
/// queues one job.
async fn many_signals_in_one_call_stamp_and_queue_once(kind: Kind) {
    let rig = Rig::new(kind, |c| {
        c.retry_backoff_ms = vec![accord::clock::MINUTE_MS]
    })
    .await;
    let w = &rig.w;
    let cast = invited_members(&rig, "many", 2).await;
    // Both accepted on LinkedIn; the signals below are how the host hears.
    for member in &cast {
        assert!(rig.sim.connect(
            &w.account.provider_account_id,
            &member.person.provider_id,
            T0
        ));
    }
    let m: Vec<&str> = cast.iter().map(|c| c.person.provider_id.as_str()).collect();
    let signals = [
        signal(w, SignalSource::Webhook, m[0]),
        signal(w, SignalSource::Polling, m[0]),
        signal(w, SignalSource::Webhook, m[1]),
    ];
    let mut tx = w.app.pipeline.begin().await.unwrap();
    let mut batch = accord::pipeline::Batch::new();
    let outcomes = w
        .app
        .pipeline
        .accept_many(&mut tx, &mut batch, &signals, &[])
        .await
        .unwrap();
    w.app.pipeline.commit(tx, &batch).await.unwrap();
    let stamped: Vec<StampOutcome> = outcomes.iter().map(|o| o.matches[0].stamp).collect();
    assert_eq!(
        stamped,
        [
            StampOutcome::Stamped,
            StampOutcome::AlreadyStamped,
            StampOutcome::Stamped
        ]
    );
    assert_eq!(outbox_rows(w, "e-many-1").await, 1);
    assert_eq!(active_jobs(w, "e-many-1").await, 1);

    // The follow-up fails at the provider until its retries are spent,
    // then it is dispatched twice in one call.
    follow_up_failed_for_good(&rig, "e-many-2", &cast[1].person).await;
    let e = w.enrollment("e-many-2").await;
    let request = accord::pipeline::DispatchRequest {
        source: accord_policy_core::DispatchSource::InTimeAdvance,
        step_index: u32::try_from(e.step_index).unwrap(),
    };
    let item = accord::pipeline::DispatchItem {
        account: &w.account,
        campaign: &w.campaign,
        enrollment: &e,
        request,
    };
    let mut tx = w.app.pipeline.begin().await.unwrap();
    let outcomes = w
        .app
        .pipeline
        .dispatch_many(&mut tx, &[item, item])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        matches!(outcomes[0], DispatchOutcome::Enqueued { .. }),
        "{outcomes:?}"
    );
    assert!(
        !matches!(outcomes[1], DispatchOutcome::Enqueued { .. }),
        "{outcomes:?}"
    );
    assert_eq!(active_jobs(w, "e-many-2").await, 1);
}

/// Write-through (SQLite's default): a webhook is processed in the
/// transaction that stores it, before `receive` answers: stamped, its
/// follow-up queued, its row settled; nothing is left for the processor.
/// On PostgreSQL the same webhook waits, pending, for the processor.
async fn write_through_processes_before_the_answer(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let receipt = invite_julien_and_receive(&rig, "e-through").await;
    assert!(!receipt.duplicate);
    let inline = kind == Kind::Sqlite;
    assert_eq!(receipt.processed, inline, "{receipt:?}");
    if inline {
        assert_eq!(stamps(w, "e-through").await, 1);
        assert_eq!(active_jobs(w, "e-through").await, 1);
        assert_eq!(outbox_rows(w, "e-through").await, 1);
        assert_eq!(w.app.inbox.process_pending(100).await.unwrap(), 0);
    } else {
        assert_eq!(stamps(w, "e-through").await, 0, "not before the processor");
        assert_eq!(w.app.inbox.process_pending(100).await.unwrap(), 1);
        assert_eq!(stamps(w, "e-through").await, 1);
    }
    let (status, attempts): (String, i64) =
        sqlx::query_as("SELECT status, attempts FROM webhook_inbox WHERE id = $1")
            .bind(receipt.inbox_id.as_deref().unwrap())
            .fetch_one(w.app.db.pool())
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("processed", 1));
    // The provider's retry: acknowledged as a duplicate, nothing again.
    let e = w.enrollment("e-through").await;
    let invited = e.invited_provider_id.as_deref().unwrap();
    let retry = receive(w, &w.new_relation(invited, "julien-crepieux")).await;
    assert!(retry.duplicate && !retry.processed, "{retry:?}");
    assert_eq!(stamps(w, "e-through").await, 1);
    assert_eq!(outbox_rows(w, "e-through").await, 1);
}

/// When write-through processing fails (the campaign's steps are
/// corrupt), its transaction is rolled back and the webhook is stored
/// alone, pending: it is acknowledged, nothing of its processing is
/// written, and the processor then records the failure on the row. A
/// good webhook after it is processed as usual.
async fn a_failed_write_through_leaves_the_row_for_the_processor(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let w = &rig.w;
    let broken = w.second_campaign().await;
    let good_member = Cast::new(&rig, "e-good", "Good", "Member");
    let bad_member = Cast::new(&rig, "e-bad", "Bad", "Member").in_campaign(&broken);
    Story::new(&rig)
        .invited(&good_member)
        .invited(&bad_member)
        .until(T0)
        .await;
    let (good, bad) = (
        &good_member.person.provider_id,
        &bad_member.person.provider_id,
    );
    // Kept raw: a corrupt row is the point, and the API refuses such steps.
    w.exec(
        "UPDATE campaigns SET steps = 'not json' WHERE id = $1",
        &[Box::leak(broken.id.clone().into_boxed_str())],
    )
    .await;
    let bad_receipt = receive(w, &w.new_relation(bad, "bad")).await;
    assert!(
        !bad_receipt.duplicate && !bad_receipt.processed,
        "{bad_receipt:?}"
    );
    let good_receipt = receive(w, &w.new_relation(good, "good")).await;
    assert_eq!(good_receipt.processed, kind == Kind::Sqlite);
    assert_eq!(stamps(w, "e-bad").await, 0, "rolled back");
    assert_eq!(outbox_rows(w, "e-bad").await, 0);
    let status = |id: String| {
        let pool = w.app.db.pool().clone();
        async move {
            sqlx::query_as::<_, (String, i64, Option<String>)>(
                "SELECT status, attempts, error FROM webhook_inbox WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let bad_id = bad_receipt.inbox_id.unwrap();
    assert_eq!(status(bad_id.clone()).await.0, "pending");
    while w.app.inbox.process_pending(100).await.unwrap() > 0 {
        if status(bad_id.clone()).await.1 > 0 {
            break;
        }
    }
    let (state, attempts, error) = status(bad_id).await;
    assert_eq!((state.as_str(), attempts), ("pending", 1));
    assert!(error.unwrap().contains("campaigns"), "names the table");
    assert_eq!(stamps(w, "e-bad").await, 0);
    assert_eq!(stamps(w, "e-good").await, 1);
    assert_eq!(active_jobs(w, "e-good").await, 1);
}

/// A write-through group over its time budget pauses write-through on the
/// clock: the next webhooks are answered once stored and left, pending,
/// to the processor; when the pause is over, write-through resumes.
/// (PostgreSQL has no write-through: every webhook waits for the
/// processor.)
async fn a_slow_write_through_pauses_itself(kind: Kind) {
    let rig = Rig::configured(
        kind,
        |c| c.inbox_write_through_budget = std::time::Duration::ZERO,
        |_| {},
    )
    .await;
    let w = &rig.w;
    let m = invited_members(&rig, "slow", 3).await;
    let member = |i: usize| w.new_relation(&m[i].person.provider_id, &format!("slow-{i}"));
    let sqlite = kind == Kind::Sqlite;
    assert_eq!(
        receive(w, &member(0)).await.processed,
        sqlite,
        "before any group"
    );
    // Every group is over a zero budget: the first one paused it.
    assert!(!receive(w, &member(1)).await.processed);
    assert_eq!(stamps(w, "e-slow-2").await, 0, "waits for the processor");
    let pending = if sqlite { 1 } else { 2 };
    assert_eq!(w.app.inbox.process_pending(100).await.unwrap(), pending);
    assert_eq!(stamps(w, "e-slow-2").await, 1);
    w.clock.advance(accord::ingest::writer::PAUSE_MS);
    assert_eq!(
        receive(w, &member(2)).await.processed,
        sqlite,
        "the pause is over"
    );
}

on_both_databases!(
    write_through_processes_before_the_answer,
    a_slow_write_through_pauses_itself,
    a_failed_write_through_leaves_the_row_for_the_processor,
    a_batch_is_processed_set_wise_in_order,
    an_account_status_change_splits_a_batch,
    many_signals_in_one_call_stamp_and_queue_once,
    enqueue_many_reports_refused_jobs_in_order,
    deferred_rows_land_at_commit_in_any_shape,
    hostile_text_survives_list_statements,
    statistics_are_refreshed_as_the_inbox_grows,
    invite_bridge_via_webhook,
    member_id_match,
    sales_nav_decode,
    public_identifier_with_url_normalisation,
    one_accept_matches_several_campaigns,
    fifty_concurrent_signals_stamp_once,
    crash_after_inbox_write_then_replay,
    a_bad_row_fails_only_itself,
    late_accept_after_timeout_auto_fires_once,
    late_accept_outside_the_window_waits_for_it,
    late_accept_on_a_completed_campaign_auto_fires,
    late_accept_on_a_paused_campaign_is_a_recoverable_skip,
    a_campaign_paused_after_an_accept_is_seen_paused,
    late_accept_with_account_disconnected_is_a_recoverable_skip,
    reply_inferred_stamps_both_and_stops,
    a_reply_after_the_accept_cancels_the_queued_follow_up,
    unmatched_accepts_leave_traces,
    failing_policies_take_their_fail_safe,
    account_status_webhooks_flip_the_account,
);
