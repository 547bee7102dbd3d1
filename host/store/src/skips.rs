//! Pre-flight skips and their retries.

use super::StoreError;
use crate::clock::{Millis, new_id};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// A recorded skip.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct SkipRow {
    /// Id.
    pub id: String,
    /// Enrollment.
    pub enrollment_id: String,
    /// Campaign.
    pub campaign_id: String,
    /// The step that was not enqueued.
    pub step_index: i64,
    /// The dispatch source.
    pub source: String,
    /// The reason (`campaign_paused`, …).
    pub reason: String,
    /// 1 when the skip-retry tick and resume sweeps retry it.
    pub recoverable: i64,
    /// Explanation.
    pub detail: String,
    /// The deciding pre-flight module.
    pub module_sha256: Option<String>,
    /// When, ms.
    pub created_at: i64,
    /// Last retry, ms.
    pub retried_at: Option<i64>,
    /// When a later dispatch enqueued the step, ms.
    pub resolved_at: Option<i64>,
}

const COLUMNS: &str = "id, enrollment_id, campaign_id, step_index, source, reason, recoverable, detail, module_sha256, \
    created_at, retried_at, resolved_at";

/// Records a skip. An open recoverable skip of the same (enrollment,
/// step) is updated instead of duplicated.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    c: &mut AnyConnection,
    enrollment_id: &str,
    campaign_id: &str,
    step_index: u32,
    source: &str,
    reason: &str,
    recoverable: bool,
    detail: &str,
    module_sha256: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let updated = sqlx::query(
        "UPDATE skips SET source = $1, reason = $2, recoverable = $3, detail = $4, module_sha256 = $5, retried_at = $6 \
         WHERE enrollment_id = $7 AND step_index = $8 AND resolved_at IS NULL",
    )
    .bind(source)
    .bind(reason)
    .bind(i64::from(recoverable))
    .bind(detail)
    .bind(module_sha256)
    .bind(now)
    .bind(enrollment_id)
    .bind(i64::from(step_index))
    .execute(&mut *c)
    .await?;
    if updated.rows_affected() > 0 {
        return Ok(());
    }
    sqlx::query(super::sql(format!(
        "INSERT INTO skips ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL)"
    )))
    .bind(new_id())
    .bind(enrollment_id)
    .bind(campaign_id)
    .bind(i64::from(step_index))
    .bind(source)
    .bind(reason)
    .bind(i64::from(recoverable))
    .bind(detail)
    .bind(module_sha256)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Marks the open skips of (enrollment, step) resolved.
pub async fn resolve(
    c: &mut AnyConnection,
    enrollment_id: &str,
    step_index: u32,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE skips SET resolved_at = $1 WHERE enrollment_id = $2 AND step_index = $3 AND resolved_at IS NULL")
        .bind(now)
        .bind(enrollment_id)
        .bind(i64::from(step_index))
        .execute(c)
        .await?;
    Ok(())
}

/// Open recoverable skips created since `since`, oldest first.
pub async fn open_recoverable(
    c: &mut AnyConnection,
    campaign_id: Option<&str>,
    since: Millis,
    limit: i64,
) -> Result<Vec<SkipRow>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM skips WHERE recoverable = 1 AND resolved_at IS NULL AND created_at >= $1 \
         AND ($2 IS NULL OR campaign_id = $2) ORDER BY created_at LIMIT $3"
    )))
    .bind(since)
    .bind(campaign_id)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// The skips of an enrollment, newest first.
pub async fn of_enrollment(
    c: &mut AnyConnection,
    enrollment_id: &str,
) -> Result<Vec<SkipRow>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM skips WHERE enrollment_id = $1 ORDER BY created_at DESC"
    )))
    .bind(enrollment_id)
    .fetch_all(c)
    .await?)
}

/// How many recoverable skips of a campaign are still open (any age).
pub async fn count_open_recoverable(
    c: &mut AnyConnection,
    campaign_id: &str,
) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM skips WHERE campaign_id = $1 AND recoverable = 1 AND resolved_at IS NULL",
    )
    .bind(campaign_id)
    .fetch_one(c)
    .await?;
    Ok(n)
}
