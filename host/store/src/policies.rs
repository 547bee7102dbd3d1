//! Uploaded policy modules and the active one per slot.

use super::StoreError;
use crate::clock::Millis;
use sqlx::AnyConnection;

/// Stores a module's bytes (idempotent on its sha256).
pub async fn store_module(
    c: &mut AnyConnection,
    sha256: &str,
    slot: &str,
    origin: &str,
    bytes: &[u8],
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO policy_modules (sha256, slot, origin, bytes, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(sha256)
    .bind(slot)
    .bind(origin)
    .bind(bytes.to_vec())
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Makes `sha256` the active module of `slot`.
pub async fn assign(
    c: &mut AnyConnection,
    slot: &str,
    sha256: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO policy_assignments (slot, sha256, activated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (slot) DO UPDATE SET sha256 = excluded.sha256, activated_at = excluded.activated_at",
    )
    .bind(slot)
    .bind(sha256)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Removes a slot's assignment (back to the built-in default).
pub async fn unassign(c: &mut AnyConnection, slot: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM policy_assignments WHERE slot = $1")
        .bind(slot)
        .execute(c)
        .await?;
    Ok(())
}

/// Every assignment with its module: (slot, sha256, origin, bytes).
pub async fn assigned(
    c: &mut AnyConnection,
) -> Result<Vec<(String, String, String, Vec<u8>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.slot, a.sha256, m.origin, m.bytes FROM policy_assignments a JOIN policy_modules m ON m.sha256 = a.sha256",
    )
    .fetch_all(c)
    .await?)
}
