//! The audit-log digest: every `linkedin_events` row written out, hashed.
//! Shared with `accord simulate`, whose digest hashes the same lines, so
//! both prove a seed replays the same story.

/// sha256 over every audit row, in id order (seeded ids are in creation
/// order), each column written out.
pub(super) async fn event_digest(db: &crate::store::Db) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for line in audit_log_lines(db).await? {
        hash.update(format!("{line}\n").as_bytes());
    }
    Ok(hex::encode(hash.finalize()))
}

/// Every audit row in id order, each column written out: what the demo's
/// and the simulation's digests hash.
pub(crate) async fn audit_log_lines(db: &crate::store::Db) -> anyhow::Result<Vec<String>> {
    let mut c = db.acquire().await?;
    let rows = crate::store::events::audit_rows(&mut c).await?;
    Ok(rows.into_iter().map(|row| format!("{row:?}")).collect())
}
