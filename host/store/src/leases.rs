//! Leases for work one instance of many must do at a time (the periodic
//! ticks, relations polling): one holder per name, a TTL, and a fencing
//! term that grows on every acquisition.
//!
//! A holder [`acquire`]s the lease, [`Lease::keep`]s it alive while it
//! works (renewed once past half its TTL), checks [`Lease::fence`] inside
//! each of its write transactions before they commit, and releases it
//! when done ([`Lease::release`], or [`Lease::release_in`] inside the
//! transaction that records the work as done). An instance that stalls
//! past the TTL can be taken over; from then on its renewals and fences
//! fail, so it commits nothing more.

use super::{Db, StoreError};
use crate::clock::Millis;
use sqlx::AnyConnection;

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    name: String,
    holder: String,
    term: i64,
    ttl_ms: Millis,
    /// When it expires, as this holder last wrote it.
    expires_at: Millis,
}

/// Takes `name` for `holder` until `now + ttl_ms` if nobody holds it or
/// its holder let it expire; the term moves on, so the previous holder's
/// fences fail from now on. `None` while it is held, by anyone: two tasks
/// of one instance do not share a holding either.
pub async fn acquire(
    db: &Db,
    name: &str,
    holder: &str,
    now: Millis,
    ttl_ms: Millis,
) -> Result<Option<Lease>, StoreError> {
    // One statement: the first holder inserts the row (term 1); a later
    // one takes it over only once it expired, the term moving on. A lease
    // still held returns no row, whoever holds it.
    let mut w = db.sole_write().await?;
    let taken: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO leases (name, holder, term, expires_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, term = leases.term + 1, \
         expires_at = excluded.expires_at WHERE leases.expires_at <= $4 RETURNING term",
    )
    .bind(name)
    .bind(holder)
    .bind(now + ttl_ms)
    .bind(now)
    .fetch_optional(&mut *w)
    .await?;
    let Some((term,)) = taken else {
        return Ok(None);
    };
    Ok(Some(Lease {
        name: name.to_string(),
        holder: holder.to_string(),
        term,
        ttl_ms,
        expires_at: now + ttl_ms,
    }))
}

impl Lease {
    /// The lease's name (e.g. `tick:heal_late`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fencing term of this holding.
    pub fn term(&self) -> i64 {
        self.term
    }

    /// Renews the lease once it is past half its TTL. False when it was
    /// taken over: the holder must stop.
    pub async fn keep(&mut self, db: &Db, now: Millis) -> Result<bool, StoreError> {
        if now < self.expires_at - self.ttl_ms / 2 {
            return Ok(true);
        }
        self.renew(db, now).await
    }

    /// Extends the lease to `now + ttl`. False when it was taken over.
    pub async fn renew(&mut self, db: &Db, now: Millis) -> Result<bool, StoreError> {
        let renewed = sqlx::query(
            "UPDATE leases SET expires_at = $1 WHERE name = $2 AND holder = $3 AND term = $4",
        )
        .bind(now + self.ttl_ms)
        .bind(&self.name)
        .bind(&self.holder)
        .bind(self.term)
        .execute(&mut *db.acquire().await?)
        .await?;
        if renewed.rows_affected() == 0 {
            return Ok(false);
        }
        self.expires_at = now + self.ttl_ms;
        Ok(true)
    }

    /// Inside the caller's write transaction, before it commits: true
    /// while this holding's term is current. The statement locks the
    /// lease row until the transaction ends (PostgreSQL; SQLite's write
    /// transaction excludes other writers anyway), so no takeover can
    /// commit between this check and the caller's commit. On false the
    /// caller rolls back and stops.
    pub async fn fence(&self, c: &mut AnyConnection) -> Result<bool, StoreError> {
        let held = sqlx::query(
            "UPDATE leases SET expires_at = expires_at WHERE name = $1 AND holder = $2 AND term = $3",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .bind(self.term)
        .execute(c)
        .await?;
        Ok(held.rows_affected() == 1)
    }

    /// Inside the caller's write transaction: the fence, and the lease
    /// expires at `now`, so the next acquire finds it free once the
    /// transaction commits. False (nothing written) when it was taken over.
    pub async fn release_in(&self, c: &mut AnyConnection, now: Millis) -> Result<bool, StoreError> {
        let released = sqlx::query(
            "UPDATE leases SET expires_at = $1 WHERE name = $2 AND holder = $3 AND term = $4",
        )
        .bind(now)
        .bind(&self.name)
        .bind(&self.holder)
        .bind(self.term)
        .execute(c)
        .await?;
        Ok(released.rows_affected() == 1)
    }

    /// Releases the lease on its own. False when it was taken over.
    pub async fn release(self, db: &Db, now: Millis) -> Result<bool, StoreError> {
        let mut c = db.acquire().await?;
        self.release_in(&mut c, now).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn db(dir: &tempfile::TempDir) -> Db {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_new_term_on_every_acquisition() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let a = acquire(&db, "t", "a", 0, 100).await.unwrap().unwrap();
        assert_eq!(a.term(), 1);
        assert!(acquire(&db, "t", "b", 50, 100).await.unwrap().is_none());
        assert!(
            acquire(&db, "t", "a", 50, 100).await.unwrap().is_none(),
            "not shared by two tasks of one holder"
        );
        let b = acquire(&db, "t", "b", 100, 100).await.unwrap().unwrap();
        assert_eq!(b.term(), 2, "taken over once expired");
        let mut stale = a;
        assert!(!stale.keep(&db, 100).await.unwrap());
        let mut c = db.pool().acquire().await.unwrap();
        assert!(!stale.fence(&mut c).await.unwrap());
        assert!(b.fence(&mut c).await.unwrap());
        drop(c);
        assert!(!stale.release(&db, 120).await.unwrap());
        assert!(b.release(&db, 120).await.unwrap());
        let a = acquire(&db, "t", "a", 120, 100).await.unwrap().unwrap();
        assert_eq!(a.term(), 3, "free again once released");
    }

    #[tokio::test]
    async fn kept_alive_past_half_its_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let mut a = acquire(&db, "t", "a", 0, 100).await.unwrap().unwrap();
        for now in [40, 80, 120, 160, 200] {
            assert!(a.keep(&db, now).await.unwrap());
            assert!(acquire(&db, "t", "b", now, 100).await.unwrap().is_none());
        }
    }
}
