//! Rows a transaction appends or settles but never reads back, written
//! together just before COMMIT: one multi-row statement per table and
//! chunk instead of one round trip per row (a batch of 32 accepts writes
//! ~100 such rows). Up to a bound they all go in one call: on PostgreSQL
//! one statement, each table's part a data-modifying CTE (one round trip
//! for the lot); on SQLite one script of statements (one hand-off to its
//! worker thread).

use super::arrays::{
    AnyQuery, Shape, insert_rows, int_array, is_postgres, shape, text_array, unnest,
};
use super::inbox::Finished;
use super::outbox::NewOutbox;
use super::{StoreError, decisions, events, sql_for, traces, values_rows};
use crate::clock::Millis;
use sqlx::AnyConnection;

/// Rows per statement: far under SQLite's 32,766 bound variables and
/// PostgreSQL's 65,535 at nine columns a row.
const CHUNK: usize = 200;

/// Most parameters of the single call (under SQLite's 32,766 and
/// PostgreSQL's 65,535 bound variables); a larger set of rows goes table
/// by table, in chunks.
const MAX_TOGETHER: usize = 30_000;

/// The appends waiting for commit.
#[derive(Default)]
pub(crate) struct Deferred {
    pub(crate) events: Vec<events::Event>,
    pub(crate) traces: Vec<traces::Trace>,
    pub(crate) outbox: Vec<NewOutbox>,
    pub(crate) decisions: Vec<decisions::DecisionRow>,
    /// Inbox rows whose processing this transaction records, and when.
    pub(crate) finished: Vec<Finished>,
    pub(crate) finished_at: Millis,
}

impl Deferred {
    /// Writes everything: in one call when it fits, otherwise inbox
    /// outcomes → events → traces → outbox, a statement per table and
    /// chunk.
    pub(crate) async fn write(self, c: &mut AnyConnection) -> Result<(), StoreError> {
        let postgres = is_postgres(c);
        let (parts, parameters) = self.parts(postgres);
        if parts.is_empty() {
            return Ok(());
        }
        if parameters <= MAX_TOGETHER {
            return self.write_together(c, postgres, parts).await;
        }
        for chunk in self.finished.chunks(CHUNK) {
            let q = sqlx::query(sql_for(c, finish_sql(shape(postgres, chunk.len()), 1)));
            bind_finished(q, chunk, self.finished_at, postgres)
                .execute(&mut *c)
                .await?;
        }
        for chunk in self.events.chunks(CHUNK) {
            events::insert(c, chunk).await?;
        }
        for chunk in self.traces.chunks(CHUNK) {
            traces::insert(c, chunk).await?;
        }
        for chunk in self.outbox.chunks(CHUNK) {
            insert_outbox(c, chunk).await?;
        }
        decisions::insert(c, &self.decisions).await?;
        Ok(())
    }

