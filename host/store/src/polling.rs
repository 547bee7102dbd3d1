//! An account's relations-polling state (its watermark, the cursor and
//! newest relation of the pass under way, the next poll), kept on its
//! `linkedin_accounts` row.

use super::{StoreError, sql};
use crate::clock::Millis;
use sqlx::{AnyConnection, FromRow};

/// Where an account's relations polling stands.
#[derive(Debug, Clone, FromRow)]
pub struct PollState {
    /// The account's id at the provider.
    pub provider_account_id: String,
    /// The newest relation already seen (`None`: never polled).
    pub last_relation_at: Option<i64>,
    /// The pass under way goes on from this cursor.
    pub relations_cursor: Option<String>,
    /// The newest relation the pass under way read.
    pub relations_pass_newest: Option<i64>,
}

/// A pass's outcome to record.
#[derive(Debug, Clone)]
pub struct PassUpdate {
    /// The watermark after the page.
    pub watermark: Option<i64>,
    /// The cursor to go on from (`None`: the pass ended).
    pub cursor: Option<String>,
    /// The newest relation of the pass so far.
    pub newest: Option<i64>,
    /// When to poll next (`None`: as the slot's take scheduled it).
    pub next_poll_at: Option<Millis>,
}

impl PassUpdate {
    /// Whether recording it would leave `before` as it is (the slot's
    /// take already scheduled the next poll): a quiet account's page.
    pub fn changes_nothing(&self, before: &PollState) -> bool {
        self.watermark == before.last_relation_at
            && self.cursor == before.relations_cursor
            && self.newest == before.relations_pass_newest
            && self.next_poll_at.is_none()
    }
}

/// Connected accounts whose poll is due at `now` and whose spacing and
/// breaker allow a call now, the most overdue first.
pub async fn due(c: &mut AnyConnection, now: Millis) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM linkedin_accounts WHERE status = 'connected' AND next_poll_at <= $1 \
         AND next_action_at <= $1 AND (breaker_open_until IS NULL OR breaker_open_until <= $1) \
         ORDER BY next_poll_at, id",
    )
    .bind(now)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Takes `id`'s action slot for a poll (see
/// [`accounts::take_action_slot`](super::accounts::take_action_slot),
/// `extra` the jitter) if its poll is still due at `now` and the slot is
/// free, schedules its next poll at `next_poll_at` (what a pass that ends
/// with this page keeps), and returns its polling state; `None`
/// otherwise. One statement: the poll's only write before its call, and
/// a page that changes nothing needs no other.
pub async fn take_poll_slot(
    c: &mut AnyConnection,
    id: &str,
    now: Millis,
    extra: Millis,
    next_poll_at: Millis,
) -> Result<Option<PollState>, StoreError> {
    use super::accounts::{SLOT_FREE, TAKE_SLOT};
    Ok(sqlx::query_as(sql(format!(
        "UPDATE linkedin_accounts SET {TAKE_SLOT}, next_poll_at = $4 \
         WHERE id = $3 AND next_poll_at <= $1 AND {SLOT_FREE} \
         RETURNING provider_account_id, last_relation_at, relations_cursor, relations_pass_newest"
    )))
    .bind(now)
    .bind(extra)
    .bind(id)
    .bind(next_poll_at)
    .fetch_optional(c)
    .await?)
}

/// When the account first acted through Accord (its first claimed job),
/// if it has.
pub async fn first_action_at(
    c: &mut AnyConnection,
    id: &str,
) -> Result<Option<Millis>, StoreError> {
    let (first,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(claimed_at) FROM campaign_send_jobs WHERE linkedin_account_id = $1 \
         AND claimed_at IS NOT NULL",
    )
    .bind(id)
    .fetch_one(c)
    .await?;
    Ok(first)
}

/// Sets the account's watermark.
pub async fn set_watermark(
    c: &mut AnyConnection,
    id: &str,
    watermark: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE linkedin_accounts SET last_relation_at = $1 WHERE id = $2")
        .bind(watermark)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Records a page's outcome, unless another poller moved the pass on since
/// `before` was read (then its write wins). Returns whether it was written.
pub async fn record_pass(
    c: &mut AnyConnection,
    id: &str,
    before: &PollState,
    update: &PassUpdate,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE linkedin_accounts SET last_relation_at = $1, relations_cursor = $2, \
         relations_pass_newest = $3, next_poll_at = COALESCE($4, next_poll_at) \
         WHERE id = $5 AND COALESCE(relations_cursor, '') = $6 AND COALESCE(last_relation_at, -1) = $7",
    )
    .bind(update.watermark)
    .bind(update.cursor.as_deref())
    .bind(update.newest)
    .bind(update.next_poll_at)
    .bind(id)
    .bind(before.relations_cursor.clone().unwrap_or_default())
    .bind(before.last_relation_at.unwrap_or(-1))
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
