//! The database: SQLite (the embedded default, WAL) or PostgreSQL, through
//! sqlx's `Any` driver with runtime queries, so both backends run the same
//! statements. Placeholders are `$1, $2, …` in order of first use (SQLite
//! binds `$N` by position of first appearance).
//!
//! Each submodule holds the statements of one table family; functions take
//! a `&mut AnyConnection` so they run inside the caller's transaction.

pub mod accounts;
mod arrays;
pub mod broadcast;
pub mod campaigns;
pub mod claims;
mod connection;
pub mod decisions;
mod deferred;
pub mod deliveries;
pub mod endpoints;
pub mod enrollment_pages;
pub mod enrollments;
pub mod events;
pub mod inbox;
pub mod invites;
pub mod jobs;
pub mod leases;
pub mod outbox;
pub mod policies;
pub mod polling;
pub mod prospects;
pub mod rekey_jobs;
pub mod resyncs;
pub mod sessions;
pub mod skips;
pub mod ticks;
pub mod tokens;
pub mod traces;
pub mod wakeups;

// The vocabulary, under the names the statements' modules use.
use accord_domain::{clock, domain, window, workflow};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

/// A connection the store's statements run on (a pooled one or a
/// transaction's, through `&mut *`): the only database type callers name.
pub type Connection = AnyConnection;

