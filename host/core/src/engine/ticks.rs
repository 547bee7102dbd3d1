//! The periodic ticks, on the injectable clock: the late-accepts heal and
//! the stuck post-accepts heal (every 6 h, 30 min apart, 200 rows each),
//! the skip-retry of recoverable pre-flight skips (hourly, last 24 h, 100
//! rows), and relations polling (every 30 min per account, jittered,
//! inside the account's spacing).
//!
//! The heals' and skip-retry's schedule lives in the database
//! (`tick_schedule`), so N instances run each of them once per period
//! however far apart they started: a tick runs when it is due there and
//! this instance wins the tick's lease; the lease is renewed while the tick
//! works, each row's transaction is fenced with the lease's term (an
//! instance that was taken over commits nothing more), and the run ends by
//! moving the due time one period on and releasing the lease, in one
//! transaction.

use super::lease::{self, Lease};
use super::{Engine, EngineError};
use crate::clock::{DAY_MS, HOUR_MS, MINUTE_MS, Millis};
use crate::domain::policy_steps;
use crate::pipeline::{DispatchOutcome, DispatchRequest};
use crate::store::ticks::{self as schedule, Heal};
use crate::store::{campaigns, skips};
use accord_policy_core::{CampaignStep, DispatchSource};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

const HEAL_EVERY: Millis = 6 * HOUR_MS;
const HEAL_CAP: i64 = 200;
const SKIP_RETRY_EVERY: Millis = HOUR_MS;
const SKIP_RETRY_CAP: i64 = 100;
/// How long a tick's lease holds without renewal (it is renewed once past
/// half of it while the tick works).
pub const TICK_LEASE_TTL: Millis = 10 * MINUTE_MS;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// The tick.
    pub name: &'static str,
    /// Rows examined.
    pub rows: usize,
    /// Follow-ups enqueued.
    pub enqueued: usize,
    /// Dispatches skipped (recorded with their reason).
    pub skipped: usize,
    /// Accept signals found (polling).
    pub signals: usize,
}

/// A scheduled tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Late accepts whose follow-up was never sent nor queued.
    HealLate,
    /// Accepts 24 h to 14 d old in running campaigns without a follow-up.
    HealStuck,
    /// Recoverable pre-flight skips of the last 24 h.
    SkipRetry,
}

impl Tick {
    /// Every scheduled tick, in the order an instance runs the due ones.
    pub const ALL: [Tick; 3] = [Tick::HealLate, Tick::HealStuck, Tick::SkipRetry];

    /// Its name (reports, the schedule's row, `tick:<name>` its lease).
    pub fn name(self) -> &'static str {
        match self {
            Tick::HealLate => "heal_late",
            Tick::HealStuck => "heal_stuck",
            Tick::SkipRetry => "skip_retry",
        }
    }

    fn every(self) -> Millis {
        match self {
            Tick::HealLate | Tick::HealStuck => HEAL_EVERY,
            Tick::SkipRetry => SKIP_RETRY_EVERY,
        }
    }

    /// When it first falls due, after the first instance's start.
    fn first_after(self) -> Millis {
        match self {
            Tick::HealLate => 0,
            Tick::HealStuck => 30 * MINUTE_MS,
            Tick::SkipRetry => SKIP_RETRY_EVERY,
        }
    }

    fn is_heal(self) -> bool {
        self != Tick::SkipRetry
    }

    /// The heal's selection at `now`; `None` for skip-retry, which reads
    /// the open skips by their own index.
    fn heal(self, now: Millis) -> Option<Heal> {
        match self {
            Tick::HealLate => Some(Heal::Late),
            Tick::HealStuck => Some(Heal::Stuck { now }),
            Tick::SkipRetry => None,
        }
    }

    fn lease(self) -> String {
        format!("tick:{}", self.name())
    }
}

/// One instance's ticks.
pub struct Ticks {
    engine: Engine,
    started: Millis,
    seeded: AtomicBool,
}

/// A row a tick dispatches.
enum Work {
    Heal {
        enrollment_id: String,
        campaign_id: String,
    },
    Retry {
        enrollment_id: String,
        step_index: u32,
    },
}

/// A row's dispatch, or the fence refusing it.
enum Fenced {
    Held(Option<DispatchOutcome>),
    Lost,
}

impl Ticks {
    /// The ticks of an instance starting now. The first instance ever to
    /// run them seeds the shared schedule from its start (the late heal at
    /// once, the stuck heal 30 min later, skip-retry in an hour); every
    /// later instance follows that schedule.
    pub fn new(engine: Engine) -> Self {
        let started = engine.clock.now_ms();
        Ticks {
            engine,
            started,
            seeded: AtomicBool::new(false),
        }
    }

