//! The audit log (`linkedin_events`): one row per state change, written
//! in that change's transaction.

use super::StoreError;
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

/// An event as stored, id assigned (so deferred events keep their order).
pub(crate) type EventRow = Event;

impl NewEvent<'_> {
    /// The row, with a fresh id.
    pub(crate) fn into_row(self, at: Millis) -> EventRow {
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
    super::deferred::insert_events(c, &[e.into_row(at)]).await
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
