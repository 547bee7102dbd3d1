//! The audit log (`linkedin_events`): one row per state change, written
//! in that change's transaction.

use super::arrays::{
    AnyQuery, Shape, TEXTS_AND_TIME, insert_rows, int_array, is_postgres, shape, text_array,
};
use super::{StoreError, sql_for};
use crate::clock::{Millis, new_id};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// An audit event.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Event {
    /// Id.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// LinkedIn account, if any.
    pub linkedin_account_id: Option<String>,
    /// Enrollment, if any.
    pub enrollment_id: Option<String>,
    /// What happened, e.g. `accept_stamped`.
    pub kind: String,
    /// The path or dispatch source involved.
    pub source: Option<String>,
    /// The match strategy, for accepts.
    pub strategy: Option<String>,
    /// Details as JSON.
    pub detail: String,
    /// When, ms.
    pub occurred_at: i64,
}

/// The fields of a new event.
#[derive(Debug, Clone, Default)]
pub struct NewEvent<'a> {
    /// Workspace.
    pub workspace_id: &'a str,
    /// LinkedIn account.
    pub linkedin_account_id: Option<&'a str>,
    /// Enrollment.
    pub enrollment_id: Option<&'a str>,
    /// Kind.
    pub kind: &'a str,
    /// Source.
    pub source: Option<&'a str>,
    /// Strategy.
    pub strategy: Option<&'a str>,
    /// Detail JSON.
    pub detail: Option<serde_json::Value>,
}

impl NewEvent<'_> {
    /// The row, with a fresh id.
    pub(crate) fn into_row(self, at: Millis) -> Event {
        Event {
            id: new_id(),
            workspace_id: self.workspace_id.to_string(),
            linkedin_account_id: self.linkedin_account_id.map(str::to_string),
            enrollment_id: self.enrollment_id.map(str::to_string),
            kind: self.kind.to_string(),
            source: self.source.map(str::to_string),
            strategy: self.strategy.map(str::to_string),
            detail: self
                .detail
                .unwrap_or_else(|| serde_json::json!({}))
                .to_string(),
            occurred_at: at,
        }
    }
}

/// Appends an event now (see [`super::Tx::defer_event`] to append it at
/// commit with others).
pub async fn record(c: &mut AnyConnection, e: NewEvent<'_>, at: Millis) -> Result<(), StoreError> {
    insert(c, &[e.into_row(at)]).await
}

/// An enrollment's timeline, oldest first.
pub async fn of_enrollment(
    c: &mut AnyConnection,
    enrollment_id: &str,
) -> Result<Vec<Event>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, workspace_id, linkedin_account_id, enrollment_id, kind, source, strategy, detail, occurred_at \
         FROM linkedin_events WHERE enrollment_id = $1 ORDER BY occurred_at, id",
    )
    .bind(enrollment_id)
    .fetch_all(c)
    .await?)
}

/// How many events of `kind` an enrollment has (tests and stats).
pub async fn count(
    c: &mut AnyConnection,
    enrollment_id: &str,
    kind: &str,
) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM linkedin_events WHERE enrollment_id = $1 AND kind = $2",
    )
    .bind(enrollment_id)
    .bind(kind)
    .fetch_one(c)
    .await?;
    Ok(n)
}

/// An audit row as the run digests hash it: (id, kind, enrollment,
/// source, strategy, detail, occurred at).
pub type AuditRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
);

/// Every audit row in id order (the demo's and the simulation's digests).
pub async fn audit_rows(c: &mut AnyConnection) -> Result<Vec<AuditRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, kind, enrollment_id, source, strategy, detail, occurred_at FROM linkedin_events ORDER BY id",
    )
    .fetch_all(c)
    .await?)
}

/// Events from `at` on, oldest first.
pub async fn since(c: &mut AnyConnection, at: Millis) -> Result<Vec<Event>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, workspace_id, linkedin_account_id, enrollment_id, kind, source, strategy, detail, occurred_at \
         FROM linkedin_events WHERE occurred_at >= $1 ORDER BY occurred_at, id",
    )
    .bind(at)
    .fetch_all(c)
    .await?)
}

/// A send the engine recorded: (kind, enrollment, detail, occurred at).
pub type SendRow = (String, Option<String>, String, i64);

/// Every invite and message sent, oldest first.
pub async fn sends(c: &mut AnyConnection) -> Result<Vec<SendRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT kind, enrollment_id, detail, occurred_at FROM linkedin_events \
         WHERE kind IN ('invite_sent', 'message_sent') ORDER BY occurred_at",
    )
    .fetch_all(c)
    .await?)
}

/// How many actions the provider refused for good (no connection with the
/// recipient, or another terminal refusal).
pub async fn count_refused(c: &mut AnyConnection) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM linkedin_events WHERE kind IN ('message_refused_no_connection', 'action_refused')",
    )
    .fetch_one(c)
    .await?;
    Ok(n)
}

/// The multi-row insert of events, parameters from `$first`.
pub(crate) fn insert_sql(shape: Shape, first: usize) -> String {
    format!(
        "INSERT INTO linkedin_events (id, workspace_id, linkedin_account_id, enrollment_id, kind, source, strategy, detail, occurred_at) {}",
        insert_rows(shape, first, "(?, ?, ?, ?, ?, ?, ?, ?, ?)", &TEXTS_AND_TIME)
    )
}

/// Binds the rows of [`insert_sql`].
pub(crate) fn bind_rows<'q>(q: AnyQuery<'q>, rows: &[Event], postgres: bool) -> AnyQuery<'q> {
    if postgres {
        let text = |f: fn(&Event) -> Option<&str>| text_array(rows.iter().map(f));
        return q
            .bind(text(|r| Some(&r.id)))
            .bind(text(|r| Some(&r.workspace_id)))
            .bind(text(|r| r.linkedin_account_id.as_deref()))
            .bind(text(|r| r.enrollment_id.as_deref()))
            .bind(text(|r| Some(&r.kind)))
            .bind(text(|r| r.source.as_deref()))
            .bind(text(|r| r.strategy.as_deref()))
            .bind(text(|r| Some(&r.detail)))
            .bind(int_array(rows.iter().map(|r| Some(r.occurred_at))));
    }
    rows.iter().fold(q, |q, r| {
        q.bind(&r.id)
            .bind(&r.workspace_id)
            .bind(&r.linkedin_account_id)
            .bind(&r.enrollment_id)
            .bind(&r.kind)
            .bind(&r.source)
            .bind(&r.strategy)
            .bind(&r.detail)
            .bind(r.occurred_at)
    })
}

/// Inserts the rows now, in one statement.
pub(crate) async fn insert(c: &mut AnyConnection, rows: &[Event]) -> Result<(), StoreError> {
    let postgres = is_postgres(c);
    let q = sqlx::query(sql_for(c, insert_sql(shape(postgres, rows.len()), 1)));
    bind_rows(q, rows, postgres).execute(c).await?;
    Ok(())
}
