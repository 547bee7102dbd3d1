//! The send-job queue. At most one active (pending or processing) job per
//! (enrollment, step): a partial unique index, not a check in code.

use super::StoreError;
use crate::clock::{Millis, new_id};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// A job row.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Job {
    /// Id.
    pub id: String,
    /// Enrollment.
    pub enrollment_id: String,
    /// Campaign.
    pub campaign_id: String,
    /// LinkedIn account.
    pub linkedin_account_id: String,
    /// Step.
    pub step_index: i64,
    /// `send_invite` or `send_message`.
    pub action: String,
    /// The dispatch source that enqueued it.
    pub source: String,
    /// `pending`, `processing`, `succeeded`, `failed`, `cancelled`.
    pub status: String,
    /// Scheduled run time, ms.
    pub run_at: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// Why it waits (window, cap, ramp, spacing, account, campaign).
    pub wait_reason: Option<String>,
    /// Worker holding it.
    pub lease_owner: Option<String>,
    /// Lease end, ms.
    pub lease_expires_at: Option<i64>,
    /// Claim counter: a stale worker's completion is refused.
    pub fence: i64,
    /// When the current (or last) claim was made, ms.
    pub claimed_at: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
    /// Created, ms.
    pub created_at: i64,
    /// Updated, ms.
    pub updated_at: i64,
    /// Completed, ms.
    pub completed_at: Option<i64>,
    /// When an attempt whose outcome is unknown began (a timeout or 504
    /// after the request left, a worker that died mid-send): the provider's
    /// record is read before any new attempt.
    pub outcome_unknown_at: Option<i64>,
    /// An operator's answer for a held job: `sent` or `not_sent`.
    pub operator_verdict: Option<String>,
}

/// The job columns as [`Job`] reads them.
pub const COLUMNS: &str = "id, enrollment_id, campaign_id, linkedin_account_id, step_index, action, source, status, \
    run_at, attempts, wait_reason, lease_owner, lease_expires_at, fence, claimed_at, last_error, created_at, updated_at, completed_at, \
    outcome_unknown_at, operator_verdict";

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// Enrollment.
    pub enrollment_id: &'a str,
    /// Campaign.
    pub campaign_id: &'a str,
    /// LinkedIn account.
    pub linkedin_account_id: &'a str,
    /// Step.
    pub step_index: u32,
    /// `send_invite` or `send_message`.
    pub action: &'a str,
    /// Dispatch source.
    pub source: &'a str,
    /// Scheduled run time.
    pub run_at: Millis,
    /// Why it waits, if it does.
    pub wait_reason: Option<&'a str>,
}

/// Enqueues a job unless an active one exists for (enrollment, step):
/// `ON CONFLICT DO NOTHING` on the partial unique index. Returns the new
/// job's id, or `None` when one was already active.
pub async fn enqueue(
    c: &mut AnyConnection,
    j: &NewJob<'_>,
    now: Millis,
) -> Result<Option<String>, StoreError> {
    Ok(enqueue_many(c, std::slice::from_ref(j), now)
        .await?
        .pop()
        .flatten())
}

/// Rows per statement (bound variables stay far under both limits).
const CHUNK: usize = 200;

/// Enqueues several jobs in one statement, each as [`enqueue`] would:
/// `ON CONFLICT DO NOTHING` on the partial unique index. Returns, per job
/// and in order, the new id or `None` when an active one already existed.
pub async fn enqueue_many(
    c: &mut AnyConnection,
    jobs: &[NewJob<'_>],
    now: Millis,
) -> Result<Vec<Option<String>>, StoreError> {
    let mut out = Vec::with_capacity(jobs.len());
    let postgres = super::arrays::is_postgres(c);
    for chunk in jobs.chunks(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|_| new_id()).collect();
        let q = if postgres {
            enqueue_arrays(&ids, chunk, now)
        } else {
            let statement = format!(
                "INSERT INTO campaign_send_jobs ({NEW_JOB_COLUMNS}) VALUES {} ON CONFLICT DO NOTHING",
                super::values_rows(
                    chunk.len(),
                    1,
                    "(?, ?, ?, ?, ?, ?, ?, 'pending', ?, 0, ?, 0, ?, ?)"
                )
            );
            let mut q = sqlx::query(super::sql_for(c, statement));
            for (id, j) in ids.iter().zip(chunk) {
                q = q
                    .bind(id.clone())
                    .bind(j.enrollment_id)
                    .bind(j.campaign_id)
                    .bind(j.linkedin_account_id)
                    .bind(i64::from(j.step_index))
                    .bind(j.action)
                    .bind(j.source)
                    .bind(j.run_at)
                    .bind(j.wait_reason)
                    .bind(now)
                    .bind(now);
            }
            q
        };
        let affected = q.execute(&mut *c).await?.rows_affected();
        if affected == chunk.len() as u64 {
            // Every row went in (the usual case): no id to read back.
            out.extend(ids.into_iter().map(Some));
            continue;
        }
        // Some (enrollment, step) already had an active job: the fresh
        // ids that exist now are the ones inserted.
        let inserted = existing_ids(c, &ids).await?;
        out.extend(
            ids.into_iter()
                .map(|id| inserted.contains(&id).then_some(id)),
        );
    }
    Ok(out)
}

