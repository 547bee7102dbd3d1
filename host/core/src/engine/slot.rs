//! An account's next provider-action slot, taken outside the job claim
//! (relations polling, resync). It is the same `next_action_at` the claim
//! checks and charges, so every provider call of an account, whoever makes
//! it, comes at least the account's spacing (plus jitter) after the
//! previous one.

use crate::clock::Millis;
use crate::store::StoreError;
use crate::window::jitter;
use sqlx::AnyConnection;

/// Takes `account_id`'s slot at `now` if the account is connected, its
/// spacing has passed and its breaker is closed: charges `next_action_at`
/// = now + spacing (+ up to `jitter_max_ms` when the spacing is not zero),
/// as the job claim does, before the call is made. Returns whether it was
/// taken; one statement, so two takers never both get a slot.
pub(crate) async fn take(
    c: &mut AnyConnection,
    account_id: &str,
    now: Millis,
    jitter_max_ms: Millis,
) -> Result<bool, StoreError> {
    let extra = jitter(&format!("{account_id}{now}"), jitter_max_ms);
    let taken = sqlx::query(
        "UPDATE linkedin_accounts SET next_action_at = $1 + min_spacing_ms + \
         CASE WHEN min_spacing_ms > 0 THEN $2 ELSE 0 END \
         WHERE id = $3 AND status = 'connected' AND next_action_at <= $1 \
         AND (breaker_open_until IS NULL OR breaker_open_until <= $1)",
    )
    .bind(now)
    .bind(extra)
    .bind(account_id)
    .execute(c)
    .await?;
    Ok(taken.rows_affected() == 1)
}
