//! The inbox: a webhook is stored raw (deduplicated on its natural key)
//! before it is acknowledged, and processed from the table: on SQLite in
//! the transaction that stores it (write-through, see
//! [`super::writer`]), on PostgreSQL (or when a write-through fails) by
//! the processor ([`Inbox::run`]). Processing is idempotent, so a crash
//! anywhere loses nothing and `accord inbox replay` can run it again.
//! Several instances share one inbox: each transaction claims the rows it
//! processes ([`inbox::claim`]), and a recorded outcome is never
//! overwritten.

use super::unipile::{self, WebhookError};
use super::writer::{InboxWriter, Stored, WriteThrough};
use crate::pipeline::{Batch, Pipeline, PipelineError};
use crate::store::inbox::{self, Claim, InboxRow};
use crate::store::{Backend, StoreError};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, watch};

pub use super::process::ROWS_PER_TRANSACTION;
use super::process::{Pending, Processed, run_rows};

/// Pending rows the processor reads at a time: whole batches for every
/// lane.
const FETCH: i64 = (ROWS_PER_TRANSACTION * LANES) as i64;

/// Batches processed at once on PostgreSQL.
pub const LANES: usize = 4;

/// The lane of a row: a hash (FNV-1a) of the LinkedIn account it belongs
/// to, so the webhooks of one account (an accept, a reply, a status
/// change, a provider retry) are applied in the order they arrived, and
/// different accounts proceed side by side.
fn lane_of(pending: &Pending, lanes: usize) -> usize {
    let key = pending
        .task
        .account_id()
        .unwrap_or(&pending.row.natural_key);
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % lanes as u64) as usize
}

/// On SQLite, how long the processor waits for a whole batch once rows
/// are waiting (a batching window, like a producer's linger), when
/// write-through is off (`inbox_write_through`): a batch pays its commit
/// and holds the one write lock whatever its size, so small batches
/// taking turns with the writer cost throughput. PostgreSQL waits for
/// nothing: its batches run beside the writer's inserts. The measurements
/// behind both are in docs/BENCHMARKS.md (ingest).
const SQLITE_LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// Attempts before a row that keeps failing is parked as `failed`.
const MAX_ATTEMPTS: i64 = 5;

/// Why a webhook could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not a webhook we can read (HTTP 400).
    #[error(transparent)]
    Invalid(#[from] WebhookError),
    /// The database refused the write (HTTP 503: the provider retries).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The answer to a stored webhook.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// The inbox row (the earlier one for a duplicate).
    pub inbox_id: Option<String>,
    /// The event name.
    pub event: String,
    /// Whether this delivery repeated one already stored.
    pub duplicate: bool,
    /// Whether it was refused: a value over its bound (see the README's
    /// limits); stored and traced as `webhook_refused`, never processed.
    pub refused: bool,
    /// Whether it was processed before this answer (SQLite's
    /// write-through); otherwise the processor takes it shortly.
    pub processed: bool,
}

/// What replay did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    /// Rows processed.
    pub processed: u64,
    /// Rows that failed again.
    pub failed: u64,
}

/// The inbox and its processor.
#[derive(Clone)]
pub struct Inbox {
    pipeline: Pipeline,
    writer: InboxWriter,
    arrivals: Arc<Arrivals>,
}

impl Inbox {
    /// An inbox feeding `pipeline`; starts its writer (group commit) on the
    /// current tokio runtime. With `write_through` (a time budget per
    /// group), on SQLite, the writer processes each group in the
    /// transaction that stores it (see [`WriteThrough`]); otherwise every
    /// row waits for the processor ([`Inbox::run`]).
    ///
    /// The path that runs the pipeline under load gets connections of its
    /// own ([`Db::dedicated`](crate::store::Db::dedicated)), so they stay
    /// warm: on SQLite the writer (one connection, the one that writes
    /// nearly everything, so its page cache survives), on PostgreSQL the
    /// processor (one per lane). The other side uses the shared pool.
    pub fn new(pipeline: Pipeline, write_through: Option<std::time::Duration>) -> Self {
        let (writer, processor) = match pipeline.db().backend() {
            Backend::Sqlite => (pipeline.with_db(pipeline.db().dedicated(1)), pipeline),
            Backend::Postgres => {
                let lanes = pipeline.db().dedicated(LANES as u32);
                (pipeline.clone(), pipeline.with_db(lanes))
            }
        };
        Inbox {
            writer: InboxWriter::spawn(
                writer.db().clone(),
                write_through.map(|budget| WriteThrough::new(writer, budget)),
            ),
            pipeline: processor,
            arrivals: Arc::new(Arrivals::default()),
        }
    }

