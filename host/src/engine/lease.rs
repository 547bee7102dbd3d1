//! Leases for periodic ticks across instances: one holder per name, with
//! a fencing term that grows on every takeover.

use crate::clock::Millis;
use crate::store::{Db, StoreError};

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease's name (e.g. `tick:heal_late`).
    pub name: String,
    /// The fencing term of this holding.
    pub term: i64,
}

/// Takes `name` for `ttl_ms` if it is free, expired, or already ours.
pub async fn acquire(
    db: &Db,
    name: &str,
    holder: &str,
    now: Millis,
    ttl_ms: Millis,
) -> Result<Option<Lease>, StoreError> {
    let mut tx = db.begin().await?;
    let row: Option<(String, i64, i64)> = sqlx::query_as(crate::store::sql(format!(
        "SELECT holder, term, expires_at FROM leases WHERE name = $1{}",
        db.for_update()
    )))
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let term = match row {
        None => {
            let inserted = sqlx::query("INSERT INTO leases (name, holder, term, expires_at) VALUES ($1, $2, 1, $3) ON CONFLICT DO NOTHING")
                .bind(name)
                .bind(holder)
                .bind(now + ttl_ms)
                .execute(&mut *tx)
                .await?;
            if inserted.rows_affected() == 0 {
                tx.commit().await?;
                return Ok(None);
            }
            1
        }
        Some((current, term, expires_at)) if current == holder || expires_at <= now => {
            let term = if current == holder { term } else { term + 1 };
            sqlx::query(
                "UPDATE leases SET holder = $1, term = $2, expires_at = $3 WHERE name = $4",
            )
            .bind(holder)
            .bind(term)
            .bind(now + ttl_ms)
            .bind(name)
            .execute(&mut *tx)
            .await?;
            term
        }
        Some(_) => {
            tx.commit().await?;
            return Ok(None);
        }
    };
    tx.commit().await?;
    Ok(Some(Lease {
        name: name.to_string(),
        term,
    }))
}
