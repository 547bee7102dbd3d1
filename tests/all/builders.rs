//! Builders: the states tests start from, reached the way a team and
//! LinkedIn reach them — the API, the engine sending to the Unipile
//! simulator, webhooks, the workflow clock and the manual clock — rather
//! than by writing rows. Each one checks that it got there, on the
//! provider's record as well as on ours.
#![allow(dead_code)]

use crate::rig::{OCT1_10AM, Rig};
use accord::clock::{DAY_MS, HOUR_MS, MINUTE_MS};
use accord::simulator::{PersonSpec, SimAction, SimInvite, SimPerson};
use accord::store::accounts::{self, Account};
use accord::store::campaigns::{self, Campaign};
use accord::store::enrollments::EnrollmentRow;
use accord::store::prospects::Prospect;
use accord_policy_core::CampaignStatus;
use serde_json::{Value, json};

// ------------------------------------------------------------ workflows

/// The seeds' worked example (the world's campaign): invite → wait_accept
/// 7 d → if accepted message → wait 3 d → message; an unanswered invite
/// ends `condition_skipped`.
pub fn worked_example() -> Value {
    json!([
        {"type": "send_invite"},
        {"type": "wait_accept", "days": 7},
        {"type": "condition", "if_accepted": 3},
        {"type": "send_message", "text": "Thanks for connecting!"},
        {"type": "wait", "days": 3},
        {"type": "send_message", "text": "Following up"},
    ])
}

/// invite → wait_accept 7 d → message → wait 3 d → message: no condition
/// follows wait_accept, so an unanswered invite ends `timed_out`.
pub fn without_condition() -> Value {
    json!([
        {"type": "send_invite"},
        {"type": "wait_accept", "days": 7},
        {"type": "send_message", "text": "Thanks for connecting!"},
        {"type": "wait", "days": 3},
        {"type": "send_message", "text": "Following up"},
    ])
}

/// invite → wait_accept 7 d → if accepted message, otherwise a 1-day wait:
/// an unanswered invite ends `completed` a day after its timeout.
pub fn ending_in_a_wait() -> Value {
    json!([
        {"type": "send_invite"},
        {"type": "wait_accept", "days": 7},
        {"type": "condition", "if_accepted": 3, "otherwise": 4},
        {"type": "send_message", "text": "Thanks for connecting!"},
        {"type": "wait", "days": 1},
    ])
}

/// 09:00-17:00 Monday to Friday (T0 is a Saturday).
pub fn weekdays() -> Value {
    json!({"start_minute": 540, "end_minute": 1020, "days": [1, 2, 3, 4, 5]})
}

/// 09:00-17:00 every day (the world's campaign's window).
pub fn every_day() -> Value {
    json!({"start_minute": 540, "end_minute": 1020, "days": [1, 2, 3, 4, 5, 6, 7]})
}

// ------------------------------------------- campaigns and accounts (API)