    /// The single call's parts, each a named statement, their parameters
    /// numbered across the parts; and how many parameters they bind. On
    /// PostgreSQL the deliveries select from the outbox part's
    /// `RETURNING`; on SQLite they select the new outbox ids (bound again).
    fn parts(&self, postgres: bool) -> (Vec<(&'static str, String)>, usize) {
        let mut parts = Vec::new();
        let mut next = 1;
        // Parameters a part of `rows` rows of `columns` binds.
        let width = |rows: usize, columns: usize| if postgres { columns } else { rows * columns };
        if !self.finished.is_empty() {
            let rows = shape(postgres, self.finished.len());
            parts.push(("f", finish_sql(rows, next)));
            next += 1 + width(self.finished.len(), 3);
        }
        if !self.events.is_empty() {
            parts.push((
                "e",
                events::insert_sql(shape(postgres, self.events.len()), next),
            ));
            next += width(self.events.len(), 9);
        }
        if !self.traces.is_empty() {
            parts.push((
                "t",
                traces::insert_sql(shape(postgres, self.traces.len()), next),
            ));
            next += width(self.traces.len(), 9);
        }
        if !self.decisions.is_empty() {
            parts.push((
                "p",
                decisions::insert_sql(shape(postgres, self.decisions.len()), next),
            ));
            next += width(self.decisions.len(), decisions::WIDTH);
        }
        if !self.outbox.is_empty() {
            let insert = outbox_sql(shape(postgres, self.outbox.len()), next);
            next += width(self.outbox.len(), 6);
            if postgres {
                let returning = format!("{insert} RETURNING id, workspace_id, created_at");
                parts.push(("o", returning));
                let deliveries =
                    format!("{DELIVERIES} FROM o {DELIVERIES_JOIN} ON CONFLICT DO NOTHING");
                parts.push(("d", deliveries));
            } else {
                parts.push(("o", insert));
                parts.push(("d", deliveries_sql(self.outbox.len(), next)));
                next += self.outbox.len();
            }
        }
        (parts, next - 1)
    }

    /// Everything in one call. PostgreSQL: each part a data-modifying CTE
    /// of one statement (each runs exactly once, to completion, whether or
    /// not it is read): one round trip. SQLite: the parts as one script of
    /// statements (sqlx binds each statement's parameters in turn): one
    /// hand-off to its worker thread. Either way an outbox row whose dedupe
    /// key existed gets no delivery, as in the per-table path.
    async fn write_together(
        self,
        c: &mut AnyConnection,
        postgres: bool,
        mut parts: Vec<(&'static str, String)>,
    ) -> Result<(), StoreError> {
        let statement = if postgres {
            let Some((_, last)) = parts.pop() else {
                return Ok(());
            };
            let with: Vec<String> = parts
                .iter()
                .map(|(name, part)| format!("{name} AS ({part})"))
                .collect();
            if with.is_empty() {
                last
            } else {
                format!("WITH {} {last}", with.join(", "))
            }
        } else {
            let script: Vec<&str> = parts.iter().map(|(_, part)| part.as_str()).collect();
            script.join(";\n")
        };
        let mut q = sqlx::query(sql_for(c, statement));
        if !self.finished.is_empty() {
            q = bind_finished(q, &self.finished, self.finished_at, postgres);
        }
        if !self.events.is_empty() {
            q = events::bind_rows(q, &self.events, postgres);
        }
        if !self.traces.is_empty() {
            q = traces::bind_rows(q, &self.traces, postgres);
        }
        if !self.decisions.is_empty() {
            q = decisions::bind_rows(q, &self.decisions, postgres);
        }
        if !self.outbox.is_empty() {
            q = bind_outbox(q, &self.outbox, postgres);
        }
        if !postgres {
            q = self.outbox.iter().fold(q, |q, r| q.bind(&r.id));
        }
        q.execute(c).await?;
        Ok(())
    }
}

/// Records inbox outcomes: `processed_at` is `$first`, the rows follow.
/// Every pass counts an attempt, but only a row without an outcome gets
/// one: a row processed again (a replay, or a second instance) keeps the
/// outcome of its first processing.
fn finish_sql(shape: Shape, first: usize) -> String {
    let source = match shape {
        Shape::Values(rows) => format!(
            "(VALUES {}) AS v",
            values_rows(rows, first + 1, "(?, ?, ?)")
        ),
        Shape::Arrays => unnest(first + 1, &["text", "text", "text"]),
    };
    format!(
        "UPDATE webhook_inbox SET \
         status = CASE WHEN webhook_inbox.outcome IS NULL THEN v.column2 ELSE webhook_inbox.status END, \
         outcome = COALESCE(webhook_inbox.outcome, v.column3), error = NULL, \
         processed_at = CASE WHEN webhook_inbox.outcome IS NULL THEN ${first} ELSE webhook_inbox.processed_at END, \
         attempts = webhook_inbox.attempts + 1 FROM {source} WHERE webhook_inbox.id = v.column1"
    )
}

fn bind_finished<'q>(
    q: AnyQuery<'q>,
    rows: &[Finished],
    at: Millis,
    postgres: bool,
) -> AnyQuery<'q> {
    let q = q.bind(at);
    if postgres {
        let outcomes: Vec<String> = rows.iter().map(|r| r.outcome.to_string()).collect();
        return q
            .bind(text_array(rows.iter().map(|r| Some(r.id.as_str()))))
            .bind(text_array(rows.iter().map(|r| Some(r.status))))
            .bind(text_array(outcomes.iter().map(|o| Some(o.as_str()))));
    }
    rows.iter().fold(q, |q, r| {
        q.bind(&r.id).bind(r.status).bind(r.outcome.to_string())
    })
}