    /// Classifies and stores one delivery (and processes it, with
    /// write-through), then wakes the processor for what is pending.
    pub async fn receive(&self, body: &[u8]) -> Result<Receipt, IngestError> {
        let classified = unipile::classify(body)?;
        let text = String::from_utf8_lossy(body);
        let now = self.pipeline.clock().now_ms();
        let row = inbox::NewInboxRow::new(&classified.natural_key, &classified.name, &text, now);
        let Stored { id, processed } = self.writer.store(row).await?;
        let outcome = match (&id, classified.refused()) {
            (None, _) => "duplicate",
            (Some(_), true) => "refused",
            (Some(_), false) => "stored",
        };
        metrics::counter!("accord_webhooks_total", "event" => classified.label(), "outcome" => outcome)
            .increment(1);
        if id.is_some() && !processed {
            self.arrivals.stored_one();
        }
        Ok(Receipt {
            refused: classified.refused(),
            duplicate: id.is_none(),
            processed,
            inbox_id: id,
            event: classified.name,
        })
    }

    /// Processes up to `limit` pending rows, up to [`ROWS_PER_TRANSACTION`] rows per
    /// transaction; returns how many it took (processed, or failed and
    /// recorded). Each transaction first claims its rows
    /// ([`inbox::claim`]): a row another instance holds or has processed
    /// since the read is left out. A batch that fails is rolled back
    /// and its rows run again one per transaction, so one bad row costs
    /// only itself. On PostgreSQL [`LANES`] batches run at once, the rows
    /// split by LinkedIn account (one account's webhooks stay in arrival
    /// order); on SQLite, with one writer, one lane.
    pub async fn process_pending(&self, limit: i64) -> Result<usize, PipelineError> {
        let rows = {
            let mut conn = self.pipeline.db().acquire().await?;
            inbox::pending(&mut conn, limit).await?
        };
        // A lane per full batch, up to LANES: rows that fit one batch are
        // one transaction, not one per lane (at 1,000 webhooks/s a fetch
        // holds a few rows, and four transactions for them cost four times
        // the statements and lengthened the slowest lane, which the next
        // fetch waits for).
        let lanes = match self.pipeline.db().backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => rows.len().div_ceil(ROWS_PER_TRANSACTION).clamp(1, LANES),
        };
        let mut split: Vec<Vec<Pending>> = (0..lanes).map(|_| Vec::new()).collect();
        for row in rows {
            let pending = Pending::of(row);
            split[lane_of(&pending, lanes)].push(pending);
        }
        let mut running = tokio::task::JoinSet::new();
        for lane in split.into_iter().filter(|l| !l.is_empty()) {
            let me = self.clone();
            running.spawn(async move { me.process_lane(&lane).await });
        }
        let mut first_error = None;
        let mut taken = 0;
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(n)) => taken += n,
                Ok(Err(e)) if first_error.is_none() => first_error = Some(e),
                Err(join) => tracing::error!(error = %join, "inbox lane failed"),
                _ => {}
            }
        }
        self.pipeline.db().note_growth(taken as u64);
        match first_error {
            Some(e) => Err(e),
            None => Ok(taken),
        }
    }

    /// Processes a lane's rows batch after batch; returns how many it took.
    async fn process_lane(&self, rows: &[Pending]) -> Result<usize, PipelineError> {
        let mut rest = rows;
        let mut taken = 0;
        while !rest.is_empty() {
            match self.process_batch(rest, Claim::Pending).await {
                Ok((done, claimed)) => {
                    rest = &rest[done..];
                    taken += claimed;
                }
                Err((tried, e)) => {
                    tracing::warn!(rows = tried, error = %e, "inbox batch failed; processing its rows one by one");
                    for pending in &rest[..tried] {
                        taken += self.process_one(&pending.row, Claim::Pending).await?;
                    }
                    rest = &rest[tried..];
                }
            }
        }
        Ok(taken)
    }

    /// Processes the first rows of `rows` (up to [`ROWS_PER_TRANSACTION`]) in one
    /// transaction ([`run_rows`]), those it can claim ([`inbox::claim`],
    /// in the same transaction, so each row is processed by one
    /// transaction at a time and, once pending no more, never again by
    /// the processor). Returns how many of `rows` it went through and how
    /// many of them it claimed, or how many it tried and the error.
    async fn process_batch(
        &self,
        rows: &[Pending],
        claim: Claim,
    ) -> Result<(usize, usize), (usize, PipelineError)> {
        let rows = &rows[..rows.len().min(ROWS_PER_TRANSACTION)];
        let mut tx = self.pipeline.begin().await.map_err(|e| (1, e))?;
        let ids: Vec<&str> = rows.iter().map(|p| p.row.id.as_str()).collect();
        let claimed = inbox::claim(&mut tx, &ids, claim)
            .await
            .map_err(|e| (1, e.into()))?;
        // Each claimed row with its place in `rows`, in order.
        let (places, mine): (Vec<usize>, Vec<&Pending>) = rows
            .iter()
            .enumerate()
            .filter(|(_, p)| claimed.contains(&p.row.id))
            .unzip();
        if mine.is_empty() {
            tx.rollback().await.map_err(|e| (rows.len(), e.into()))?;
            return Ok((rows.len(), 0));
        }
        let mut batch = Batch::new();
        let processed = match run_rows(&self.pipeline, &mut tx, &mut batch, &mine).await {
            Ok(processed) => processed,
            Err((tried, e)) => {
                // Rolled back now, not when the dropped transaction's
                // connection is next used: until then its row locks would
                // make the one-by-one retries skip these rows.
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(error = %rollback, "rolling back a failed inbox batch failed");
                }
                return Err((places[tried.clamp(1, places.len()) - 1] + 1, e));
            }
        };
        Processed {
            batch,
            rows: processed,
        }
        .commit(&self.pipeline, tx)
        .await
        .map_err(|e| (rows.len(), e.into()))?;
        Ok((rows.len(), mine.len()))
    }

    /// Runs one row again in its own transaction, whatever its status, and
    /// records its outcome unless it has one (the replay's entry point).
    /// A pipeline error rolls the work back and leaves the row pending
    /// (retried) until it has failed `MAX_ATTEMPTS` times.
    pub async fn process(&self, row: &InboxRow) -> Result<(), PipelineError> {
        self.process_one(row, Claim::Replay).await.map(drop)
    }

    /// Processes one row in its own transaction if it can claim it;
    /// returns whether it did (1) or not (0). A pipeline error rolls the
    /// work back and records the failed attempt.
    async fn process_one(&self, row: &InboxRow, claim: Claim) -> Result<usize, PipelineError> {
        let pending = Pending::of(row.clone());
        let error = match self
            .process_batch(std::slice::from_ref(&pending), claim)
            .await
        {
            Ok((_, claimed)) => return Ok(claimed),
            Err((_, error)) => error,
        };
        let status = if row.attempts + 1 >= MAX_ATTEMPTS {
            "failed"
        } else {
            "pending"
        };
        tracing::warn!(inbox_id = %row.id, event = %row.event, error = %error, status, "webhook processing failed");
        let now = self.pipeline.clock().now_ms();
        let mut conn = self.pipeline.db().acquire().await?;
        inbox::finish(
            &mut conn,
            &row.id,
            status,
            None,
            Some(&error.to_string()),
            now,
        )
        .await?;
        Ok(1)
    }

    /// Runs every pending and failed row again (or every row with `all`).
    /// Safe at any time: processing is idempotent.
    pub async fn replay(&self, all: bool) -> Result<ReplayReport, PipelineError> {
        let mut report = ReplayReport::default();
        let mut after = String::new();
        loop {
            let rows = {
                let mut conn = self.pipeline.db().acquire().await?;
                inbox::replayable(&mut conn, all, &after, 200).await?
            };
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            for row in &rows {
                let mut row = row.clone();
                row.attempts = 0;
                self.process(&row).await?;
                let mut conn = self.pipeline.db().acquire().await?;
                match inbox::get(&mut conn, &row.id).await? {
                    Some(r) if r.status == "pending" || r.status == "failed" => report.failed += 1,
                    _ => report.processed += 1,
                }
            }
        }
        Ok(report)
    }

    /// The batching window of this database ([`SQLITE_LINGER`]).
    fn window(&self) -> std::time::Duration {
        match self.pipeline.db().backend() {
            Backend::Sqlite => SQLITE_LINGER,
            Backend::Postgres => std::time::Duration::ZERO,
        }
    }

    /// Processes the inbox until `shutdown` flips: when woken (after
    /// [`Arrivals::linger`] on SQLite), and every second otherwise (rows
    /// left by a crash are picked up too).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.arrivals
                .linger(self.window(), ROWS_PER_TRANSACTION)
                .await;
            self.arrivals.take();
            match self.process_pending(FETCH).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "inbox processing failed"),
            }
            tokio::select! {
                _ = self.arrivals.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

/// Rows stored since the processor's last fetch, and its wake-up. The
/// count is a hint: rows written by another process or before a restart
/// are not in it (the processor's poll finds them).
#[derive(Default)]
struct Arrivals {
    stored: AtomicUsize,
    wake: Notify,
}

impl Arrivals {
    /// A row was stored: count it and wake the processor.
    fn stored_one(&self) {
        self.stored.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// The processor fetches: the count starts again.
    fn take(&self) {
        self.stored.store(0, Ordering::Relaxed);
    }

    /// When some rows, fewer than `batch`, were stored since the last
    /// fetch, waits until `batch` rows are or `window` has passed.
    async fn linger(&self, window: std::time::Duration, batch: usize) {
        if window.is_zero() || !(1..batch).contains(&self.stored.load(Ordering::Relaxed)) {
            return;
        }
        let deadline = tokio::time::Instant::now() + window;
        while self.stored.load(Ordering::Relaxed) < batch {
            if tokio::time::timeout_at(deadline, self.wake.notified())
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Arrivals;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;

    /// Tokio's timers tick in whole milliseconds.
    const WINDOW: Duration = Duration::from_millis(10);

    /// How long `linger` took on the paused clock.
    async fn lingered(arrivals: &Arrivals, window: Duration, batch: usize) -> Duration {
        let start = Instant::now();
        arrivals.linger(window, batch).await;
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_stored_or_a_whole_batch_waits_for_nothing() {
        let arrivals = Arrivals::default();
        assert_eq!(lingered(&arrivals, WINDOW, 4).await, Duration::ZERO);
        for _ in 0..4 {
            arrivals.stored_one();
        }
        assert_eq!(lingered(&arrivals, WINDOW, 4).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_waits_for_nothing() {
        let arrivals = Arrivals::default();
        arrivals.stored_one();
        assert_eq!(lingered(&arrivals, Duration::ZERO, 4).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_row_waits_the_window_and_no_longer() {
        let arrivals = Arrivals::default();
        arrivals.stored_one();
        assert_eq!(lingered(&arrivals, WINDOW, 4).await, WINDOW);
        // Fetching starts the count again.
        arrivals.take();
        assert_eq!(lingered(&arrivals, WINDOW, 4).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_ends_when_the_batch_fills() {
        let arrivals = Arc::new(Arrivals::default());
        arrivals.stored_one();
        let writer = arrivals.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            writer.stored_one();
            tokio::time::sleep(Duration::from_millis(2)).await;
            writer.stored_one();
            writer.stored_one();
        });
        assert_eq!(
            lingered(&arrivals, WINDOW, 4).await,
            Duration::from_millis(3)
        );
    }
}
