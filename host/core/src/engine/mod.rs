//! The send engine: the job worker inside the account-safety envelope,
//! the workflow clock (waits, wait_accept timeouts, campaign starts), the
//! periodic ticks (heals, skip-retry, relations polling) and resync.
//!
//! Gates are enforced when a job is claimed, whatever a policy said:
//! account connected, campaign running, sending window, daily and weekly
//! caps per action with the warm-up ramp, per-account spacing with jitter,
//! and a per-account circuit breaker.

mod claim;
mod context;
mod execute;
pub mod gates;
mod polling;
mod reconcile;
pub mod resync;
mod slot;
mod ticks;
mod workflow_clock;

// Leases are rows: the store holds them; the ticks and polling take them.
use crate::store::leases as lease;

pub use claim::Claimed;
pub use lease::Lease;
pub use resync::{ResyncOutcome, ResyncStatus, Resyncer};
pub use ticks::{TICK_LEASE_TTL, Tick, TickReport, TickRun, TickStep, Ticks};

use crate::clock::{HOUR_MS, MINUTE_MS, Millis, SharedClock};
use crate::pipeline::{Pipeline, PipelineError};
use crate::provider::LinkedinProvider;
use crate::sabotage::Sabotage;
use crate::store::{Db, StoreError};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use tokio::sync::watch;

/// Engine settings; every number is configurable.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Jobs claimed per round.
    pub batch: usize,
    /// How long a claim is valid before another worker may reclaim it.
    pub lease_ms: Millis,
    /// Poll interval when no wake-up arrives.
    pub poll_ms: Millis,
    /// Warm-up ramp: the fraction of the daily caps allowed on day 1, 2, …
    /// of the account's warm-up; 1.0 after the list ends.
    pub ramp: Vec<f64>,
    /// Transient failures in a row that open an account's breaker.
    pub breaker_threshold: i64,
    /// How long an open breaker holds the account's jobs.
    pub breaker_cooldown_ms: Millis,
    /// Retry delays after transient failures; the job fails after the last.
    pub retry_backoff_ms: Vec<Millis>,
    /// Upper bound of the random part of the spacing between actions.
    pub spacing_jitter_ms: Millis,
    /// Upper bound of the per-prospect jitter at a window start.
    pub window_jitter_ms: Millis,
    /// The recurring heal ticks (LINKEDIN_RECURRING_HEALS_ENABLED).
    pub heals_enabled: bool,
    /// Relations polling interval per account.
    pub poll_relations_every_ms: Millis,
    /// Random extra delay of each account's next poll.
    pub poll_jitter_ms: Millis,
    /// How often the wait reasons of held jobs are brought up to date
    /// (each pass reads every due job; a label may lag this long).
    pub explain_waits_every_ms: Millis,
    /// Guards switched off, for `accord simulate run --sabotage` only.
    pub sabotage: Sabotage,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch: 256,
            lease_ms: 5 * MINUTE_MS,
            poll_ms: 2_000,
            ramp: vec![
                0.25, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 0.95,
            ],
            breaker_threshold: 5,
            breaker_cooldown_ms: 30 * MINUTE_MS,
            retry_backoff_ms: vec![
                30_000,
                2 * MINUTE_MS,
                10 * MINUTE_MS,
                30 * MINUTE_MS,
                2 * HOUR_MS,
            ],
            spacing_jitter_ms: 30_000,
            window_jitter_ms: 10 * MINUTE_MS,
            heals_enabled: true,
            poll_relations_every_ms: 30 * MINUTE_MS,
            poll_jitter_ms: 5 * MINUTE_MS,
            explain_waits_every_ms: MINUTE_MS,
            sabotage: Sabotage::NONE,
        }
    }
}

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pipeline.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// The engine.
#[derive(Clone)]
pub struct Engine {
    pub(crate) db: Db,
    pub(crate) clock: SharedClock,
    pub(crate) pipeline: Pipeline,
    pub(crate) provider: Arc<dyn LinkedinProvider>,
    pub(crate) config: Arc<EngineConfig>,
    pub(crate) worker_id: String,
    /// When this worker last labelled the held jobs (`i64::MIN`: never).
    pub(crate) waits_explained_at: Arc<AtomicI64>,
}

impl Engine {
    /// An engine sending through `provider`.
    pub fn new(
        pipeline: Pipeline,
        provider: Arc<dyn LinkedinProvider>,
        config: EngineConfig,
    ) -> Self {
        Engine {
            db: pipeline.db().clone(),
            clock: pipeline.clock().clone(),
            pipeline,
            provider,
            config: Arc::new(config),
            worker_id: crate::clock::new_id(),
            waits_explained_at: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// The same engine under another worker identity (a second instance:
    /// its own claims, fences and leases).
    pub fn clone_as_new_worker(&self) -> Self {
        Engine {
            worker_id: crate::clock::new_id(),
            waits_explained_at: Arc::new(AtomicI64::new(i64::MIN)),
            ..self.clone()
        }
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// One round: reclaim expired leases, advance due workflows, claim and
    /// run due jobs, each part only if one statement found it has rows to
    /// work on. Returns how many jobs ran.
    pub async fn run_once(&self) -> Result<usize, EngineError> {
        let now = self.clock.now_ms();
        let work = {
            let mut c = self.db.acquire().await?;
            crate::store::wakeups::round_work(&mut c, now).await?
        };
        // What these parts do can make jobs due now: then claim anyway.
        let mut changed = false;
        if work.expired_claims {
            changed |= self.reclaim_expired().await? > 0;
        }
        if work.workflows {
            changed |= self.advance_due_enrollments().await? > 0;
        }
        self.explain_waits().await?;
        // Before the claim, so a waiting resync gets its account's next slot.
        if work.resyncs {
            match self.serve_resyncs().await {
                Ok(served) => changed |= served > 0,
                Err(e) => tracing::warn!(error = %e, "serving resync requests failed"),
            }
        }
        if !work.jobs && !changed {
            return Ok(0);
        }
        let mut ran = 0;
        loop {
            // What these sends enqueue is the next round's.
            let (claimed, again) = self.claim_batch().await?;
            for job in claimed {
                self.execute(job).await?;
                ran += 1;
            }
            if !again {
                break;
            }
        }
        Ok(ran)
    }

    /// Runs rounds until `shutdown`: at once when a job is enqueued (the
    /// pipeline's waker), else every `poll_ms`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let wake = self.pipeline.wakers().jobs.clone();
        loop {
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %e, "engine round failed");
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(self.config.poll_ms as u64)) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
