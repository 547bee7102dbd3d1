//! The decision log (`policy_decisions`): what each policy decided, on
//! which input, by which module, in which mode. An active decision is
//! written with the state change it caused (deferred to commit like the
//! audit rows); a shadow decision is written by the shadow worker alone.

use super::arrays::{AnyQuery, Shape, insert_rows, int_array, is_postgres, shape, text_array};
use super::{StoreError, sql_for};
use crate::clock::Millis;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// One logged decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct DecisionRow {
    /// Id (time-ordered).
    pub id: String,
    /// When the policy decided, ms.
    pub decided_at: i64,
    /// The workspace the decision was for.
    pub workspace_id: String,
    /// `match`, `routing` or `preflight`.
    pub slot: String,
    /// `resolve`, `route` or `preflight`.
    pub call: String,
    /// sha256 of the module that decided.
    pub module_sha256: String,
    /// `active` (it changed state) or `shadow` (it changed nothing).
    pub mode: String,
    /// The call's input as JSON, in the envelope `accord policy run` reads.
    pub input: String,
    /// The decision as JSON (the fail-safe default when `error_kind` is set).
    pub output: String,
    /// The decision in a few words (`enqueue`, `skip:campaign_paused`,
    /// `matched:invite-bridge`…), what agreement reports group by.
    pub summary: String,
    /// Why the policy's own answer was not used, when it was not.
    pub error_kind: Option<String>,
    /// Fuel the call used.
    pub fuel: i64,
    /// Wall time of the call, microseconds.
    pub duration_us: i64,
    /// The inbox row whose signal it decided, if one.
    pub inbox_id: Option<String>,
    /// The enrollment it concerned, if one.
    pub enrollment_id: Option<String>,
    /// The job it enqueued, if one.
    pub job_id: Option<String>,
    /// For a shadow decision: the active decision it ran beside.
    pub active_id: Option<String>,
    /// For a shadow decision: the active decision's summary.
    pub active_summary: Option<String>,
    /// For a shadow decision: 1 when it agreed with the active one.
    pub agrees: Option<i32>,
}

const COLUMNS: &str = "id, decided_at, workspace_id, slot, call, module_sha256, mode, input, output, summary, \
     error_kind, fuel, duration_us, inbox_id, enrollment_id, job_id, active_id, active_summary, agrees";

/// PostgreSQL's column types for the `unnest` insert, in [`COLUMNS`] order.
const TYPES: [&str; 19] = [
    "text", "bigint", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "bigint", "bigint", "text", "text", "text", "text", "text", "bigint",
];

/// Columns per row of the insert.
pub(crate) const WIDTH: usize = TYPES.len();

/// The multi-row insert, parameters from `$first`. A decision is logged
/// once: a row whose id exists is left alone.
pub(crate) fn insert_sql(shape: Shape, first: usize) -> String {
    let template = format!("({})", vec!["?"; WIDTH].join(", "));
    format!(
        "INSERT INTO policy_decisions ({COLUMNS}) {} ON CONFLICT (id) DO NOTHING",
        insert_rows(shape, first, &template, &TYPES)
    )
}

/// Binds the rows of [`insert_sql`].
pub(crate) fn bind_rows<'q>(q: AnyQuery<'q>, rows: &[DecisionRow], postgres: bool) -> AnyQuery<'q> {
    if postgres {
        let text = |f: fn(&DecisionRow) -> Option<&str>| text_array(rows.iter().map(f));
        let int = |f: fn(&DecisionRow) -> Option<i64>| int_array(rows.iter().map(f));
        return q
            .bind(text(|r| Some(&r.id)))
            .bind(int(|r| Some(r.decided_at)))
            .bind(text(|r| Some(&r.workspace_id)))
            .bind(text(|r| Some(&r.slot)))
            .bind(text(|r| Some(&r.call)))
            .bind(text(|r| Some(&r.module_sha256)))
            .bind(text(|r| Some(&r.mode)))
            .bind(text(|r| Some(&r.input)))
            .bind(text(|r| Some(&r.output)))
            .bind(text(|r| Some(&r.summary)))
            .bind(text(|r| r.error_kind.as_deref()))
            .bind(int(|r| Some(r.fuel)))
            .bind(int(|r| Some(r.duration_us)))
            .bind(text(|r| r.inbox_id.as_deref()))
            .bind(text(|r| r.enrollment_id.as_deref()))
            .bind(text(|r| r.job_id.as_deref()))
            .bind(text(|r| r.active_id.as_deref()))
            .bind(text(|r| r.active_summary.as_deref()))
            .bind(int(|r| r.agrees.map(i64::from)));
    }
    rows.iter().fold(q, |q, r| {
        q.bind(&r.id)
            .bind(r.decided_at)
            .bind(&r.workspace_id)
            .bind(&r.slot)
            .bind(&r.call)
            .bind(&r.module_sha256)
            .bind(&r.mode)
            .bind(&r.input)
            .bind(&r.output)
            .bind(&r.summary)
            .bind(&r.error_kind)
            .bind(r.fuel)
            .bind(r.duration_us)
            .bind(&r.inbox_id)
            .bind(&r.enrollment_id)
            .bind(&r.job_id)
            .bind(&r.active_id)
            .bind(&r.active_summary)
            .bind(r.agrees)
    })
}

