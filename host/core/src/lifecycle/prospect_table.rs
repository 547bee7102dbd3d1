//! A campaign's prospects table: one row per enrollment with its
//! prospect, stamps, step and next scheduled run, filtered by status and
//! searched by name or URL, a keyset page at a time; and whether the
//! amber "no prospects with a LinkedIn URL" alert shows.

use super::LifecycleError;
use super::campaigns::{has_usable_linkedin_url, has_usable_prospect};
use super::pages::{self, id_cursor};
use crate::app::App;
use crate::store::enrollment_pages::{self, ProspectRow, RowFilter};
use crate::store::enrollments::{self, EnrolledIdentity};
use crate::store::{campaigns, jobs};
use serde::Serialize;
use std::collections::HashMap;

/// The cursor's prefix, so a cursor of another list is refused.
const CURSOR: &str = "p.";

/// Enrollments a search reads per page at most: a rare name costs a few
/// pages with fewer rows (each with a `next_cursor`), never a scan of the
/// whole campaign in one request.
pub const SEARCH_WINDOW: i64 = 5_000;

/// Longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// The status filters the table accepts, besides each `linkedin_status`.
pub const STATUSES: [&str; 8] = [
    "not_invited",
    "invited",
    "connected",
    "replied",
    "condition_skipped",
    "unreachable",
    "accepted",
    "late_accept",
];

/// What the table shows.
#[derive(Debug, Clone, Default)]
pub struct TableQuery {
    /// A status of [`STATUSES`]: a `linkedin_status`, `accepted`
    /// (connected or replied) or `late_accept`.
    pub status: Option<String>,
    /// Text the prospect's name, profile URL or public identifier
    /// contains (case-insensitive).
    pub q: Option<String>,
    /// A `next_cursor` of this table.
    pub cursor: Option<String>,
    /// Rows per page, 1 to 500 (default 50).
    pub limit: Option<i64>,
}

/// An enrollment's next scheduled run: its earliest pending job.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NextRun {
    /// The job.
    pub job_id: String,
    /// Its step.
    pub step_index: i64,
    /// `send_invite` or `send_message`.
    pub action: String,
    /// When it is due, ms.
    pub run_at: i64,
    /// Why it waits, if it does (window, cap, ramp, spacing, account, campaign).
    pub wait_reason: Option<String>,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProspectTableRow {
    /// The enrollment and its prospect.
    #[serde(flatten)]
    pub row: ProspectRow,
    /// Whether the prospect has a usable LinkedIn URL (a member id, or a
    /// profile or Sales Navigator URL that parses).
    pub has_linkedin_url: bool,
    /// The next scheduled run, when a job is pending.
    pub next_run: Option<NextRun>,
}

/// A page of the table.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProspectPage {
    /// The campaign.
    pub campaign_id: String,
    /// The rows, in enrollment order (oldest first).
    pub items: Vec<ProspectTableRow>,
    /// Pass as `cursor` for the next page; `null` on the last. A search
    /// page may hold fewer rows than `limit` and still have a next page.
    pub next_cursor: Option<String>,
    /// Whether at least one enrolled prospect has a usable LinkedIn URL.
    pub has_prospects_with_linkedin_url: bool,
    /// The amber alert: the campaign has enrolled prospects but none with
    /// a usable LinkedIn URL, so it cannot send anything.
    pub no_linkedin_url_alert: bool,
}

/// The filter a status names (`invalid_status` otherwise).
fn filter(status: Option<&str>) -> Result<RowFilter<'_>, LifecycleError> {
    match status.map(str::trim) {
        None | Some("") => Ok(RowFilter::All),
        Some("accepted") => Ok(RowFilter::Accepted),
        Some("late_accept") => Ok(RowFilter::LateAccept),
        Some(s) if STATUSES.contains(&s) => Ok(RowFilter::Status(s)),
        Some(s) => Err(LifecycleError::invalid(
            "invalid_status",
            format!(
                "`status` must be one of {}, got `{}`",
                STATUSES.join(", "),
                crate::text::echo(s, 64)
            ),
        )),
    }
}

