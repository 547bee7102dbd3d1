//! Traces: decisions worth explaining (bridge misses, orphan webhooks,
//! policy failures).

use super::arrays::{
    AnyQuery, Shape, TEXTS_AND_TIME, insert_rows, int_array, is_postgres, shape, text_array,
};
use super::{StoreError, sql_for};
use crate::clock::{Millis, new_id};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// A stored trace.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Trace {
    /// Id.
    pub id: String,
    /// Workspace, when known.
    pub workspace_id: Option<String>,
    /// LinkedIn account, when known.
    pub linkedin_account_id: Option<String>,
    /// Enrollment, when known.
    pub enrollment_id: Option<String>,
    /// `bridge_miss_all_strategies`, `orphan_webhook`, `unknown_account`, `policy_failure`, …
    pub kind: String,
    /// The accept signal as JSON, when there was one.
    pub signal: Option<String>,
    /// Details as JSON (keys, candidates, policy trace lines, error).
    pub detail: String,
    /// The deciding module.
    pub module_sha256: Option<String>,
    /// When, ms.
    pub created_at: i64,
}

/// The fields of a new trace.
#[derive(Debug, Clone, Default)]
pub struct NewTrace<'a> {
    /// Workspace.
    pub workspace_id: Option<&'a str>,
    /// LinkedIn account.
    pub linkedin_account_id: Option<&'a str>,
    /// Enrollment.
    pub enrollment_id: Option<&'a str>,
    /// Kind.
    pub kind: &'a str,
    /// Signal JSON.
    pub signal: Option<String>,
    /// Detail JSON.
    pub detail: serde_json::Value,
    /// Module sha256.
    pub module_sha256: Option<&'a str>,
}

impl NewTrace<'_> {
    /// The row, with a fresh id.
    pub(crate) fn into_row(self, at: Millis) -> Trace {
        Trace {
            id: new_id(),
            workspace_id: self.workspace_id.map(str::to_string),
            linkedin_account_id: self.linkedin_account_id.map(str::to_string),
            enrollment_id: self.enrollment_id.map(str::to_string),
            kind: self.kind.to_string(),
            signal: self.signal,
            detail: self.detail.to_string(),
            module_sha256: self.module_sha256.map(str::to_string),
            created_at: at,
        }
    }
}

/// Appends a trace now (see [`super::Tx::defer_trace`] to append it at
/// commit with others).
pub async fn record(c: &mut AnyConnection, t: NewTrace<'_>, at: Millis) -> Result<(), StoreError> {
    insert(c, &[t.into_row(at)]).await
}

/// Recent traces, newest first, optionally of one kind and workspace.
pub async fn list(
    c: &mut AnyConnection,
    workspace_id: Option<&str>,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<Trace>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, workspace_id, linkedin_account_id, enrollment_id, kind, signal, detail, module_sha256, created_at \
         FROM traces WHERE ($1 IS NULL OR workspace_id = $1) AND ($2 IS NULL OR kind = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(workspace_id)
    .bind(kind)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Counts traces of `kind` in a workspace.
pub async fn count(
    c: &mut AnyConnection,
    workspace_id: &str,
    kind: &str,
) -> Result<i64, StoreError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM traces WHERE workspace_id = $1 AND kind = $2")
            .bind(workspace_id)
            .bind(kind)
            .fetch_one(c)
            .await?;
    Ok(n)
}

/// Counts traces of `kind` in a workspace created at or after `since`.
pub async fn count_since(
    c: &mut AnyConnection,
    workspace_id: &str,
    kind: &str,
    since: Millis,
) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM traces WHERE workspace_id = $1 AND kind = $2 AND created_at >= $3",
    )
    .bind(workspace_id)
    .bind(kind)
    .bind(since)
    .fetch_one(c)
    .await?;
    Ok(n)
}

/// Up to `limit` traces of `kind` in a workspace, newest first, after
/// `before` (the last row's `(created_at, id)`).
pub async fn page_of_kind(
    c: &mut AnyConnection,
    workspace_id: &str,
    kind: &str,
    before: Option<(Millis, &str)>,
    limit: i64,
) -> Result<Vec<Trace>, StoreError> {
    // Past every trace: the first page starts at the newest.
    let (at, id) = before.unwrap_or((Millis::MAX, ""));
    Ok(sqlx::query_as(
        "SELECT id, workspace_id, linkedin_account_id, enrollment_id, kind, signal, detail, module_sha256, created_at \
         FROM traces WHERE workspace_id = $1 AND kind = $2 AND (created_at < $3 OR (created_at = $3 AND id < $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(workspace_id)
    .bind(kind)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// The traces of an enrollment, oldest first.
pub async fn of_enrollment(
    c: &mut AnyConnection,
    enrollment_id: &str,
) -> Result<Vec<Trace>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, workspace_id, linkedin_account_id, enrollment_id, kind, signal, detail, module_sha256, created_at \
         FROM traces WHERE enrollment_id = $1 ORDER BY created_at, id",
    )
    .bind(enrollment_id)
    .fetch_all(c)
    .await?)
}