/// The columns [`enqueue_many`] writes.
const NEW_JOB_COLUMNS: &str = "id, enrollment_id, campaign_id, linkedin_account_id, step_index, action, \
     source, status, run_at, attempts, wait_reason, fence, created_at, updated_at";

/// [`enqueue_many`]'s insert on PostgreSQL: a column per array.
fn enqueue_arrays<'q, 'j>(
    ids: &[String],
    jobs: &[NewJob<'j>],
    now: Millis,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    use super::arrays::{int_array, text_array, unnest};
    let source = unnest(
        2,
        &[
            "text", "text", "text", "text", "bigint", "text", "text", "bigint", "text",
        ],
    );
    let statement = format!(
        "INSERT INTO campaign_send_jobs ({NEW_JOB_COLUMNS}) SELECT v.column1, v.column2, v.column3, v.column4, \
         v.column5, v.column6, v.column7, 'pending', v.column8, 0, v.column9, 0, $1, $1 FROM {source} \
         ON CONFLICT DO NOTHING"
    );
    let text = |f: fn(&NewJob<'j>) -> Option<&'j str>| text_array(jobs.iter().map(f));
    sqlx::query(super::sql(statement))
        .bind(now)
        .bind(text_array(ids.iter().map(|id| Some(id.as_str()))))
        .bind(text(|j| Some(j.enrollment_id)))
        .bind(text(|j| Some(j.campaign_id)))
        .bind(text(|j| Some(j.linkedin_account_id)))
        .bind(int_array(
            jobs.iter().map(|j| Some(i64::from(j.step_index))),
        ))
        .bind(text(|j| Some(j.action)))
        .bind(text(|j| Some(j.source)))
        .bind(int_array(jobs.iter().map(|j| Some(j.run_at))))
        .bind(text(|j| j.wait_reason))
}

/// Which of `ids` are jobs.
async fn existing_ids(
    c: &mut AnyConnection,
    ids: &[String],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let statement = format!(
        "SELECT id FROM campaign_send_jobs WHERE id IN ({})",
        super::placeholders(1, ids.len())
    );
    let mut q = sqlx::query_as(super::sql_for(c, statement));
    for id in ids {
        q = q.bind(id);
    }
    let rows: Vec<(String,)> = q.fetch_all(&mut *c).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// What pre-flight needs to know of one (enrollment, step).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepHistory {
    /// A pending or processing job exists.
    pub active_job_exists: bool,
    /// When the step last succeeded.
    pub succeeded_at: Option<Millis>,
    /// An unresolved skip is recorded (an enqueue resolves it).
    pub open_skip: bool,
}

/// (enrollment, step, active, succeeded at, open skip) as read.
type HistoryRow = (String, i64, Option<i64>, Option<i64>, Option<i64>);

/// The history of several (enrollment, step) pairs in one round trip:
/// their jobs and their open skips. Returns one entry per pair, in order.
///
/// Each pair is probed on its own through correlated sub-queries (the
/// one-active index, the enrollment index, the open-skips index). As one
/// `enrollment_id IN (…)` over the jobs table, PostgreSQL planned a
/// sequential scan whenever the table had grown since its last `ANALYZE`
/// (a fresh deployment's first minute): 1.07 ms a batch, now 0.17.
pub async fn step_histories(
    c: &mut AnyConnection,
    steps: &[(&str, u32)],
) -> Result<Vec<StepHistory>, StoreError> {
    let mut pairs: Vec<(&str, i64)> = steps.iter().map(|(e, s)| (*e, i64::from(*s))).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut found: std::collections::HashMap<(String, i64), StepHistory> = Default::default();
    let postgres = super::arrays::is_postgres(c);
    for chunk in pairs.chunks(CHUNK) {
        let source = if postgres {
            super::arrays::unnest(1, &["text", "bigint"])
        } else {
            let list = super::values_rows(chunk.len(), 1, "(?, CAST(? AS BIGINT))");
            format!("(VALUES {list}) AS v")
        };
        // Only pairs with some history come back (a fresh step, the usual
        // case, costs no row): on SQLite every row is a hand-off between
        // threads.
        let statement = format!(
            "SELECT * FROM (SELECT v.column1 AS enrollment_id, v.column2 AS step_index, \
             CAST((SELECT 1 FROM campaign_send_jobs j WHERE j.enrollment_id = v.column1 AND j.step_index = v.column2 \
                   AND j.status IN ('pending', 'processing') LIMIT 1) AS BIGINT) AS active, \
             (SELECT MAX(j.completed_at) FROM campaign_send_jobs j WHERE j.enrollment_id = v.column1 \
                   AND j.step_index = v.column2 AND j.status = 'succeeded') AS succeeded_at, \
             CAST((SELECT 1 FROM skips k WHERE k.enrollment_id = v.column1 AND k.step_index = v.column2 \
                   AND k.resolved_at IS NULL LIMIT 1) AS BIGINT) AS open_skip \
             FROM {source}) AS h \
             WHERE active IS NOT NULL OR succeeded_at IS NOT NULL OR open_skip IS NOT NULL"
        );
        let mut q = sqlx::query_as(super::sql_for(c, statement));
        if postgres {
            q = q
                .bind(super::arrays::text_array(
                    chunk.iter().map(|(e, _)| Some(*e)),
                ))
                .bind(super::arrays::int_array(
                    chunk.iter().map(|(_, s)| Some(*s)),
                ));
        } else {
            for (enrollment, step) in chunk {
                q = q.bind(*enrollment).bind(*step);
            }
        }
        let rows: Vec<HistoryRow> = q.fetch_all(&mut *c).await?;
        for (enrollment, step, active, succeeded_at, open_skip) in rows {
            let history = StepHistory {
                active_job_exists: active == Some(1),
                succeeded_at,
                open_skip: open_skip == Some(1),
            };
            found.insert((enrollment, step), history);
        }
    }
    Ok(steps
        .iter()
        .map(|(e, step)| {
            found
                .get(&((*e).to_string(), i64::from(*step)))
                .copied()
                .unwrap_or_default()
        })
        .collect())
}

/// Cancels an enrollment's pending jobs (a reply stops automation).
pub async fn cancel_pending(
    c: &mut AnyConnection,
    enrollment_id: &str,
    why: &str,
    now: Millis,
) -> Result<u64, StoreError> {
    cancel_pending_by(c, "enrollment_id", enrollment_id, why, now).await
}

/// Cancels the pending jobs of several enrollments; returns how many.
pub async fn cancel_pending_many(
    c: &mut AnyConnection,
    enrollment_ids: &[String],
    why: &str,
    now: Millis,
) -> Result<u64, StoreError> {
    let mut cancelled = 0;
    for chunk in enrollment_ids.chunks(CHUNK) {
        let statement = format!(
            "UPDATE campaign_send_jobs SET status = 'cancelled', last_error = $1, updated_at = $2, completed_at = $2 \
             WHERE enrollment_id IN ({}) AND status = 'pending'",
            super::placeholders(3, chunk.len())
        );
        let mut q = sqlx::query(super::sql(statement)).bind(why).bind(now);
        for id in chunk {
            q = q.bind(id);
        }
        cancelled += q.execute(&mut *c).await?.rows_affected();
    }
    Ok(cancelled)
}

/// An enrollment's jobs, newest first.
pub async fn of_enrollment(
    c: &mut AnyConnection,
    enrollment_id: &str,
) -> Result<Vec<Job>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM campaign_send_jobs WHERE enrollment_id = $1 ORDER BY created_at DESC"
    )))
    .bind(enrollment_id)
    .fetch_all(c)
    .await?)
}

