//! The run's fingerprint: sha256 over what the provider received and
//! delivered (every API call with its simulated time and answer, every
//! webhook delivery attempt with its body) and over Accord's audit log in
//! id order. Two runs of one seed must print the same one; any drift in
//! what was sent, when, or in what Accord recorded, changes it.

use crate::simulator::SimHandle;
use crate::store::Db;
use sha2::Digest as _;

/// The digest of a finished run, hex.
pub async fn of_run(sim: &SimHandle, db: &Db) -> anyhow::Result<String> {
    let mut hash = sha2::Sha256::new();
    for c in sim.calls() {
        hash.update(
            format!(
                "call {} {} {} {:?} {} {:?} {:?} {:?}\n",
                c.at_ms, c.method, c.path, c.account_id, c.status, c.cursor, c.target, c.error_type
            )
            .as_bytes(),
        );
    }
    for d in sim.deliveries() {
        hash.update(
            format!(
                "delivery {} {} {:?} {} {} {:?} {:?} {}\n",
                d.at_ms, d.delivery_id, d.kind, d.account_id, d.attempt, d.status, d.error, d.body
            )
            .as_bytes(),
        );
    }
    for line in crate::demo::audit_log_lines(db).await? {
        hash.update(format!("event {line}\n").as_bytes());
    }
    Ok(hex::encode(hash.finalize()))
}
