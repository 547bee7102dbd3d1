//! Outbox deliveries: one per (outbox row, endpoint), claimed under a
//! lease, retried with backoff, dead after the last retry.
//!
//! A claim sets `lease_expires_at`; a delivery under an unexpired lease is
//! not claimed again. On PostgreSQL the claim locks its rows with
//! `FOR UPDATE SKIP LOCKED`, on SQLite the write transaction of
//! [`Db::begin`](super::Db::begin) excludes other writers, so two notifiers
//! never hold the same delivery. The lease value doubles as a fencing
//! token: every claim of a row sets a later expiry, and an outcome is
//! recorded only while the row still carries the claim's lease, so a
//! notifier whose lease was taken over cannot overwrite the newer claim.

use super::{Backend, StoreError};
use crate::clock::{DAY_MS, HOUR_MS, MINUTE_MS, Millis};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// The wait before each retry: after the first failed attempt 5 s, then
/// 5 min, 30 min, 2 h, 5 h, 10 h and 24 h. A delivery whose last retry
/// fails is dead.
pub const BACKOFF_MS: [Millis; 7] = [
    5_000,
    5 * MINUTE_MS,
    30 * MINUTE_MS,
    2 * HOUR_MS,
    5 * HOUR_MS,
    10 * HOUR_MS,
    DAY_MS,
];

/// Attempts before a delivery is dead: the first and one per retry.
pub const MAX_ATTEMPTS: i64 = BACKOFF_MS.len() as i64 + 1;

/// The longest stored error text, in bytes.
pub const MAX_ERROR_LEN: usize = 500;

/// When the next attempt is due after `attempts` failed attempts (1 for
/// the first failure), or `None` when the delivery is dead.
pub fn next_attempt_after(attempts: i64, failed_at: Millis) -> Option<Millis> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    BACKOFF_MS.get(index).map(|wait| failed_at + wait)
}

/// A delivery row.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Delivery {
    /// Id.
    pub id: String,
    /// The outbox row.
    pub outbox_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due, ms (for a dead delivery: when it
    /// died).
    pub next_attempt_at: i64,
    /// End of the current claim's lease, ms.
    pub lease_expires_at: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// HTTP status of the last attempt, if one was answered.
    pub last_status_code: Option<i64>,
    /// Delivered, ms.
    pub delivered_at: Option<i64>,
    /// Created, ms.
    pub created_at: i64,
}

const COLUMNS: &str = "id, outbox_id, endpoint_id, status, attempts, next_attempt_at, lease_expires_at, last_error, \
    last_status_code, delivered_at, created_at";

/// A claimed delivery with what sending it needs.
#[derive(Clone, FromRow)]
pub struct Claimed {
    /// The delivery.
    pub id: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The claim's lease end, ms; also its fencing token.
    pub lease_expires_at: i64,
    /// The outbox row.
    pub outbox_id: String,
    /// Its workspace.
    pub workspace_id: String,
    /// Its event type, e.g. `linkedin.invite_accepted`.
    pub event_type: String,
    /// Its dedupe key (the `webhook-id`).
    pub dedupe_key: String,
    /// Its payload JSON, sent as is to webhook endpoints.
    pub payload: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// `slack` or `webhook`.
    pub kind: String,
    /// Where to POST.
    pub url: String,
    /// The endpoint's signing secret.
    pub secret: Option<String>,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("attempts", &self.attempts)
            .field("lease_expires_at", &self.lease_expires_at)
            .field("outbox_id", &self.outbox_id)
            .field("event_type", &self.event_type)
            .field("dedupe_key", &self.dedupe_key)
            .field("endpoint_id", &self.endpoint_id)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Claims up to `limit` due deliveries of enabled endpoints, oldest due
/// first, leasing them until `now + lease_ms`: one writing statement
/// (the lease), then a read of what it leased. Run it behind SQLite's
/// write gate ([`Db::sole_write`](super::Db::sole_write)) or in a write
/// transaction committed before sending; `backend` is
/// [`Db::backend`](super::Db::backend).
pub async fn claim_due(
    c: &mut AnyConnection,
    backend: Backend,
    now: Millis,
    lease_ms: Millis,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
    };
    let lease = now + lease_ms.max(1);
    let claimed: Vec<(String,)> = sqlx::query_as(super::sql(format!(
        "WITH due AS (\
           SELECT d.id FROM outbox_deliveries d \
           JOIN notification_endpoints e ON e.id = d.endpoint_id \
           WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
             AND (d.lease_expires_at IS NULL OR d.lease_expires_at < $1) AND e.enabled = 1 \
           ORDER BY d.next_attempt_at, d.id LIMIT $2{lock}) \
         UPDATE outbox_deliveries SET lease_expires_at = $3 WHERE id IN (SELECT id FROM due) \
         RETURNING id"
    )))
    .bind(now)
    .bind(limit.max(0))
    .bind(lease)
    .fetch_all(&mut *c)
    .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = claimed.into_iter().map(|(id,)| id).collect();
    let q = format!(
        "SELECT d.id, d.attempts, d.lease_expires_at, d.outbox_id, o.workspace_id, o.event_type, o.dedupe_key, \
           o.payload, d.endpoint_id, e.kind, e.url, e.secret \
         FROM outbox_deliveries d \
         JOIN outbox o ON o.id = d.outbox_id \
         JOIN notification_endpoints e ON e.id = d.endpoint_id \
         WHERE d.id IN ({}) ORDER BY d.next_attempt_at, d.id",
        super::placeholders(1, ids.len())
    );
    let mut query = sqlx::query_as(super::sql(q));
    for id in &ids {
        query = query.bind(id);
    }
    Ok(query.fetch_all(c).await?)
}

