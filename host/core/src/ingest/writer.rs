//! Group commit for the inbox: webhooks that arrive while a write is in
//! flight are stored together, in one transaction and one multi-row
//! INSERT, and each caller is answered when that commit is durable. Alone,
//! a webhook costs what it did before (one transaction); under load, the
//! transactions — on SQLite the one write lock — are shared. On
//! PostgreSQL two groups may be in flight; only deliveries that were in
//! flight together can commit in either order (one answered before another
//! was sent is always stored first).
//!
//! On SQLite the writer also processes what it stores, in the same
//! transaction (write-through): SQLite has one writer, and a separate
//! processor took turns with the writer at the write lock, each turn a
//! commit, while rows waited for both. Each caller is then answered when
//! its webhook is stored and processed. When processing fails the
//! transaction is rolled back, the group is stored alone (pending) and
//! the inbox processor takes it, one row per transaction, as before.

use crate::pipeline::Pipeline;
use crate::store::{Backend, Db, StoreError, inbox};
use tokio::sync::{mpsc, oneshot};

/// Most rows stored in one transaction.
const GROUP: usize = 256;

/// One webhook waiting to be stored.
struct Pending {
    row: inbox::NewInboxRow,
    done: oneshot::Sender<Result<Stored, StoreError>>,
}

/// What became of a stored webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its inbox row, or `None` when its natural key was already stored
    /// (a provider retry).
    pub id: Option<String>,
    /// It was stored and processed in one transaction (write-through);
    /// otherwise it is pending for the processor, or a duplicate.
    pub processed: bool,
}

/// The handle webhook handlers store through.
#[derive(Clone)]
pub struct InboxWriter {
    queue: mpsc::Sender<Pending>,
}

impl InboxWriter {
    /// Starts the writer task on the current tokio runtime; it ends when
    /// every handle is dropped. With `write_through` (SQLite only) each
    /// group is processed in the transaction that stores it.
    pub fn spawn(db: Db, write_through: Option<WriteThrough>) -> Self {
        let (queue, rx) = mpsc::channel(4 * GROUP);
        let write_through = write_through
            .filter(|_| db.backend() == Backend::Sqlite)
            .map(std::sync::Arc::new);
        tokio::spawn(run(db, write_through, rx));
        InboxWriter { queue }
    }

