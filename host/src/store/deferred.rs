//! Rows a transaction appends but never reads back, written together just
//! before COMMIT: one multi-row INSERT per table and chunk instead of one
//! round trip per row (a batch of 32 accepts writes ~100 such rows).

use super::events::EventRow;
use super::outbox::NewOutbox;
use super::traces::TraceRow;
use super::{StoreError, placeholders_rows, sql_for};
use sqlx::AnyConnection;

/// Rows per statement: far under SQLite's 32,766 bound variables and
/// PostgreSQL's 65,535 at nine columns a row.
const CHUNK: usize = 200;

/// The appends waiting for commit.
#[derive(Default)]
pub(crate) struct Deferred {
    pub(crate) events: Vec<EventRow>,
    pub(crate) traces: Vec<TraceRow>,
    pub(crate) outbox: Vec<NewOutbox>,
}

impl Deferred {
    /// Writes everything, in the order events → traces → outbox.
    pub(crate) async fn write(self, c: &mut AnyConnection) -> Result<(), StoreError> {
        for chunk in self.events.chunks(CHUNK) {
            insert_events(c, chunk).await?;
        }
        for chunk in self.traces.chunks(CHUNK) {
            insert_traces(c, chunk).await?;
        }
        for chunk in self.outbox.chunks(CHUNK) {
            insert_outbox(c, chunk).await?;
        }
        Ok(())
    }
}

pub(crate) async fn insert_events(
    c: &mut AnyConnection,
    rows: &[EventRow],
) -> Result<(), StoreError> {
    let statement = format!(
        "INSERT INTO linkedin_events (id, workspace_id, linkedin_account_id, enrollment_id, kind, source, strategy, detail, occurred_at) VALUES {}",
        placeholders_rows(rows.len(), 9)
    );
    let mut q = sqlx::query(sql_for(c, statement));
    for r in rows {
        q = q
            .bind(&r.id)
            .bind(&r.workspace_id)
            .bind(&r.linkedin_account_id)
            .bind(&r.enrollment_id)
            .bind(&r.kind)
            .bind(&r.source)
            .bind(&r.strategy)
            .bind(&r.detail)
            .bind(r.occurred_at);
    }
    q.execute(c).await?;
    Ok(())
}

pub(crate) async fn insert_traces(
    c: &mut AnyConnection,
    rows: &[TraceRow],
) -> Result<(), StoreError> {
    let statement = format!(
        "INSERT INTO traces (id, workspace_id, linkedin_account_id, enrollment_id, kind, signal, detail, module_sha256, created_at) VALUES {}",
        placeholders_rows(rows.len(), 9)
    );
    let mut q = sqlx::query(sql_for(c, statement));
    for r in rows {
        q = q
            .bind(&r.id)
            .bind(&r.workspace_id)
            .bind(&r.linkedin_account_id)
            .bind(&r.enrollment_id)
            .bind(&r.kind)
            .bind(&r.signal)
            .bind(&r.detail)
            .bind(&r.module_sha256)
            .bind(r.created_at);
    }
    q.execute(c).await?;
    Ok(())
}

/// The rows, then their deliveries in one INSERT … SELECT over the
/// workspaces' enabled endpoints. A row whose dedupe key already exists is
/// skipped, and so are its deliveries (they select on the new ids only).
async fn insert_outbox(c: &mut AnyConnection, rows: &[NewOutbox]) -> Result<(), StoreError> {
    let statement = format!(
        "INSERT INTO outbox (id, workspace_id, event_type, dedupe_key, payload, created_at) VALUES {} ON CONFLICT DO NOTHING",
        placeholders_rows(rows.len(), 6)
    );
    let mut q = sqlx::query(sql_for(c, statement));
    for r in rows {
        q = q
            .bind(&r.id)
            .bind(&r.workspace_id)
            .bind(&r.event_type)
            .bind(&r.dedupe_key)
            .bind(&r.payload)
            .bind(r.created_at);
    }
    q.execute(&mut *c).await?;
    // The delivery id is the outbox id and the endpoint id: unique, and in
    // creation order like the outbox ids (UUIDv7).
    let statement = format!(
        "INSERT INTO outbox_deliveries (id, outbox_id, endpoint_id, status, attempts, next_attempt_at, created_at) \
         SELECT o.id || '.' || n.id, o.id, n.id, 'pending', 0, o.created_at, o.created_at \
         FROM outbox o JOIN notification_endpoints n ON n.workspace_id = o.workspace_id AND n.enabled = 1 \
         WHERE o.id IN ({}) ON CONFLICT DO NOTHING",
        super::placeholders(1, rows.len())
    );
    let mut q = sqlx::query(sql_for(c, statement));
    for r in rows {
        q = q.bind(&r.id);
    }
    q.execute(c).await?;
    Ok(())
}
