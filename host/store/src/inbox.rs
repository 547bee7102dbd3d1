//! The webhook inbox: every delivery, raw, before the 200.

use super::StoreError;
use crate::clock::{Millis, new_id};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// An inbox row.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct InboxRow {
    /// Id.
    pub id: String,
    /// Deduplication key: `relation:<account>:<member>`, `message:<id>`, ….
    pub natural_key: String,
    /// Event name.
    pub event: String,
    /// The raw body.
    pub body: String,
    /// Received, ms.
    pub received_at: i64,
    /// `pending`, `processed`, `ignored`, `failed`.
    pub status: String,
    /// Processing attempts.
    pub attempts: i64,
    /// Outcome summary JSON.
    pub outcome: Option<String>,
    /// Last error.
    pub error: Option<String>,
    /// Processed, ms.
    pub processed_at: Option<i64>,
}

const COLUMNS: &str =
    "id, natural_key, event, body, received_at, status, attempts, outcome, error, processed_at";

/// A delivery to store, id assigned.
#[derive(Debug, Clone)]
pub struct NewInboxRow {
    /// Id (UUIDv7).
    pub id: String,
    /// Deduplication key.
    pub natural_key: String,
    /// Event name.
    pub event: String,
    /// The raw body.
    pub body: String,
    /// Received, ms.
    pub received_at: Millis,
}

impl NewInboxRow {
    /// A row with a fresh id.
    pub fn new(natural_key: &str, event: &str, body: &str, received_at: Millis) -> Self {
        NewInboxRow {
            id: new_id(),
            natural_key: natural_key.to_string(),
            event: event.to_string(),
            body: body.to_string(),
            received_at,
        }
    }

    /// The row as stored: pending, never attempted.
    pub fn as_pending(&self) -> InboxRow {
        InboxRow {
            id: self.id.clone(),
            natural_key: self.natural_key.clone(),
            event: self.event.clone(),
            body: self.body.clone(),
            received_at: self.received_at,
            status: "pending".into(),
            attempts: 0,
            outcome: None,
            error: None,
            processed_at: None,
        }
    }
}

/// Stores deliveries: in one statement on PostgreSQL (its rows bound as
/// arrays), one per 500 rows on SQLite (its parameter bound). Returns the
/// ids stored (a row whose natural key exists, or repeats one earlier in
/// `rows`, is not).
pub async fn insert_many(
    c: &mut AnyConnection,
    rows: &[&NewInboxRow],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut stored = std::collections::HashSet::with_capacity(rows.len());
    let postgres = super::arrays::is_postgres(c);
    let per_statement = if postgres { rows.len().max(1) } else { 500 };
    for chunk in rows.chunks(per_statement) {
        let values = if postgres {
            let source = super::arrays::unnest(1, &["text", "text", "text", "text", "bigint"]);
            format!(
                "SELECT v.column1, v.column2, v.column3, v.column4, v.column5, 'pending', 0 FROM {source}"
            )
        } else {
            let list = super::values_rows(chunk.len(), 1, "(?, ?, ?, ?, ?, 'pending', 0)");
            format!("VALUES {list}")
        };
        let statement = format!(
            "INSERT INTO webhook_inbox (id, natural_key, event, body, received_at, status, attempts) {values} \
             ON CONFLICT DO NOTHING RETURNING id"
        );
        let q = sqlx::query_as::<_, (String,)>(super::sql_for(c, statement));
        let q = if postgres {
            use super::arrays::{int_array, text_array};
            let text = |f: fn(&NewInboxRow) -> &str| text_array(chunk.iter().map(|r| Some(f(r))));
            q.bind(text(|r| &r.id))
                .bind(text(|r| &r.natural_key))
                .bind(text(|r| &r.event))
                .bind(text(|r| &r.body))
                .bind(int_array(chunk.iter().map(|r| Some(r.received_at))))
        } else {
            chunk.iter().fold(q, |q, r| {
                q.bind(&r.id)
                    .bind(&r.natural_key)
                    .bind(&r.event)
                    .bind(&r.body)
                    .bind(r.received_at)
            })
        };
        stored.extend(q.fetch_all(&mut *c).await?.into_iter().map(|(id,)| id));
    }
    Ok(stored)
}

