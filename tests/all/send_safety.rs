//! The follow-up goes out once, whatever happens between the enqueue and
//! the provider's answer: a late accept followed up by resume is stamped
//! on send (so the late-accepts heal never sends it again), and a send
//! whose answer is lost (a timeout after or before acting, a worker that
//! died mid-send) is reconciled with the provider's record before it is
//! ever repeated, or held for an operator. Every assertion reads what the
//! simulator (the provider) received.

use crate::on_both_databases;
use crate::rig::*;
use crate::world::Kind;
use accord::clock::{DAY_MS, HOUR_MS, MINUTE_MS};
use accord::provider::LinkedinProvider;
use accord::provider::unipile::UnipileClient;
use accord::simulator::{CallRecord, PersonSpec, SimPerson};

const CHATS: &str = "POST /api/v1/chats";
const ATTENDEE_MESSAGES: &str = "/api/v1/chat_attendees/{attendee_id}/messages";
const INVITE: &str = "POST /api/v1/users/invite";

on_both_databases!(
    a_late_accept_followed_up_by_resume_is_never_followed_up_again,
    a_message_that_timed_out_after_acting_is_not_sent_again,
    a_message_that_timed_out_before_acting_is_sent_once_after_a_read,
    an_unreadable_record_holds_the_send_for_an_operator,
    an_invite_that_timed_out_after_acting_is_recorded_not_resent,
    a_worker_that_died_mid_send_is_reconciled_not_repeated,
    an_invite_in_doubt_counts_toward_the_daily_cap,
);

/// The calls the account made, in order, with the given method and route.
fn calls(rig: &Rig, method: &str, route: &str) -> Vec<CallRecord> {
    rig.sim
        .calls()
        .into_iter()
        .filter(|c| c.method == method && c.route == route)
        .collect()
}

/// No two actions of the main account (invites, messages, and the reads
/// that reconcile them) closer than its spacing.
fn assert_spaced(rig: &Rig) {
    let account = &rig.w.account;
    let times: Vec<i64> = rig
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.account_id.as_deref() == Some(&account.provider_account_id))
        .filter(|c| {
            c.method == "POST"
                || c.route == ATTENDEE_MESSAGES
                || c.route == "/api/v1/users/invite/sent"
        })
        .map(|c| c.at_ms)
        .collect();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= account.min_spacing_ms,
            "calls {} ms apart, spacing is {} ms: {times:?}",
            pair[1] - pair[0],
            account.min_spacing_ms
        );
    }
}

async fn job_statuses(rig: &Rig, enrollment: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT source, status, wait_reason FROM campaign_send_jobs WHERE enrollment_id = $1 AND action = 'send_message' ORDER BY created_at, id",
    )
    .bind(enrollment)
    .fetch_all(rig.w.app.db.pool())
    .await
    .unwrap()
}

/// A prospect who accepts an hour after the invite: the follow-up is due
/// inside the window (T0 is 14:30 UTC, the window closes at 17:00).
async fn accepting(rig: &Rig, id: &str) -> SimPerson {
    rig.enroll(id, PersonSpec::new("Ada", "Quick").accepts_after(HOUR_MS))
        .await
}

