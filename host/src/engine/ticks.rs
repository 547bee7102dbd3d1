//! The periodic ticks, on the injectable clock, each guarded by a lease so
//! one instance of many runs it: the late-accepts heal and the stuck
//! post-accepts heal (every 6 h, 30 min apart, 200 rows each), the
//! skip-retry of recoverable pre-flight skips (hourly, last 24 h, 100
//! rows), and relations polling (every 30 min per account, jittered,
//! inside the account's spacing).

use super::lease;
use super::{Engine, EngineError};
use crate::clock::{DAY_MS, HOUR_MS, MINUTE_MS, Millis};
use crate::domain::policy_steps;
use crate::pipeline::{DispatchOutcome, DispatchRequest};
use crate::store::enrollments::{self, EnrollmentRow};
use crate::store::{accounts, campaigns, skips, sql};
use accord_policy_core::{CampaignStep, DispatchSource};
use serde::Serialize;
use std::sync::Mutex;
use tokio::sync::watch;

const HEAL_EVERY: Millis = 6 * HOUR_MS;
const HEAL_CAP: i64 = 200;
const SKIP_RETRY_EVERY: Millis = HOUR_MS;
const SKIP_RETRY_CAP: i64 = 100;
const LEASE_TTL: Millis = 10 * MINUTE_MS;

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