pub use connection::PooledConnection;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (one writer at a time; write transactions begin IMMEDIATE).
    Sqlite,
    /// PostgreSQL (row locks, `FOR UPDATE SKIP LOCKED`).
    Postgres,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not usable.
    #[error("invalid database URL `{url}`: {reason}")]
    Url {
        /// The URL, password removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// Connecting failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A statement failed.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// The task a write was handed to has stopped (the host is shutting
    /// down).
    #[error("the database writer has stopped")]
    Closed,
    /// A stored value does not decode (a bug or a hand-edited row).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl StoreError {
    /// Whether the error is a unique-key violation.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Sql(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// A write transaction. On SQLite it also holds the process's write gate,
/// so writers queue in order instead of polling SQLite's busy handler
/// (whose sleeps grow to tens of milliseconds under contention).
///
/// Append-only rows the transaction never reads back (audit events,
/// traces, outbox rows) can be deferred with [`Tx::defer_event`],
/// [`Tx::defer_trace`] and [`Tx::defer_outbox`], and the inbox rows a
/// batch settles with [`Tx::defer_inbox_finish`]: they are written just
/// before COMMIT, all in one call (one statement on PostgreSQL, one
/// script on SQLite) up to a bound, so a batch of accepts pays one round
/// trip for them instead of one each. Dropping the transaction
/// without committing drops them with everything else.
pub struct Tx {
    inner: connection::TxConnection,
    deferred: deferred::Deferred,
    /// Run once the commit succeeded, in order (say, offering a decision
    /// to the shadow worker: a rolled-back decision decided nothing).
    after_commit: Vec<Box<dyn FnOnce() + Send>>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    /// Writes the deferred rows, then commits (and opens the gate).
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let deferred = std::mem::take(&mut self.deferred);
        deferred.write(&mut self.inner).await?;
        let after_commit = std::mem::take(&mut self.after_commit);
        self.inner.commit().await?;
        for hook in after_commit {
            hook();
        }
        Ok(())
    }

    /// Rolls back: nothing written, nothing deferred (and the gate opens).
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.inner.rollback().await?;
        Ok(())
    }

    /// Appends an audit event at commit.
    pub fn defer_event(&mut self, e: events::NewEvent<'_>, at: crate::clock::Millis) {
        self.deferred.events.push(e.into_row(at));
    }

    /// Appends a trace at commit.
    pub fn defer_trace(&mut self, t: traces::NewTrace<'_>, at: crate::clock::Millis) {
        self.deferred.traces.push(t.into_row(at));
    }

    /// Appends an outbox row (unless its dedupe key exists) with one
    /// delivery per enabled endpoint of its workspace, at commit.
    pub fn defer_outbox(&mut self, row: outbox::NewOutbox) {
        self.deferred.outbox.push(row);
    }

    /// Appends a logged decision at commit; returns its place, for
    /// [`Tx::set_decision_job`].
    pub fn defer_decision(&mut self, row: decisions::DecisionRow) -> usize {
        self.deferred.decisions.push(row);
        self.deferred.decisions.len() - 1
    }

    /// Names the job a deferred decision enqueued (known only after the
    /// decision, once the insert took the job).
    pub fn set_decision_job(&mut self, at: usize, job_id: &str) {
        if let Some(row) = self.deferred.decisions.get_mut(at) {
            row.job_id = Some(job_id.to_string());
        }
    }

    /// Runs `hook` once this transaction has committed; never if it rolls
    /// back or is dropped.
    pub fn after_commit(&mut self, hook: Box<dyn FnOnce() + Send>) {
        self.after_commit.push(hook);
    }

    /// Records, at commit, that these inbox rows were processed at `now`
    /// (their status and outcome), with the other deferred rows.
    pub fn defer_inbox_finish(&mut self, rows: Vec<inbox::Finished>, now: crate::clock::Millis) {
        self.deferred.finished.extend(rows);
        self.deferred.finished_at = now;
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

/// A connection for one writing statement outside a transaction: the
/// statement commits on its own (atomic, as every statement is). On
/// SQLite it holds the write gate like a [`Tx`], so writers still queue
/// in order. A lone UPDATE saves BEGIN and COMMIT, two round trips to the
/// database's thread each.
pub struct SoleWrite {
    conn: PooledConnection,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for SoleWrite {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for SoleWrite {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// The connection pool and its dialect.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's one writer, as an async queue (see [`Tx`]).
    write_gate: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// Inbox rows processed since start, and the count at which the
    /// statistics of the write path's tables are next refreshed.
    growth: std::sync::Arc<Growth>,
    /// How this pool's connections were made (for [`Db::dedicated`]).
    connect: std::sync::Arc<Connect>,
    /// The one connection of a one-connection SQLite database, kept out
    /// of the pool (see the `connection` module); `None` otherwise.
    kept: Option<connection::Kept>,
}

/// How a [`Db`]'s connections are made and set up.
#[derive(Debug)]
struct Connect {
    options: AnyConnectOptions,
    backend: Backend,
    /// The PostgreSQL schema every connection uses, if any.
    schema: Option<String>,
}

/// See [`Db::note_growth`].
#[derive(Debug)]
struct Growth {
    rows: std::sync::atomic::AtomicU64,
    next_refresh: std::sync::atomic::AtomicU64,
}

impl Growth {
    fn new() -> Self {
        Growth {
            rows: std::sync::atomic::AtomicU64::new(0),
            next_refresh: std::sync::atomic::AtomicU64::new(FIRST_GROWTH_REFRESH),
        }
    }

    /// Counts `rows`; true for exactly one caller each time the count
    /// reaches the next refresh (which then moves four times further).
    fn grew(&self, rows: u64) -> bool {
        use std::sync::atomic::Ordering;
        let total = self.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let next = self.next_refresh.load(Ordering::Relaxed);
        total >= next
            && self
                .next_refresh
                .compare_exchange(
                    next,
                    total.max(next).saturating_mul(4),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

/// Inbox rows processed before the first refresh of the write path's
/// statistics; each later refresh waits for four times as many.
const FIRST_GROWTH_REFRESH: u64 = 1_000;

/// A pooled connection idle at least this long is pinged before use.
const IDLE_PING_AFTER: Duration = Duration::from_secs(5);

impl Connect {
    /// The pool settings every pool of this database shares: idle-only
    /// pings and the per-connection set-up.
    fn pool_options(&self) -> AnyPoolOptions {
        let (backend, schema) = (self.backend, self.schema.clone());
        AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(30))
            // sqlx pings every connection it hands out by default: one more
            // round trip before each inbox group, batch and fetch. A
            // connection used a moment ago is alive; one idle longer than
            // IDLE_PING_AFTER is pinged (and replaced if dead). A
            // connection that died in between fails its statement, which
            // the callers already survive (the webhook gets a 503 and the
            // provider retries; an inbox batch stays pending).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_PING_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _meta| {
                let schema = schema.clone();
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // A batch of accepts touches a few hundred
                            // pages all over the indexes; with SQLite's
                            // default 2 MiB cache per connection they were
                            // read again from the file (a system call
                            // each, ~3 per accept) batch after batch. The
                            // cache only grows as pages are read.
                            conn.execute("PRAGMA cache_size = -65536").await?;
                            // A connection's cache is emptied whenever another
                            // one has written (each engine round, each batch),
                            // and every page was then read again by a system
                            // call and copied; mapped, a page is read in place.
                            conn.execute("PRAGMA mmap_size = 1073741824").await?;
                        }
                        Backend::Postgres => {
                            if let Some(schema) = schema {
                                conn.execute(sql(format!("SET search_path TO \"{schema}\"")))
                                    .await?;
                            }
                        }
                    }
                    Ok(())
                })
            })
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

impl Db {
    /// Connects to `url`: `sqlite://path?mode=rwc` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects; on PostgreSQL with `schema` given, every connection uses
    /// that schema (created if missing). Tests use one schema each.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<Db, StoreError> {
        Self::connect_with(url, schema, None).await
    }

    /// Connects with at most `connections` connections (default: 8 on
    /// SQLite, 16 on PostgreSQL). One SQLite connection suits a sequential
    /// driver (the simulation): SQLite drops a connection's page cache
    /// whenever another connection has written, and the pool hands out its
    /// least recently used connection, so with several each statement
    /// after a write read its pages again. With one, the dedicated pools
    /// ([`Db::dedicated`]) share it too.
    pub async fn connect_with(
        url: &str,
        schema: Option<&str>,
        connections: Option<u32>,
    ) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let redacted = redact(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url {
                url: redacted,
                reason: "expected sqlite:… or postgres://…".into(),
            });
        };
        let options = AnyConnectOptions::from_str(url).map_err(|e| StoreError::Url {
            url: redacted.clone(),
            reason: e.to_string(),
        })?;
        if let Some(s) = schema
            && (s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        {
            return Err(StoreError::Url {
                url: redacted,
                reason: format!("schema `{s}` must be [a-z0-9_]+"),
            });
        }
        let schema = schema.map(str::to_string);
        if let (Backend::Postgres, Some(schema)) = (backend, &schema) {
            let mut conn = <AnyConnection as sqlx::Connection>::connect_with(&options)
                .await
                .map_err(|source| StoreError::Connect {
                    url: redacted.clone(),
                    source,
                })?;
            conn.execute(sql(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")))
                .await?;
        }
        let connect = std::sync::Arc::new(Connect {
            options,
            backend,
            schema,
        });
        let pool = connect
            .pool_options()
            .max_connections(
                connections
                    .unwrap_or(match backend {
                        Backend::Sqlite => 8,
                        Backend::Postgres => 16,
                    })
                    .max(1),
            )
            .connect_with(connect.options.clone())
            .await
            .map_err(|source| StoreError::Connect {
                url: redacted,
                source,
            })?;
        let write_gate =
            (backend == Backend::Sqlite).then(|| std::sync::Arc::new(tokio::sync::Mutex::new(())));
        let kept = (backend == Backend::Sqlite && pool.options().get_max_connections() == 1)
            .then(connection::Kept::default);
        Ok(Db {
            pool,
            backend,
            write_gate,
            growth: std::sync::Arc::new(Growth::new()),
            connect,
            kept,
        })
    }

    /// The same database through a pool of its own, of at most
    /// `connections` (opened on first use), sharing this one's write gate
    /// and growth count. For a hot path that should always find its
    /// connections warm: each connection keeps its own prepared
    /// statements and caches (PostgreSQL's plans and catalog caches,
    /// SQLite's page cache), and the shared pool hands its idle
    /// connections out first in, first out, so under mixed traffic every
    /// connection ran every statement, and each prepared it cold once
    /// (~100 prepares in the first half second of a load, session 12).
    /// On SQLite a page cache is also dropped whenever another connection
    /// wrote, so one writer on one connection keeps its cache. A SQLite
    /// database connected with one connection hands out that one.
    pub fn dedicated(&self, connections: u32) -> Db {
        if self.kept.is_some() {
            return self.clone();
        }
        let pool = self
            .connect
            .pool_options()
            .max_connections(connections.max(1))
            .connect_lazy_with(self.connect.options.clone());
        Db {
            pool,
            backend: self.backend,
            write_gate: self.write_gate.clone(),
            growth: self.growth.clone(),
            connect: self.connect.clone(),
            kept: None,
        }
    }

    /// Applies the migrations of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut c = self.acquire().await?;
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&mut *c).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&mut *c).await?,
        }
        Ok(())
    }

    /// The dialect.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for reads outside a transaction. A one-connection SQLite
    /// database keeps its connection out of it: use [`Db::acquire`].
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a write transaction. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`) so a read-then-write transaction never
    /// fails on lock upgrade; concurrent writers wait on busy_timeout.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let gate = self.wait_for_write_gate().await;
        let inner = match (&self.kept, self.backend) {
            (Some(kept), _) => {
                let conn = kept.lock(&self.pool).await?;
                connection::TxConnection::begin_kept(conn, "BEGIN IMMEDIATE").await?
            }
            (None, Backend::Sqlite) => {
                connection::TxConnection::Pool(self.pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            (None, Backend::Postgres) => connection::TxConnection::Pool(self.pool.begin().await?),
        };
        Ok(Tx {
            inner,
            deferred: deferred::Deferred::default(),
            after_commit: Vec::new(),
            _gate: gate,
        })
    }

    /// A connection for one writing statement, behind the write gate
    /// (see [`SoleWrite`]).
    pub async fn sole_write(&self) -> Result<SoleWrite, StoreError> {
        let gate = self.wait_for_write_gate().await;
        Ok(SoleWrite {
            conn: self.acquire().await?,
            _gate: gate,
        })
    }

    /// SQLite's write gate once this writer's turn comes; `None` on
    /// PostgreSQL (row locks order its writers).
    async fn wait_for_write_gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    /// `FOR UPDATE` on PostgreSQL, nothing on SQLite (whose write
    /// transaction already excludes other writers).
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// `FOR UPDATE OF e` on PostgreSQL (lock the enrollment rows of a
    /// join aliased `e`), nothing on SQLite.
    pub fn for_update_of_enrollments(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE OF e",
        }
    }

    /// Refreshes the planner's statistics of the tables matching reads
    /// (`ANALYZE` on PostgreSQL, `PRAGMA optimize` on SQLite). Run after a
    /// bulk change (a large import, a re-key): until autovacuum gets to
    /// it, PostgreSQL plans a table that grew from empty as if it were
    /// tiny, and scans it for every batch of accept signals.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        let statement = match self.backend {
            Backend::Sqlite => "PRAGMA optimize",
            Backend::Postgres => "ANALYZE prospects, match_keys, enrollments",
        };
        let mut c = self.acquire().await?;
        sqlx::query(statement).execute(&mut *c).await?;
        Ok(())
    }

    /// Counts `rows` more inbox rows processed. On PostgreSQL, each time
    /// the count quadruples (from 1,000) the statistics of the tables the
    /// write path both grows and reads by join (the inbox, the jobs) are
    /// refreshed in the background. PostgreSQL keeps using a statement's
    /// cached generic plan until the statistics of a table it reads
    /// change; one made while the inbox was nearly empty joins it by
    /// scanning it whole, and kept doing so as it grew to thousands of
    /// rows, until autovacuum, if it runs at all, analyzed it (a
    /// batch's writes took 2.5 times as long in the bench). A handful of
    /// ANALYZEs over a table's first growth prevent that.
    pub fn note_growth(&self, rows: u64) {
        if self.backend != Backend::Postgres || !self.growth.grew(rows) {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(e) = analyze_write_path(&pool).await {
                tracing::warn!(error = %e, "refreshing the write path's statistics failed; autovacuum will");
            }
        });
    }

    /// [`Db::refresh_statistics`] in the background (the caller's answer
    /// does not wait for it); a failure is logged.
    pub fn refresh_statistics_soon(&self) {
        let db = self.clone();
        tokio::spawn(async move {
            if let Err(e) = db.refresh_statistics().await {
                tracing::warn!(error = %e, "refreshing planner statistics failed; autovacuum will");
            }
        });
    }

    /// A connection of the pool, for statements outside a transaction.
    pub async fn acquire(&self) -> Result<PooledConnection, StoreError> {
        Ok(match &self.kept {
            Some(kept) => PooledConnection::kept(kept.lock(&self.pool).await?),
            None => PooledConnection::pooled(self.pool.acquire().await?),
        })
    }

    /// Closes the pool: waits for the connections in use to come back.
    pub async fn close(&self) {
        if let Some(kept) = &self.kept {
            kept.close().await;
        }
        self.pool.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.acquire().await?;
        sqlx::query("SELECT 1").execute(&mut *c).await?;
        Ok(())
    }
}

/// `ANALYZE` of the inbox and the jobs on a small sample (3,000 rows a
/// table instead of 30,000): what the plans need from it is the tables'
/// size, and a full sample cost ~100 ms of the server each time.
async fn analyze_write_path(pool: &AnyPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    tx.execute("SET LOCAL default_statistics_target = 10")
        .await?;
    tx.execute("ANALYZE webhook_inbox, campaign_send_jobs")
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `FOR UPDATE` on a PostgreSQL connection, nothing on SQLite (whose
/// write transaction already excludes other writers): for statements that
/// get only the connection, not the [`Db`].
pub fn for_update_on(c: &AnyConnection) -> &'static str {
    if c.backend_name() == "SQLite" {
        ""
    } else {
        " FOR UPDATE"
    }
}

/// `columns` (a `COLUMNS` list: "a, b, c") each qualified by `alias`.
pub(crate) fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$n, $n+1, …` placeholders for an IN list of `count` values.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, …, $cols), ($cols+1, …), …` for a multi-row VALUES list.
pub fn placeholders_rows(rows: usize, cols: usize) -> String {
    values_rows(rows, 1, &format!("({})", vec!["?"; cols].join(", ")))
}

/// A multi-row VALUES list: `rows` copies of the template `row`, whose
/// `?` marks become `$first, $first+1, …` across the whole list (constants
/// and casts in the template stay as written).
pub fn values_rows(rows: usize, first: usize, row: &str) -> String {
    let mut next = first;
    let mut out = String::with_capacity(rows * (row.len() + 8));
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        for part in row.split_inclusive('?') {
            match part.strip_suffix('?') {
                Some(text) => {
                    out.push_str(text);
                    out.push('$');
                    out.push_str(&next.to_string());
                    next += 1;
                }
                None => out.push_str(part),
            }
        }
    }
    out
}

/// [`sql`] for a statement with many parameters, on the connection that
/// runs it. On SQLite, `$1, $2, …` that appear once each in ascending
/// order become bare `?`: sqlx finds a numbered parameter's slot with
/// `sqlite3_bind_parameter_name`, a linear scan per bind (quadratic in
/// a multi-row statement's hundreds of parameters: 11 % of processing
/// time), while bare ones bind in order. Any other shape is left as is.
pub fn sql_for(c: &AnyConnection, statement: String) -> sqlx::AssertSqlSafe<String> {
    if c.backend_name() != "SQLite" {
        return sql(statement);
    }
    sql(positional(&statement).unwrap_or(statement))
}

/// `statement` with `$1, $2, …` (ascending, each once) as `?`, or `None`.
fn positional(statement: &str) -> Option<String> {
    let mut out = String::with_capacity(statement.len());
    let mut expected = 1u64;
    let mut rest = statement;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let n: u64 = rest[at + 1..at + 1 + digits].parse().ok()?;
        if n != expected {
            return None;
        }
        expected += 1;
        out.push('?');
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    Some(out)
}

/// The database's plan for `statement` with `binds` (`EXPLAIN` on
/// PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite), one line per node: tests
/// hold the hot selections to their indexes.
pub(crate) async fn explain(
    c: &mut AnyConnection,
    statement: &str,
    binds: &[i64],
) -> Result<String, StoreError> {
    use sqlx::Row as _;
    let sqlite = c.backend_name() == "SQLite";
    let explain = if sqlite {
        "EXPLAIN QUERY PLAN"
    } else {
        "EXPLAIN"
    };
    let mut q = sqlx::query(sql(format!("{explain} {statement}")));
    for b in binds {
        q = q.bind(*b);
    }
    let rows = q.fetch_all(c).await?;
    let column = if sqlite { 3 } else { 0 };
    let mut plan = String::new();
    for row in rows {
        let line: String = row.try_get(column)?;
        plan.push_str(&line);
        plan.push('\n');
    }
    Ok(plan)
}

/// Marks a statement assembled with `format!` as safe. Only constant
/// column lists and generated `$n` placeholders are ever interpolated;
/// every value is bound.
pub fn sql(statement: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(statement)
}

#[cfg(test)]
mod tests {
    #[test]
    fn growth_refreshes_at_1000_then_each_fourfold() {
        let g = super::Growth::new();
        assert!(!g.grew(999));
        assert!(g.grew(1));
        assert!(!g.grew(2_999));
        assert!(g.grew(1));
        assert!(!g.grew(11_999));
        assert!(g.grew(1));
        // A jump past several thresholds refreshes once, then waits for
        // four times the count it reached.
        assert!(g.grew(100_000));
        assert!(!g.grew(300_000));
        assert!(g.grew(100_000));
    }

    use super::positional;

    #[test]
    fn ascending_numbered_parameters_become_positional() {
        assert_eq!(
            positional("INSERT INTO t VALUES ($1, $2), ($3, 'x')").as_deref(),
            Some("INSERT INTO t VALUES (?, ?), (?, 'x')")
        );
        assert_eq!(positional("SELECT 1").as_deref(), Some("SELECT 1"));
    }

    #[test]
    fn values_rows_number_the_marks_across_rows() {
        assert_eq!(
            super::values_rows(2, 2, "(?, CAST(? AS BIGINT), 'x')"),
            "($2, CAST($3 AS BIGINT), 'x'), ($4, CAST($5 AS BIGINT), 'x')"
        );
        assert_eq!(super::placeholders_rows(2, 2), "($1, $2), ($3, $4)");
    }

    #[test]
    fn repeated_or_unordered_parameters_are_left_alone() {
        assert_eq!(positional("SET a = $1, b = $1"), None);
        assert_eq!(positional("SET a = $2, b = $1"), None);
        assert_eq!(positional("SET a = $"), None);
    }
}