    /// Stores one row (and processes it, with write-through).
    pub async fn store(&self, row: inbox::NewInboxRow) -> Result<Stored, StoreError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { row, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Groups in flight at once on PostgreSQL: while one commits, the next
/// is already written, so a caller waits for about one commit instead of
/// one and a half. SQLite has one writer, so one group at a time.
const POSTGRES_GROUPS_IN_FLIGHT: usize = 2;

async fn run(
    db: Db,
    write_through: Option<std::sync::Arc<WriteThrough>>,
    mut rx: mpsc::Receiver<Pending>,
) {
    let in_flight = match db.backend() {
        Backend::Postgres => POSTGRES_GROUPS_IN_FLIGHT,
        Backend::Sqlite => 1,
    };
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut group = Vec::with_capacity(GROUP);
    let mut last_group = 0;
    while rx.recv_many(&mut group, GROUP).await > 0 {
        // Rows wait in the queue (and join this group) until a slot frees.
        // The semaphore is never closed.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        take_queued(&mut rx, &mut group);
        let through = write_through.as_ref().filter(|w| w.active());
        if through.is_some() && last_group >= BUSY_GROUP {
            linger(&mut rx, &mut group, last_group).await;
        }
        last_group = group.len();
        let batch = std::mem::replace(&mut group, Vec::with_capacity(GROUP));
        let (db, through) = (db.clone(), through.cloned());
        tokio::spawn(async move {
            store_and_answer(&db, through.as_deref(), batch).await;
            drop(slot);
        });
    }
    // Every handle is gone: let the groups in flight finish.
    let _ = slots.acquire_many(in_flight as u32).await;
}

/// With write-through, a group at least this large means the host is
/// busy: the next group [`linger`]s.
const BUSY_GROUP: usize = 16;
/// The longest a group lingers.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);
/// A lingering group closes when no row came for this long.
const LINGER_GAP: std::time::Duration = std::time::Duration::from_millis(1);

/// Lets a group grow to `target` rows (the size of the last one): it
/// closes then, or when no row came for [`LINGER_GAP`], or after
/// [`LINGER`]. Under a steady stream of webhooks, the group a busy writer
/// takes holds what arrived while the last one was processed, and the
/// senders answered by that one come back a moment later: without the
/// wait they made a group of their own, every group paid the fixed cost
/// of a transaction (its statements and its commit, ~3 ms on SQLite
/// here), and throughput fell to 64 % of the baseline's. Only a busy
/// writer waits, so a lone webhook is never delayed.
async fn linger(rx: &mut mpsc::Receiver<Pending>, group: &mut Vec<Pending>, target: usize) {
    let deadline = tokio::time::Instant::now() + LINGER;
    while group.len() < target.min(GROUP) {
        let gap = (tokio::time::Instant::now() + LINGER_GAP).min(deadline);
        match tokio::time::timeout_at(gap, rx.recv()).await {
            Ok(Some(p)) => group.push(p),
            _ => return,
        }
        take_queued(rx, group);
    }
}

/// Moves what is queued into `group`, up to [`GROUP`] rows.
fn take_queued(rx: &mut mpsc::Receiver<Pending>, group: &mut Vec<Pending>) {
    while group.len() < GROUP {
        match rx.try_recv() {
            Ok(p) => group.push(p),
            Err(_) => break,
        }
    }
}

/// Stores one group and answers its callers. A delivery that repeats one
/// already stored (or earlier in the group) is answered without an id.
async fn store_and_answer(db: &Db, write_through: Option<&WriteThrough>, group: Vec<Pending>) {
    let rows: Vec<_> = group.iter().map(|p| &p.row).collect();
    let stored = match write_through {
        Some(through) => {
            let started = std::time::Instant::now();
            let stored = store_and_process(db, &through.pipeline, &rows).await;
            through.took(started.elapsed(), rows.len());
            stored
        }
        None => store_group(db, &rows).await.map(|ids| (ids, false)),
    };
    match stored {
        Ok((stored, processed)) => {
            for p in group {
                let id = stored.contains(&p.row.id).then(|| p.row.id.clone());
                // A duplicate was not processed again.
                let processed = processed && id.is_some();
                let _ = p.done.send(Ok(Stored { id, processed }));
            }
        }
        // One transaction per row, so one bad row fails only itself.
        Err(e) => {
            tracing::warn!(rows = group.len(), error = %e, "inbox group write failed; storing its rows one by one");
            for p in group {
                let result = store_group(db, &[&p.row]).await.map(|stored| Stored {
                    id: stored.contains(&p.row.id).then(|| p.row.id.clone()),
                    processed: false,
                });
                let _ = p.done.send(result);
            }
        }
    }
}

/// SQLite's write-through: the pipeline a group goes through in the
/// transaction that stores it, and its brake. A group that takes longer
/// than the budget (a slow or hostile policy, a backlog of work) pauses
/// write-through for [`PAUSE_MS`] on the pipeline's clock: webhooks are
/// then answered once stored, as on PostgreSQL, and the inbox processor
/// does the slow work, so a provider never waits on it for long.
pub struct WriteThrough {
    pipeline: Pipeline,
    budget: std::time::Duration,
    /// Clock time (ms) until which write-through is paused.
    paused_until: std::sync::atomic::AtomicI64,
}

/// How long write-through stays paused after a group over its budget.
pub const PAUSE_MS: i64 = 30_000;

impl WriteThrough {
    /// Write-through into `pipeline`, pausing after a group that took
    /// longer than `budget`.
    pub fn new(pipeline: Pipeline, budget: std::time::Duration) -> Self {
        WriteThrough {
            pipeline,
            budget,
            paused_until: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// Whether groups are processed as they are stored (not paused).
    fn active(&self) -> bool {
        self.pipeline.clock().now_ms()
            >= self.paused_until.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A group of `rows` took `elapsed`: past the budget, pause.
    fn took(&self, elapsed: std::time::Duration, rows: usize) {
        if elapsed <= self.budget {
            return;
        }
        let until = self.pipeline.clock().now_ms() + PAUSE_MS;
        self.paused_until
            .store(until, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("accord_inbox_write_through_pauses_total").increment(1);
        tracing::warn!(
            rows,
            elapsed_ms = elapsed.as_millis() as u64,
            budget_ms = self.budget.as_millis() as u64,
            pause_ms = PAUSE_MS,
            "inbox write-through over its budget; webhooks are answered once stored for a while"
        );
    }
}

/// Write-through (SQLite): stores the group and processes the rows it
/// stored in one transaction. When processing fails, that transaction is
/// rolled back and the group is stored alone, pending.
async fn store_and_process(
    db: &Db,
    pipeline: &Pipeline,
    rows: &[&inbox::NewInboxRow],
) -> Result<(std::collections::HashSet<String>, bool), StoreError> {
    let mut tx = db.begin().await?;
    let stored = inbox::insert_many(&mut tx, rows).await?;
    let fresh: Vec<inbox::InboxRow> = rows
        .iter()
        .filter(|r| stored.contains(&r.id))
        .map(|r| r.as_pending())
        .collect();
    let count = fresh.len();
    match super::process::process_in(pipeline, &mut tx, fresh).await {
        Ok(done) => {
            done.commit(pipeline, tx).await?;
            Ok((stored, true))
        }
        Err(e) => {
            tracing::warn!(rows = count, error = %e, "inbox write-through processing failed; storing the rows for the processor");
            tx.rollback().await?;
            store_group(db, rows).await.map(|ids| (ids, false))
        }
    }
}

async fn store_group(
    db: &Db,
    rows: &[&inbox::NewInboxRow],
) -> Result<std::collections::HashSet<String>, StoreError> {
    if db.backend() == Backend::Postgres {
        // One statement (`insert_many` binds the rows as arrays) is its own
        // transaction: no BEGIN and COMMIT round trips while the group's
        // callers wait.
        let mut conn = db.acquire().await?;
        return inbox::insert_many(&mut conn, rows).await;
    }
    // SQLite: through its one writer's gate.
    let mut tx = db.begin().await?;
    let stored = inbox::insert_many(&mut tx, rows).await?;
    tx.commit().await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::{LINGER_GAP, Pending, linger};
    use crate::store::inbox::NewInboxRow;
    use std::time::Duration;
    use tokio::sync::{mpsc, oneshot};
    use tokio::time::Instant;

    fn pending() -> Pending {
        let (done, _) = oneshot::channel();
        Pending {
            row: NewInboxRow::new("key", "new_relation", "{}", 0),
            done,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rows_already_queued_end_the_wait_at_once() {
        let (tx, mut rx) = mpsc::channel(16);
        for _ in 0..4 {
            tx.send(pending()).await.unwrap();
        }
        let mut group = vec![pending()];
        let start = Instant::now();
        linger(&mut rx, &mut group, 3).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(group.len(), 5, "everything queued joins");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_gap_closes_the_group() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut group = vec![pending()];
        let start = Instant::now();
        linger(&mut rx, &mut group, 32).await;
        assert_eq!(start.elapsed(), LINGER_GAP);
        assert_eq!(group.len(), 1);
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_row_arriving_during_the_wait_joins_and_the_target_closes() {
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(async move {
            tx.send(pending()).await.unwrap();
            // Kept open: only the target ends the wait.
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        let mut group = vec![pending()];
        let start = Instant::now();
        linger(&mut rx, &mut group, 2).await;
        assert_eq!(group.len(), 2);
        assert!(start.elapsed() <= LINGER_GAP, "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn no_writers_left_ends_the_wait() {
        let (tx, mut rx) = mpsc::channel::<Pending>(16);
        drop(tx);
        let mut group = vec![pending()];
        let start = Instant::now();
        linger(&mut rx, &mut group, 32).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