/// The tick scheduler.
pub struct Ticks {
    engine: Engine,
    due: Mutex<[(&'static str, Millis, Millis); 3]>,
}

impl Ticks {
    /// Ticks starting now: the late heal at once, the stuck heal 30 min
    /// later, skip-retry in an hour.
    pub fn new(engine: Engine) -> Self {
        let now = engine.clock.now_ms();
        Ticks {
            engine,
            due: Mutex::new([
                ("heal_late", now, HEAL_EVERY),
                ("heal_stuck", now + 30 * MINUTE_MS, HEAL_EVERY),
                ("skip_retry", now + SKIP_RETRY_EVERY, SKIP_RETRY_EVERY),
            ]),
        }
    }

    /// Runs every tick that is due now (and relations polling for the
    /// accounts due). Heals are skipped when disabled by configuration.
    pub async fn run_due(&self) -> Result<Vec<TickReport>, EngineError> {
        let now = self.engine.clock.now_ms();
        let due: Vec<&'static str> = {
            let mut schedule = self.due.lock().unwrap_or_else(|p| p.into_inner());
            let mut names = Vec::new();
            for (name, next, every) in schedule.iter_mut() {
                if *next <= now {
                    names.push(*name);
                    while *next <= now {
                        *next += *every;
                    }
                }
            }
            names
        };
        let mut reports = Vec::new();
        for name in due {
            if name != "skip_retry" && !self.engine.config.heals_enabled {
                continue;
            }
            let Some(_lease) = lease::acquire(
                &self.engine.db,
                &format!("tick:{name}"),
                &self.engine.worker_id,
                now,
                LEASE_TTL,
            )
            .await?
            else {
                continue; // another instance runs it
            };
            let report = match name {
                "heal_late" => self.heal_late().await?,
                "heal_stuck" => self.heal_stuck().await?,
                _ => self.skip_retry().await?,
            };
            tracing::info!(
                tick = name,
                rows = report.rows,
                enqueued = report.enqueued,
                skipped = report.skipped,
                "tick ran"
            );
            reports.push(report);
        }
        reports.push(self.engine.poll_relations().await?);
        Ok(reports)
    }

    /// Late accepts whose follow-up was never sent nor queued: dispatched
    /// through the same dispatcher as the webhook-time auto-fire.
    pub async fn heal_late(&self) -> Result<TickReport, EngineError> {
        let rows = self
            .select(
                "e.late_accept_observed_at IS NOT NULL AND e.late_accept_followup_sent_at IS NULL \
                 AND e.linkedin_replied_at IS NULL AND e.workflow_state <> 'stopped' AND c.status <> 'stopped'",
                &[],
            )
            .await?;
        self.dispatch_all("heal_late", rows, DispatchSource::HealLate)
            .await
    }

    /// Accepts 24 h to 14 d old in running campaigns with no follow-up sent
    /// and none queued (a transient pipeline failure, an orphan race).
    pub async fn heal_stuck(&self) -> Result<TickReport, EngineError> {
        let now = self.engine.clock.now_ms();
        let rows = self
            .select(
                "e.linkedin_accepted_at BETWEEN $1 AND $2 AND c.status = 'running' AND e.linkedin_replied_at IS NULL \
                 AND e.workflow_state <> 'stopped' AND NOT EXISTS (SELECT 1 FROM campaign_send_jobs s \
                 WHERE s.enrollment_id = e.id AND s.action = 'send_message' AND s.status = 'succeeded')",
                &[now - 14 * DAY_MS, now - DAY_MS],
            )
            .await?;
        self.dispatch_all("heal_stuck", rows, DispatchSource::HealStuck)
            .await
    }

    /// Recoverable pre-flight skips of the last 24 h, tried again.
    pub async fn skip_retry(&self) -> Result<TickReport, EngineError> {
        let now = self.engine.clock.now_ms();
        let open = {
            let mut c = self.engine.db.pool().acquire().await?;
            skips::open_recoverable(&mut c, None, now - DAY_MS, SKIP_RETRY_CAP).await?
        };
        let mut report = TickReport {
            name: "skip_retry",
            rows: open.len(),
            ..TickReport::default()
        };
        for skip in open {
            let outcome = self
                .dispatch_one(
                    &skip.enrollment_id,
                    DispatchRequest {
                        source: DispatchSource::SkipRetry,
                        step_index: skip.step_index as u32,
                    },
                )
                .await?;
            count(&mut report, outcome);
        }
        Ok(report)
    }

    /// Enrollments matching `condition` (with `e` and `c` aliases) and no
    /// active job and no open unrecoverable skip, oldest first, capped.
    async fn select(
        &self,
        condition: &str,
        binds: &[i64],
    ) -> Result<Vec<EnrollmentRow>, EngineError> {
        let n = binds.len();
        let cols = enrollments::COLUMNS;
        let mut q = sqlx::query_as(sql(format!(
            "SELECT {cols} FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id WHERE {condition} \
             AND NOT EXISTS (SELECT 1 FROM campaign_send_jobs j WHERE j.enrollment_id = e.id AND j.status IN ('pending', 'processing')) \
             AND NOT EXISTS (SELECT 1 FROM skips k WHERE k.enrollment_id = e.id AND k.recoverable = 0 AND k.resolved_at IS NULL) \
             ORDER BY e.updated_at, e.id LIMIT ${}",
            n + 1
        )));
        for b in binds {
            q = q.bind(*b);
        }
        Ok(q.bind(HEAL_CAP).fetch_all(self.engine.db.pool()).await?)
    }

    async fn dispatch_all(
        &self,
        name: &'static str,
        rows: Vec<EnrollmentRow>,
        source: DispatchSource,
    ) -> Result<TickReport, EngineError> {
        let mut report = TickReport {
            name,
            rows: rows.len(),
            ..TickReport::default()
        };
        for e in rows {
            let mut c = self.engine.db.pool().acquire().await?;
            let Some(campaign) = campaigns::get(&mut c, &e.campaign_id).await? else {
                continue;
            };
            drop(c);
            let Some(step_index) = followup_step(&campaign.steps) else {
                continue;
            };
            count(
                &mut report,
                self.dispatch_one(&e.id, DispatchRequest { source, step_index })
                    .await?,
            );
        }
        Ok(report)
    }

    async fn dispatch_one(
        &self,
        enrollment_id: &str,
        request: DispatchRequest,
    ) -> Result<Option<DispatchOutcome>, EngineError> {
        let mut tx = self.engine.db.begin().await?;
        let Some(e) = enrollments::get(&mut tx, enrollment_id, self.engine.db.for_update()).await?
        else {
            return Ok(None);
        };
        let (Some(campaign), Some(account)) = (
            campaigns::get(&mut tx, &e.campaign_id).await?,
            accounts::account(&mut tx, &e.linkedin_account_id).await?,
        ) else {
            return Ok(None);
        };
        let outcome = self
            .engine
            .pipeline
            .dispatch(&mut tx, &account, &campaign, &e, request)
            .await?;
        tx.commit().await?;
        if matches!(outcome, DispatchOutcome::Enqueued { .. }) {
            self.engine.pipeline.wakers().wake_jobs();
        }
        Ok(Some(outcome))
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
