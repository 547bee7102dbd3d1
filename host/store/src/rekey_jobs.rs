//! Re-key jobs: a match module's keys computed for every prospect of a
//! scope, a page at a time, before the module decides (see
//! `accord_core::pipeline::rekey`). The row is the job's whole state: its
//! cursor (the last prospect id done) lets any instance resume it.

use super::StoreError;
use crate::clock::Millis;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// A re-key job and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct RekeyJob {
    /// Id.
    pub id: String,
    /// `""` for global, else the workspace's id.
    pub scope: String,
    /// The match module whose keys it computes: the key space it fills.
    pub module_sha256: String,
    /// The module that decided for the scope when it started: a prospect
    /// the new module fails on keeps the keys this one gave it.
    pub from_sha256: Option<String>,
    /// `active` (the module decides once done) or `shadow` (its space is
    /// filled so that a promote switches at once).
    pub mode: String,
    /// The change it completes: `assign`, `promote`, `rollback`,
    /// `unassign`, or `startup` (the built-in module of a new build).
    pub action: String,
    /// What the scope's active binding becomes once done (`None`: no
    /// module of its own); unused for shadow and startup jobs.
    pub bind_sha256: Option<String>,
    /// Whether a module that fails on most prospects is refused (an
    /// upload or promote; a rollback goes back to keys accepted before).
    #[serde(skip)]
    pub refuse: i64,
    /// Who asked for the change.
    pub actor: Option<String>,
    /// `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// `fill` (every prospect) then `sweep` (those still without keys).
    pub phase: String,
    /// The last prospect id of the current phase done.
    pub cursor: String,
    /// Prospects keyed so far.
    pub done: i64,
    /// Prospects the module failed on (they keep their previous keys).
    pub failures: i64,
    /// Prospects in the scope when the job started.
    pub total: i64,
    /// The first failure, for a refusal's message.
    pub first_failure: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Created, ms.
    pub created_at: i64,
    /// Last progress, ms.
    pub updated_at: i64,
    /// Finished, ms.
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, scope, module_sha256, from_sha256, mode, action, bind_sha256, refuse, \
    actor, status, phase, cursor, done, failures, total, first_failure, error, created_at, \
    updated_at, finished_at";

/// Inserts a new running job.
pub async fn insert(c: &mut AnyConnection, job: &RekeyJob) -> Result<(), StoreError> {
    sqlx::query(super::sql(format!(
        "INSERT INTO rekey_jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    )))
    .bind(&job.id)
    .bind(&job.scope)
    .bind(&job.module_sha256)
    .bind(&job.from_sha256)
    .bind(&job.mode)
    .bind(&job.action)
    .bind(&job.bind_sha256)
    .bind(job.refuse)
    .bind(&job.actor)
    .bind(&job.status)
    .bind(&job.phase)
    .bind(&job.cursor)
    .bind(job.done)
    .bind(job.failures)
    .bind(job.total)
    .bind(&job.first_failure)
    .bind(&job.error)
    .bind(job.created_at)
    .bind(job.updated_at)
    .bind(job.finished_at)
    .execute(c)
    .await?;
    Ok(())
}

/// A job by id.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<RekeyJob>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM rekey_jobs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// The running job of (scope, mode), if any.
pub async fn running_of(
    c: &mut AnyConnection,
    scope: &str,
    mode: &str,
) -> Result<Option<RekeyJob>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM rekey_jobs WHERE scope = $1 AND mode = $2 AND status = 'running'"
    )))
    .bind(scope)
    .bind(mode)
    .fetch_optional(c)
    .await?)
}

/// Every running job, oldest first.
pub async fn running(c: &mut AnyConnection) -> Result<Vec<RekeyJob>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM rekey_jobs WHERE status = 'running' ORDER BY created_at, id"
    )))
    .fetch_all(c)
    .await?)
}

/// The modules of the running jobs whose scope holds `workspace`'s
/// prospects: its own, and the global scope's while it has no match
/// module of its own. A prospect imported meanwhile is keyed in their
/// spaces too, so no job misses it.
pub async fn running_modules_for(
    c: &mut AnyConnection,
    workspace: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT module_sha256 FROM rekey_jobs WHERE status = 'running' AND (scope = $1 \
         OR (scope = '' AND NOT EXISTS (SELECT 1 FROM policy_bindings \
         WHERE scope = $1 AND slot = 'match' AND mode = 'active'))) ORDER BY module_sha256",
    )
    .bind(workspace)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Cancels the running job of (scope, mode), superseded by a newer change
/// of the scope; returns it.
pub async fn cancel_running(
    c: &mut AnyConnection,
    scope: &str,
    mode: &str,
    now: Millis,
) -> Result<Option<String>, StoreError> {
    let running = running_of(c, scope, mode).await?;
    let Some(job) = running else {
        return Ok(None);
    };
    finish(
        c,
        &job.id,
        "cancelled",
        Some("superseded by a newer change of the scope"),
        now,
    )
    .await?;
    Ok(Some(job.id))
}

/// Records a page's progress: the phase and cursor reached, the counts
/// added. False when the job is no longer running (cancelled meanwhile):
/// the caller rolls back.
#[allow(clippy::too_many_arguments)]
pub async fn advance(
    c: &mut AnyConnection,
    id: &str,
    phase: &str,
    cursor: &str,
    keyed: i64,
    failures: i64,
    first_failure: Option<&str>,
    now: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE rekey_jobs SET phase = $1, cursor = $2, done = done + $3, failures = failures + $4, \
         first_failure = COALESCE(first_failure, $5), updated_at = $6 WHERE id = $7 AND status = 'running'",
    )
    .bind(phase)
    .bind(cursor)
    .bind(keyed)
    .bind(failures)
    .bind(first_failure)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a running job with `status`. False when it was not running.
pub async fn finish(
    c: &mut AnyConnection,
    id: &str,
    status: &str,
    error: Option<&str>,
    now: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE rekey_jobs SET status = $1, error = $2, updated_at = $3, finished_at = $3 \
         WHERE id = $4 AND status = 'running'",
    )
    .bind(status)
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Jobs, newest first: of one scope (`Some("")` the global one), or of
/// every scope.
pub async fn list(
    c: &mut AnyConnection,
    scope: Option<&str>,
    limit: i64,
) -> Result<Vec<RekeyJob>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM rekey_jobs WHERE ($1 IS NULL OR scope = $1) \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(scope)
    .bind(limit)
    .fetch_all(c)
    .await?)
}