/// Pending rows, oldest first.
pub async fn pending(c: &mut AnyConnection, limit: i64) -> Result<Vec<InboxRow>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM webhook_inbox WHERE status = 'pending' ORDER BY received_at, id LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Which rows a transaction may claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Rows still pending (the processor).
    Pending,
    /// Rows in any state (a replay runs failed and processed rows again;
    /// their recorded outcome stays), waiting for a row another
    /// transaction holds instead of skipping it.
    Replay,
}

/// Claims the rows `ids` for the caller's transaction: returns those it
/// may process. On PostgreSQL each is locked until the transaction ends,
/// by the processor `FOR UPDATE SKIP LOCKED`, so a row another instance
/// (or lane) holds is left to it, and a row processed since it was read
/// is no longer pending; on SQLite the write transaction already
/// excludes every other writer, and the status is read again under it.
pub async fn claim(
    c: &mut AnyConnection,
    ids: &[&str],
    claim: Claim,
) -> Result<std::collections::HashSet<String>, StoreError> {
    if ids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let postgres = super::arrays::is_postgres(c);
    let (in_ids, _) = super::arrays::in_texts(postgres, 1, ids.len());
    let (pending, lock) = match claim {
        Claim::Pending => (" AND status = 'pending'", " FOR UPDATE SKIP LOCKED"),
        Claim::Replay => ("", " FOR UPDATE"),
    };
    let lock = if postgres { lock } else { "" };
    let statement = format!("SELECT id FROM webhook_inbox WHERE id {in_ids}{pending}{lock}");
    let q = sqlx::query_as::<_, (String,)>(super::sql_for(c, statement));
    let q = super::arrays::bind_texts(q, postgres, ids);
    Ok(q.fetch_all(c).await?.into_iter().map(|(id,)| id).collect())
}

/// Rows to replay: pending and failed ones, or every row with `all`.
pub async fn replayable(
    c: &mut AnyConnection,
    all: bool,
    after: &str,
    limit: i64,
) -> Result<Vec<InboxRow>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM webhook_inbox WHERE ($1 = 1 OR status IN ('pending', 'failed')) AND id > $2 \
         ORDER BY id LIMIT $3"
    )))
    .bind(i64::from(all))
    .bind(after)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// A row by id.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<InboxRow>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM webhook_inbox WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// Records a failed attempt at a row (`pending` to retry, or `failed`),
/// unless its outcome was recorded meanwhile (another instance
/// processed it, or it was processed before a replay): an outcome is
/// never overwritten.
pub async fn finish(
    c: &mut AnyConnection,
    id: &str,
    status: &str,
    outcome: Option<&serde_json::Value>,
    error: Option<&str>,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_inbox SET status = $1, outcome = $2, error = $3, processed_at = $4, attempts = attempts + 1 \
         WHERE id = $5 AND outcome IS NULL",
    )
    .bind(status)
    .bind(outcome.map(|o| o.to_string()))
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// The outcome of one processed row, recorded at commit by
/// [`super::Tx::defer_inbox_finish`].
#[derive(Debug, Clone)]
pub struct Finished {
    /// The row.
    pub id: String,
    /// `processed` or `ignored`.
    pub status: &'static str,
    /// Outcome summary.
    pub outcome: serde_json::Value,
}

/// Counts rows by status.
pub async fn count(c: &mut AnyConnection, status: &str) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_inbox WHERE status = $1")
        .bind(status)
        .fetch_one(c)
        .await?;
    Ok(n)
}

/// The outcome and processing time of `event` rows processed from `at`
/// on, oldest first.
pub async fn processed_since(
    c: &mut AnyConnection,
    event: &str,
    at: Millis,
) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT outcome, processed_at FROM webhook_inbox WHERE event = $1 \
         AND status = 'processed' AND processed_at >= $2 ORDER BY processed_at",
    )
    .bind(event)
    .bind(at)
    .fetch_all(c)
    .await?)
}
