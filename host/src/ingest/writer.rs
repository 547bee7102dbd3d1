//! Group commit for the inbox: webhooks that arrive while a write is in
//! flight are stored together, in one transaction and one multi-row
//! INSERT, and each caller is answered when that commit is durable. Alone,
//! a webhook costs what it did before (one transaction); under load, the
//! transactions — on SQLite the one write lock — are shared. On
//! PostgreSQL two groups may be in flight; only deliveries that were in
//! flight together can commit in either order (one answered before another
//! was sent is always stored first).

use crate::store::{Backend, Db, StoreError, inbox};
use tokio::sync::{mpsc, oneshot};

/// Most rows stored in one transaction.
const GROUP: usize = 256;

/// One webhook waiting to be stored.
struct Pending {
    row: inbox::NewInboxRow,
    done: oneshot::Sender<Result<Option<String>, StoreError>>,
}

/// The handle webhook handlers store through.
#[derive(Clone)]
pub struct InboxWriter {
    queue: mpsc::Sender<Pending>,
}

impl InboxWriter {
    /// Starts the writer task on the current tokio runtime; it ends when
    /// every handle is dropped.
    pub fn spawn(db: Db) -> Self {
        let (queue, rx) = mpsc::channel(4 * GROUP);
        tokio::spawn(run(db, rx));
        InboxWriter { queue }
    }

    /// Stores one row; returns its id, or `None` when its natural key was
    /// already stored (a provider retry).
    pub async fn store(&self, row: inbox::NewInboxRow) -> Result<Option<String>, StoreError> {
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

async fn run(db: Db, mut rx: mpsc::Receiver<Pending>) {
    let in_flight = match db.backend() {
        Backend::Postgres => POSTGRES_GROUPS_IN_FLIGHT,
        Backend::Sqlite => 1,
    };
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut group = Vec::with_capacity(GROUP);
    while rx.recv_many(&mut group, GROUP).await > 0 {
        // Rows wait in the queue (and join this group) until a slot frees.
        // The semaphore is never closed.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        while group.len() < GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let batch = std::mem::replace(&mut group, Vec::with_capacity(GROUP));
        let db = db.clone();
        tokio::spawn(async move {
            store_and_answer(&db, batch).await;
            drop(slot);
        });
    }
    // Every handle is gone: let the groups in flight finish.
    let _ = slots.acquire_many(in_flight as u32).await;
}

/// Stores one group and answers its callers. A delivery that repeats one
/// already stored (or earlier in the group) is answered `None`.
async fn store_and_answer(db: &Db, group: Vec<Pending>) {
    let rows: Vec<_> = group.iter().map(|p| &p.row).collect();
    match store_group(db, &rows).await {
        Ok(stored) => {
            for p in group {
                let id = stored.contains(&p.row.id).then(|| p.row.id.clone());
                let _ = p.done.send(Ok(id));
            }
        }
        // One transaction per row, so one bad row fails only itself.
        Err(e) => {
            tracing::warn!(rows = group.len(), error = %e, "inbox group write failed; storing its rows one by one");
            for p in group {
                let result = store_group(db, &[&p.row])
                    .await
                    .map(|stored| stored.contains(&p.row.id).then(|| p.row.id.clone()));
                let _ = p.done.send(result);
            }
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
        let mut conn = db.pool().acquire().await?;
        return inbox::insert_many(&mut conn, rows).await;
    }
    // SQLite: through its one writer's gate.
    let mut tx = db.begin().await?;
    let stored = inbox::insert_many(&mut tx, rows).await?;
    tx.commit().await?;
    Ok(stored)
}
