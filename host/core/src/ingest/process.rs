//! Processing stored inbox rows inside a transaction: what each row asks
//! for (read from its body once), runs of accept signals through the
//! pipeline together, account-status changes in order between them, and
//! each row's outcome recorded at commit. The processor's batches and the
//! writer's write-through both run rows through here.

use super::unipile::{self, Classified, NotAReply, WebhookEvent};
use crate::domain::Named;
use crate::pipeline::{Batch, Pipeline, PipelineError};
use crate::store::events::NewEvent;
use crate::store::inbox::{self, InboxRow};
use crate::store::traces::NewTrace;
use crate::store::{StoreError, Tx, accounts};
use accord_policy_core::AcceptSignal;
use serde::Serialize;

/// Most inbox rows processed in one transaction: a batch pays its
/// look-ups, deferred inserts and commit once.
pub const ROWS_PER_TRANSACTION: usize = 128;

/// Runs the first rows of `rows` (up to [`ROWS_PER_TRANSACTION`]) through the pipeline
/// in `tx`, their outcomes recorded in it (written at commit).
/// Consecutive accept signals go through the pipeline together (one
/// candidate look-up, one stamp statement, one enqueue for all); an
/// account-status change is applied between them, in order. Returns each
/// row's event and outcome (counted once committed), or how many rows it
/// tried and the error.
pub(super) async fn run_rows(
    pipeline: &Pipeline,
    tx: &mut Tx,
    batch: &mut Batch,
    rows: &[&Pending],
) -> Result<Vec<(String, &'static str)>, (usize, PipelineError)> {
    let rows = &rows[..rows.len().min(ROWS_PER_TRANSACTION)];
    let mut finished = Vec::with_capacity(rows.len());
    let mut signals = Vec::new();
    let mut inbox_ids = Vec::new();
    for (i, Pending { task, row }) in rows.iter().copied().enumerate() {
        if !matches!(task, Task::Signal(_)) {
            // The signal run before this row ends here, in row order; it
            // sees the account as it was.
            accept_run(
                pipeline,
                tx,
                batch,
                (&mut signals, &mut inbox_ids),
                &mut finished,
            )
            .await
            .map_err(|e| (i.max(1), e))?;
        }
        match task {
            Task::Signal(signal) => {
                signals.push(signal.clone());
                inbox_ids.push(row.id.clone());
            }
            Task::Ignored(reason) => {
                finished.push(("ignored", serde_json::json!({"reason": reason})));
            }
            Task::Refused(reason) => {
                let trace = NewTrace {
                    kind: "webhook_refused",
                    detail: serde_json::json!({
                        "inbox_id": row.id, "event": row.event, "reason": reason,
                    }),
                    ..NewTrace::default()
                };
                tx.defer_trace(trace, pipeline.clock().now_ms());
                finished.push((
                    "ignored",
                    serde_json::json!({"reason": reason, "refused": true}),
                ));
            }
            Task::AccountStatus(status) => {
                let done = account_status(pipeline, tx, batch, status, row)
                    .await
                    .map_err(|e| (i + 1, e))?;
                finished.push(done);
            }
        }
    }
    let tried = rows.len();
    accept_run(
        pipeline,
        tx,
        batch,
        (&mut signals, &mut inbox_ids),
        &mut finished,
    )
    .await
    .map_err(|e| (tried, e))?;
    let now = pipeline.clock().now_ms();
    let (processed, outcomes): (Vec<_>, Vec<_>) = rows
        .iter()
        .zip(finished)
        .map(|(pending, (status, outcome))| {
            let row = &pending.row;
            let finished = inbox::Finished {
                id: row.id.clone(),
                status,
                outcome,
            };
            ((row.event.clone(), status), finished)
        })
        .unzip();
    tx.defer_inbox_finish(outcomes, now);
    Ok(processed)
}