/// Calls the host's API and returns the body of a 2xx answer.
pub async fn call(rig: &Rig, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = rig.api(method, path, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
    answer
}

/// A draft campaign created through the API on the world's account: the
/// worked example, 09:00-17:00 UTC every day, with `overrides` (`name`,
/// `steps`, `window`, `time_zone`, `linkedin_account_id`) applied. The
/// first [`Story`] or [`enroll_in`] that enrolls someone in it starts it.
pub async fn draft_campaign(rig: &Rig, overrides: Value) -> Campaign {
    let mut body = json!({
        "name": "Built", "linkedin_account_id": rig.w.account.id, "time_zone": "UTC",
        "window": every_day(), "steps": worked_example(),
    });
    for (key, value) in overrides.as_object().expect("overrides is an object") {
        body[key] = value.clone();
    }
    let path = format!("/api/workspaces/{}/campaigns", rig.w.workspace.id);
    let created = call(rig, "POST", &path, Some(body)).await;
    assert_eq!(created["status"], "draft", "{created}");
    stored_campaign(rig, created["id"].as_str().unwrap()).await
}

/// The campaign as stored now.
pub async fn stored_campaign(rig: &Rig, id: &str) -> Campaign {
    let mut c = rig.w.app.db.pool().acquire().await.unwrap();
    campaigns::get(&mut c, id).await.unwrap().unwrap()
}

/// `action` (`start`, `pause`, `resume`, `stop`) on a campaign through the
/// API; the transition it answers (with `resume_sweep` on a resume).
pub async fn campaign_action(rig: &Rig, campaign_id: &str, action: &str) -> Value {
    let path = format!("/api/campaigns/{campaign_id}/{action}");
    call(rig, "POST", &path, None).await
}

/// Starts each of these campaigns that is still a draft, through the API
/// (a start needs an enrolled prospect, so it follows the enrollments).
async fn start_drafts(rig: &Rig, campaign_ids: &[&str]) {
    for id in campaign_ids {
        if stored_campaign(rig, id).await.status == CampaignStatus::Draft {
            campaign_action(rig, id, "start").await;
        }
    }
}

/// `spec`'s person on the simulated LinkedIn, enrolled in `campaign` by
/// profile URL as `enrollment_id`; the campaign is started through the
/// API if it is still a draft.
pub async fn enroll_in(
    rig: &Rig,
    campaign: &Campaign,
    enrollment_id: &str,
    spec: PersonSpec,
) -> SimPerson {
    let person = rig.enroll_in(campaign, enrollment_id, spec).await;
    start_drafts(rig, &[&campaign.id]).await;
    person
}

/// An operator sets an account's status through the API (`connected`,
/// `disconnected`, …).
pub async fn account_status(rig: &Rig, account_id: &str, status: &str) {
    let path = format!("/api/accounts/{account_id}/status");
    call(rig, "POST", &path, Some(json!({ "status": status }))).await;
}

/// A LinkedIn account of its own on the simulated LinkedIn, connected
/// through the API with the settings a test needs (caps, spacing), and a
/// draft campaign sending from it (see [`draft_campaign`]).
pub struct Sender {
    /// The account as stored.
    pub account: Account,
    /// Its campaign (a draft until its first enrollment).
    pub campaign: Campaign,
}

impl Sender {
    /// Connected two months before now, so its warm-up is over (the API
    /// starts the warm-up when the account is created): the clock is set
    /// back for the creation, then forward again; nothing runs between.
    pub async fn connected(rig: &Rig, settings: Value, campaign: Value) -> Sender {
        let now = rig.now();
        rig.w.clock.set(now - 60 * DAY_MS);
        let sender = Sender::connected_now(rig, settings, campaign).await;
        rig.w.clock.set(now);
        sender
    }

    /// Connected now: its warm-up starts now.
    pub async fn connected_now(rig: &Rig, settings: Value, campaign: Value) -> Sender {
        let sim = rig.sim.add_account();
        let mut body = json!({
            "provider_account_id": sim.id, "own_member_id": sim.own_member_id,
            "display_name": "Sender", "time_zone": "UTC",
        });
        for (key, value) in settings.as_object().expect("settings is an object") {
            body[key] = value.clone();
        }
        let path = format!("/api/workspaces/{}/accounts", rig.w.workspace.id);
        let created = call(rig, "POST", &path, Some(body)).await;
        let account = {
            let mut c = rig.w.app.db.pool().acquire().await.unwrap();
            accounts::account(&mut c, created["id"].as_str().unwrap())
                .await
                .unwrap()
                .unwrap()
        };
        let mut overrides = json!({"name": "Sender's", "linkedin_account_id": account.id});
        for (key, value) in campaign.as_object().expect("campaign is an object") {
            overrides[key] = value.clone();
        }
        let campaign = draft_campaign(rig, overrides).await;
        Sender { account, campaign }
    }

    /// `spec`'s person enrolled in the sender's campaign (see [`enroll_in`]).
    pub async fn enroll(&self, rig: &Rig, enrollment_id: &str, spec: PersonSpec) -> SimPerson {
        enroll_in(rig, &self.campaign, enrollment_id, spec).await
    }

    /// `n` people named `first` `P0`, `P1`, … enrolled as `{prefix}-0`,
    /// `{prefix}-1`, … one after the other.
    pub async fn enroll_numbered(&self, rig: &Rig, prefix: &str, first: &str, n: usize) {
        for i in 0..n {
            self.enroll(
                rig,
                &format!("{prefix}-{i}"),
                PersonSpec::new(first, &format!("P{i}")),
            )
            .await;
        }
    }

    /// The invitations the provider holds from this account.
    pub fn invites(&self, rig: &Rig) -> Vec<SimInvite> {
        rig.sim.invites(&self.account.provider_account_id)
    }
}

/// `n` people imported through the API into a [`Sender`]'s campaign whose
/// caps and spacing let them all be invited at once (open all day), the
/// campaign started through the API and every invite at the provider.
pub async fn invited_crowd(rig: &Rig, n: usize) -> (Sender, Vec<SimPerson>) {
    let sender = Sender::connected(
        rig,
        json!({
            "daily_invite_cap": 10_000, "weekly_invite_cap": 50_000,
            "daily_message_cap": 10_000, "weekly_message_cap": 50_000,
            "min_spacing_seconds": 0,
        }),
        json!({"name": "Crowd", "window": {"start_minute": 0, "end_minute": 1440, "days": [1, 2, 3, 4, 5, 6, 7]}}),
    )
    .await;
    rig.sim
        .set_invite_quota(&sender.account.provider_account_id, 100_000);
    let people: Vec<SimPerson> = (0..n)
        .map(|i| {
            rig.sim.add_person(
                PersonSpec::new("Crowd", &format!("Member{i}")).slug(&format!("crowd-{i}")),
            )
        })
        .collect();
    let prospects: Vec<Value> = people
        .iter()
        .map(|p| json!({"full_name": p.full_name(), "profile_url": p.profile_url(), "member_id": p.provider_id}))
        .collect();
    let campaign = &sender.campaign.id;
    let path = format!("/api/campaigns/{campaign}/prospects");
    let imported = call(rig, "POST", &path, Some(json!({ "prospects": prospects }))).await;
    assert_eq!(imported["enrolled"], n, "{imported}");
    campaign_action(rig, campaign, "start").await;
    for _ in 0..10 {
        rig.settle().await;
        if sender.invites(rig).len() == n {
            break;
        }
        rig.w.clock.advance(MINUTE_MS);
    }
    assert_eq!(sender.invites(rig).len(), n, "every prospect invited");
    (sender, people)
}

// ------------------------------------------------------------- stories

/// Someone a [`Story`] enrolls: the enrollment id tests refer to (the
/// hostile guests read their mode from it), a person of the simulated
/// LinkedIn who never answers an invite, and the prospect the host knows.
#[derive(Debug, Clone)]
pub struct Cast {
    /// The enrollment id.
    pub id: String,
    /// The person at the provider.
    pub person: SimPerson,
    /// The campaign the person is enrolled in.
    pub campaign: Campaign,
    prospect: Prospect,
}

impl Cast {
    /// `spec`'s person, known to the host by member id, for the world's
    /// campaign.
    pub fn of(rig: &Rig, enrollment_id: &str, spec: PersonSpec) -> Cast {
        let person = rig.sim.add_person(spec);
        let prospect = Prospect {
            full_name: Some(person.full_name()),
            ..rig.w.prospect(None, Some(&person.provider_id), None)
        };
        Cast {
            id: enrollment_id.to_string(),
            person,
            campaign: rig.w.campaign.clone(),
            prospect,
        }
    }

    /// A new person named `first last` (see [`Cast::of`]).
    pub fn new(rig: &Rig, enrollment_id: &str, first: &str, last: &str) -> Cast {
        Cast::of(rig, enrollment_id, PersonSpec::new(first, last))
    }

    /// The same person enrolled once more as `enrollment_id`, as a prospect
    /// of its own (what a second import makes).
    pub fn again(&self, enrollment_id: &str) -> Cast {
        Cast {
            id: enrollment_id.to_string(),
            prospect: Prospect {
                id: accord::clock::new_id(),
                ..self.prospect.clone()
            },
            ..self.clone()
        }
    }

    /// Enrolled in `campaign` (of whichever workspace) instead.
    pub fn in_campaign(mut self, campaign: &Campaign) -> Cast {
        self.prospect.workspace_id = campaign.workspace_id.clone();
        self.campaign = campaign.clone();
        self
    }

    /// Known to the host by profile URL only, so the engine looks the
    /// person up before inviting.
    pub fn by_profile_url(mut self) -> Cast {
        self.prospect.member_id = None;
        self.prospect.profile_url = Some(self.person.profile_url());
        self
    }

    /// The enrollment as stored.
    pub async fn enrollment(&self, rig: &Rig) -> EnrollmentRow {
        rig.w.enrollment(&self.id).await
    }
}

/// A story on the rig's clock that ends when the test says: who was
/// invited when, and what became of it. The engine sends every invite to
/// the simulator, and as time passes the engine's workflow clock and the
/// ticks run (the simulator too).
pub struct Story<'a> {
    rig: &'a Rig,
    unanswered: Vec<&'a Cast>,
    invited: Vec<&'a Cast>,
    queued: Vec<&'a Cast>,
}

