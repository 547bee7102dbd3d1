//! The send engine's claim round: due candidates, the account's gate row
//! and its usage, rescheduling a held job, taking the chosen jobs (fence +
//! 1), the reclaim of expired leases, and the held jobs' wait reasons.
//! Locks (PostgreSQL): candidates `FOR UPDATE OF j SKIP LOCKED`, the
//! account row `FOR UPDATE` while its caps are counted, so two workers can
//! never exceed a cap; SQLite's single writer gives the same.

use super::jobs::{self, Job};
use super::{StoreError, for_update_on, placeholders, qualified, sql};
use crate::clock::Millis;
use sqlx::{AnyConnection, FromRow};
use std::sync::LazyLock;

/// What the claim checks of an account.
#[derive(Debug, Clone, FromRow)]
pub struct AccountGate {
    /// Id.
    pub id: String,
    /// Its IANA time zone (caps count by its local day).
    pub time_zone: String,
    /// When its warm-up ramp started, ms.
    pub warmup_started_at: i64,
    /// Invites a day.
    pub daily_invite_cap: i64,
    /// Invites a rolling week.
    pub weekly_invite_cap: i64,
    /// Messages a day.
    pub daily_message_cap: i64,
    /// Messages a rolling week.
    pub weekly_message_cap: i64,
    /// Spacing between two actions, ms.
    pub min_spacing_ms: i64,
    /// Its next free action slot, ms.
    pub next_action_at: i64,
}

/// An account's actions of one kind: today, this rolling week, and the
/// oldest in the week.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Since the local day's start.
    pub day: i64,
    /// Since the week's start.
    pub week: i64,
    /// The oldest action in the week, ms.
    pub oldest_in_week: Option<i64>,
}