fn outbox_sql(shape: Shape, first: usize) -> String {
    format!(
        "INSERT INTO outbox (id, workspace_id, event_type, dedupe_key, payload, created_at) {} ON CONFLICT DO NOTHING",
        insert_rows(
            shape,
            first,
            "(?, ?, ?, ?, ?, ?)",
            &["text", "text", "text", "text", "text", "bigint"]
        )
    )
}

fn bind_outbox<'q>(q: AnyQuery<'q>, rows: &[NewOutbox], postgres: bool) -> AnyQuery<'q> {
    if postgres {
        let text = |f: fn(&NewOutbox) -> &str| text_array(rows.iter().map(|r| Some(f(r))));
        return q
            .bind(text(|r| &r.id))
            .bind(text(|r| &r.workspace_id))
            .bind(text(|r| &r.event_type))
            .bind(text(|r| &r.dedupe_key))
            .bind(text(|r| &r.payload))
            .bind(int_array(rows.iter().map(|r| Some(r.created_at))));
    }
    rows.iter().fold(q, |q, r| {
        q.bind(&r.id)
            .bind(&r.workspace_id)
            .bind(&r.event_type)
            .bind(&r.dedupe_key)
            .bind(&r.payload)
            .bind(r.created_at)
    })
}

/// One delivery per enabled endpoint of the outbox row's workspace. The
/// delivery id is the outbox id and the endpoint id: unique, and in
/// creation order like the outbox ids (UUIDv7).
const DELIVERIES: &str = "INSERT INTO outbox_deliveries (id, outbox_id, endpoint_id, status, attempts, next_attempt_at, created_at) \
     SELECT o.id || '.' || n.id, o.id, n.id, 'pending', 0, o.created_at, o.created_at";
const DELIVERIES_JOIN: &str =
    "JOIN notification_endpoints n ON n.workspace_id = o.workspace_id AND n.enabled = 1";

/// The deliveries of the outbox rows whose ids are `$first`, … (those
/// just inserted: a skipped row's id is not in the table).
fn deliveries_sql(rows: usize, first: usize) -> String {
    format!(
        "{DELIVERIES} FROM outbox o {DELIVERIES_JOIN} WHERE o.id IN ({}) ON CONFLICT DO NOTHING",
        super::placeholders(first, rows)
    )
}

/// The rows, then their deliveries in one INSERT … SELECT over the
/// workspaces' enabled endpoints. A row whose dedupe key already exists is
/// skipped, and so are its deliveries (they select on the new ids only).
async fn insert_outbox(c: &mut AnyConnection, rows: &[NewOutbox]) -> Result<(), StoreError> {
    let postgres = is_postgres(c);
    let q = sqlx::query(sql_for(c, outbox_sql(shape(postgres, rows.len()), 1)));
    bind_outbox(q, rows, postgres).execute(&mut *c).await?;
    let q = sqlx::query(sql_for(c, deliveries_sql(rows.len(), 1)));
    rows.iter().fold(q, |q, r| q.bind(&r.id)).execute(c).await?;
    Ok(())
}
