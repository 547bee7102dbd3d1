//! The accept pipeline: from one accept signal (webhook, polling, engine
//! already-connected, reply-inferred, manual resync) to a stamp made
//! exactly once, one notification, and at most one follow-up job.
//!
//! One transaction per signal (or per batch of inbox rows): match (policy
//! keys → candidates through `match_keys` → `resolve`) → per matched
//! enrollment: stamp → audit event → outbox row → route (policy) →
//! dispatch (pre-flight policy → enqueue or skip). A [`Batch`] carries the
//! look-ups shared by the signals of one transaction and the wake-ups owed
//! once it commits.
//!
//! The signals of one transaction run set-wise, in rounds
//! ([`Pipeline::accept_many`]): each phase makes one statement for all of
//! them (candidates, stamps, job history, enqueue), and the policy calls
//! of a phase share one hand-off of the async worker. A round ends before
//! a signal whose candidates an earlier signal of the round matched, so
//! every signal sees the writes of those before it, as if it ran alone.

mod accept;
mod batch;
mod dispatch;
pub mod keys;
pub mod rekey;

pub use accept::{MatchReport, SignalOutcome, StampOutcome};
pub use batch::Batch;
pub use dispatch::{DispatchItem, DispatchOutcome, DispatchRequest};

use crate::clock::SharedClock;
use crate::decisions::Decisions;
use crate::domain::Named;
use crate::policy::PolicyRegistry;
use crate::store::broadcast::{Broadcaster, JOBS_CHANNEL};
use crate::store::campaigns::Campaign;
use crate::store::{Db, StoreError, Tx};
use accord_policy_core::CampaignStatus;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// Errors of the pipeline. Policy failures are not errors: they take the
/// slot's fail-safe default and are traced.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The database failed; the caller may retry (everything is idempotent).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Wakes the workers that act on what the pipeline wrote.
#[derive(Debug, Default, Clone)]
pub struct Wakers {
    /// The job worker (a job was enqueued).
    pub jobs: Arc<Notify>,
    /// The notifier (an outbox row was written).
    pub outbox: Arc<Notify>,
    /// The other instances' job workers (PostgreSQL only).
    broadcast: Broadcaster,
}

impl Wakers {
    /// Wakers that also broadcast through PostgreSQL when `db` is one.
    pub fn for_db(db: &Db) -> Self {
        Wakers {
            broadcast: Broadcaster::for_db(db),
            ..Wakers::default()
        }
    }

    /// A job was enqueued or became runnable: wake this instance's worker
    /// now, and the other instances' through NOTIFY.
    pub fn wake_jobs(&self) {
        self.jobs.notify_one();
        if self.broadcast.is_live() {
            let broadcast = self.broadcast.clone();
            tokio::spawn(async move {
                if let Err(e) = broadcast.send(JOBS_CHANNEL, "").await {
                    tracing::debug!(error = %e, "job wake-up broadcast failed; other instances poll");
                }
            });
        }
    }
}

/// The pipeline's dependencies.
#[derive(Clone)]
pub struct Pipeline {
    db: Db,
    decisions: Decisions,
    clock: SharedClock,
    wakers: Wakers,
    /// Upper bound of the per-prospect jitter added when a job is clamped
    /// to a window start, ms.
    jitter_ms: i64,
    /// Guards switched off, for `accord simulate run --sabotage` only.
    pub(crate) sabotage: crate::sabotage::Sabotage,
    /// Campaigns read before, by id. Only a campaign's status changes after
    /// it is created, and every use takes the status its candidate row read
    /// in the same transaction, so a batch reads only campaigns it has never
    /// seen (one round trip less per batch).
    known_campaigns: Arc<std::sync::Mutex<HashMap<String, Campaign>>>,
}

/// Most campaigns [`Pipeline`] remembers; past that it starts afresh.
const KNOWN_CAMPAIGNS: usize = 10_000;

impl Pipeline {
    /// A pipeline over these parts.
    pub fn new(db: Db, policies: Arc<PolicyRegistry>, clock: SharedClock, wakers: Wakers) -> Self {
        Pipeline {
            db,
            decisions: Decisions::new(policies, clock.clone()),
            clock,
            wakers,
            jitter_ms: 10 * crate::clock::MINUTE_MS,
            sabotage: crate::sabotage::Sabotage::NONE,
            known_campaigns: Arc::default(),
        }
    }

    /// This pipeline with its decisions logged (and shadowed) as `config`
    /// says.
    pub fn with_decision_log(self, config: crate::decisions::DecisionLogConfig) -> Pipeline {
        Pipeline {
            decisions: self.decisions.clone().with_log(config),
            ..self
        }
    }

    /// This pipeline with `sabotage`'s guard switched off (simulations
    /// only).
    pub fn with_sabotage(self, sabotage: crate::sabotage::Sabotage) -> Pipeline {
        Pipeline { sabotage, ..self }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// This pipeline working through `db` (the same database through
    /// another pool, [`Db::dedicated`]); policies, clock, wake-ups and
    /// the campaign cache are shared.
    pub fn with_db(&self, db: Db) -> Pipeline {
        Pipeline { db, ..self.clone() }
    }

    /// The decision seam: the one way to ask a policy.
    pub fn decisions(&self) -> &Decisions {
        &self.decisions
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The wakers.
    pub fn wakers(&self) -> &Wakers {
        &self.wakers
    }

    /// The campaigns of these (campaign id, status as read) pairs, in
    /// order, each with that status; `None` for a campaign that does not
    /// exist. Only campaigns never seen before are read, in one round trip.
    pub(crate) async fn campaigns_as_read(
        &self,
        tx: &mut Tx,
        wanted: &[(&str, &str)],
    ) -> Result<Vec<Option<Campaign>>, StoreError> {
        let mut missing: Vec<&str> = {
            let known = self.known();
            wanted
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| !known.contains_key(*id))
                .collect()
        };
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let found = crate::store::campaigns::get_many(tx, &missing).await?;
            let mut known = self.known();
            if known.len() + found.len() > KNOWN_CAMPAIGNS {
                known.clear();
            }
            for campaign in found {
                known.insert(campaign.id.clone(), campaign);
            }
        }
        let known = self.known();
        Ok(wanted
            .iter()
            .map(|(id, status)| {
                let mut campaign = known.get(*id)?.clone();
                if let Some(status) = CampaignStatus::parse(status) {
                    campaign.status = status;
                }
                Some(campaign)
            })
            .collect())
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, Campaign>> {
        // A panic while holding the lock leaves whole entries behind.
        self.known_campaigns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