/// Puts jobs whose lease expired at `now` (a dead worker) back in the
/// queue, in doubt from their claim (the dead worker may have sent).
/// Returns how many.
pub async fn reclaim_expired(c: &mut AnyConnection, now: Millis) -> Result<u64, StoreError> {
    let r = sqlx::query(
        sql(format!("UPDATE campaign_send_jobs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
         wait_reason = 'reclaimed', updated_at = $1, outcome_unknown_at = COALESCE(outcome_unknown_at, claimed_at), \
         operator_verdict = NULL WHERE {EXPIRED_CLAIM}")),
    )
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// A claim whose worker's lease ran out at `$1` (its worker died).
pub(crate) const EXPIRED_CLAIM: &str = "status = 'processing' AND lease_expires_at < $1";

/// Campaign `c` runs and its account `a` may act at `$1`.
const READY_CAMPAIGN: &str = "a.status = 'connected' AND a.next_action_at <= $1 \
     AND (a.breaker_open_until IS NULL OR a.breaker_open_until <= $1) \
     AND c.linkedin_account_id = a.id AND c.status = 'running'";

/// Campaign `c`'s due jobs at `$1` (alias `dj`), through the campaign's
/// own due index. They are its account's: a campaign never changes
/// account (and the claim gates each job by its own account's row).
const DUE_IN_CAMPAIGN: &str = "FROM campaign_send_jobs dj WHERE dj.campaign_id = c.id \
     AND dj.status = 'pending' AND dj.run_at <= $1";

/// Whether a claim at `$1` finds any job (before the window and the caps):
/// a due job of an account that may act, in its running campaign.
pub(crate) fn any_candidate() -> String {
    format!(
        "FROM linkedin_accounts a CROSS JOIN campaigns c \
         WHERE {READY_CAMPAIGN} AND EXISTS (SELECT 1 {DUE_IN_CAMPAIGN})"
    )
}

/// How many due jobs of one campaign a claim round reads. An account
/// takes one job per spacing interval, so the rest of a long backlog was
/// read, sorted and handed over at every round to stay where it was; a
/// round whose cut jobs were all held reads on ([`candidates`]).
pub const PER_CAMPAIGN: i64 = 4;

/// Up to `limit` due jobs of accounts that may act at `now` in their
/// running campaigns, at most [`PER_CAMPAIGN`] of each campaign (its
/// oldest), oldest due first (PostgreSQL: locked, skipping jobs another
/// worker holds).
///
/// Driven by the accounts that may act now and their running campaigns,
/// each campaign's due jobs read through its own index range: the jobs of
/// accounts waiting out their spacing and of paused campaigns stay due
/// and are never walked. SQLite keeps a CROSS JOIN's order and runs the
/// correlated `IN` once per campaign; PostgreSQL plans that `IN` as a
/// filter on every row of the queue (millions of subquery runs a claim),
/// so there each campaign's few jobs come from a `LATERAL` join, and the
/// job's own row is checked again under its lock.
pub async fn candidates(
    c: &mut AnyConnection,
    now: Millis,
    limit: i64,
) -> Result<Vec<Job>, StoreError> {
    Ok(sqlx::query_as(candidates_statement(c))
        .bind(now)
        .bind(PER_CAMPAIGN)
        .bind(limit)
        .fetch_all(c)
        .await?)
}

/// The database's plan for [`candidates`] now: a test holds it to the
/// campaigns' due index.
pub async fn explain_candidates(
    c: &mut AnyConnection,
    now: Millis,
    limit: i64,
) -> Result<String, StoreError> {
    let statement = candidates_statement(c);
    super::explain(c, statement, &[now, PER_CAMPAIGN, limit]).await
}

/// [`candidates`]' statement on `c`'s database.
fn candidates_statement(c: &AnyConnection) -> &'static str {
    // Composed once each: the claim runs at every engine round.
    static SQLITE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM linkedin_accounts a CROSS JOIN campaigns c CROSS JOIN campaign_send_jobs j \
             WHERE {READY_CAMPAIGN} AND j.id IN \
             (SELECT dj.id {DUE_IN_CAMPAIGN} ORDER BY dj.run_at, dj.id LIMIT $2) \
             ORDER BY j.run_at, j.id LIMIT $3",
            qualified(jobs::COLUMNS, "j")
        )
    });
    static POSTGRES: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM linkedin_accounts a CROSS JOIN campaigns c \
             CROSS JOIN LATERAL (SELECT dj.id {DUE_IN_CAMPAIGN} ORDER BY dj.run_at, dj.id LIMIT $2) d \
             JOIN campaign_send_jobs j ON j.id = d.id \
             WHERE {READY_CAMPAIGN} AND j.status = 'pending' AND j.run_at <= $1 \
             ORDER BY j.run_at, j.id LIMIT $3 FOR UPDATE OF j SKIP LOCKED",
            qualified(jobs::COLUMNS, "j")
        )
    });
    if c.backend_name() == "SQLite" {
        SQLITE.as_str()
    } else {
        POSTGRES.as_str()
    }
}

/// The account's gate row, locked (PostgreSQL) while its caps are counted.
pub async fn account_gate(
    c: &mut AnyConnection,
    account_id: &str,
) -> Result<Option<AccountGate>, StoreError> {
    let lock = for_update_on(c);
    Ok(sqlx::query_as(sql(format!(
        "SELECT id, time_zone, warmup_started_at, daily_invite_cap, weekly_invite_cap, daily_message_cap, \
         weekly_message_cap, min_spacing_ms, next_action_at FROM linkedin_accounts WHERE id = $1{lock}"
    )))
    .bind(account_id)
    .fetch_optional(c)
    .await?)
}

/// Charges the account's spacing: its next action slot is `at`.
pub async fn charge_spacing(
    c: &mut AnyConnection,
    account_id: &str,
    at: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE linkedin_accounts SET next_action_at = $1 WHERE id = $2")
        .bind(at)
        .bind(account_id)
        .execute(c)
        .await?;
    Ok(())
}

