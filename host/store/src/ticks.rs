//! The periodic ticks' rows: the shared schedule (`tick_schedule`, one row
//! per tick, so N instances run each tick once per period) and the heals'
//! selections (migrations 0008 and 0010 give each an index holding only
//! its candidates).

use super::{StoreError, sql};
use crate::clock::{DAY_MS, Millis};
use sqlx::AnyConnection;

/// Records a tick's first due time unless the schedule has one.
pub async fn seed(c: &mut AnyConnection, name: &str, due_at: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tick_schedule (name, next_due_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(name)
    .bind(due_at)
    .execute(c)
    .await?;
    Ok(())
}

/// When the tick is next due.
pub async fn next_due(c: &mut AnyConnection, name: &str) -> Result<Millis, StoreError> {
    let due: Option<(i64,)> =
        sqlx::query_as("SELECT next_due_at FROM tick_schedule WHERE name = $1")
            .bind(name)
            .fetch_optional(c)
            .await?;
    due.map(|(d,)| d).ok_or_else(|| StoreError::Corrupt {
        table: "tick_schedule",
        reason: format!("no row for tick `{name}` (it is seeded before it is read)"),
    })
}

/// Every tick's next due time, in one read.
pub async fn schedule(c: &mut AnyConnection) -> Result<Vec<(String, Millis)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT name, next_due_at FROM tick_schedule")
            .fetch_all(c)
            .await?,
    )
}

/// Moves the tick's due time from `from` to `to`, unless another run moved
/// it already.
pub async fn advance(
    c: &mut AnyConnection,
    name: &str,
    from: Millis,
    to: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE tick_schedule SET next_due_at = $1 WHERE name = $2 AND next_due_at = $3")
        .bind(to)
        .bind(name)
        .bind(from)
        .execute(c)
        .await?;
    Ok(())
}

/// What a heal selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heal {
    /// Late accepts whose follow-up was never sent, not replied, in a
    /// campaign not stopped.
    Late,
    /// Accepts 24 h to 14 d before `now`, not replied, without a follow-up,
    /// in running campaigns.
    Stuck {
        /// The clock now.
        now: Millis,
    },
}

/// An enrollment a heal picked: (enrollment, campaign).
pub type Healable = (String, String);

impl Heal {
    /// The selection: enrollments in the heal's condition with no active
    /// job and no open unrecoverable skip, oldest change first, capped.
    fn statement(self, cap: i64) -> (String, Vec<i64>) {
        let (condition, binds) = match self {
            Heal::Late => (
                "e.late_accept_observed_at IS NOT NULL AND e.late_accept_followup_sent_at IS NULL \
                 AND e.linkedin_replied_at IS NULL AND e.workflow_state <> 'stopped' AND c.status <> 'stopped'",
                vec![],
            ),
            Heal::Stuck { now } => (
                "e.linkedin_accepted_at BETWEEN $1 AND $2 AND e.linkedin_accepted_at IS NOT NULL \
                 AND e.linkedin_replied_at IS NULL AND e.followup_sent_at IS NULL \
                 AND c.status = 'running' AND e.workflow_state <> 'stopped'",
                vec![now - 14 * DAY_MS, now - DAY_MS],
            ),
        };
        let limit = binds.len() + 1;
        let statement = format!(
            "SELECT e.id, e.campaign_id FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id WHERE {condition} \
             AND NOT EXISTS (SELECT 1 FROM campaign_send_jobs j WHERE j.enrollment_id = e.id AND j.status IN ('pending', 'processing')) \
             AND NOT EXISTS (SELECT 1 FROM skips k WHERE k.enrollment_id = e.id AND k.recoverable = 0 AND k.resolved_at IS NULL) \
             ORDER BY e.updated_at, e.id LIMIT ${limit}"
        );
        let mut binds = binds;
        binds.push(cap);
        (statement, binds)
    }
}

/// Up to `cap` enrollments the heal picks now.
pub async fn healable(
    c: &mut AnyConnection,
    heal: Heal,
    cap: i64,
) -> Result<Vec<Healable>, StoreError> {
    let (statement, binds) = heal.statement(cap);
    let mut q = sqlx::query_as(sql(statement));
    for b in binds {
        q = q.bind(b);
    }
    Ok(q.fetch_all(c).await?)
}

/// The database's plan for the heal's selection (`EXPLAIN` on PostgreSQL,
/// `EXPLAIN QUERY PLAN` on SQLite), one line per node: a test holds it to
/// its indexes.
pub async fn explain_healable(
    c: &mut AnyConnection,
    heal: Heal,
    cap: i64,
) -> Result<String, StoreError> {
    let (statement, binds) = heal.statement(cap);
    super::explain(c, &statement, &binds).await
}
