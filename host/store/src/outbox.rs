//! The notification outbox: one row per fact, deduplicated by key, plus
//! one delivery per enabled endpoint of the workspace, all inserted in the
//! fact's transaction.

use super::StoreError;
use crate::clock::{Millis, new_id};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// A new outbox row, written at commit by [`super::Tx::defer_outbox`]
/// unless a row with its dedupe key exists, with one delivery per enabled
/// endpoint of its workspace.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    pub(crate) id: String,
    pub(crate) workspace_id: String,
    pub(crate) event_type: String,
    pub(crate) dedupe_key: String,
    pub(crate) payload: String,
    pub(crate) created_at: Millis,
}

impl NewOutbox {
    /// A row with a fresh id.
    pub fn new(
        workspace_id: &str,
        event_type: &str,
        dedupe_key: &str,
        payload: &serde_json::Value,
        now: Millis,
    ) -> Self {
        NewOutbox {
            id: new_id(),
            workspace_id: workspace_id.to_string(),
            event_type: event_type.to_string(),
            dedupe_key: dedupe_key.to_string(),
            payload: payload.to_string(),
            created_at: now,
        }
    }

    /// The row's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// An outbox row.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct OutboxRow {
    /// Id.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// Event type, e.g. `linkedin.invite_accepted`.
    pub event_type: String,
    /// Dedupe key (also the `webhook-id` receivers see).
    pub dedupe_key: String,
    /// Payload JSON.
    pub payload: String,
    /// Created, ms.
    pub created_at: i64,
}

/// Outbox rows with a dedupe key (tests, API).
pub async fn by_dedupe_key(
    c: &mut AnyConnection,
    dedupe_key: &str,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, workspace_id, event_type, dedupe_key, payload, created_at FROM outbox WHERE dedupe_key = $1",
    )
    .bind(dedupe_key)
    .fetch_all(c)
    .await?)
}

/// Counts a workspace's outbox rows of a type.
pub async fn count(
    c: &mut AnyConnection,
    workspace_id: &str,
    event_type: &str,
) -> Result<i64, StoreError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE workspace_id = $1 AND event_type = $2")
            .bind(workspace_id)
            .bind(event_type)
            .fetch_one(c)
            .await?;
    Ok(n)
}

/// The dedupe key of an accept notification.
pub fn accept_key(provider_account_id: &str, enrollment_id: &str) -> String {
    format!("li-accept:{provider_account_id}:{enrollment_id}")
}