/// The traces of the enrollments `ids`, oldest first.
pub async fn of_enrollments(c: &mut AnyConnection, ids: &[&str]) -> Result<Vec<Trace>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement = format!(
        "SELECT id, workspace_id, linkedin_account_id, enrollment_id, kind, signal, detail, module_sha256, created_at \
         FROM traces WHERE enrollment_id IN ({}) ORDER BY created_at, id",
        super::placeholders(1, ids.len())
    );
    let q = ids
        .iter()
        .fold(sqlx::query_as(super::sql(statement)), |q, id| q.bind(*id));
    Ok(q.fetch_all(c).await?)
}

/// Traces from `at` on, oldest first.
pub async fn since(c: &mut AnyConnection, at: Millis) -> Result<Vec<Trace>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, workspace_id, linkedin_account_id, enrollment_id, kind, signal, detail, module_sha256, created_at \
         FROM traces WHERE created_at >= $1 ORDER BY created_at, id",
    )
    .bind(at)
    .fetch_all(c)
    .await?)
}

/// The multi-row insert of traces, parameters from `$first`.
pub(crate) fn insert_sql(shape: Shape, first: usize) -> String {
    format!(
        "INSERT INTO traces (id, workspace_id, linkedin_account_id, enrollment_id, kind, signal, detail, module_sha256, created_at) {}",
        insert_rows(shape, first, "(?, ?, ?, ?, ?, ?, ?, ?, ?)", &TEXTS_AND_TIME)
    )
}

/// Binds the rows of [`insert_sql`].
pub(crate) fn bind_rows<'q>(q: AnyQuery<'q>, rows: &[Trace], postgres: bool) -> AnyQuery<'q> {
    if postgres {
        let text = |f: fn(&Trace) -> Option<&str>| text_array(rows.iter().map(f));
        return q
            .bind(text(|r| Some(&r.id)))
            .bind(text(|r| r.workspace_id.as_deref()))
            .bind(text(|r| r.linkedin_account_id.as_deref()))
            .bind(text(|r| r.enrollment_id.as_deref()))
            .bind(text(|r| Some(&r.kind)))
            .bind(text(|r| r.signal.as_deref()))
            .bind(text(|r| Some(&r.detail)))
            .bind(text(|r| r.module_sha256.as_deref()))
            .bind(int_array(rows.iter().map(|r| Some(r.created_at))));
    }
    rows.iter().fold(q, |q, r| {
        q.bind(&r.id)
            .bind(&r.workspace_id)
            .bind(&r.linkedin_account_id)
            .bind(&r.enrollment_id)
            .bind(&r.kind)
            .bind(&r.signal)
            .bind(&r.detail)
            .bind(&r.module_sha256)
            .bind(r.created_at)
    })
}

/// Inserts the rows now, in one statement.
pub(crate) async fn insert(c: &mut AnyConnection, rows: &[Trace]) -> Result<(), StoreError> {
    let postgres = is_postgres(c);
    let q = sqlx::query(sql_for(c, insert_sql(shape(postgres, rows.len()), 1)));
    bind_rows(q, rows, postgres).execute(c).await?;
    Ok(())
}

/// What changed last, cheaply: the newest audit event's id and the
/// newest trace's id, each the end of a primary key (ids are time-ordered;
/// every stamp writes an audit event in its transaction). The dashboard's
/// live view re-reads its counts when this moves.
pub async fn watermark(
    c: &mut AnyConnection,
) -> Result<(Option<String>, Option<String>), StoreError> {
    let (event,): (Option<String>,) = sqlx::query_as("SELECT MAX(id) FROM linkedin_events")
        .fetch_one(&mut *c)
        .await?;
    let (trace,): (Option<String>,) = sqlx::query_as("SELECT MAX(id) FROM traces")
        .fetch_one(c)
        .await?;
    Ok((event, trace))
}