    /// Runs every tick that is due in the shared schedule and whose lease
    /// this instance wins (and relations polling for the accounts due).
    /// Heals are skipped when disabled by configuration. Returns the
    /// reports of the ticks that ran to the end.
    pub async fn run_due(&self) -> Result<Vec<TickReport>, EngineError> {
        let mut reports = Vec::new();
        self.seed().await?;
        // One read says which ticks are due; a due one's row is read
        // again under its lease.
        let schedule = {
            let mut c = self.engine.db.acquire().await?;
            schedule::schedule(&mut c).await?
        };
        let now = self.engine.clock.now_ms();
        for tick in Tick::ALL {
            if tick.is_heal() && !self.engine.config.heals_enabled {
                continue;
            }
            let due = schedule.iter().find(|(name, _)| name == tick.name());
            let begun = match due {
                Some((_, due)) if *due > now => continue,
                Some(_) => self.begin_due(tick, now).await?,
                // Seeded above: `begin` says what is wrong with the schedule.
                None => self.begin(tick).await?,
            };
            let Some(run) = begun else {
                continue; // another instance runs it, or just ran it
            };
            if let Some(report) = run.run().await? {
                tracing::info!(
                    tick = report.name,
                    rows = report.rows,
                    enqueued = report.enqueued,
                    skipped = report.skipped,
                    "tick ran"
                );
                reports.push(report);
            }
        }
        reports.push(self.engine.poll_relations().await?);
        Ok(reports)
    }

