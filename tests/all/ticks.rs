//! The periodic ticks across instances: one shared schedule in the
//! database (instances started hours apart still run each tick once per
//! period), leases renewed while a tick runs and fenced at every write, and
//! the per-run caps of the heals (200) and the skip-retry (100).

use crate::on_both_databases;
use crate::rig::Rig;
use crate::world::Kind;
use accord::clock::{DAY_MS, HOUR_MS, MINUTE_MS, ManualClock};
use accord::engine::{Engine, TICK_LEASE_TTL, Tick, TickReport, TickStep, Ticks};
use accord::pipeline::{DispatchOutcome, Pipeline};
use accord::provider::unipile::UnipileClient;
use accord::simulator::{PersonSpec, SimPerson};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

/// The provider account id of the fleet's LinkedIn account.
const FLEET: &str = "acc-fleet-0001";

/// A rig with its own LinkedIn account (created through the API with caps
/// and spacing that let hundreds of invites go out at once) and a running
/// campaign of the seeds' workflow, open all day, whose prospects are all
/// invited.
struct Fleet {
    rig: Rig,
    account: String,
    people: Vec<SimPerson>,
}

/// Calls the host's JSON API and returns the body of a 2xx answer.
async fn api(rig: &Rig, method: &str, path: &str, body: Value) -> Value {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let response = accord::http::router(rig.w.app.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {value}");
    value
}

impl Fleet {
    /// `n` prospects enrolled through the API and invited by the engine.
    async fn invited(kind: Kind, n: usize) -> Fleet {
        let rig = Rig::new(kind, |_| {}).await;
        let workspace = rig.w.workspace.id.clone();
        let account = api(
            &rig,
            "POST",
            &format!("/api/workspaces/{workspace}/accounts"),
            json!({
                "provider_account_id": FLEET, "display_name": "Fleet", "time_zone": "UTC",
                "daily_invite_cap": 10_000, "weekly_invite_cap": 50_000,
                "daily_message_cap": 10_000, "weekly_message_cap": 50_000,
                "min_spacing_seconds": 0,
            }),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        rig.sim.add_account_with_id(FLEET);
        rig.sim.set_invite_quota(FLEET, 100_000);
        let campaign = api(
            &rig,
            "POST",
            &format!("/api/workspaces/{workspace}/campaigns"),
            json!({
                "name": "Fleet", "linkedin_account_id": account, "time_zone": "UTC",
                "window": {"start_minute": 0, "end_minute": 1440, "days": [1, 2, 3, 4, 5, 6, 7]},
                "steps": [
                    {"type": "send_invite"},
                    {"type": "wait_accept", "days": 7},
                    {"type": "condition", "if_accepted": 3},
                    {"type": "send_message", "text": "Thanks for connecting!"},
                    {"type": "wait", "days": 3},
                    {"type": "send_message", "text": "Following up"},
                ],
            }),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let people: Vec<SimPerson> = (0..n)
            .map(|i| {
                rig.sim.add_person(
                    PersonSpec::new("Fleet", &format!("Member{i}")).slug(&format!("fleet-{i}")),
                )
            })
            .collect();
        let prospects: Vec<Value> = people
            .iter()
            .map(|p| json!({"full_name": p.full_name(), "profile_url": p.profile_url(), "member_id": p.provider_id}))
            .collect();
        let imported = api(
            &rig,
            "POST",
            &format!("/api/campaigns/{campaign}/prospects"),
            json!({ "prospects": prospects }),
        )
        .await;
        assert_eq!(imported["enrolled"], n, "{imported}");
        api(
            &rig,
            "POST",
            &format!("/api/campaigns/{campaign}/start"),
            json!({}),
        )
        .await;
        for _ in 0..10 {
            rig.settle().await;
            if rig.sim.invites(FLEET).len() == n {
                break;
            }
            rig.w.clock.advance(MINUTE_MS);
        }
        assert_eq!(rig.sim.invites(FLEET).len(), n, "every prospect invited");
        Fleet {
            rig,
            account,
            people,
        }
    }

    /// Sets the account's status through the API.
    async fn account_status(&self, status: &str) {
        let path = format!("/api/accounts/{}/status", self.account);
        api(&self.rig, "POST", &path, json!({ "status": status })).await;
    }

    /// Every prospect accepts now while the account is marked disconnected:
    /// each follow-up dispatch is a recoverable `account_not_connected`
    /// skip, and no job is queued. The account is reconnected after.
    async fn accept_all_while_disconnected(&self) {
        self.account_status("disconnected").await;
        for p in &self.people {
            assert!(self.rig.sim.accept_now(FLEET, &p.provider_id));
        }
        self.rig.w.clock.advance(5_000);
        self.rig.settle().await;
        assert_eq!(
            self.rig
                .count("SELECT COUNT(*) FROM skips WHERE reason = $1 AND recoverable = 1 AND resolved_at IS NULL", "account_not_connected")
                .await,
            self.people.len() as i64,
            "one open recoverable skip per accept"
        );
        assert_eq!(self.jobs("send_message").await, 0);
        self.account_status("connected").await;
    }

    /// `n` prospects whose wait_accept timed out, then accepted late while
    /// the account was disconnected: late accepts with no follow-up queued.
    async fn late(kind: Kind, n: usize) -> Fleet {
        let fleet = Fleet::invited(kind, n).await;
        fleet.rig.w.clock.advance(7 * DAY_MS + HOUR_MS);
        // The workflow clock moves up to 200 enrollments per round.
        for _ in 0..n.div_ceil(200) {
            fleet.rig.settle().await;
            fleet.rig.w.clock.advance(MINUTE_MS);
        }
        fleet.accept_all_while_disconnected().await;
        assert_eq!(
            fleet
                .rig
                .count("SELECT COUNT(*) FROM enrollments WHERE late_accept_observed_at IS NOT NULL AND linkedin_account_id = $1", &fleet.account)
                .await,
            n as i64
        );
        fleet
    }

    /// `n` prospects who accepted in time while the account was
    /// disconnected: in-time accepts with no follow-up queued.
    async fn accepted_in_time(kind: Kind, n: usize) -> Fleet {
        let fleet = Fleet::invited(kind, n).await;
        fleet.rig.w.clock.advance(HOUR_MS);
        fleet.accept_all_while_disconnected().await;
        fleet
    }

    async fn jobs(&self, action: &'static str) -> i64 {
        self.rig
            .count(
                "SELECT COUNT(*) FROM campaign_send_jobs WHERE action = $1",
                action,
            )
            .await
    }

    /// Runs the engine until quiet and checks that every prospect received
    /// exactly one message.
    async fn each_messaged_once(&self) {
        for _ in 0..6 {
            self.rig.settle().await;
            self.rig.w.clock.advance(5 * MINUTE_MS);
        }
        for p in &self.people {
            let sent = self
                .rig
                .sim
                .messages(FLEET, &p.provider_id)
                .into_iter()
                .filter(|m| m.from_self)
                .count();
            assert_eq!(sent, 1, "{}: one follow-up", p.public_identifier);
        }
    }
}

/// Another instance's engine on the same database and simulator, on its
/// own clock (instances' clocks drift apart).
fn engine_on(rig: &Rig, clock: Arc<ManualClock>) -> Engine {
    let app = &rig.w.app;
    let pipeline = Pipeline::new(
        app.db.clone(),
        app.policies.clone(),
        clock,
        app.pipeline.wakers().clone(),
    );
    let client = UnipileClient::new(
        &rig.sim.base_url(),
        "sim-key",
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    Engine::new(pipeline, Arc::new(client), rig.engine.config().clone())
}

fn enqueued(step: TickStep) -> bool {
    matches!(step, TickStep::Row(Some(DispatchOutcome::Enqueued { .. })))
}

fn ran(reports: &[TickReport], name: &str) -> usize {
    reports.iter().filter(|r| r.name == name).count()
}

/// Two instances started 70 minutes apart (more than the lease's TTL),
/// both ticking every 5 minutes for 24 hours: each tick ran once per
/// period in total (the late heal at the first instance's start and every
/// 6 h, the stuck heal 30 min after it, skip-retry hourly), and each late
/// accept got one follow-up.
async fn instances_started_apart_share_one_schedule(kind: Kind) {
    let fleet = Fleet::late(kind, 3).await;
    let rig = &fleet.rig;
    let first = Ticks::new(rig.engine.clone_as_new_worker());
    let mut second: Option<Ticks> = None;
    let mut reports: Vec<TickReport> = Vec::new();
    for step in 0..(24 * 12) {
        if step == 14 {
            second = Some(Ticks::new(rig.engine.clone_as_new_worker()));
        }
        let mut instances = vec![&first];
        instances.extend(second.as_ref());
        if step % 2 == 1 {
            instances.reverse();
        }
        for ticks in instances {
            reports.extend(ticks.run_due().await.unwrap());
        }
        rig.settle().await;
        rig.w.clock.advance(5 * MINUTE_MS);
    }
    assert_eq!(
        (
            ran(&reports, "heal_late"),
            ran(&reports, "heal_stuck"),
            ran(&reports, "skip_retry")
        ),
        (4, 4, 23),
        "each tick once per period across both instances"
    );
    let healed: usize = reports
        .iter()
        .filter(|r| r.name == "heal_late")
        .map(|r| r.enqueued)
        .sum();
    assert_eq!(healed, 3, "the first late heal queued the three follow-ups");
    fleet.each_messaged_once().await;
}

/// A tick that works for longer than its lease's TTL (3 min per row, 36
/// min in all) renews its lease: another instance cannot take the tick
/// over meanwhile, and finds it done for the period afterwards.
async fn a_running_tick_keeps_its_lease(kind: Kind) {
    let fleet = Fleet::late(kind, 12).await;
    let rig = &fleet.rig;
    let first = Ticks::new(rig.engine.clone_as_new_worker());
    let second = Ticks::new(rig.engine.clone_as_new_worker());
    let mut run = first.begin(Tick::HealLate).await.unwrap().unwrap();
    for row in 0..12 {
        rig.w.clock.advance(3 * MINUTE_MS);
        assert!(
            second.begin(Tick::HealLate).await.unwrap().is_none(),
            "row {row}: the running tick holds its lease"
        );
        assert!(enqueued(run.step().await.unwrap()));
    }
    assert_eq!(run.step().await.unwrap(), TickStep::Done);
    let report = run.finish().await.unwrap().unwrap();
    assert_eq!((report.rows, report.enqueued), (12, 12));
    assert!(
        second.begin(Tick::HealLate).await.unwrap().is_none(),
        "done for this period"
    );
    assert_eq!(fleet.jobs("send_message").await, 12);
    fleet.each_messaged_once().await;
}

/// An instance stalls mid-tick past its lease's TTL and another instance
/// takes the tick over: the stalled one commits nothing more (nor moves
/// the schedule); the new holder dispatches the rest, and each prospect
/// gets one message.
async fn a_taken_over_tick_commits_nothing_more(kind: Kind) {
    let fleet = Fleet::late(kind, 30).await;
    let rig = &fleet.rig;
    let first = Ticks::new(rig.engine.clone_as_new_worker());
    let second = Ticks::new(rig.engine.clone_as_new_worker());
    let mut stalled = first.begin(Tick::HealLate).await.unwrap().unwrap();
    for _ in 0..10 {
        assert!(enqueued(stalled.step().await.unwrap()));
    }
    rig.w.clock.advance(TICK_LEASE_TTL + MINUTE_MS);
    let taker = second.begin(Tick::HealLate).await.unwrap().unwrap();
    assert_eq!(stalled.step().await.unwrap(), TickStep::LeaseLost);
    assert_eq!(stalled.step().await.unwrap(), TickStep::LeaseLost);
    assert_eq!(
        fleet.jobs("send_message").await,
        10,
        "nothing more from the stalled holder"
    );
    assert_eq!(stalled.finish().await.unwrap(), None);
    let report = taker.run().await.unwrap().unwrap();
    assert_eq!((report.rows, report.enqueued), (20, 20));
    assert_eq!(fleet.jobs("send_message").await, 30);
    for ticks in [&first, &second] {
        assert!(
            ticks.begin(Tick::HealLate).await.unwrap().is_none(),
            "ran once for this period"
        );
    }
    fleet.each_messaged_once().await;
}

/// The term fences every write: another instance whose clock runs 11
/// minutes ahead sees the lease expired and takes the tick over while the
/// holder's lease still looks fresh to the holder (so it does not renew);
/// the holder's next row transaction is refused all the same.
async fn the_lease_term_fences_each_write(kind: Kind) {
    let fleet = Fleet::late(kind, 6).await;
    let rig = &fleet.rig;
    let first = Ticks::new(rig.engine.clone_as_new_worker());
    let mut holder = first.begin(Tick::HealLate).await.unwrap().unwrap();
    for _ in 0..2 {
        assert!(enqueued(holder.step().await.unwrap()));
    }
    let ahead = ManualClock::new(rig.now() + TICK_LEASE_TTL + MINUTE_MS);
    let second = Ticks::new(engine_on(rig, ahead));
    let taker = second.begin(Tick::HealLate).await.unwrap().unwrap();
    assert_eq!(holder.step().await.unwrap(), TickStep::LeaseLost);
    assert_eq!(
        fleet.jobs("send_message").await,
        2,
        "the fence refused the write"
    );
    let report = taker.run().await.unwrap().unwrap();
    assert_eq!((report.rows, report.enqueued), (4, 4));
    rig.w.clock.advance(TICK_LEASE_TTL + MINUTE_MS);
    fleet.each_messaged_once().await;
}

/// 250 late accepts without a follow-up: the late heal dispatches 200 in
/// one run and the other 50 in the next; each prospect gets one message.
async fn heal_late_dispatches_at_most_200_per_run(kind: Kind) {
    let fleet = Fleet::late(kind, 250).await;
    let first = fleet.rig.ticks.heal_late().await.unwrap();
    assert_eq!((first.rows, first.enqueued), (200, 200));
    assert_eq!(fleet.jobs("send_message").await, 200);
    let second = fleet.rig.ticks.heal_late().await.unwrap();
    assert_eq!((second.rows, second.enqueued), (50, 50));
    assert_eq!(fleet.rig.ticks.heal_late().await.unwrap().rows, 0);
    fleet.each_messaged_once().await;
}

/// 250 accepts over a day old without a follow-up: the stuck heal
/// dispatches 200 in one run and the other 50 in the next.
async fn heal_stuck_dispatches_at_most_200_per_run(kind: Kind) {
    let fleet = Fleet::accepted_in_time(kind, 250).await;
    fleet.rig.w.clock.advance(DAY_MS + HOUR_MS);
    let first = fleet.rig.ticks.heal_stuck().await.unwrap();
    assert_eq!((first.rows, first.enqueued), (200, 200));
    assert_eq!(fleet.jobs("send_message").await, 200);
    let second = fleet.rig.ticks.heal_stuck().await.unwrap();
    assert_eq!((second.rows, second.enqueued), (50, 50));
    assert_eq!(fleet.rig.ticks.heal_stuck().await.unwrap().rows, 0);
    fleet.each_messaged_once().await;
}

/// 150 recoverable skips: the skip-retry tick retries 100 in one run and
/// the other 50 in the next.
async fn skip_retry_retries_at_most_100_per_run(kind: Kind) {
    let fleet = Fleet::accepted_in_time(kind, 150).await;
    fleet.rig.w.clock.advance(10 * MINUTE_MS);
    let first = fleet.rig.ticks.skip_retry().await.unwrap();
    assert_eq!((first.rows, first.enqueued), (100, 100));
    assert_eq!(fleet.jobs("send_message").await, 100);
    let second = fleet.rig.ticks.skip_retry().await.unwrap();
    assert_eq!((second.rows, second.enqueued), (50, 50));
    assert_eq!(fleet.rig.ticks.skip_retry().await.unwrap().rows, 0);
    fleet.each_messaged_once().await;
}

on_both_databases!(
    instances_started_apart_share_one_schedule,
    a_running_tick_keeps_its_lease,
    a_taken_over_tick_commits_nothing_more,
    the_lease_term_fences_each_write,
    heal_late_dispatches_at_most_200_per_run,
    heal_stuck_dispatches_at_most_200_per_run,
    skip_retry_retries_at_most_100_per_run,
);