/// The LIKE pattern of a search (`invalid_q` when too long): lower case,
/// its own `%`, `_` and `\` escaped.
fn pattern(q: &str) -> Result<String, LifecycleError> {
    let n = q.chars().count();
    if n > MAX_SEARCH_CHARS || q.chars().any(char::is_control) {
        return Err(LifecycleError::invalid(
            "invalid_q",
            format!("`q` must be at most {MAX_SEARCH_CHARS} characters of text, got {n}"),
        ));
    }
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for ch in q.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    Ok(p)
}

/// A page of campaign `id`'s prospects table (`not_found`, also when
/// `only` names another workspace; `invalid_status`, `invalid_q`,
/// `invalid_limit`, `invalid_cursor`).
pub async fn page(
    app: &App,
    id: &str,
    only: Option<&str>,
    query: &TableQuery,
) -> Result<ProspectPage, LifecycleError> {
    let limit = pages::limit(query.limit)?;
    let filter = filter(query.status.as_deref())?;
    let search = super::optional_text(query.q.clone())
        .map(|q| pattern(&q))
        .transpose()?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| id_cursor(c, CURSOR))
        .transpose()?
        .unwrap_or("");
    let mut c = app.db.acquire().await?;
    let campaign = campaigns::get(&mut c, id)
        .await?
        .filter(|k| only.is_none_or(|o| o == k.workspace_id))
        .ok_or_else(|| LifecycleError::not_found("campaign", id))?;
    let (rows, next_cursor) = match &search {
        None => {
            let rows = enrollment_pages::rows(&mut c, id, filter, after, limit).await?;
            let next = pages::next(&rows, limit, |r| format!("{CURSOR}{}", r.enrollment_id));
            (rows, next)
        }
        Some(pattern) => {
            let end =
                enrollment_pages::window_end(&mut c, id, filter, after, SEARCH_WINDOW).await?;
            let rows = enrollment_pages::rows_matching(
                &mut c,
                id,
                filter,
                after,
                end.as_deref(),
                pattern,
                limit,
            )
            .await?;
            let next = pages::next(&rows, limit, |r| format!("{CURSOR}{}", r.enrollment_id))
                .or_else(|| end.map(|e| format!("{CURSOR}{e}")));
            (rows, next)
        }
    };
    let ids: Vec<&str> = rows.iter().map(|r| r.enrollment_id.as_str()).collect();
    let mut next_runs: HashMap<String, NextRun> = HashMap::new();
    for job in jobs::of_enrollments(&mut c, &ids, Some("pending"), None).await? {
        let earlier = next_runs
            .get(&job.enrollment_id)
            .is_none_or(|n| job.run_at < n.run_at);
        if earlier {
            next_runs.insert(
                job.enrollment_id.clone(),
                NextRun {
                    job_id: job.id,
                    step_index: job.step_index,
                    action: job.action,
                    run_at: job.run_at,
                    wait_reason: job.wait_reason,
                },
            );
        }
    }
    let has_url = has_usable_prospect(&mut c, &campaign.id).await?;
    let enrolled = has_url
        || !enrollments::identities_of_campaign(&mut c, &campaign.id, "", 1)
            .await?
            .is_empty();
    let items = rows
        .into_iter()
        .map(|row| ProspectTableRow {
            has_linkedin_url: has_usable_linkedin_url(&identity(&row)),
            next_run: next_runs.remove(&row.enrollment_id),
            row,
        })
        .collect();
    Ok(ProspectPage {
        campaign_id: campaign.id,
        items,
        next_cursor,
        has_prospects_with_linkedin_url: has_url,
        no_linkedin_url_alert: enrolled && !has_url,
    })
}

/// The row's identifiers as the usable-URL rule reads them.
fn identity(row: &ProspectRow) -> EnrolledIdentity {
    EnrolledIdentity {
        enrollment_id: row.enrollment_id.clone(),
        prospect_id: row.prospect_id.clone(),
        profile_url: row.profile_url.clone(),
        member_id: row.member_id.clone(),
        sales_nav_lead_url: row.sales_nav_lead_url.clone(),
        public_identifier: row.public_identifier.clone(),
    }
}
