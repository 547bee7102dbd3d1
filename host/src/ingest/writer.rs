//! Group commit for the inbox: webhooks that arrive while a write is in
//! flight are stored together, in one transaction and one multi-row
//! INSERT, and each caller is answered when that commit is durable. Alone,
//! a webhook costs what it did before (one transaction); under load, the
//! transactions — on SQLite the one write lock — are shared.

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

async fn run(db: Db, mut rx: mpsc::Receiver<Pending>) {
    let mut group = Vec::with_capacity(GROUP);
    while rx.recv_many(&mut group, GROUP).await > 0 {
        let rows: Vec<_> = group.iter().map(|p| &p.row).collect();
        match store_group(&db, &rows).await {
            Ok(stored) => {
                for p in group.drain(..) {
                    let id = stored.contains(&p.row.id).then(|| p.row.id.clone());
                    let _ = p.done.send(Ok(id));
                }
            }
            // One transaction per row, so one bad row fails only itself.
            Err(e) => {
                tracing::warn!(rows = group.len(), error = %e, "inbox group write failed; storing its rows one by one");
                for p in group.drain(..) {
                    let result = store_group(&db, &[&p.row])
                        .await
                        .map(|stored| stored.contains(&p.row.id).then(|| p.row.id.clone()));
                    let _ = p.done.send(result);
                }
            }
        }
    }
}

async fn store_group(
    db: &Db,
    rows: &[&inbox::NewInboxRow],
) -> Result<std::collections::HashSet<String>, StoreError> {
    if db.backend() == Backend::Postgres && rows.len() <= inbox::INSERT_CHUNK {
        // One statement is its own transaction: no BEGIN and COMMIT round
        // trips while the group's callers wait.
        let mut conn = db.pool().acquire().await?;
        return inbox::insert_many(&mut conn, rows).await;
    }
    // SQLite: through its one writer's gate.
    let mut tx = db.begin().await?;
    let stored = inbox::insert_many(&mut tx, rows).await?;
    tx.commit().await?;
    Ok(stored)
}
