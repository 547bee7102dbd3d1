//! Enrollments as people read them: a campaign's prospects table and a
//! workspace's late accepts, a keyset page at a time. Every page walks an
//! index range of migration 0019 in its own order, so a page costs the
//! same on the first and the thousandth page.

use super::{StoreError, sql};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// One row of the prospects table: the enrollment's position and stamps
/// with its prospect's name and identifiers.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct ProspectRow {
    /// The enrollment.
    pub enrollment_id: String,
    /// Its campaign.
    pub campaign_id: String,
    /// The prospect.
    pub prospect_id: String,
    /// Display name.
    pub full_name: Option<String>,
    /// Profile URL as imported.
    pub profile_url: Option<String>,
    /// Provider member id (`ACo…`).
    pub member_id: Option<String>,
    /// Sales Navigator lead URL.
    pub sales_nav_lead_url: Option<String>,
    /// Vanity slug.
    pub public_identifier: Option<String>,
    /// Relationship state (`not_invited`, `invited`, `connected`, `replied`,
    /// `condition_skipped`, `unreachable`).
    pub linkedin_status: String,
    /// Workflow state.
    pub workflow_state: String,
    /// Current step.
    pub step_index: i64,
    /// When the current step is due (a wait's end, a wait_accept timeout), ms.
    pub next_run_at: Option<i64>,
    /// When the invite was sent, ms.
    pub invited_at: Option<i64>,
    /// The accept stamp, ms.
    pub linkedin_accepted_at: Option<i64>,
    /// Which path stamped it (`webhook`, `polling`, `manual_resync`, …).
    pub accept_source: Option<String>,
    /// Which match strategy attributed it.
    pub accept_strategy: Option<String>,
    /// The reply stamp, ms.
    pub linkedin_replied_at: Option<i64>,
    /// When the accept was observed late, ms.
    pub late_accept_observed_at: Option<i64>,
    /// When the late follow-up was sent, ms.
    pub late_accept_followup_sent_at: Option<i64>,
    /// When the first follow-up message was sent, ms.
    pub followup_sent_at: Option<i64>,
}

const ROW_COLUMNS: &str = "e.id AS enrollment_id, e.campaign_id, e.prospect_id, p.full_name, p.profile_url, \
    p.member_id, p.sales_nav_lead_url, p.public_identifier, e.linkedin_status, e.workflow_state, e.step_index, \
    e.next_run_at, e.invited_at, e.linkedin_accepted_at, e.accept_source, e.accept_strategy, e.linkedin_replied_at, \
    e.late_accept_observed_at, e.late_accept_followup_sent_at, e.followup_sent_at";

/// Which enrollments of a campaign a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFilter<'a> {
    /// All of them.
    All,
    /// Those in one `linkedin_status`.
    Status(&'a str),
    /// Those with an accept stamp (connected or replied).
    Accepted,
    /// Those whose accept was observed late.
    LateAccept,
}

impl RowFilter<'_> {
    /// The filter's condition on `e`, its status bound as `$2` when it has
    /// one; each shape walks its own index (see migration 0019).
    fn condition(self) -> &'static str {
        match self {
            RowFilter::All => "",
            RowFilter::Status(_) => " AND e.linkedin_status = $2",
            RowFilter::Accepted => " AND e.linkedin_accepted_at IS NOT NULL",
            RowFilter::LateAccept => " AND e.late_accept_observed_at IS NOT NULL",
        }
    }

    /// The first placeholder after the filter's own.
    fn next(self) -> usize {
        match self {
            RowFilter::Status(_) => 3,
            _ => 2,
        }
    }
}

/// Binds `campaign_id` and the filter's status, in the order of
/// [`RowFilter::condition`].
fn bind_filter<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    campaign_id: &'q str,
    filter: RowFilter<'q>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    let q = q.bind(campaign_id);
    match filter {
        RowFilter::Status(s) => q.bind(s),
        _ => q,
    }
}

/// Up to `limit` rows of the campaign's prospects table after the
/// enrollment id `after` (`""` first), in enrollment id order (creation
/// order: ids are UUIDv7).
pub async fn rows(
    c: &mut AnyConnection,
    campaign_id: &str,
    filter: RowFilter<'_>,
    after: &str,
    limit: i64,
) -> Result<Vec<ProspectRow>, StoreError> {
    let n = filter.next();
    let statement = format!(
        "SELECT {ROW_COLUMNS} FROM enrollments e JOIN prospects p ON p.id = e.prospect_id \
         WHERE e.campaign_id = $1{} AND e.id > ${n} ORDER BY e.id LIMIT ${}",
        filter.condition(),
        n + 1
    );
    let q = bind_filter(sqlx::query_as(sql(statement)), campaign_id, filter);
    Ok(q.bind(after).bind(limit).fetch_all(c).await?)
}

