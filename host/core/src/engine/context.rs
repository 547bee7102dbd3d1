//! What the run of a claimed job and its reconciliation share: the job's
//! context, its audit events, the account's circuit breaker, and the note
//! of a stale claim.

use super::EngineError;
use super::claim::Claimed;
use crate::clock::Millis;
use crate::store::Tx;
use crate::store::accounts::{self, Account};
use crate::store::campaigns::Campaign;
use crate::store::enrollments::EnrollmentRow;
use crate::store::events::{self, NewEvent};
use crate::store::prospects::Prospect;

/// Everything a job needs, loaded once.
pub(super) struct Context {
    pub(super) account: Account,
    pub(super) campaign: Campaign,
    pub(super) enrollment: EnrollmentRow,
    pub(super) prospect: Prospect,
}

/// A claim another worker took over: its outcome is dropped.
pub(super) fn stale(claimed: &Claimed) -> Result<(), EngineError> {
    tracing::warn!(job = %claimed.job.id, fence = claimed.fence, "stale claim: another worker owns this job now; outcome discarded");
    metrics::counter!("accord_stale_completions_total").increment(1);
    Ok(())
}

/// A send went through: the account's failure count and breaker reset.
pub(super) async fn breaker_success(tx: &mut Tx, account_id: &str) -> Result<(), EngineError> {
    accounts::breaker_success(tx, account_id).await?;
    Ok(())
}

/// Counts a transient failure; opens the breaker at the threshold.
/// Returns whether this failure opened it.
pub(super) async fn breaker_failure(
    tx: &mut Tx,
    account_id: &str,
    threshold: i64,
    until: Millis,
) -> Result<bool, EngineError> {
    let failures = accounts::count_failure(tx, account_id).await?;
    if failures >= threshold {
        accounts::open_breaker(tx, account_id, until).await?;
        tracing::warn!(account = %account_id, failures, "circuit breaker opened");
        return Ok(true);
    }
    Ok(false)
}

/// An audit event of the job's enrollment, from the engine.
pub(super) async fn event(
    tx: &mut Tx,
    ctx: &Context,
    kind: &str,
    detail: serde_json::Value,
    now: Millis,
) -> Result<(), EngineError> {
    let e = NewEvent {
        workspace_id: &ctx.account.workspace_id,
        linkedin_account_id: Some(&ctx.account.id),
        enrollment_id: Some(&ctx.enrollment.id),
        kind,
        source: Some("engine"),
        detail: Some(detail),
        ..NewEvent::default()
    };
    events::record(tx, e, now).await?;
    Ok(())
}