/// Inserts rows now, in statements of at most `chunk` rows (the shadow
/// worker's path; active decisions go through [`super::Tx::defer_decision`]).
pub async fn insert(c: &mut AnyConnection, rows: &[DecisionRow]) -> Result<(), StoreError> {
    let postgres = is_postgres(c);
    // 19 columns: 100 rows stay far under SQLite's bound variables.
    for chunk in rows.chunks(100) {
        let q = sqlx::query(sql_for(c, insert_sql(shape(postgres, chunk.len()), 1)));
        bind_rows(q, chunk, postgres).execute(&mut *c).await?;
    }
    Ok(())
}

/// Which decisions a list, an export or a replay reads.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    /// One workspace.
    pub workspace_id: Option<String>,
    /// One slot.
    pub slot: Option<String>,
    /// `active` or `shadow`.
    pub mode: Option<String>,
    /// One module (sha256).
    pub module_sha256: Option<String>,
    /// One enrollment.
    pub enrollment_id: Option<String>,
    /// Decided at or after, ms.
    pub since: Option<Millis>,
    /// Decided before, ms.
    pub until: Option<Millis>,
}

/// Where a page starts: after this decision in the page's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last decision's time.
    pub decided_at: Millis,
    /// The last decision's id.
    pub id: String,
}

impl Cursor {
    /// The cursor after `row`.
    pub fn after(row: &DecisionRow) -> Cursor {
        Cursor {
            decided_at: row.decided_at,
            id: row.id.clone(),
        }
    }

    /// The opaque text form handed to clients: `<decided_at>.<id>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.decided_at, self.id)
    }

    /// From [`Cursor::encode`]'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Cursor> {
        let (at, id) = text.split_once('.')?;
        let decided_at = at.parse().ok()?;
        (!id.is_empty() && id.len() <= 64).then(|| Cursor {
            decided_at,
            id: id.to_string(),
        })
    }
}

/// The order of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Newest first (the API's list).
    NewestFirst,
    /// Oldest first (exports, replays, fixtures).
    OldestFirst,
}

/// One page of decisions matching `filter`, after `cursor`, at most `limit`.
pub async fn page(
    c: &mut AnyConnection,
    filter: &DecisionFilter,
    order: Order,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<DecisionRow>, StoreError> {
    let (after, direction) = match order {
        Order::NewestFirst => ("(decided_at < $8 OR (decided_at = $8 AND id < $9))", "DESC"),
        Order::OldestFirst => ("(decided_at > $8 OR (decided_at = $8 AND id > $9))", "ASC"),
    };
    let statement = format!(
        "SELECT {COLUMNS} FROM policy_decisions \
         WHERE ($1 IS NULL OR workspace_id = $1) AND ($2 IS NULL OR slot = $2) \
         AND ($3 IS NULL OR mode = $3) AND ($4 IS NULL OR module_sha256 = $4) \
         AND ($5 IS NULL OR enrollment_id = $5) \
         AND ($6 IS NULL OR decided_at >= $6) AND ($7 IS NULL OR decided_at < $7) \
         AND ($8 IS NULL OR {after}) \
         ORDER BY decided_at {direction}, id {direction} LIMIT $10"
    );
    Ok(sqlx::query_as(super::sql(statement))
        .bind(filter.workspace_id.as_deref())
        .bind(filter.slot.as_deref())
        .bind(filter.mode.as_deref())
        .bind(filter.module_sha256.as_deref())
        .bind(filter.enrollment_id.as_deref())
        .bind(filter.since)
        .bind(filter.until)
        .bind(cursor.map(|c| c.decided_at))
        .bind(cursor.map(|c| c.id.as_str()))
        .bind(limit)
        .fetch_all(c)
        .await?)
}

/// The newest `limit` decisions about an enrollment, newest first (its
/// own index range, whatever the log's size).
pub async fn of_enrollment(
    c: &mut AnyConnection,
    enrollment_id: &str,
    limit: i64,
) -> Result<Vec<DecisionRow>, StoreError> {
    let statement = format!(
        "SELECT {COLUMNS} FROM policy_decisions WHERE enrollment_id = $1 ORDER BY id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(super::sql(statement))
        .bind(enrollment_id)
        .bind(limit)
        .fetch_all(c)
        .await?)
}

/// One decision by id.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<DecisionRow>, StoreError> {
    let statement = format!("SELECT {COLUMNS} FROM policy_decisions WHERE id = $1");
    Ok(sqlx::query_as(super::sql(statement))
        .bind(id)
        .fetch_optional(c)
        .await?)
}