impl<'a> Story<'a> {
    /// A story with nobody in it yet.
    pub fn new(rig: &'a Rig) -> Story<'a> {
        Story {
            rig,
            unanswered: Vec::new(),
            invited: Vec::new(),
            queued: Vec::new(),
        }
    }

    /// Invited on Oct 1 at 10:00 and never answered: wait_accept (7 d) ran
    /// out on Oct 8 and the workflow ended where its campaign sends an
    /// unanswered invite (`condition_skipped` in the worked example,
    /// `timed_out` [`without_condition`], `completed` [`ending_in_a_wait`]).
    pub fn unanswered(mut self, cast: &'a Cast) -> Story<'a> {
        self.unanswered.push(cast);
        self
    }

    /// Invited the day before the story ends, still waiting on the accept.
    pub fn invited(mut self, cast: &'a Cast) -> Story<'a> {
        self.invited.push(cast);
        self
    }

    /// Enrolled when the story ends: the engine started the workflow and
    /// queued the invite, which waits (for the campaign's window, the
    /// account's spacing); nothing went to the provider for it yet.
    pub fn queued(mut self, cast: &'a Cast) -> Story<'a> {
        self.queued.push(cast);
        self
    }

    /// Tells the story up to `end`, where the clock then stands. The
    /// story's first scene sets the clock (back from T0, where the world
    /// was set up and nothing ran yet); from then on time only passes.
    pub async fn until(self, end: i64) {
        let rig = self.rig;
        let mut started = false;
        if !self.unanswered.is_empty() {
            rig.w.clock.set(OCT1_10AM);
            started = true;
            invite(rig, &self.unanswered).await;
        }
        if !self.invited.is_empty() {
            let day_before = end - DAY_MS;
            if started {
                pass_time(rig, day_before).await;
            } else {
                rig.w.clock.set(day_before);
                started = true;
            }
            invite(rig, &self.invited).await;
        }
        if started {
            pass_time(rig, end).await;
        } else {
            rig.w.clock.set(end);
        }
        for cast in &self.unanswered {
            let e = cast.enrollment(rig).await;
            assert!(
                e.linkedin_accepted_at.is_none()
                    && ["timed_out", "condition_skipped", "completed"]
                        .contains(&e.workflow_state.as_str()),
                "{}: wait_accept ran out and the workflow ended: {e:?}",
                cast.id
            );
        }
        for cast in &self.invited {
            let e = cast.enrollment(rig).await;
            assert_eq!(e.workflow_state, "waiting_accept", "{}: {e:?}", cast.id);
        }
        if !self.queued.is_empty() {
            let before = rig.sim.calls().len();
            for cast in &self.queued {
                rig.w
                    .enroll(&cast.campaign, &cast.id, cast.prospect.clone())
                    .await;
            }
            let ids: Vec<&str> = self.queued.iter().map(|c| c.campaign.id.as_str()).collect();
            start_drafts(rig, &ids).await;
            rig.settle().await;
            let sent: Vec<_> = rig.sim.calls()[before..]
                .iter()
                .filter(|c| c.route == "/api/v1/users/invite")
                .cloned()
                .collect();
            assert!(sent.is_empty(), "nothing went to the provider: {sent:?}");
            for cast in &self.queued {
                let queued = rig
                    .count(
                        "SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = $1 AND action = 'send_invite' AND status = 'pending'",
                        Box::leak(cast.id.clone().into_boxed_str()),
                    )
                    .await;
                assert_eq!(queued, 1, "{}: its invite is queued", cast.id);
            }
        }
    }
}

/// Lets time pass up to `to`, six hours at a time (the last step shorter),
/// running the simulator, the inbox, the engine and the ticks at each.
pub async fn pass_time(rig: &Rig, to: i64) {
    let now = rig.now();
    assert!(to >= now, "time only passes forward: {now} → {to}");
    rig.run_for(to - now, 6 * HOUR_MS).await;
}

/// Enrolls `casts` now and lets the engine invite them, minute by minute
/// (each account's spacing passes); returns once the provider holds an
/// invite to each and each enrollment waits on its accept.
async fn invite(rig: &Rig, casts: &[&Cast]) {
    for cast in casts {
        rig.w
            .enroll(&cast.campaign, &cast.id, cast.prospect.clone())
            .await;
    }
    let ids: Vec<&str> = casts.iter().map(|c| c.campaign.id.as_str()).collect();
    start_drafts(rig, &ids).await;
    let mut accounts = Vec::new();
    for cast in casts {
        let mut c = rig.w.app.db.pool().acquire().await.unwrap();
        let account = accounts::account(&mut c, &cast.campaign.linkedin_account_id)
            .await
            .unwrap()
            .unwrap();
        accounts.push(account.provider_account_id);
    }
    let all_invited = || {
        casts.iter().zip(&accounts).all(|(cast, account)| {
            rig.sim
                .invites(account)
                .iter()
                .any(|i| i.provider_id == cast.person.provider_id)
        })
    };
    for _ in 0..(15 + 3 * casts.len()) {
        rig.settle().await;
        if all_invited() {
            break;
        }
        rig.w.clock.advance(MINUTE_MS);
    }
    assert!(all_invited(), "the provider holds every invite");
    for cast in casts {
        let e = cast.enrollment(rig).await;
        assert_eq!(
            (e.workflow_state.as_str(), e.invited_provider_id.as_deref()),
            ("waiting_accept", Some(cast.person.provider_id.as_str())),
            "{}: {e:?}",
            cast.id
        );
    }
}

// ------------------------------------------------------------ follow-ups

/// The enrollment's follow-up runs while the provider refuses every
/// message to `person` (a 500 each time) until its retries are spent: the
/// job ends `failed`, nothing of it reached the provider and nothing is
/// queued for it any more. Keep the rig's `retry_backoff_ms` short.
pub async fn follow_up_failed_for_good(rig: &Rig, enrollment_id: &str, person: &SimPerson) {
    let enrollment: &'static str = Box::leak(enrollment_id.to_string().into_boxed_str());
    assert!(rig.sim.force_error(
        SimAction::Message,
        Some(&person.provider_id),
        "provider_error"
    ));
    let failed = || async {
        rig.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = $1 AND action = 'send_message' AND status = 'failed'",
            enrollment,
        )
        .await
    };
    let active = || async {
        rig.count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = $1 AND status IN ('pending', 'processing')",
            enrollment,
        )
        .await
    };
    let failed_before = failed().await;
    for _ in 0..120 {
        rig.settle().await;
        if failed().await > failed_before && active().await == 0 {
            break;
        }
        rig.w.clock.advance(MINUTE_MS);
    }
    rig.sim.clear_forced_errors();
    assert!(failed().await > failed_before, "the follow-up failed");
    assert_eq!(active().await, 0, "nothing is queued any more");
    assert!(
        rig.sent_messages(person).is_empty(),
        "no message reached the provider"
    );
}
