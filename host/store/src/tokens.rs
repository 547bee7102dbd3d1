//! Workspace tokens: bearer tokens that open the API for one workspace.
//! Only the sha256 of a token's secret is stored; the secret itself is
//! shown once, when the token is issued, and never kept.

use super::StoreError;
use crate::clock::Millis;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// A workspace token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct WorkspaceToken {
    /// Id.
    pub id: String,
    /// The workspace it opens.
    pub workspace_id: String,
    /// A label, to tell tokens apart.
    pub name: String,
    /// Creation time, ms.
    pub created_at: i64,
    /// Revocation time, ms; a revoked token opens nothing.
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, workspace_id, name, created_at, revoked_at";

/// Inserts a token with the hex sha256 of its secret.
pub async fn insert(
    c: &mut AnyConnection,
    t: &WorkspaceToken,
    token_sha256: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workspace_tokens (id, workspace_id, name, token_sha256, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&t.id)
    .bind(&t.workspace_id)
    .bind(&t.name)
    .bind(token_sha256)
    .bind(t.created_at)
    .bind(t.revoked_at)
    .execute(c)
    .await?;
    Ok(())
}

/// The tokens of a workspace, revoked ones included, oldest first.
pub async fn of_workspace(
    c: &mut AnyConnection,
    workspace_id: &str,
) -> Result<Vec<WorkspaceToken>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM workspace_tokens WHERE workspace_id = $1 ORDER BY created_at, id"
    )))
    .bind(workspace_id)
    .fetch_all(c)
    .await?)
}

/// The token `id` of a workspace (a token of another workspace is `None`).
pub async fn get(
    c: &mut AnyConnection,
    workspace_id: &str,
    id: &str,
) -> Result<Option<WorkspaceToken>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM workspace_tokens WHERE id = $1 AND workspace_id = $2"
    )))
    .bind(id)
    .bind(workspace_id)
    .fetch_optional(c)
    .await?)
}

/// Revokes a token at `now`; whether it was active until now (a token
/// revoked earlier keeps its first revocation time).
pub async fn revoke(
    c: &mut AnyConnection,
    workspace_id: &str,
    id: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE workspace_tokens SET revoked_at = $1 \
         WHERE id = $2 AND workspace_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(workspace_id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The active (not revoked) token whose secret hashes to `token_sha256`,
/// if there is one.
pub async fn active_by_sha256(
    c: &mut AnyConnection,
    token_sha256: &str,
) -> Result<Option<WorkspaceToken>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM workspace_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL"
    )))
    .bind(token_sha256)
    .fetch_optional(c)
    .await?)
}