/// Counts processed rows by event and outcome (their transaction
/// committed).
fn count_processed(processed: Vec<(String, &'static str)>) {
    for (event, status) in processed {
        let event = unipile::event_label(&event);
        metrics::counter!("accord_webhooks_processed_total", "event" => event, "outcome" => status)
            .increment(1);
    }
}

/// Rows a transaction processed (a batch of the processor's or a
/// write-through group), and what it owes once it commits.
pub(crate) struct Processed {
    /// The wake-ups to fire after the commit.
    pub(super) batch: Batch,
    /// Each row's event and outcome, counted once committed.
    pub(super) rows: Vec<(String, &'static str)>,
}

impl Processed {
    /// Commits the transaction that processed the rows, then fires its
    /// wake-ups and counts the rows.
    pub(crate) async fn commit(self, pipeline: &Pipeline, tx: Tx) -> Result<(), StoreError> {
        tx.commit().await?;
        pipeline.after_commit(&self.batch);
        count_processed(self.rows);
        Ok(())
    }
}

/// Processes freshly stored rows inside the transaction that stored them
/// (the writer's write-through), [`ROWS_PER_TRANSACTION`] at a time. Any error leaves
/// the transaction to be rolled back.
pub(crate) async fn process_in(
    pipeline: &Pipeline,
    tx: &mut Tx,
    rows: Vec<InboxRow>,
) -> Result<Processed, PipelineError> {
    let count = rows.len();
    let pending: Vec<Pending> = rows.into_iter().map(Pending::of).collect();
    let mut done = Processed {
        batch: Batch::new(),
        rows: Vec::with_capacity(count),
    };
    for chunk in pending.chunks(ROWS_PER_TRANSACTION) {
        let chunk: Vec<&Pending> = chunk.iter().collect();
        let processed = run_rows(pipeline, tx, &mut done.batch, &chunk)
            .await
            .map_err(|(_, e)| e)?;
        done.rows.extend(processed);
    }
    pipeline.db().note_growth(count as u64);
    Ok(done)
}

/// Runs the waiting signals (with their inbox rows' ids) through the
/// pipeline together and records their outcomes.
async fn accept_run(
    pipeline: &Pipeline,
    tx: &mut Tx,
    batch: &mut Batch,
    (signals, inbox_ids): (&mut Vec<AcceptSignal>, &mut Vec<String>),
    finished: &mut Vec<(&'static str, serde_json::Value)>,
) -> Result<(), PipelineError> {
    if signals.is_empty() {
        return Ok(());
    }
    let outcomes = pipeline.accept_many(tx, batch, signals, inbox_ids).await?;
    finished.extend(outcomes.iter().map(|o| ("processed", json(o))));
    signals.clear();
    inbox_ids.clear();
    Ok(())
}

/// Applies an account-status webhook (the inbox row `row`) in `tx`, if
/// no newer status change was applied to its account: deliveries take
/// effect in the order they were received, whichever instance processes
/// them, in whatever order (the payload carries no time of its own).
async fn account_status(
    pipeline: &Pipeline,
    tx: &mut Tx,
    batch: &mut Batch,
    status: &unipile::AccountStatusEvent,
    row: &InboxRow,
) -> Result<(&'static str, serde_json::Value), PipelineError> {
    let Some(new_status) = unipile::account_status(&status.message) else {
        return Ok((
            "ignored",
            serde_json::json!({"reason": format!("status {} changes nothing", status.message)}),
        ));
    };
    let now = pipeline.clock().now_ms();
    let Some(account) = accounts::account_by_provider_id(tx, &status.account_id).await? else {
        return Ok(("ignored", serde_json::json!({"reason": "unknown account"})));
    };
    let applied =
        accounts::apply_status_webhook(tx, &account.id, new_status, row.received_at, &row.id, now)
            .await?;
    let accounts::StatusApplied::Applied { from, changed } = applied else {
        return Ok((
            "ignored",
            serde_json::json!({"account_id": account.id, "reason": "older than the account's last status change"}),
        ));
    };
    if changed {
        let event = NewEvent {
            workspace_id: &account.workspace_id,
            linkedin_account_id: Some(&account.id),
            kind: "account_status_changed",
            source: Some("webhook"),
            detail: Some(
                serde_json::json!({"from": from, "to": new_status.as_str(), "provider_message": status.message}),
            ),
            ..NewEvent::default()
        };
        tx.defer_event(event, now);
        // Later signals of this batch see the new status; a reconnect
        // lets held jobs run again.
        batch.forget_accounts();
        batch.wake_jobs();
    }
    Ok((
        "processed",
        serde_json::json!({"account_id": account.id, "status": new_status.as_str(), "changed": changed}),
    ))
}

/// A pending inbox row with what it asks for, read from its body once.
pub(super) struct Pending {
    pub(super) row: InboxRow,
    pub(super) task: Task,
}

impl Pending {
    pub(super) fn of(row: InboxRow) -> Self {
        Pending {
            task: task_of(&row),
            row,
        }
    }
}

/// What one inbox row asks for.
pub(super) enum Task {
    /// An accept signal for the pipeline.
    Signal(AcceptSignal),
    /// An account's connection status changed.
    AccountStatus(unipile::AccountStatusEvent),
    /// Nothing to do, and why.
    Ignored(String),
    /// A value over its bound: traced, nothing else.
    Refused(String),
}

impl Task {
    /// The provider account the row belongs to, when it names one.
    pub(super) fn account_id(&self) -> Option<&str> {
        match self {
            Task::Signal(signal) => Some(&signal.linkedin_account_id),
            Task::AccountStatus(status) => Some(&status.account_id),
            Task::Ignored(_) | Task::Refused(_) => None,
        }
    }
}

fn task_of(row: &InboxRow) -> Task {
    let Classified { event, .. } = match unipile::classify(row.body.as_bytes()) {
        Ok(c) => c,
        Err(e) => return Task::Ignored(e.to_string()),
    };
    match event {
        WebhookEvent::NewRelation(relation) => Task::Signal(relation.signal(row.received_at)),
        WebhookEvent::MessageReceived(message) => match message.reply_signal(row.received_at) {
            Ok(signal) => Task::Signal(signal),
            Err(why) => Task::Ignored(
                match why {
                    NotAReply::Echo => "our own message (echo)",
                    NotAReply::Group => "a group message proves no connection",
                    NotAReply::NoSender => "no sender id",
                }
                .to_string(),
            ),
        },
        WebhookEvent::AccountStatus(status) => Task::AccountStatus(status),
        WebhookEvent::Ignored { reason } => Task::Ignored(reason),
        WebhookEvent::Refused { reason } => Task::Refused(reason),
    }
}

fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
