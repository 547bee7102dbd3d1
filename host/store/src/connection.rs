//! The connections statements run on: one of the pool's, or, on a SQLite
//! database connected with one connection, that connection kept out of
//! the pool for the database's life.
//!
//! Why keep it: sqlx returns a released connection to its pool through a
//! spawned task that first pings it, one more round trip to SQLite's
//! worker thread for every borrowed connection, which costs more than a
//! short statement. With a single connection that ping buys nothing
//! (there is no other connection to hand out), so a kept connection is
//! handed out behind a mutex instead: borrowers queue in order, as they
//! did on the pool.

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use sqlx_core::transaction::TransactionManager;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

type AnyTransactionManager = <Any as sqlx::Database>::TransactionManager;

/// The one connection of a one-connection SQLite database, taken from its
/// pool on first use (`None` before, and after [`Kept::close`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Kept(Arc<Mutex<Option<PoolConnection<Any>>>>);

type KeptGuard = OwnedMappedMutexGuard<Option<PoolConnection<Any>>, PoolConnection<Any>>;

impl Kept {
    /// The kept connection, once no one else holds it.
    pub(crate) async fn lock(&self, pool: &AnyPool) -> Result<KeptGuard, sqlx::Error> {
        let mut slot = self.0.clone().lock_owned().await;
        if slot.is_none() {
            *slot = Some(pool.acquire().await?);
        }
        OwnedMutexGuard::try_map(slot, Option::as_mut).map_err(|_| sqlx::Error::PoolClosed)
    }

    /// Gives the connection back to its pool (which can then close).
    pub(crate) async fn close(&self) {
        drop(self.0.lock().await.take());
    }
}

/// A connection for statements outside a transaction; dereferences to
/// [`AnyConnection`](crate::Connection).
pub struct PooledConnection(Borrowed);

enum Borrowed {
    Pool(PoolConnection<Any>),
    Kept(KeptGuard),
}

impl PooledConnection {
    pub(crate) fn pooled(conn: PoolConnection<Any>) -> Self {
        PooledConnection(Borrowed::Pool(conn))
    }

    pub(crate) fn kept(conn: KeptGuard) -> Self {
        PooledConnection(Borrowed::Kept(conn))
    }
}

impl std::ops::Deref for PooledConnection {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            Borrowed::Pool(c) => c,
            Borrowed::Kept(c) => c,
        }
    }
}

impl std::ops::DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            Borrowed::Pool(c) => c,
            Borrowed::Kept(c) => c,
        }
    }
}

/// The connection of a write transaction.
pub(crate) enum TxConnection {
    /// A transaction on a pooled connection (sqlx's own).
    Pool(Transaction<'static, Any>),
    /// A transaction on the kept connection.
    Kept(KeptTransaction),
}

/// A transaction on the kept connection, begun and ended through sqlx's
/// own transaction manager (so the connection's transaction depth stays
/// what sqlx believes); rolled back if dropped open, as sqlx's are.
pub(crate) struct KeptTransaction {
    conn: KeptGuard,
    open: bool,
}

impl TxConnection {
    /// Begins a transaction with `statement` on the kept connection.
    pub(crate) async fn begin_kept(
        mut conn: KeptGuard,
        statement: &'static str,
    ) -> Result<Self, sqlx::Error> {
        use sqlx::SqlSafeStr;
        AnyTransactionManager::begin(&mut conn, Some(statement.into_sql_str())).await?;
        Ok(TxConnection::Kept(KeptTransaction { conn, open: true }))
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            TxConnection::Pool(t) => t.commit().await,
            TxConnection::Kept(t) => t.end(true).await,
        }
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            TxConnection::Pool(t) => t.rollback().await,
            TxConnection::Kept(t) => t.end(false).await,
        }
    }
}

impl KeptTransaction {
    /// Commits or rolls back; a failure leaves it open, so dropping it
    /// rolls back.
    async fn end(mut self, commit: bool) -> Result<(), sqlx::Error> {
        if commit {
            AnyTransactionManager::commit(&mut self.conn).await?;
        } else {
            AnyTransactionManager::rollback(&mut self.conn).await?;
        }
        self.open = false;
        Ok(())
    }
}

impl Drop for KeptTransaction {
    fn drop(&mut self) {
        if self.open {
            // Queued on the connection before its next borrower's
            // statements, which the mutex holds back until this guard drops.
            AnyTransactionManager::start_rollback(&mut self.conn);
        }
    }
}

impl std::ops::Deref for TxConnection {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            TxConnection::Pool(t) => t,
            TxConnection::Kept(t) => &t.conn,
        }
    }
}

impl std::ops::DerefMut for TxConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            TxConnection::Pool(t) => t,
            TxConnection::Kept(t) => &mut t.conn,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::Db;

    async fn kept_db(dir: &tempfile::TempDir) -> Db {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let db = Db::connect_with(&url, None, Some(1)).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    async fn count(db: &Db) -> i64 {
        let mut c = db.acquire().await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM leases")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        n
    }

    async fn insert(tx: &mut crate::Tx, name: &str) {
        sqlx::query("INSERT INTO leases (name, holder, term, expires_at) VALUES ($1, 'h', 1, 0)")
            .bind(name)
            .execute(&mut **tx)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_kept_connection_commits_rolls_back_and_rolls_back_what_was_dropped_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = kept_db(&dir).await;
        let mut tx = db.begin().await.unwrap();
        insert(&mut tx, "committed").await;
        tx.commit().await.unwrap();
        assert_eq!(count(&db).await, 1);

        let mut tx = db.begin().await.unwrap();
        insert(&mut tx, "rolled back").await;
        tx.rollback().await.unwrap();
        assert_eq!(count(&db).await, 1);

        let mut tx = db.begin().await.unwrap();
        insert(&mut tx, "dropped").await;
        drop(tx);
        assert_eq!(
            count(&db).await,
            1,
            "a transaction dropped open is rolled back"
        );
        // And the connection is usable for the next transaction.
        let mut tx = db.begin().await.unwrap();
        insert(&mut tx, "after").await;
        tx.commit().await.unwrap();
        assert_eq!(count(&db).await, 2);
    }

    #[tokio::test]
    async fn a_kept_connection_is_shared_in_turn_and_given_back_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let db = kept_db(&dir).await;
        assert_eq!(db.pool().options().get_max_connections(), 1);
        let held = db.acquire().await.unwrap();
        let other = db.clone();
        let waiter = tokio::spawn(async move { count(&other).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one borrower at a time");
        drop(held);
        assert_eq!(waiter.await.unwrap(), 0);
        db.ping().await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), db.close())
            .await
            .expect("close does not wait for the kept connection");
        assert!(db.acquire().await.is_err(), "closed");
    }
}