    /// Starts `tick` if it is due in the shared schedule and this instance
    /// wins its lease: the rows it will dispatch are read, to be handled
    /// one [`TickRun::step`] at a time and closed by [`TickRun::finish`]
    /// (or all at once by [`TickRun::run`]).
    pub async fn begin(&self, tick: Tick) -> Result<Option<TickRun<'_>>, EngineError> {
        self.seed().await?;
        let now = self.engine.clock.now_ms();
        if self.next_due(tick).await? > now {
            return Ok(None);
        }
        self.begin_due(tick, now).await
    }

    /// [`Ticks::begin`] for a tick the schedule said was due at `now`.
    async fn begin_due(&self, tick: Tick, now: Millis) -> Result<Option<TickRun<'_>>, EngineError> {
        let db = &self.engine.db;
        let Some(lease) = lease::acquire(
            db,
            &tick.lease(),
            &self.engine.worker_id,
            now,
            TICK_LEASE_TTL,
        )
        .await?
        else {
            return Ok(None);
        };
        // Read again under the lease: its last holder may have just run it.
        let due = self.next_due(tick).await?;
        if due > now {
            lease.release(db, now).await?;
            return Ok(None);
        }
        self.start(tick, lease, Some(due), now).await.map(Some)
    }

    /// Late accepts whose follow-up was never sent nor queued, dispatched
    /// through the same dispatcher as the webhook-time auto-fire. Runs now,
    /// out of schedule (which it leaves as it is), under the tick's lease:
    /// an empty report when another instance holds it.
    pub async fn heal_late(&self) -> Result<TickReport, EngineError> {
        self.run_now(Tick::HealLate).await
    }

    /// Accepts 24 h to 14 d old in running campaigns with no follow-up sent
    /// and none queued (a transient pipeline failure, an orphan race). Runs
    /// now, like [`Ticks::heal_late`].
    pub async fn heal_stuck(&self) -> Result<TickReport, EngineError> {
        self.run_now(Tick::HealStuck).await
    }

    /// Recoverable pre-flight skips of the last 24 h, tried again. Runs
    /// now, like [`Ticks::heal_late`].
    pub async fn skip_retry(&self) -> Result<TickReport, EngineError> {
        self.run_now(Tick::SkipRetry).await
    }

    async fn run_now(&self, tick: Tick) -> Result<TickReport, EngineError> {
        let empty = TickReport {
            name: tick.name(),
            ..TickReport::default()
        };
        let now = self.engine.clock.now_ms();
        let db = &self.engine.db;
        let Some(lease) = lease::acquire(
            db,
            &tick.lease(),
            &self.engine.worker_id,
            now,
            TICK_LEASE_TTL,
        )
        .await?
        else {
            return Ok(empty);
        };
        let run = self.start(tick, lease, None, now).await?;
        Ok(run.run().await?.unwrap_or(empty))
    }

    /// The first instance's schedule, unless one exists.
    async fn seed(&self) -> Result<(), EngineError> {
        if self.seeded.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut c = self.engine.db.acquire().await?;
        for tick in Tick::ALL {
            schedule::seed(&mut c, tick.name(), self.started + tick.first_after()).await?;
        }
        self.seeded.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn next_due(&self, tick: Tick) -> Result<Millis, EngineError> {
        let mut c = self.engine.db.acquire().await?;
        Ok(schedule::next_due(&mut c, tick.name()).await?)
    }

    /// Reads the tick's rows under `lease` (released if that fails).
    async fn start(
        &self,
        tick: Tick,
        lease: Lease,
        due: Option<Millis>,
        now: Millis,
    ) -> Result<TickRun<'_>, EngineError> {
        let work = match self.work(tick, now).await {
            Ok(work) => work,
            Err(e) => {
                if let Err(r) = lease.release(&self.engine.db, now).await {
                    tracing::warn!(tick = tick.name(), error = %r, "tick lease not released; it expires");
                }
                return Err(e);
            }
        };
        Ok(TickRun {
            ticks: self,
            tick,
            lease,
            due,
            report: TickReport {
                name: tick.name(),
                rows: work.len(),
                ..TickReport::default()
            },
            work: work.into_iter(),
            lost: false,
        })
    }

    async fn work(&self, tick: Tick, now: Millis) -> Result<Vec<Work>, EngineError> {
        let mut c = self.engine.db.acquire().await?;
        let Some(heal) = tick.heal(now) else {
            let open = skips::open_recoverable(&mut c, None, now - DAY_MS, SKIP_RETRY_CAP).await?;
            return Ok(open
                .into_iter()
                .map(|skip| Work::Retry {
                    enrollment_id: skip.enrollment_id,
                    step_index: skip.step_index as u32,
                })
                .collect());
        };
        Ok(schedule::healable(&mut c, heal, HEAL_CAP)
            .await?
            .into_iter()
            .map(|(enrollment_id, campaign_id)| Work::Heal {
                enrollment_id,
                campaign_id,
            })
            .collect())
    }

    /// The rows `tick` would pick now, without running it or taking its
    /// lease: what the heal benchmark times.
    pub async fn selection(&self, tick: Tick) -> Result<usize, EngineError> {
        Ok(self.work(tick, self.engine.clock.now_ms()).await?.len())
    }

    /// The database's plan for a heal's selection now (`EXPLAIN` on
    /// PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite), one line per node:
    /// a test holds it to its indexes. `None` for skip-retry, which reads
    /// the open skips by their own index.
    pub async fn explain_selection(&self, tick: Tick) -> Result<Option<String>, EngineError> {
        let Some(heal) = tick.heal(self.engine.clock.now_ms()) else {
            return Ok(None);
        };
        let mut c = self.engine.db.acquire().await?;
        Ok(Some(
            schedule::explain_healable(&mut c, heal, HEAL_CAP).await?,
        ))
    }

    /// One dispatch in its own transaction, fenced by the tick's lease.
    async fn dispatch_one(
        &self,
        lease: &Lease,
        enrollment_id: &str,
        request: DispatchRequest,
    ) -> Result<Fenced, EngineError> {
        let mut tx = self.engine.db.begin().await?;
        if !lease.fence(&mut tx).await? {
            tx.rollback().await?;
            return Ok(Fenced::Lost);
        }
        let outcome = self
            .engine
            .pipeline
            .dispatch_again(&mut tx, enrollment_id, request)
            .await?;
        tx.commit().await?;
        if matches!(outcome, Some(DispatchOutcome::Enqueued { .. })) {
            self.engine.pipeline.wakers().wake_jobs();
        }
        Ok(Fenced::Held(outcome))
    }

    /// Runs due ticks every 10 s (wall time) until `shutdown`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.run_due().await {
                tracing::error!(error = %e, "tick failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

/// What one [`TickRun::step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickStep {
    /// A row was handled in its own transaction (`None`: nothing to
    /// dispatch, its enrollment, campaign or follow-up step is gone).
    Row(Option<DispatchOutcome>),
    /// No row left: [`TickRun::finish`] ends the run.
    Done,
    /// Another instance took the lease over: nothing of this row was
    /// written, and the run stops.
    LeaseLost,
}

/// A tick running under its lease, a row at a time.
pub struct TickRun<'a> {
    ticks: &'a Ticks,
    tick: Tick,
    lease: Lease,
    /// The due time it runs for; `None` out of schedule.
    due: Option<Millis>,
    work: std::vec::IntoIter<Work>,
    report: TickReport,
    lost: bool,
}