/// The jobs of the enrollments `ids` with `status` (`pending`, …) and,
/// when given, `action`, oldest first.
pub async fn of_enrollments(
    c: &mut AnyConnection,
    ids: &[&str],
    status: Option<&str>,
    action: Option<&str>,
) -> Result<Vec<Job>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut statement = format!(
        "SELECT {COLUMNS} FROM campaign_send_jobs WHERE enrollment_id IN ({})",
        super::placeholders(1, ids.len())
    );
    let mut next = ids.len() + 1;
    if status.is_some() {
        statement.push_str(&format!(" AND status = ${next}"));
        next += 1;
    }
    if action.is_some() {
        statement.push_str(&format!(" AND action = ${next}"));
    }
    statement.push_str(" ORDER BY created_at, id");
    let q = ids
        .iter()
        .fold(sqlx::query_as(super::sql(statement)), |q, id| q.bind(*id));
    let q = match status {
        Some(s) => q.bind(s),
        None => q,
    };
    let q = match action {
        Some(a) => q.bind(a),
        None => q,
    };
    Ok(q.fetch_all(c).await?)
}

/// The account's earliest pending job (its next scheduled action), if any.
pub async fn next_pending_of_account(
    c: &mut AnyConnection,
    account_id: &str,
) -> Result<Option<Job>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM campaign_send_jobs WHERE linkedin_account_id = $1 AND status = 'pending' \
         ORDER BY run_at LIMIT 1"
    )))
    .bind(account_id)
    .fetch_optional(c)
    .await?)
}

