//! Wake-ups between instances on PostgreSQL (LISTEN/NOTIFY). On SQLite
//! one instance owns the file, and a broadcast is a no-op.

use super::{Backend, Db, StoreError};
use sqlx::AnyPool;

/// The channel of job wake-ups (a job was enqueued or became runnable).
pub const JOBS_CHANNEL: &str = "accord_jobs";
/// The channel of policy activations (payload: the slot).
pub const POLICIES_CHANNEL: &str = "accord_policies";
/// The channel of uploaded modules compiled and ready (payload: the
/// module's sha256): the other instances compile them too.
pub const MODULES_CHANNEL: &str = "accord_policy_modules";

/// Who to tell: the pool of a PostgreSQL database, nobody on SQLite.
#[derive(Debug, Clone, Default)]
pub struct Broadcaster {
    pool: Option<AnyPool>,
}

impl Broadcaster {
    /// A broadcaster over `db` (silent unless it is PostgreSQL).
    pub fn for_db(db: &Db) -> Self {
        Broadcaster {
            pool: (db.backend() == Backend::Postgres).then(|| db.pool().clone()),
        }
    }

    /// Whether a broadcast reaches anyone.
    pub fn is_live(&self) -> bool {
        self.pool.is_some()
    }

    /// Tells every listening instance `payload` on `channel`.
    pub async fn send(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(pool)
            .await?;
        Ok(())
    }
}

/// This instance's ear on the broadcast channels (PostgreSQL only).
pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    /// Listens on `channels` over a connection of its own to `url`.
    pub async fn connect(url: &str, channels: &[&str]) -> Result<Self, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Listener(listener))
    }

    /// The channel of the next broadcast heard.
    pub async fn recv(&mut self) -> Result<String, StoreError> {
        Ok(self.recv_with_payload().await?.0)
    }

    /// The channel and payload of the next broadcast heard.
    pub async fn recv_with_payload(&mut self) -> Result<(String, String), StoreError> {
        let n = self.0.recv().await?;
        Ok((n.channel().to_string(), n.payload().to_string()))
    }
}
