//! An account's next provider-action slot, taken outside the job claim
//! (relations polling, resync). It is the same `next_action_at` the claim
//! checks and charges, so every provider call of an account, whoever makes
//! it, comes at least the account's spacing (plus jitter) after the
//! previous one.

use crate::clock::Millis;
use crate::store::{Connection, StoreError, accounts};
use crate::window::jitter;

/// Takes `account_id`'s slot at `now` if the account is connected, its
/// spacing has passed and its breaker is closed: charges `next_action_at`
/// = now + spacing (+ up to `jitter_max_ms` when the spacing is not zero),
/// as the job claim does, before the call is made. Returns whether it was
/// taken; one statement, so two takers never both get a slot.
pub(crate) async fn take(
    c: &mut Connection,
    account_id: &str,
    now: Millis,
    jitter_max_ms: Millis,
) -> Result<bool, StoreError> {
    accounts::take_action_slot(c, account_id, now, extra(account_id, now, jitter_max_ms)).await
}

/// The random part of the spacing charged when `account_id` takes its
/// slot at `now`: up to `jitter_max_ms`, derived from both.
pub(crate) fn extra(account_id: &str, now: Millis, jitter_max_ms: Millis) -> Millis {
    jitter(&format!("{account_id}{now}"), jitter_max_ms)
}