/// Records a successful attempt. Returns `false` when the claim was lost
/// (its lease was taken over), in which case nothing changed.
pub async fn mark_delivered(
    c: &mut AnyConnection,
    claim: &Claimed,
    status_code: Option<i64>,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE outbox_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = $1, \
           last_status_code = $2, lease_expires_at = NULL \
         WHERE id = $3 AND status = 'pending' AND lease_expires_at = $4",
    )
    .bind(now)
    .bind(status_code)
    .bind(&claim.id)
    .bind(claim.lease_expires_at)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// What a recorded failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Retried at this time, ms.
    Retry(Millis),
    /// No retry left: the delivery is dead.
    Dead,
    /// The claim was lost (its lease was taken over); nothing changed.
    Stale,
}

/// Records a failed attempt: the next attempt per [`BACKOFF_MS`], or
/// `dead` after the last retry. `error` is cut to [`MAX_ERROR_LEN`].
pub async fn record_failure(
    c: &mut AnyConnection,
    claim: &Claimed,
    error: &str,
    status_code: Option<i64>,
    now: Millis,
) -> Result<FailureOutcome, StoreError> {
    let attempts = claim.attempts + 1;
    let next = next_attempt_after(attempts, now);
    let (status, next_attempt_at) = match next {
        Some(at) => ("pending", at),
        None => ("dead", now),
    };
    let r = sqlx::query(
        "UPDATE outbox_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4, \
           last_status_code = $5, lease_expires_at = NULL \
         WHERE id = $6 AND status = 'pending' AND lease_expires_at = $7",
    )
    .bind(status)
    .bind(attempts)
    .bind(next_attempt_at)
    .bind(truncate(error, MAX_ERROR_LEN))
    .bind(status_code)
    .bind(&claim.id)
    .bind(claim.lease_expires_at)
    .execute(c)
    .await?;
    Ok(if r.rows_affected() == 0 {
        FailureOutcome::Stale
    } else {
        match next {
            Some(at) => FailureOutcome::Retry(at),
            None => FailureOutcome::Dead,
        }
    })
}

/// A dead delivery, as the API lists it.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct DeadDelivery {
    /// The delivery.
    pub id: String,
    /// The outbox row.
    pub outbox_id: String,
    /// The event type, e.g. `linkedin.invite_accepted`.
    pub event_type: String,
    /// The dedupe key (the `webhook-id` the receiver would have seen).
    pub dedupe_key: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// `slack` or `webhook`.
    pub endpoint_kind: String,
    /// Attempts made.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// HTTP status of the last attempt, if one was answered.
    pub last_status_code: Option<i64>,
    /// When it died, ms.
    pub dead_at: i64,
    /// When the fact was recorded, ms.
    pub created_at: i64,
}

/// A workspace's dead deliveries, most recently dead first.
pub async fn dead_of_workspace(
    c: &mut AnyConnection,
    workspace_id: &str,
    limit: i64,
) -> Result<Vec<DeadDelivery>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.outbox_id, o.event_type, o.dedupe_key, d.endpoint_id, e.kind AS endpoint_kind, d.attempts, \
           d.last_error, d.last_status_code, d.next_attempt_at AS dead_at, d.created_at \
         FROM outbox_deliveries d \
         JOIN outbox o ON o.id = d.outbox_id \
         JOIN notification_endpoints e ON e.id = d.endpoint_id \
         WHERE o.workspace_id = $1 AND d.status = 'dead' \
         ORDER BY d.next_attempt_at DESC, d.id DESC LIMIT $2",
    )
    .bind(workspace_id)
    .bind(limit.max(0))
    .fetch_all(c)
    .await?)
}

/// Puts a dead delivery of the workspace back in the queue, due now with
/// a fresh retry schedule (an admin "retry"). Returns `false` when no dead
/// delivery of the workspace has that id.
pub async fn requeue(
    c: &mut AnyConnection,
    workspace_id: &str,
    delivery_id: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE outbox_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, lease_expires_at = NULL \
         WHERE id = $2 AND status = 'dead' \
           AND outbox_id IN (SELECT id FROM outbox WHERE workspace_id = $3)",
    )
    .bind(now)
    .bind(delivery_id)
    .bind(workspace_id)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A delivery as the API shows it: the row, its event and its workspace.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct DeliveryView {
    /// Id.
    pub id: String,
    /// The outbox row.
    pub outbox_id: String,
    /// The outbox row's workspace.
    pub workspace_id: String,
    /// The event type, e.g. `linkedin.invite_accepted`.
    pub event_type: String,
    /// The dedupe key (the `webhook-id` the receiver sees).
    pub dedupe_key: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made (of at most 8 before it is dead).
    pub attempts: i64,
    /// When the next attempt is due, ms (for a dead delivery: when it
    /// died; for a delivered one: when it was last due).
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// HTTP status of the last attempt, if one was answered.
    pub last_status_code: Option<i64>,
    /// Delivered, ms.
    pub delivered_at: Option<i64>,
    /// Created, ms.
    pub created_at: i64,
}