/// The enrollment id `scan` rows after `after` in the order of [`rows`]
/// (the end of a search's bounded window), or `None` when fewer are left.
pub async fn window_end(
    c: &mut AnyConnection,
    campaign_id: &str,
    filter: RowFilter<'_>,
    after: &str,
    scan: i64,
) -> Result<Option<String>, StoreError> {
    let n = filter.next();
    let statement = format!(
        "SELECT e.id FROM enrollments e WHERE e.campaign_id = $1{} AND e.id > ${n} \
         ORDER BY e.id LIMIT 1 OFFSET ${}",
        filter.condition(),
        n + 1
    );
    let q = bind_filter(sqlx::query_as(sql(statement)), campaign_id, filter);
    let row: Option<(String,)> = q.bind(after).bind(scan - 1).fetch_optional(c).await?;
    Ok(row.map(|(id,)| id))
}

/// Like [`rows`], only rows whose prospect's name, profile URL or public
/// identifier contains `pattern` (a LIKE pattern, lower case, `\` as its
/// escape), and only up to the enrollment id `upto` when given: a search
/// reads a bounded window per page, never the whole campaign. The pattern
/// is tested in a scalar subquery, probed per enrollment in id order,
/// because as a join condition PostgreSQL may plan a hash of every
/// prospect of the workspace, which costs most when the pattern matches all.
pub async fn rows_matching(
    c: &mut AnyConnection,
    campaign_id: &str,
    filter: RowFilter<'_>,
    after: &str,
    upto: Option<&str>,
    pattern: &str,
    limit: i64,
) -> Result<Vec<ProspectRow>, StoreError> {
    let n = filter.next();
    let upto_condition = match upto {
        Some(_) => format!(" AND e.id <= ${}", n + 1),
        None => String::new(),
    };
    let p = if upto.is_some() { n + 2 } else { n + 1 };
    let statement = format!(
        "SELECT {ROW_COLUMNS} FROM enrollments e JOIN prospects p ON p.id = e.prospect_id \
         WHERE e.campaign_id = $1{} AND e.id > ${n}{upto_condition} \
         AND (SELECT LOWER(COALESCE(s.full_name, '')) LIKE ${p} ESCAPE '\\' \
         OR LOWER(COALESCE(s.profile_url, '')) LIKE ${p} ESCAPE '\\' \
         OR LOWER(COALESCE(s.public_identifier, '')) LIKE ${p} ESCAPE '\\' \
         FROM prospects s WHERE s.id = e.prospect_id) \
         ORDER BY e.id LIMIT ${}",
        filter.condition(),
        p + 1
    );
    let q = bind_filter(sqlx::query_as(sql(statement)), campaign_id, filter).bind(after);
    let q = match upto {
        Some(upto) => q.bind(upto),
        None => q,
    };
    Ok(q.bind(pattern).bind(limit).fetch_all(c).await?)
}

/// Where a page of late accepts starts: after this observation time and
/// enrollment id, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateCursor {
    /// The last row's `late_accept_observed_at`.
    pub observed_at: i64,
    /// The last row's enrollment id.
    pub enrollment_id: String,
}

/// Up to `limit` late accepts of the workspace's campaigns, most recently
/// observed first, after `cursor`.
pub async fn late_accepts(
    c: &mut AnyConnection,
    workspace_id: &str,
    cursor: Option<&LateCursor>,
    limit: i64,
) -> Result<Vec<ProspectRow>, StoreError> {
    let statement = format!(
        "SELECT {ROW_COLUMNS} FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id \
         JOIN prospects p ON p.id = e.prospect_id \
         WHERE e.late_accept_observed_at IS NOT NULL AND c.workspace_id = $1 \
         AND (e.late_accept_observed_at < $2 OR (e.late_accept_observed_at = $2 AND e.id < $3)) \
         ORDER BY e.late_accept_observed_at DESC, e.id DESC LIMIT $4"
    );
    let (at, id) = match cursor {
        Some(k) => (k.observed_at, k.enrollment_id.as_str()),
        // Past every observation: the first page starts at the newest.
        None => (i64::MAX, ""),
    };
    Ok(sqlx::query_as(sql(statement))
        .bind(workspace_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(c)
        .await?)
}
