//! Dashboard sessions: who signed in, with which token, until when. Only
//! the sha256 of the cookie's secret is stored, so a read of the table
//! opens no session.

use super::StoreError;
use crate::clock::Millis;
use sqlx::{AnyConnection, FromRow};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SessionRow {
    /// The sha256 of the cookie's secret.
    pub id_sha256: String,
    /// `admin`, `api` or `workspace`: which kind of token opened it.
    pub kind: String,
    /// The workspace of a workspace token's session.
    pub workspace_id: Option<String>,
    /// The sha256 of the token it was opened with.
    pub token_sha256: String,
    /// The session's CSRF token, echoed by every form.
    pub csrf: String,
    /// Sign-in time, ms.
    pub created_at: i64,
    /// End of the session, ms.
    pub expires_at: i64,
}

const COLUMNS: &str = "id_sha256, kind, workspace_id, token_sha256, csrf, created_at, expires_at";

/// Inserts a session.
pub async fn insert(c: &mut AnyConnection, s: &SessionRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO dashboard_sessions (id_sha256, kind, workspace_id, token_sha256, csrf, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.id_sha256)
    .bind(&s.kind)
    .bind(&s.workspace_id)
    .bind(&s.token_sha256)
    .bind(&s.csrf)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(c)
    .await?;
    Ok(())
}

/// The session whose secret hashes to `id_sha256`, if it has not expired.
pub async fn live(
    c: &mut AnyConnection,
    id_sha256: &str,
    now: Millis,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM dashboard_sessions WHERE id_sha256 = $1 AND expires_at > $2"
    )))
    .bind(id_sha256)
    .bind(now)
    .fetch_optional(c)
    .await?)
}

/// Ends a session (signing out twice changes nothing).
pub async fn delete(c: &mut AnyConnection, id_sha256: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE id_sha256 = $1")
        .bind(id_sha256)
        .execute(c)
        .await?;
    Ok(())
}

/// Deletes up to `limit` sessions expired at `now`; how many went.
pub async fn delete_expired(
    c: &mut AnyConnection,
    now: Millis,
    limit: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM dashboard_sessions WHERE id_sha256 IN \
         (SELECT id_sha256 FROM dashboard_sessions WHERE expires_at <= $1 LIMIT $2)",
    )
    .bind(now)
    .bind(limit)
    .execute(c)
    .await?;
    Ok(done.rows_affected())
}