/// Defect: a late accept that arrives while the campaign is paused is
/// followed up by the resume sweep; the late-accepts heal then saw no
/// stamp and sent the follow-up a second time. Time passes between the
/// enqueue (resume, after the window closed) and the send (next morning),
/// so a stamp at enqueue would be told apart from a stamp on send.
async fn a_late_accept_followed_up_by_resume_is_never_followed_up_again(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let person = rig
        .enroll(
            "e-late",
            PersonSpec::new("Lena", "Late").accepts_after(9 * DAY_MS),
        )
        .await;
    let campaign = rig.w.campaign.id.clone();
    // The invite goes out; wait_accept (7 d) times out on day 7.
    rig.run_for(8 * DAY_MS, HOUR_MS).await;
    assert_eq!(rig.sim.invites(&rig.w.account.provider_account_id).len(), 1);
    let e = rig.enrollment("e-late").await;
    assert!(e.linkedin_accepted_at.is_none());
    assert_ne!(e.workflow_state, "active", "wait_accept timed out: {e:?}");

    let (status, _) = rig
        .api("POST", &format!("/api/campaigns/{campaign}/pause"), None)
        .await;
    assert_eq!(status, 200);
    // Day 9, 14:30: the late accept arrives while the campaign is paused.
    rig.run_for(DAY_MS + HOUR_MS, HOUR_MS).await;
    let e = rig.enrollment("e-late").await;
    assert!(e.late_accept_observed_at.is_some(), "a late accept: {e:?}");
    assert!(job_statuses(&rig, "e-late").await.is_empty());

    // 20:00, the window is closed: resume enqueues the follow-up for
    // tomorrow morning.
    rig.run_for(4 * HOUR_MS + 30 * MINUTE_MS, 30 * MINUTE_MS)
        .await;
    let (status, body) = rig
        .api("POST", &format!("/api/campaigns/{campaign}/resume"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resume_sweep"]["enqueued"], 1, "{body}");
    rig.run_for(2 * HOUR_MS, 30 * MINUTE_MS).await;
    assert!(
        rig.sent_messages(&person).is_empty(),
        "the window is closed"
    );
    assert!(
        rig.enrollment("e-late")
            .await
            .late_accept_followup_sent_at
            .is_none(),
        "enqueued is not sent"
    );

    // Next morning it is sent; two more days of heal ticks follow.
    rig.run_for(2 * DAY_MS, HOUR_MS).await;
    let sent = rig.sent_messages(&person);
    assert_eq!(sent.len(), 1, "one follow-up for one late accept: {sent:?}");
    let e = rig.enrollment("e-late").await;
    assert_eq!(
        e.late_accept_followup_sent_at,
        Some(sent[0].at_ms),
        "stamped on send, by the resume's job"
    );
    let jobs = job_statuses(&rig, "e-late").await;
    assert_eq!(
        jobs,
        vec![("resume".to_string(), "succeeded".to_string(), None)]
    );
    assert_spaced(&rig);
}

/// Defect: a send that timed out after the provider acted was retried as
/// transient and sent twice. Now the next claim reads the chat first.
async fn a_message_that_timed_out_after_acting_is_not_sent_again(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    rig.sim.time_out_next(1, Some(CHATS), true);
    let person = accepting(&rig, "e-after").await;
    rig.run_for(2 * HOUR_MS, MINUTE_MS).await;
    assert_eq!(rig.sent_messages(&person).len(), 1, "sent once");
    let posts = calls(&rig, "POST", "/api/v1/chats");
    assert_eq!(posts.len(), 1, "never posted again");
    assert_eq!(posts[0].status, 504);
    let reads = calls(&rig, "GET", ATTENDEE_MESSAGES);
    assert_eq!(reads.len(), 1, "one read of the provider's record");
    assert!(reads[0].at_ms >= posts[0].at_ms + rig.w.account.min_spacing_ms);
    assert_eq!(
        job_statuses(&rig, "e-after").await[0].1,
        "succeeded",
        "the send is recorded as done"
    );
    assert_eq!(
        rig.count(
            "SELECT COUNT(*) FROM linkedin_events WHERE kind = 'message_sent' AND enrollment_id = $1",
            "e-after"
        )
        .await,
        1
    );
    assert_spaced(&rig);
}

/// A send that timed out before the provider acted: the read finds
/// nothing and the message goes out once, at the next spaced claim.
async fn a_message_that_timed_out_before_acting_is_sent_once_after_a_read(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    rig.sim.time_out_next(1, Some(CHATS), false);
    let person = accepting(&rig, "e-before").await;
    rig.run_for(2 * HOUR_MS, MINUTE_MS).await;
    assert_eq!(rig.sent_messages(&person).len(), 1);
    let posts = calls(&rig, "POST", "/api/v1/chats");
    let reads = calls(&rig, "GET", ATTENDEE_MESSAGES);
    assert_eq!(
        posts.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![504, 201]
    );
    assert_eq!(reads.len(), 1);
    assert!(posts[0].at_ms < reads[0].at_ms && reads[0].at_ms < posts[1].at_ms);
    assert_eq!(job_statuses(&rig, "e-before").await[0].1, "succeeded");
    assert_spaced(&rig);
}

/// The provider's record cannot be read: the send is held (still active,
/// so no heal or retry can take its step), listed for an operator, and
/// released by a verdict.
async fn an_unreadable_record_holds_the_send_for_an_operator(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    rig.sim.time_out_next(1, Some(CHATS), false);
    rig.sim
        .fail_next(1, 500, Some(&format!("GET {ATTENDEE_MESSAGES}")));
    let person = accepting(&rig, "e-held").await;
    rig.run_for(2 * HOUR_MS, MINUTE_MS).await;
    // Three days of ticks: nothing sends it.
    rig.run_for(3 * DAY_MS, HOUR_MS).await;
    assert!(rig.sent_messages(&person).is_empty());
    assert_eq!(calls(&rig, "POST", "/api/v1/chats").len(), 1);
    let (status, held) = rig.api("GET", "/admin/jobs/held", None).await;
    assert_eq!(status, 200);
    let held = held.as_array().unwrap().clone();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["enrollment_id"], "e-held");
    let job = held[0]["id"].as_str().unwrap().to_string();

    // Bad verdicts change nothing.
    let (status, body) = rig
        .api(
            "POST",
            &format!("/admin/jobs/{job}/verdict"),
            Some(serde_json::json!({"verdict": "maybe"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = rig
        .api(
            "POST",
            "/admin/jobs/nope/verdict",
            Some(serde_json::json!({"verdict": "not_sent"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // The operator looked: nothing went out. It is sent, once, inside the
    // window (T0 + 3 d 2 h is 16:30).
    let (status, body) = rig
        .api(
            "POST",
            &format!("/admin/jobs/{job}/verdict"),
            Some(serde_json::json!({"verdict": "not_sent"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    rig.run_for(DAY_MS, 10 * MINUTE_MS).await;
    assert_eq!(rig.sent_messages(&person).len(), 1);
    assert_eq!(job_statuses(&rig, "e-held").await[0].1, "succeeded");
    let (_, held) = rig.api("GET", "/admin/jobs/held", None).await;
    assert_eq!(held.as_array().unwrap().len(), 0);
    let (status, _) = rig
        .api(
            "POST",
            &format!("/admin/jobs/{job}/verdict"),
            Some(serde_json::json!({"verdict": "sent"})),
        )
        .await;
    assert_eq!(status, 404, "no longer held");
    assert_spaced(&rig);
}

/// An invite whose answer was lost after LinkedIn took it: the sent
/// invitations show it, so it is recorded (the invite bridge too) and
/// never sent again; the accept that follows is followed up as usual.
async fn an_invite_that_timed_out_after_acting_is_recorded_not_resent(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    rig.sim.time_out_next(1, Some(INVITE), true);
    let person = rig
        .enroll(
            "e-inv",
            PersonSpec::new("Ivo", "Invited").accepts_after(DAY_MS),
        )
        .await;
    rig.run_for(HOUR_MS, MINUTE_MS).await;
    assert_eq!(rig.sim.invites(&rig.w.account.provider_account_id).len(), 1);
    assert_eq!(calls(&rig, "GET", "/api/v1/users/invite/sent").len(), 1);
    let e = rig.enrollment("e-inv").await;
    assert_eq!(
        e.invited_provider_id.as_deref(),
        Some(person.provider_id.as_str())
    );
    rig.run_for(DAY_MS + 2 * HOUR_MS, 10 * MINUTE_MS).await;
    assert_eq!(rig.sim.invites(&rig.w.account.provider_account_id).len(), 1);
    assert!(rig.enrollment("e-inv").await.linkedin_accepted_at.is_some());
    assert_eq!(rig.sent_messages(&person).len(), 1);
    assert_spaced(&rig);
}

/// A worker claims the follow-up, its request reaches LinkedIn, and it
/// dies before recording anything. Its lease expires; another worker
/// reclaims the job, reads the chat, and records the send without a
/// second message.
async fn a_worker_that_died_mid_send_is_reconciled_not_repeated(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    // Accepted at 17:30, after the window: the follow-up waits for 09:00.
    let person = rig
        .enroll(
            "e-died",
            PersonSpec::new("Dora", "Dead").accepts_after(3 * HOUR_MS),
        )
        .await;
    rig.run_for(4 * HOUR_MS, 10 * MINUTE_MS).await;
    assert_eq!(job_statuses(&rig, "e-died").await.len(), 1);
    assert!(rig.sent_messages(&person).is_empty());
    // Next day, 11:00: the doomed worker claims and sends.
    rig.w.clock.advance(16 * HOUR_MS + 30 * MINUTE_MS);
    let doomed = rig.engine.clone_as_new_worker();
    let claimed = doomed.claim().await.unwrap();
    assert_eq!(
        claimed.len(),
        1,
        "{:?}",
        sqlx::query_as::<_, (String, i64, Option<String>)>(
            "SELECT status, run_at, wait_reason FROM campaign_send_jobs"
        )
        .fetch_all(rig.w.app.db.pool())
        .await
        .unwrap()
    );
    let client = UnipileClient::new(
        &rig.sim.base_url(),
        "sim-key",
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    client
        .send_message(
            &rig.w.account.provider_account_id,
            &person.provider_id,
            "Thanks for connecting!",
        )
        .await
        .unwrap();
    drop(claimed);
    // The lease (5 min) runs out; the rig's own worker carries on.
    rig.run_for(30 * MINUTE_MS, MINUTE_MS).await;
    assert_eq!(rig.sent_messages(&person).len(), 1, "never sent twice");
    assert_eq!(calls(&rig, "GET", ATTENDEE_MESSAGES).len(), 1);
    assert_eq!(job_statuses(&rig, "e-died").await[0].1, "succeeded");
}

/// An invite whose answer was lost may have reached LinkedIn: while it
/// waits to be reconciled (here, held for an operator because the record
/// cannot be read) it counts toward the day's cap, so LinkedIn
/// never gets more invites in a day than the cap (found by
/// `accord simulate run`).
async fn an_invite_in_doubt_counts_toward_the_daily_cap(kind: Kind) {
    // The ramp holds the account to 10 % of its 20 invites: 2 a day.
    let rig = Rig::new(kind, |c| c.ramp = vec![0.1; 90]).await;
    rig.sim.time_out_next(1, Some(INVITE), true);
    // The sent invitations cannot be read: the invite is held for an
    // operator, in doubt for as long as it takes.
    rig.sim
        .fail_next(1, 500, Some("GET /api/v1/users/invite/sent"));
    for i in 0..4 {
        rig.enroll(
            &format!("e-cap-{i}"),
            PersonSpec::new("Cap", &format!("Count{i}")),
        )
        .await;
    }
    // 14:30 to the window's close at 17:00 (UTC).
    rig.run_for(3 * HOUR_MS, MINUTE_MS).await;
    let invites = rig.sim.invites(&rig.w.account.provider_account_id);
    assert_eq!(
        invites.len(),
        2,
        "LinkedIn got {} invites on a day capped at 2",
        invites.len()
    );
    assert_spaced(&rig);
}