/// The account's actions by kind (`send_invite`, `send_message`) since
/// `day_start` and `week_start`. A send in doubt (its answer lost) may
/// have reached LinkedIn: it counts, at its attempt, while it waits to be
/// reconciled.
pub async fn usage(
    c: &mut AnyConnection,
    account_id: &str,
    day_start: Millis,
    week_start: Millis,
) -> Result<Vec<(String, Usage)>, StoreError> {
    let rows: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT action, COALESCE(SUM(CASE WHEN COALESCE(outcome_unknown_at, claimed_at) >= $1 THEN 1 ELSE 0 END), 0), \
         COUNT(*), MIN(COALESCE(outcome_unknown_at, claimed_at)) \
         FROM campaign_send_jobs WHERE linkedin_account_id = $2 \
         AND (claimed_at >= $3 OR outcome_unknown_at >= $3) \
         AND (status IN ('processing', 'succeeded', 'failed') OR (status = 'pending' AND outcome_unknown_at IS NOT NULL)) \
         GROUP BY action",
    )
    .bind(day_start)
    .bind(account_id)
    .bind(week_start)
    .fetch_all(c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(action, day, week, oldest_in_week)| {
            (
                action,
                Usage {
                    day,
                    week,
                    oldest_in_week,
                },
            )
        })
        .collect())
}

/// Moves a pending job to `run_at`, saying why it waits.
pub async fn reschedule(
    c: &mut AnyConnection,
    job_id: &str,
    run_at: Millis,
    reason: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE campaign_send_jobs SET run_at = $1, wait_reason = $2, updated_at = $3 WHERE id = $4 AND status = 'pending'",
    )
    .bind(run_at)
    .bind(reason)
    .bind(now)
    .bind(job_id)
    .execute(c)
    .await?;
    Ok(())
}

/// Claims the pending jobs `ids` in one statement: processing, leased to
/// `worker` until `lease_until`, fence + 1, one attempt more. Returns the
/// (job, fence) of those it claimed.
pub async fn take(
    c: &mut AnyConnection,
    ids: &[&str],
    worker: &str,
    lease_until: Millis,
    now: Millis,
) -> Result<Vec<(String, i64)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement = format!(
        "UPDATE campaign_send_jobs SET status = 'processing', lease_owner = $1, lease_expires_at = $2, \
         fence = fence + 1, claimed_at = $3, attempts = attempts + 1, wait_reason = NULL, updated_at = $3 \
         WHERE status = 'pending' AND id IN ({}) RETURNING id, fence",
        placeholders(4, ids.len())
    );
    let mut q = sqlx::query_as(sql(statement))
        .bind(worker)
        .bind(lease_until)
        .bind(now);
    for id in ids {
        q = q.bind(*id);
    }
    Ok(q.fetch_all(c).await?)
}

/// Labels every due job held by its campaign or account with the one
/// reason that holds it, the most lasting first (a paused campaign
/// outlasts a disconnected account, which outlasts an open breaker, which
/// outlasts the spacing), writing only labels that change: a job held by
/// two causes is not relabelled back and forth.
///
/// The reason is a campaign's (and its account's: a campaign never
/// changes account), so each campaign is asked once and its due jobs'
/// labels are compared in its own index range, without reading the jobs'
/// rows; the few whose label changes are gathered first (`MATERIALIZED`:
/// as a join, SQLite walked the whole queue for them) and written.
pub async fn explain_waits(c: &mut AnyConnection, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "WITH w AS MATERIALIZED ( \
           SELECT j.id, h.reason FROM ( \
             SELECT c.id AS campaign_id, CASE WHEN c.status <> 'running' THEN 'campaign' \
               WHEN a.status <> 'connected' THEN 'account' \
               WHEN a.breaker_open_until > $1 THEN 'breaker' \
               WHEN a.next_action_at > $1 THEN 'spacing' END AS reason \
             FROM campaigns c JOIN linkedin_accounts a ON a.id = c.linkedin_account_id) h \
           CROSS JOIN campaign_send_jobs j \
           WHERE h.reason IS NOT NULL AND j.campaign_id = h.campaign_id \
           AND j.status = 'pending' AND j.run_at <= $1 \
           AND (j.wait_reason IS NULL OR j.wait_reason <> h.reason)) \
         UPDATE campaign_send_jobs SET wait_reason = w.reason FROM w \
         WHERE campaign_send_jobs.id = w.id",
    )
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}