/// Deletes up to `limit` decisions made before `before`; returns how many
/// went (the retention tick calls it until a round deletes fewer).
pub async fn prune(c: &mut AnyConnection, before: Millis, limit: i64) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM policy_decisions WHERE id IN \
         (SELECT id FROM policy_decisions WHERE decided_at < $1 ORDER BY decided_at LIMIT $2)",
    )
    .bind(before)
    .bind(limit)
    .execute(c)
    .await?;
    Ok(done.rows_affected())
}

/// One group of a shadow report: how often the active module decided
/// `active_summary` while the shadow decided `shadow_summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct ShadowGroup {
    /// The active decision, in a few words.
    pub active_summary: String,
    /// The shadow decision, in a few words.
    pub shadow_summary: String,
    /// 1 when these agree.
    pub agrees: i32,
    /// How many shadow calls failed (took the fail-safe default) in the group.
    pub errors: i64,
    /// How many calls.
    pub calls: i64,
    /// The first shadow decision of the group (a sample).
    pub first_id: String,
    /// The last shadow decision of the group (another sample).
    pub last_id: String,
}

/// The shadow decisions of `module_sha256` in `slot` (for one workspace,
/// or all), grouped by (active summary, shadow summary), most calls first.
pub async fn shadow_groups(
    c: &mut AnyConnection,
    slot: &str,
    module_sha256: &str,
    workspace_id: Option<&str>,
    since: Option<Millis>,
) -> Result<Vec<ShadowGroup>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT active_summary, summary AS shadow_summary, agrees, \
         SUM(CASE WHEN error_kind IS NULL THEN 0 ELSE 1 END) AS errors, COUNT(*) AS calls, \
         MIN(id) AS first_id, MAX(id) AS last_id \
         FROM policy_decisions WHERE mode = 'shadow' AND slot = $1 AND module_sha256 = $2 \
         AND ($3 IS NULL OR workspace_id = $3) AND ($4 IS NULL OR decided_at >= $4) \
         GROUP BY active_summary, summary, agrees ORDER BY calls DESC, active_summary, shadow_summary",
    )
    .bind(slot)
    .bind(module_sha256)
    .bind(workspace_id)
    .bind(since)
    .fetch_all(c)
    .await?)
}

/// A workspace's decisions since `since` that took their slot's fail-safe
/// default (`error_kind` set), counted per mode: (`active`|`shadow`, count).
pub async fn failures_since(
    c: &mut AnyConnection,
    workspace_id: &str,
    since: Millis,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT mode, COUNT(*) FROM policy_decisions \
         WHERE workspace_id = $1 AND decided_at >= $2 AND error_kind IS NOT NULL GROUP BY mode",
    )
    .bind(workspace_id)
    .bind(since)
    .fetch_all(c)
    .await?)
}

/// How many decisions the log holds (tests and the showcases).
pub async fn count(c: &mut AnyConnection, mode: Option<&str>) -> Result<i64, StoreError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM policy_decisions WHERE ($1 IS NULL OR mode = $1)")
            .bind(mode)
            .fetch_one(c)
            .await?;
    Ok(n)
}
