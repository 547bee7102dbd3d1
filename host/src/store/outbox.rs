//! The notification outbox: one row per fact, deduplicated by key, plus
//! one delivery per enabled endpoint of the workspace, all inserted in the
//! fact's transaction.

use super::StoreError;
use crate::clock::{Millis, new_id};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// Inserts an outbox row unless one with `dedupe_key` exists, with its
/// deliveries. Returns the new row's id, or `None` for a duplicate.
pub async fn insert(
    c: &mut AnyConnection,
    workspace_id: &str,
    event_type: &str,
    dedupe_key: &str,
    payload: &serde_json::Value,
    now: Millis,
) -> Result<Option<String>, StoreError> {
    let id = new_id();
    let r = sqlx::query(
        "INSERT INTO outbox (id, workspace_id, event_type, dedupe_key, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(workspace_id)
    .bind(event_type)
    .bind(dedupe_key)
    .bind(payload.to_string())
    .bind(now)
    .execute(&mut *c)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(None);
    }
    let endpoints: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM notification_endpoints WHERE workspace_id = $1 AND enabled = 1",
    )
    .bind(workspace_id)
    .fetch_all(&mut *c)
    .await?;
    for (endpoint_id,) in endpoints {
        sqlx::query(
            "INSERT INTO outbox_deliveries (id, outbox_id, endpoint_id, status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, 'pending', 0, $4, $4) ON CONFLICT DO NOTHING",
        )
        .bind(new_id())
        .bind(&id)
        .bind(endpoint_id)
        .bind(now)
        .execute(&mut *c)
        .await?;
    }
    Ok(Some(id))
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
