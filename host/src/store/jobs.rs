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
}

pub(crate) const COLUMNS: &str = "id, enrollment_id, campaign_id, linkedin_account_id, step_index, action, source, status, \
    run_at, attempts, wait_reason, lease_owner, lease_expires_at, fence, claimed_at, last_error, created_at, updated_at, completed_at";

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
    let id = new_id();
    let r = sqlx::query(
        "INSERT INTO campaign_send_jobs (id, enrollment_id, campaign_id, linkedin_account_id, step_index, action, source, \
         status, run_at, attempts, wait_reason, fence, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, 0, $9, 0, $10, $10) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(j.enrollment_id)
    .bind(j.campaign_id)
    .bind(j.linkedin_account_id)
    .bind(i64::from(j.step_index))
    .bind(j.action)
    .bind(j.source)
    .bind(j.run_at)
    .bind(j.wait_reason)
    .bind(now)
    .execute(c)
    .await?;
    Ok((r.rows_affected() == 1).then_some(id))
}

/// What pre-flight needs of (enrollment, step) in one round trip: whether
/// a pending or processing job exists, and when the step last succeeded.
pub async fn step_history(
    c: &mut AnyConnection,
    enrollment_id: &str,
    step_index: u32,
) -> Result<(bool, Option<Millis>), StoreError> {
    let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT CAST(MAX(CASE WHEN status IN ('pending', 'processing') THEN 1 ELSE 0 END) AS BIGINT), \
         MAX(CASE WHEN status = 'succeeded' THEN completed_at END) \
         FROM campaign_send_jobs WHERE enrollment_id = $1 AND step_index = $2",
    )
    .bind(enrollment_id)
    .bind(i64::from(step_index))
    .fetch_optional(c)
    .await?;
    Ok(row.map_or((false, None), |(active, succeeded)| {
        (active == Some(1), succeeded)
    }))
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
