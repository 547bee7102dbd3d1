//! When something next falls due, for drivers that move a manual clock
//! (the demo, the simulation) and must not step over a due instant; and
//! which parts of an engine round have anything to do now.

use super::StoreError;
use super::claims::{EXPIRED_CLAIM, any_candidate};
use super::enrollments::{WORKFLOW_DUE, WORKFLOW_STARTING};
use super::resyncs::RESYNC_DUE;
use crate::clock::Millis;
use sqlx::AnyConnection;
use std::sync::LazyLock;

/// Which parts of an engine round find rows at an instant. Each is asked
/// with the very condition its part selects by, so a part skipped had
/// nothing to select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundWork {
    /// Claims whose worker's lease ran out.
    pub expired_claims: bool,
    /// Workflows to start or waits that are over.
    pub workflows: bool,
    /// Resync requests to serve.
    pub resyncs: bool,
    /// Jobs a claim may take.
    pub jobs: bool,
}

/// What an engine round at `now` has to do, in one statement: most rounds
/// find nothing, and asking each part's own query costs a round trip
/// each (a transaction, for the claim).
pub async fn round_work(c: &mut AnyConnection, now: Millis) -> Result<RoundWork, StoreError> {
    // Composed once: the round runs every few seconds.
    static STATEMENT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {}, {}, {}, {}, {}",
            exists(&format!("FROM campaign_send_jobs WHERE {EXPIRED_CLAIM}")),
            exists(WORKFLOW_STARTING),
            exists(WORKFLOW_DUE),
            exists(&format!("FROM resync_requests WHERE {RESYNC_DUE}")),
            exists(&any_candidate()),
        )
    });
    let (expired_claims, starting, due, resyncs, jobs): (i64, i64, i64, i64, i64) =
        sqlx::query_as(STATEMENT.as_str())
            .bind(now)
            .fetch_one(c)
            .await?;
    Ok(RoundWork {
        expired_claims: expired_claims != 0,
        workflows: starting != 0 || due != 0,
        resyncs: resyncs != 0,
        jobs: jobs != 0,
    })
}

/// 1 if the rows `from` (a FROM … WHERE …) selects exist, else 0: an
/// integer on both backends (PostgreSQL's EXISTS is a boolean).
fn exists(from: &str) -> String {
    format!("CASE WHEN EXISTS (SELECT 1 {from}) THEN 1 ELSE 0 END")
}

/// The first instant after `now` at which any row may fall due: a pending
/// job's run time, an expired lease, a workflow wait, an account's next
/// action or poll, a notification retry. Each part asks one index for its
/// first instant (one MIN over a union read every enrollment and queued
/// job at every step). A job due but held by its account's spacing is
/// due again when the account's next action is: any account's next action
/// is an instant, which may find nothing to do but never misses one.
pub async fn next_after(c: &mut AnyConnection, now: Millis) -> Result<Option<Millis>, StoreError> {
    let (due,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(t) FROM ( \
           SELECT MIN(run_at) AS t FROM campaign_send_jobs WHERE status = 'pending' AND run_at > $1 \
           UNION ALL SELECT MIN(lease_expires_at) AS t FROM campaign_send_jobs \
             WHERE status = 'processing' AND lease_expires_at > $1 \
           UNION ALL SELECT MIN(next_run_at) AS t FROM enrollments \
             WHERE workflow_state IN ('waiting_accept', 'active') AND next_run_at > $1 \
           UNION ALL SELECT MIN(next_action_at) AS t FROM linkedin_accounts \
             WHERE status = 'connected' AND next_action_at > $1 \
           UNION ALL SELECT MIN(next_poll_at) AS t FROM linkedin_accounts \
             WHERE status = 'connected' AND next_poll_at > $1 \
           UNION ALL SELECT MIN(next_attempt_at) AS t FROM outbox_deliveries \
             WHERE status = 'pending' AND next_attempt_at > $1 \
         ) due",
    )
    .bind(now)
    .fetch_one(c)
    .await?;
    Ok(due)
}

/// The first instant after `now` at which something can act: a pending
/// job once both it and its account are due, a workflow wait, a
/// connected account's poll once its account may act, a notification
/// retry. Reads every row: for small worlds (the demo).
pub async fn next_action_after(
    c: &mut AnyConnection,
    now: Millis,
) -> Result<Option<Millis>, StoreError> {
    let (due,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(t) FROM ( \
           SELECT CASE WHEN j.run_at > a.next_action_at THEN j.run_at ELSE a.next_action_at END AS t \
             FROM campaign_send_jobs j JOIN linkedin_accounts a ON a.id = j.linkedin_account_id WHERE j.status = 'pending' \
           UNION ALL SELECT next_run_at AS t FROM enrollments \
             WHERE next_run_at IS NOT NULL AND workflow_state IN ('waiting_accept', 'active') \
           UNION ALL SELECT CASE WHEN next_poll_at > next_action_at THEN next_poll_at ELSE next_action_at END AS t \
             FROM linkedin_accounts WHERE status = 'connected' \
           UNION ALL SELECT next_attempt_at AS t FROM outbox_deliveries WHERE status = 'pending' \
         ) due WHERE t > $1",
    )
    .bind(now)
    .fetch_one(c)
    .await?;
    Ok(due)
}