const VIEW_COLUMNS: &str = "d.id, d.outbox_id, o.workspace_id, o.event_type, o.dedupe_key, d.endpoint_id, d.status, \
    d.attempts, d.next_attempt_at, d.last_error, d.last_status_code, d.delivered_at, d.created_at";

/// A delivery with its event and workspace, by id.
pub async fn view(c: &mut AnyConnection, id: &str) -> Result<Option<DeliveryView>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {VIEW_COLUMNS} FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id WHERE d.id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// Up to `limit` deliveries of an endpoint, newest first, those before
/// the delivery id `before` when given (a delivery id begins with its
/// time-ordered outbox id, so one endpoint's ids sort by creation).
pub async fn of_endpoint(
    c: &mut AnyConnection,
    endpoint_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryView>, StoreError> {
    let after = if before.is_some() {
        " AND d.id < $3"
    } else {
        ""
    };
    let mut q = sqlx::query_as(super::sql(format!(
        "SELECT {VIEW_COLUMNS} FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id \
         WHERE d.endpoint_id = $1{after} ORDER BY d.id DESC LIMIT $2"
    )))
    .bind(endpoint_id)
    .bind(limit.max(0));
    if let Some(before) = before {
        q = q.bind(before);
    }
    Ok(q.fetch_all(c).await?)
}

/// Up to `limit` dead deliveries of a workspace's endpoints that are not
/// deleted, most recently dead first, those after the (dead at, id)
/// `before` when given.
pub async fn dead_page(
    c: &mut AnyConnection,
    workspace_id: &str,
    before: Option<(Millis, &str)>,
    limit: i64,
) -> Result<Vec<DeadDelivery>, StoreError> {
    let after = if before.is_some() {
        " AND (d.next_attempt_at < $3 OR (d.next_attempt_at = $3 AND d.id < $4))"
    } else {
        ""
    };
    let mut q = sqlx::query_as(super::sql(format!(
        "SELECT d.id, d.outbox_id, o.event_type, o.dedupe_key, d.endpoint_id, e.kind AS endpoint_kind, d.attempts, \
           d.last_error, d.last_status_code, d.next_attempt_at AS dead_at, d.created_at \
         FROM outbox_deliveries d \
         JOIN outbox o ON o.id = d.outbox_id \
         JOIN notification_endpoints e ON e.id = d.endpoint_id \
         WHERE o.workspace_id = $1 AND d.status = 'dead' AND e.deleted_at IS NULL{after} \
         ORDER BY d.next_attempt_at DESC, d.id DESC LIMIT $2"
    )))
    .bind(workspace_id)
    .bind(limit.max(0));
    if let Some((at, id)) = before {
        q = q.bind(at).bind(id);
    }
    Ok(q.fetch_all(c).await?)
}

/// Gives up the pending deliveries of an endpoint being deleted: each is
/// dead with `reason` as its last error, so nothing waits on an endpoint
/// that will never be sent to again. Returns how many.
pub async fn give_up_pending_of_endpoint(
    c: &mut AnyConnection,
    endpoint_id: &str,
    reason: &str,
    now: Millis,
) -> Result<u64, StoreError> {
    let r = sqlx::query(
        "UPDATE outbox_deliveries SET status = 'dead', next_attempt_at = $1, last_error = $2, lease_expires_at = NULL \
         WHERE endpoint_id = $3 AND status = 'pending'",
    )
    .bind(now)
    .bind(truncate(reason, MAX_ERROR_LEN))
    .bind(endpoint_id)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// A delivery by id.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<Delivery>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM outbox_deliveries WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// The deliveries of an outbox row.
pub async fn of_outbox(
    c: &mut AnyConnection,
    outbox_id: &str,
) -> Result<Vec<Delivery>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM outbox_deliveries WHERE outbox_id = $1 ORDER BY created_at, id"
    )))
    .bind(outbox_id)
    .fetch_all(c)
    .await?)
}

/// Counts deliveries in a status (`pending`, `delivered`, `dead`).
pub async fn count(c: &mut AnyConnection, status: &str) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox_deliveries WHERE status = $1")
        .bind(status)
        .fetch_one(c)
        .await?;
    Ok(n)
}

/// `s` cut to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule() {
        assert_eq!(MAX_ATTEMPTS, 8);
        assert_eq!(next_attempt_after(1, 0), Some(5_000));
        assert_eq!(next_attempt_after(2, 0), Some(300_000));
        assert_eq!(next_attempt_after(7, 10), Some(10 + DAY_MS));
        assert_eq!(next_attempt_after(8, 0), None);
        assert_eq!(next_attempt_after(0, 0), None);
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