/// Counts the jobs of (enrollment, step) in any state.
pub async fn count_for_step(
    c: &mut AnyConnection,
    enrollment_id: &str,
    step_index: u32,
) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM campaign_send_jobs WHERE enrollment_id = $1 AND step_index = $2",
    )
    .bind(enrollment_id)
    .bind(i64::from(step_index))
    .fetch_one(c)
    .await?;
    Ok(n)
}

/// A campaign's jobs counted per status: (status, count).
pub async fn count_by_status_of_campaign(
    c: &mut AnyConnection,
    campaign_id: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT status, COUNT(*) FROM campaign_send_jobs WHERE campaign_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(campaign_id)
    .fetch_all(c)
    .await?)
}

/// Cancels every pending job of a campaign (the campaign was stopped);
/// returns how many.
pub async fn cancel_pending_of_campaign(
    c: &mut AnyConnection,
    campaign_id: &str,
    why: &str,
    now: Millis,
) -> Result<u64, StoreError> {
    cancel_pending_by(c, "campaign_id", campaign_id, why, now).await
}

/// Cancels the pending jobs whose `column` (a fixed column name, never
/// input) equals `id`.
async fn cancel_pending_by(
    c: &mut AnyConnection,
    column: &'static str,
    id: &str,
    why: &str,
    now: Millis,
) -> Result<u64, StoreError> {
    let r = sqlx::query(super::sql(format!(
        "UPDATE campaign_send_jobs SET status = 'cancelled', last_error = $1, updated_at = $2, completed_at = $2 \
         WHERE {column} = $3 AND status = 'pending'"
    )))
    .bind(why)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// The run time of a job held for an operator: never due by itself, but
/// still active, so no other job may take its step.
pub const HELD_RUN_AT: Millis = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/// The wait reason of a held job.
pub const HELD: &str = "held_outcome_unknown";

/// A claimed send whose outcome is unknown goes back to the queue, due at
/// once (the account's spacing still gates its claim), marked with the
/// attempt's start so the next claim reads the provider's record first.
/// Returns false when the claim (`fence`) no longer holds the job.
pub async fn mark_outcome_unknown(
    c: &mut AnyConnection,
    id: &str,
    fence: i64,
    attempt_at: Millis,
    error: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE campaign_send_jobs SET status = 'pending', run_at = $1, wait_reason = 'outcome_unknown', \
         outcome_unknown_at = COALESCE(outcome_unknown_at, $2), operator_verdict = NULL, last_error = $3, \
         updated_at = $1, lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $4 AND fence = $5 AND status = 'processing'",
    )
    .bind(now)
    .bind(attempt_at)
    .bind(error)
    .bind(id)
    .bind(fence)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The provider's record shows the send did not happen: the job goes back
/// to the queue as an ordinary send. Returns false when the claim no
/// longer holds the job.
pub async fn mark_not_sent(
    c: &mut AnyConnection,
    id: &str,
    fence: i64,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE campaign_send_jobs SET status = 'pending', run_at = $1, wait_reason = 'reconciled_not_sent', \
         outcome_unknown_at = NULL, updated_at = $1, lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $2 AND fence = $3 AND status = 'processing'",
    )
    .bind(now)
    .bind(id)
    .bind(fence)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The provider's record could not be read: the job is held, still
/// active, until an operator gives a verdict. Returns false when the claim
/// no longer holds the job.
pub async fn hold(
    c: &mut AnyConnection,
    id: &str,
    fence: i64,
    error: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE campaign_send_jobs SET status = 'pending', run_at = $1, wait_reason = $2, last_error = $3, \
         updated_at = $4, lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $5 AND fence = $6 AND status = 'processing'",
    )
    .bind(HELD_RUN_AT)
    .bind(HELD)
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(fence)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Jobs held for an operator, oldest first.
pub async fn held(c: &mut AnyConnection, limit: i64) -> Result<Vec<Job>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM campaign_send_jobs WHERE status = 'pending' AND wait_reason = $1 \
         ORDER BY updated_at, id LIMIT $2"
    )))
    .bind(HELD)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// An operator's verdict on a held job: `sent` (complete it without a
