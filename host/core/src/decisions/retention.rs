//! The decision log's retention tick: deletes the decisions older than the
//! retention, once per period across every instance (a row in the shared
//! tick schedule, run under the tick's lease), in bounded deletes so no
//! statement holds the table long.

use crate::clock::{HOUR_MS, Millis, SharedClock, new_id};
use crate::store::leases;
use crate::store::{Db, StoreError, decisions, ticks};
use std::time::Duration;
use tokio::sync::watch;

/// The tick's name in the schedule (its lease is `tick:<name>`).
pub const TICK: &str = "decision_retention";

/// How often it runs.
pub const EVERY: Millis = HOUR_MS;

/// Rows per delete.
const CHUNK: i64 = 5_000;

/// How long the lease holds without renewal.
const LEASE_TTL: Millis = 10 * 60 * 1000;

/// The retention tick of one instance.
pub struct Retention {
    db: Db,
    clock: SharedClock,
    retention: Duration,
    holder: String,
}

impl Retention {
    /// Keeps decisions for `retention`.
    pub fn new(db: Db, clock: SharedClock, retention: Duration) -> Self {
        Retention {
            db,
            clock,
            retention,
            holder: new_id(),
        }
    }

    /// Prunes if the tick is due and this instance wins its lease; returns
    /// how many decisions went (`None`: not due, or another instance runs it).
    pub async fn run_due(&self) -> Result<Option<u64>, StoreError> {
        let now = self.clock.now_ms();
        {
            let mut c = self.db.acquire().await?;
            ticks::seed(&mut c, TICK, now).await?;
            if ticks::next_due(&mut c, TICK).await? > now {
                return Ok(None);
            }
        }
        let lease_name = format!("tick:{TICK}");
        let Some(mut lease) =
            leases::acquire(&self.db, &lease_name, &self.holder, now, LEASE_TTL).await?
        else {
            return Ok(None);
        };
        // Read again under the lease: its last holder may have just run it.
        let due = {
            let mut c = self.db.acquire().await?;
            ticks::next_due(&mut c, TICK).await?
        };
        if due > now {
            lease.release(&self.db, now).await?;
            return Ok(None);
        }
        let retention = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let before = now.saturating_sub(retention);
        let mut pruned = 0;
        loop {
            // Each delete is its own fenced write: a holder that lost the
            // lease deletes nothing more.
            let mut tx = self.db.begin().await?;
            let n = decisions::prune(&mut tx, before, CHUNK).await?;
            if !lease.fence(&mut tx).await? {
                tx.rollback().await?;
                return Ok(None);
            }
            tx.commit().await?;
            pruned += n;
            if n < CHUNK.unsigned_abs() || !lease.keep(&self.db, self.clock.now_ms()).await? {
                break;
            }
        }
        let mut tx = self.db.begin().await?;
        ticks::advance(&mut tx, TICK, due, now + EVERY).await?;
        if lease.release_in(&mut tx, self.clock.now_ms()).await? {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        metrics::counter!("accord_decisions_pruned_total").increment(pruned);
        tracing::info!(pruned, before, "decision log pruned");
        Ok(Some(pruned))
    }

    /// Runs [`Retention::run_due`] every minute until `shutdown` flips.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.run_due().await {
                tracing::warn!(error = %e, "the decision log was not pruned");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