impl TickRun<'_> {
    /// The tick.
    pub fn tick(&self) -> Tick {
        self.tick
    }

    /// Renews the lease when past half its TTL, then dispatches the next
    /// row in a transaction that commits only while the lease's term is
    /// still this run's.
    pub async fn step(&mut self) -> Result<TickStep, EngineError> {
        if self.lost {
            return Ok(TickStep::LeaseLost);
        }
        let Some(work) = self.work.next() else {
            return Ok(TickStep::Done);
        };
        let engine = &self.ticks.engine;
        if !self.lease.keep(&engine.db, engine.clock.now_ms()).await? {
            return Ok(self.lose());
        }
        let (enrollment_id, request) = match work {
            Work::Heal {
                enrollment_id,
                campaign_id,
            } => {
                let mut c = engine.db.acquire().await?;
                let Some(campaign) = campaigns::get(&mut c, &campaign_id).await? else {
                    return Ok(TickStep::Row(None));
                };
                let Some(step_index) = followup_step(&campaign.steps) else {
                    return Ok(TickStep::Row(None));
                };
                let source = match self.tick {
                    Tick::HealLate => DispatchSource::HealLate,
                    _ => DispatchSource::HealStuck,
                };
                (enrollment_id, DispatchRequest { source, step_index })
            }
            Work::Retry {
                enrollment_id,
                step_index,
            } => (
                enrollment_id,
                DispatchRequest {
                    source: DispatchSource::SkipRetry,
                    step_index,
                },
            ),
        };
        match self
            .ticks
            .dispatch_one(&self.lease, &enrollment_id, request)
            .await?
        {
            Fenced::Lost => Ok(self.lose()),
            Fenced::Held(outcome) => {
                count(&mut self.report, outcome.clone());
                Ok(TickStep::Row(outcome))
            }
        }
    }

    fn lose(&mut self) -> TickStep {
        self.lost = true;
        tracing::warn!(
            tick = self.tick.name(),
            term = self.lease.term(),
            "tick lease taken over by another instance; this run stops"
        );
        TickStep::LeaseLost
    }

    /// Ends the run: in one transaction fenced by the lease, the schedule
    /// moves one period on from the due time it ran for (the first such
    /// time still ahead, when the instances were down for longer) and the
    /// lease is released, so the next due run is not held up. `None` when
    /// the lease was taken over: its new holder finishes the tick.
    pub async fn finish(self) -> Result<Option<TickReport>, EngineError> {
        if self.lost {
            return Ok(None);
        }
        let engine = &self.ticks.engine;
        let now = engine.clock.now_ms();
        let mut tx = engine.db.begin().await?;
        if !self.lease.release_in(&mut tx, now).await? {
            tx.rollback().await?;
            tracing::warn!(
                tick = self.tick.name(),
                "tick lease taken over before the run ended"
            );
            return Ok(None);
        }
        if let Some(due) = self.due {
            let every = self.tick.every();
            let next = due + every * ((now - due).max(0) / every + 1);
            schedule::advance(&mut tx, self.tick.name(), due, next).await?;
        }
        tx.commit().await?;
        Ok(Some(self.report))
    }

    /// Steps through every row, then finishes. A run that fails still
    /// finishes (its next run is a period later, as for one that ran),
    /// then returns the error.
    pub async fn run(mut self) -> Result<Option<TickReport>, EngineError> {
        loop {
            match self.step().await {
                Ok(TickStep::Row(_)) => {}
                Ok(TickStep::Done | TickStep::LeaseLost) => return self.finish().await,
                Err(e) => {
                    let tick = self.tick.name();
                    if let Err(f) = self.finish().await {
                        tracing::warn!(tick, error = %f, "failed tick not released; its lease expires");
                    }
                    return Err(e);
                }
            }
        }
    }
}

fn count(report: &mut TickReport, outcome: Option<DispatchOutcome>) {
    match outcome {
        Some(DispatchOutcome::Enqueued { .. }) => report.enqueued += 1,
        Some(DispatchOutcome::Skipped { .. }) => report.skipped += 1,
        _ => {}
    }
}

/// The message an accept unlocks (the default routing's choice).
fn followup_step(steps: &[crate::domain::StepDef]) -> Option<u32> {
    let steps = policy_steps(steps);
    let wait = steps
        .iter()
        .position(|s| matches!(s, CampaignStep::WaitAccept { .. }))
        .map(|i| i as u32);
    accord_policy_core::defaults::followup_step(&steps, wait)
}
