//! Shadow evaluation: a candidate module bound in `shadow` mode runs on
//! the same input as the active one, after the active decision committed
//! and off its path. A bounded queue feeds one worker; when the queue is
//! full the shadow call is dropped and counted, never waited for, so
//! ingest never slows for a shadow. A shadow decision is written to the
//! decision log (mode `shadow`, with whether it agrees) and nowhere else:
//! it changes no state.

use crate::clock::{SharedClock, new_id};
use crate::policy::logged;
use crate::policy::{Mode, PolicyModule, PolicyRuntime, Slot, calls_together};
use crate::store::decisions::{self, DecisionRow};
use crate::store::{Db, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Most shadow calls one round runs and writes together.
const ROUND: usize = 64;

/// One shadow call owed: the active decision and the module to ask.
pub struct ShadowWork {
    /// The active decision as logged.
    pub(crate) active: DecisionRow,
    /// Its output, parsed.
    pub(crate) active_output: serde_json::Value,
    /// The shadow module.
    pub(crate) module: Arc<PolicyModule>,
}

/// Shadow calls dropped by this instance because the queue was full.
#[derive(Debug, Default)]
pub struct Dropped {
    by_slot: [AtomicU64; 3],
}

impl Dropped {
    fn index(slot: Slot) -> usize {
        match slot {
            Slot::Match => 0,
            Slot::Routing => 1,
            Slot::Preflight => 2,
        }
    }

    /// Drops counted for `slot` since this instance started.
    pub fn of(&self, slot: Slot) -> u64 {
        self.by_slot[Self::index(slot)].load(Ordering::Relaxed)
    }

    fn count(&self, slot: Slot) {
        self.by_slot[Self::index(slot)].fetch_add(1, Ordering::Relaxed);
    }
}

/// The sending side of the shadow queue, and its receiving side until a
/// worker takes it.
#[derive(Clone)]
pub struct ShadowQueue {
    sender: mpsc::Sender<ShadowWork>,
    receiver: Arc<Mutex<Option<mpsc::Receiver<ShadowWork>>>>,
    dropped: Arc<Dropped>,
}

impl ShadowQueue {
    /// A queue holding at most `capacity` calls.
    pub fn new(capacity: usize) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        ShadowQueue {
            sender,
            receiver: Arc::new(Mutex::new(Some(receiver))),
            dropped: Arc::default(),
        }
    }

    /// Queues a shadow call, or drops and counts it when the queue is full
    /// (or no worker will ever run it).
    pub fn offer(&self, work: ShadowWork) {
        let slot = work.module.slot();
        if self.sender.try_send(work).is_err() {
            self.dropped.count(slot);
            metrics::counter!("accord_policy_shadow_dropped_total", "slot" => slot.as_str())
                .increment(1);
        }
    }

    /// The drops counted so far.
    pub fn dropped(&self) -> &Dropped {
        &self.dropped
    }

    /// The worker over this queue, once: `None` when one was taken already.
    pub fn worker(
        &self,
        db: Db,
        runtime: Arc<PolicyRuntime>,
        clock: SharedClock,
    ) -> Option<ShadowWorker> {
        let receiver = self
            .receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()?;
        Some(ShadowWorker {
            receiver,
            db,
            runtime,
            clock,
        })
    }
}

/// Runs the queued shadow calls and logs their decisions.
pub struct ShadowWorker {
    receiver: mpsc::Receiver<ShadowWork>,
    db: Db,
    runtime: Arc<PolicyRuntime>,
    clock: SharedClock,
}

impl ShadowWorker {
    /// Works until `shutdown` flips to true (what is queued then is left).
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let mut round = Vec::with_capacity(ROUND);
            tokio::select! {
                n = self.receiver.recv_many(&mut round, ROUND) => if n == 0 { return },
                _ = shutdown.changed() => return,
            }
            if let Err(e) = self.round(round).await {
                tracing::warn!(error = %e, "shadow decisions were not logged");
            }
        }
    }

    /// Runs whatever is queued now, then returns (tests, the simulation).
    pub async fn drain(&mut self) -> Result<usize, StoreError> {
        let mut done = 0;
        loop {
            let mut round = Vec::with_capacity(ROUND);
            while round.len() < ROUND {
                match self.receiver.try_recv() {
                    Ok(work) => round.push(work),
                    Err(_) => break,
                }
            }
            if round.is_empty() {
                return Ok(done);
            }
            done += round.len();
            self.round(round).await?;
        }
    }

    /// Asks each shadow module and writes the decisions in one statement.
    async fn round(&self, round: Vec<ShadowWork>) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let runtime = &self.runtime;
        let rows: Vec<DecisionRow> = calls_together(|| {
            round
                .iter()
                .filter_map(|w| shadow_row(runtime, w, now))
                .collect()
        });
        let mut c = self.db.acquire().await?;
        decisions::insert(&mut c, &rows).await
    }
}

/// The shadow decision on `work`'s input, as its log row.
fn shadow_row(runtime: &PolicyRuntime, work: &ShadowWork, now: i64) -> Option<DecisionRow> {
    let active = &work.active;
    let slot = work.module.slot();
    let decision = match runtime.run_logged(&work.module, &active.input) {
        Ok(decision) => decision,
        Err(e) => {
            // The host wrote this input itself: it always fits the slot.
            tracing::error!(error = %e, decision_id = %active.id, "a logged input does not parse");
            return None;
        }
    };
    let agrees = decision.error.is_none()
        && logged::differences(&work.active_output, &decision.value).is_empty();
    metrics::counter!(
        "accord_policy_shadow_total",
        "slot" => slot.as_str(),
        "agrees" => if agrees { "true" } else { "false" }
    )
    .increment(1);
    Some(DecisionRow {
        id: new_id(),
        decided_at: now,
        workspace_id: active.workspace_id.clone(),
        slot: active.slot.clone(),
        call: active.call.clone(),
        module_sha256: decision.module_sha256.to_string(),
        mode: Mode::Shadow.as_str().to_string(),
        input: active.input.clone(),
        summary: logged::summary(slot, &decision.value),
        output: decision.value.to_string(),
        error_kind: decision.error.as_ref().map(|e| e.kind().to_string()),
        fuel: i64::try_from(decision.stats.fuel_used).unwrap_or(i64::MAX),
        duration_us: i64::try_from(decision.stats.elapsed.as_micros()).unwrap_or(i64::MAX),
        inbox_id: active.inbox_id.clone(),
        enrollment_id: active.enrollment_id.clone(),
        job_id: active.job_id.clone(),
        active_id: Some(active.id.clone()),
        active_summary: Some(active.summary.clone()),
        agrees: Some(i32::from(agrees)),
    })
}
