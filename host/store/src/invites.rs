//! Invites sent: what was sent to whom, one row per enrollment (a unique
//! key, so a replayed send records nothing more).

use super::StoreError;
use crate::clock::{Millis, new_id};
use sqlx::AnyConnection;

/// Records the enrollment's invite, sent to `provider_id` (a repeat is
/// ignored).
pub async fn record(
    c: &mut AnyConnection,
    enrollment_id: &str,
    linkedin_account_id: &str,
    provider_id: &str,
    invitation_id: Option<&str>,
    sent_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invites (id, enrollment_id, linkedin_account_id, provider_id, invitation_id, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(new_id())
    .bind(enrollment_id)
    .bind(linkedin_account_id)
    .bind(provider_id)
    .bind(invitation_id)
    .bind(sent_at)
    .execute(c)
    .await?;
    Ok(())
}
