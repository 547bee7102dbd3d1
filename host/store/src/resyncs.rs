//! Resync requests: at most one open (queued or checking) per prospect, a
//! partial unique index, so clicks on any instance join the same request.

use super::{StoreError, for_update_on, sql};
use crate::clock::Millis;
use sqlx::{AnyConnection, FromRow};

/// A resync request row.
#[derive(Debug, Clone, FromRow)]
pub struct ResyncRequest {
    /// Id.
    pub id: String,
    /// The prospect.
    pub prospect_id: String,
    /// `queued`, `checking`, `done` or `failed`.
    pub status: String,
    /// Clicks gathered while open.
    pub clicks: i64,
    /// First click, ms.
    pub requested_at: i64,
    /// The account that asked (once checking).
    pub linkedin_account_id: Option<String>,
    /// When the provider was asked, ms.
    pub checked_at: Option<i64>,
    /// Done: 1 if connected, 0 if not.
    pub connected: Option<i64>,
    /// Done: the stamped enrollments, a JSON array.
    pub stamped: Option<String>,
    /// Failed: why.
    pub error: Option<String>,
}

const COLUMNS: &str = "r.id, r.prospect_id, r.status, r.clicks, r.requested_at, r.linkedin_account_id, \
    r.checked_at, r.connected, r.stamped, r.error";

/// The request `id`.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<ResyncRequest>, StoreError> {
    Ok(sqlx::query_as(sql(format!(
        "SELECT {COLUMNS} FROM resync_requests r WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// The prospect's latest request, if any.
pub async fn latest(
    c: &mut AnyConnection,
    prospect_id: &str,
) -> Result<Option<ResyncRequest>, StoreError> {
    Ok(sqlx::query_as(sql(format!(
        "SELECT {COLUMNS} FROM resync_requests r WHERE r.prospect_id = $1 \
         ORDER BY r.requested_at DESC, r.id DESC LIMIT 1"
    )))
    .bind(prospect_id)
    .fetch_optional(c)
    .await?)
}

/// A look-up of this prospect done within its account's spacing of `now`.
pub async fn recent_answer(
    c: &mut AnyConnection,
    prospect_id: &str,
    now: Millis,
) -> Result<Option<ResyncRequest>, StoreError> {
    Ok(sqlx::query_as(sql(format!(
        "SELECT {COLUMNS} FROM resync_requests r JOIN linkedin_accounts a ON a.id = r.linkedin_account_id \
         WHERE r.prospect_id = $1 AND r.status = 'done' AND r.checked_at + a.min_spacing_ms > $2 \
         ORDER BY r.checked_at DESC LIMIT 1"
    )))
    .bind(prospect_id)
    .bind(now)
    .fetch_optional(c)
    .await?)
}

/// Opens a queued request `id` for the prospect unless one is open or a
/// look-up done within the spacing answers for it. Returns whether it
/// opened.
pub async fn open(
    c: &mut AnyConnection,
    id: &str,
    prospect_id: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO resync_requests (id, prospect_id, status, clicks, requested_at) \
         SELECT $1, $2, 'queued', 1, $3 WHERE NOT EXISTS (SELECT 1 FROM resync_requests r \
         JOIN linkedin_accounts a ON a.id = r.linkedin_account_id WHERE r.prospect_id = $2 \
         AND r.status = 'done' AND r.checked_at + a.min_spacing_ms > $3) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(prospect_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// One more click on the prospect's open request: its id, if one is open.
pub async fn join(c: &mut AnyConnection, prospect_id: &str) -> Result<Option<String>, StoreError> {
    let joined: Option<(String,)> = sqlx::query_as(
        "UPDATE resync_requests SET clicks = clicks + 1 \
         WHERE prospect_id = $1 AND status IN ('queued', 'checking') RETURNING id",
    )
    .bind(prospect_id)
    .fetch_optional(c)
    .await?;
    Ok(joined.map(|(id,)| id))
}

/// The prospect's connected accounts (the accounts of its enrollments)
/// with their next free action slot, the soonest first.
pub async fn connected_accounts(
    c: &mut AnyConnection,
    prospect_id: &str,
) -> Result<Vec<(String, Millis)>, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT a.id, a.next_action_at FROM linkedin_accounts a WHERE a.status = 'connected' \
         AND a.id IN (SELECT e.linkedin_account_id FROM enrollments e WHERE e.prospect_id = $1) \
         ORDER BY a.next_action_at, a.id",
    )
    .bind(prospect_id)
    .fetch_all(c)
    .await?;
    Ok(rows)
}

/// Requests to serve at `$1`: queued, or left checking by a dead checker.
pub(crate) const RESYNC_DUE: &str =
    "status = 'queued' OR (status = 'checking' AND checking_until < $1)";

/// Requests to serve: queued, or checking by a checker whose time ran out
/// at `now`; oldest first.
pub async fn due(
    c: &mut AnyConnection,
    now: Millis,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(super::sql(format!(
        "SELECT id FROM resync_requests WHERE {RESYNC_DUE} ORDER BY requested_at, id LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Where a request stands, read under a row lock (PostgreSQL) for the
/// caller's transaction: (prospect, status, checking until).
pub async fn lock(
    c: &mut AnyConnection,
    id: &str,
) -> Result<Option<(String, String, Option<i64>)>, StoreError> {
    let lock = for_update_on(c);
    Ok(sqlx::query_as(sql(format!(
        "SELECT prospect_id, status, checking_until FROM resync_requests WHERE id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// The request is being checked by `checker` with `account_id` until
/// `until`.
pub async fn start_checking(
    c: &mut AnyConnection,
    id: &str,
    checker: &str,
    until: Millis,
    account_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE resync_requests SET status = 'checking', checker = $1, checking_until = $2, \
         linkedin_account_id = $3 WHERE id = $4",
    )
    .bind(checker)
    .bind(until)
    .bind(account_id)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// The provider answered `checker`'s look-up: done, with what it found.
pub async fn finish_done(
    c: &mut AnyConnection,
    id: &str,
    checker: &str,
    connected: bool,
    stamped: &[String],
    checked_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE resync_requests SET status = 'done', connected = $1, stamped = $2, checked_at = $3, \
         checker = NULL, checking_until = NULL WHERE id = $4 AND status = 'checking' AND checker = $5",
    )
    .bind(i64::from(connected))
    .bind(serde_json::to_string(stamped).unwrap_or_else(|_| "[]".into()))
    .bind(checked_at)
    .bind(id)
    .bind(checker)
    .execute(c)
    .await?;
    Ok(())
}

/// `checker`'s look-up failed: the request is failed, with why.
pub async fn finish_failed(
    c: &mut AnyConnection,
    id: &str,
    checker: &str,
    error: &str,
    checked_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE resync_requests SET status = 'failed', error = $1, checked_at = $2, \
         checker = NULL, checking_until = NULL WHERE id = $3 AND status = 'checking' AND checker = $4",
    )
    .bind(error)
    .bind(checked_at)
    .bind(id)
    .bind(checker)
    .execute(c)
    .await?;
    Ok(())
}