/// call), `not_sent` (send it), or none (read the provider's record
/// again). The job becomes due at once. Returns the job, or `None` when
/// no held job has that id.
pub async fn release_held(
    c: &mut AnyConnection,
    id: &str,
    verdict: Option<&str>,
    now: Millis,
) -> Result<Option<Job>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "UPDATE campaign_send_jobs SET run_at = $1, wait_reason = 'operator_verdict', operator_verdict = $2, \
         updated_at = $1 WHERE id = $3 AND status = 'pending' AND wait_reason = $4 RETURNING {COLUMNS}"
    )))
    .bind(now)
    .bind(verdict)
    .bind(id)
    .bind(HELD)
    .fetch_optional(c)
    .await?)
}

/// Whether `worker`'s claim (`fence`) still holds the job.
pub async fn still_claimed(
    c: &mut AnyConnection,
    id: &str,
    fence: i64,
    worker: &str,
) -> Result<bool, StoreError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM campaign_send_jobs WHERE id = $1 AND fence = $2 AND status = 'processing' AND lease_owner = $3",
    )
    .bind(id)
    .bind(fence)
    .bind(worker)
    .fetch_optional(c)
    .await?;
    Ok(row.is_some())
}

/// Completes a claimed job (`succeeded`, `failed`, `cancelled`) with its
/// error, if the claim (`fence`) still holds it. Returns whether it did.
pub async fn complete(
    c: &mut AnyConnection,
    id: &str,
    fence: i64,
    status: &str,
    error: Option<&str>,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE campaign_send_jobs SET status = $1, last_error = $2, completed_at = $3, updated_at = $3, \
         lease_owner = NULL, lease_expires_at = NULL WHERE id = $4 AND fence = $5 AND status = 'processing'",
    )
    .bind(status)
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(fence)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Puts a claimed job back in the queue at `run_at`, saying why it waits,
/// if the claim (`fence`) still holds it. Returns whether it did.
pub async fn retry(
    c: &mut AnyConnection,
    id: &str,
    fence: i64,
    run_at: Millis,
    reason: &str,
    error: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE campaign_send_jobs SET status = 'pending', run_at = $1, wait_reason = $2, last_error = $3, updated_at = $4, \
         lease_owner = NULL, lease_expires_at = NULL WHERE id = $5 AND fence = $6 AND status = 'processing'",
    )
    .bind(run_at)
    .bind(reason)
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(fence)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Gives back the attempt the claim counted (the job waits for its
/// account, through no fault of its own).
pub async fn refund_attempt(c: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE campaign_send_jobs SET attempts = attempts - 1 WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// How many pending jobs of `action` wait for `reason`.
pub async fn count_waiting(
    c: &mut AnyConnection,
    action: &str,
    reason: &str,
) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM campaign_send_jobs WHERE action = $1 AND status = 'pending' AND wait_reason = $2",
    )
    .bind(action)
    .bind(reason)
    .fetch_one(c)
    .await?;
    Ok(n)
}

/// When the campaign's invites were attempted (claimed), oldest first.
pub async fn invite_attempt_times(
    c: &mut AnyConnection,
    campaign_id: &str,
) -> Result<Vec<Millis>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT claimed_at FROM campaign_send_jobs WHERE campaign_id = $1 AND action = 'send_invite' \
         AND claimed_at IS NOT NULL AND status IN ('processing', 'succeeded', 'failed') ORDER BY claimed_at",
    )
    .bind(campaign_id)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|(at,)| at).collect())
}
