//! Prospects: import into a campaign, the prospect page (enrollments with
//! their timeline, jobs and skips), and the decision traces.

use super::campaigns::load_campaign;
use super::extract::{Path, Query, UncheckedTextJsonBody};
use super::{conn, invalid, optional_text};
use crate::app::App;
use crate::clock::{Millis, new_id};
use crate::domain::Named;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::policy::Decision;
use crate::store::StoreError;
use crate::store::enrollments::{self, EnrollmentRow};
use crate::store::events::{self, Event, NewEvent};
use crate::store::jobs::{self, Job};
use crate::store::prospects::{self, Prospect};
use crate::store::skips::{self, SkipRow};
use crate::store::traces::{self, NewTrace, Trace};
use accord_policy_core::CampaignStatus;
use accord_policy_core::linkedin::{
    ProfileRef, decode_member_number, normalize_slug, parse_profile_url,
};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Most prospects one import accepts.
pub const MAX_IMPORT: usize = 5000;

/// Imports of at least this many prospects refresh the planner's
/// statistics, so matching keeps using its indexes on a table that grew
/// faster than autovacuum looks.
pub const STATISTICS_AFTER_IMPORT: u64 = 500;

/// One prospect to import. At least one of `profile_url`,
/// `sales_nav_lead_url` or `member_id` is required.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProspectInput {
    /// Display name.
    #[serde(default)]
    pub full_name: Option<String>,
    /// LinkedIn profile URL (`linkedin.com/in/<slug>`).
    #[serde(default)]
    pub profile_url: Option<String>,
    /// Provider member id (`ACo…`).
    #[serde(default)]
    pub member_id: Option<String>,
    /// Sales Navigator lead URL (`linkedin.com/sales/lead/<id>,…`).
    #[serde(default)]
    pub sales_nav_lead_url: Option<String>,
    /// Vanity slug.
    #[serde(default)]
    pub public_identifier: Option<String>,
}

/// Body of `POST /api/campaigns/{id}/prospects`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// 1 to 5,000 prospects.
    pub prospects: Vec<ProspectInput>,
}

/// An item the import refused (the others were imported).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RejectedItem {
    /// Its index in `prospects`.
    pub index: usize,
    /// `missing_identifier`, `invalid_profile_url`, `field_too_long`, `invalid_text` or
    /// `duplicate_prospect`.
    pub code: &'static str,
    /// Explanation.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Prospects created.
    pub imported: u64,
    /// Enrollments created in the campaign.
    pub enrolled: u64,
    /// Items refused, with why.
    pub rejected: Vec<RejectedItem>,
}

/// Identity keys used to refuse a second enrollment of the same person in
/// one campaign: the profile slug, and the member number inside any
/// provider id (classic and Sales Navigator ids of a person share it).
fn identity_keys(
    profile_url: Option<&str>,
    member_id: Option<&str>,
    sales_nav_lead_url: Option<&str>,
    public_identifier: Option<&str>,
) -> Vec<String> {
    let id_key = |id: &str| match decode_member_number(id) {
        Some(n) => format!("member:{n}"),
        None => format!("id:{id}"),
    };
    let ref_key = |r: ProfileRef| match r {
        ProfileRef::Slug(s) => format!("slug:{s}"),
        ProfileRef::ProviderId(id) => id_key(&id),
    };
    let mut keys = Vec::new();
    keys.extend(profile_url.and_then(parse_profile_url).map(ref_key));
    keys.extend(sales_nav_lead_url.and_then(parse_profile_url).map(ref_key));
    keys.extend(public_identifier.and_then(normalize_slug).map(ref_key));
    keys.extend(member_id.map(id_key));
    keys
}

/// Stores a prospect's match keys from a `prospect-keys` decision. A
/// failed call stores no keys (the slot's fail-safe: the prospect is never
/// matched wrongly, the heal ticks can still find it) and is traced as a
/// `policy_failure`, as are keys the host dropped (the others are stored).
/// Returns whether the policy answered.
pub(crate) async fn store_keys(
    c: &mut sqlx::AnyConnection,
    prospect: &Prospect,
    keys: &Decision<Vec<String>>,
    now: Millis,
) -> Result<bool, StoreError> {
    if let Some(error) = keys.error.as_ref().or(keys.dropped.as_ref()) {
        let trace = NewTrace {
            workspace_id: Some(&prospect.workspace_id),
            kind: "policy_failure",
            detail: serde_json::json!({
                "slot": "match", "call": "prospect_keys", "prospect_id": prospect.id,
                "kind": error.kind(), "error": error.to_string(),
                "fail_safe": keys.error.is_some(),
            }),
            module_sha256: Some(&keys.module_sha256),
            ..NewTrace::default()
        };
        traces::record(c, trace, now).await?;
    }
    prospects::set_keys(c, &prospect.id, &keys.value, &keys.module_sha256).await?;
    Ok(keys.error.is_none())
}

/// Whether an item's field holds a NUL character, literally or, in a
/// profile URL or public identifier, as a `%00` the match policy decodes
/// when it keys the prospect.
fn holds_nul(field: &str, value: &str) -> bool {
    let profile = match field {
        "profile_url" | "sales_nav_lead_url" => parse_profile_url(value),
        "public_identifier" => normalize_slug(value),
        _ => None,
    };
    crate::text::has_nul(value) || profile.as_ref().is_some_and(crate::text::ref_has_nul)
}

/// Why an item's fields could not all be stored and keyed, if so: text
/// over [`MAX_TEXT_BYTES`](crate::text::MAX_TEXT_BYTES), a member id
/// over [`MAX_ID_BYTES`](crate::text::MAX_ID_BYTES), or a profile slug or
/// id (from a URL or a public identifier, once normalised) over it: a
/// match policy's keys are at most 256 bytes, and a prospect whose key
/// does not fit could never be matched.
fn unkeyable(fields: &[(&str, &Option<String>)]) -> Option<String> {
    use crate::text::{MAX_ID_BYTES, MAX_TEXT_BYTES, ref_len};
    for (field, value) in fields {
        let Some(value) = value.as_deref() else {
            continue;
        };
        if value.len() > MAX_TEXT_BYTES {
            return Some(format!(
                "`{field}` is {} bytes, over the bound of {MAX_TEXT_BYTES}",
                value.len()
            ));
        }
        let keyed = match *field {
            "member_id" => Some(value.len()),
            "profile_url" | "sales_nav_lead_url" => parse_profile_url(value)
                .or_else(|| normalize_slug(value).filter(|_| *field == "sales_nav_lead_url"))
                .map(|r| ref_len(&r)),
            "public_identifier" => normalize_slug(value).map(|r| ref_len(&r)),
            _ => None,
        };
        if let Some(n) = keyed.filter(|n| *n > MAX_ID_BYTES) {
            return Some(format!(
                "the id or profile slug in `{field}` is {n} bytes, over the bound of {MAX_ID_BYTES} that a match key can hold"
            ));
        }
    }
    None
}

/// Imports prospects into the campaign's workspace and enrolls them
/// (`not_invited`, workflow `pending` at step 0, on the campaign's
/// account), computing each one's match keys with the active match
/// policy. Items without an identifier, with a profile URL that is not a
/// LinkedIn URL, or repeating a person already in the campaign are listed
/// in `rejected`; the others are imported, all in one transaction.
#[utoipa::path(
    post, path = "/api/campaigns/{id}/prospects", tag = "prospects",
    params(("id" = String, Path, description = "Campaign id")),
    request_body = ImportRequest,
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Imported (see `rejected` for refused items)", body = ImportReport),
        (status = 400, description = "Malformed JSON (`invalid_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "Unknown campaign (`not_found`)", body = ErrorBody),
        (status = 409, description = "The campaign is stopped or completed (`campaign_closed`)", body = ErrorBody),
        (status = 422, description = "`invalid_prospects`: not 1 to 5,000 items", body = ErrorBody),
    )
)]
pub async fn import_prospects(
    State(app): State<Arc<App>>,
    Path(campaign_id): Path<String>,
    UncheckedTextJsonBody(body): UncheckedTextJsonBody<ImportRequest>,
) -> ApiResult<Json<ImportReport>> {
    let n = body.prospects.len();
    if n == 0 || n > MAX_IMPORT {
        return Err(invalid(
            "invalid_prospects",
            format!("`prospects` must hold 1 to {MAX_IMPORT} items, got {n}"),
        ));
    }
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let campaign = load_campaign(&mut tx, &campaign_id).await?;
    if matches!(
        campaign.status,
        CampaignStatus::Stopped | CampaignStatus::Completed
    ) {
        return Err(ApiError::conflict(
            "campaign_closed",
            format!(
                "campaign `{}` is {}; prospects can only be added to a draft, running or paused campaign",
                campaign.id,
                campaign.status.as_str()
            ),
        ));
    }
    // Who is already in the campaign: key → None (enrolled before) or
    // Some(index) (an earlier item of this request).
    let mut seen: HashMap<String, Option<usize>> = HashMap::new();
    let mut after = String::new();
    loop {
        let page = enrollments::identities_of_campaign(&mut tx, &campaign.id, &after, 1000).await?;
        for p in &page {
            for key in identity_keys(
                p.profile_url.as_deref(),
                p.member_id.as_deref(),
                p.sales_nav_lead_url.as_deref(),
                p.public_identifier.as_deref(),
            ) {
                seen.insert(key, None);
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = last.enrollment_id.clone(),
            _ => break,
        }
    }

    let mut report = ImportReport::default();
    for (index, item) in body.prospects.into_iter().enumerate() {
        let mut reject = |code: &'static str, message: String| {
            report.rejected.push(RejectedItem {
                index,
                code,
                message,
            });
        };
        let full_name = optional_text(item.full_name);
        let profile_url = optional_text(item.profile_url);
        let member_id = optional_text(item.member_id);
        let sales_nav_lead_url = optional_text(item.sales_nav_lead_url);
        let public_identifier = optional_text(item.public_identifier);
        let fields = [
            ("full_name", &full_name),
            ("profile_url", &profile_url),
            ("member_id", &member_id),
            ("sales_nav_lead_url", &sales_nav_lead_url),
            ("public_identifier", &public_identifier),
        ];
        if let Some((field, _)) = fields
            .iter()
            .find(|(field, v)| v.as_deref().is_some_and(|v| holds_nul(field, v)))
        {
            reject(
                "invalid_text",
                format!(
                    "`{field}` contains a NUL character (U+0000, or %00 in a profile), which Accord does not store"
                ),
            );
            continue;
        }
        if let Some(message) = unkeyable(&fields) {
            reject("field_too_long", message);
            continue;
        }
        if profile_url.is_none() && member_id.is_none() && sales_nav_lead_url.is_none() {
            reject(
                "missing_identifier",
                "a prospect needs a profile_url, a sales_nav_lead_url or a member_id".into(),
            );
            continue;
        }
        if let Some(url) = &profile_url
            && parse_profile_url(url).is_none()
        {
            reject(
                "invalid_profile_url",
                format!(
                    "`profile_url` `{url}` is not a LinkedIn profile URL (expected linkedin.com/in/<slug>)"
                ),
            );
            continue;
        }
        let keys = identity_keys(
            profile_url.as_deref(),
            member_id.as_deref(),
            sales_nav_lead_url.as_deref(),
            public_identifier.as_deref(),
        );
        if let Some(earlier) = keys.iter().find_map(|k| seen.get(k)) {
            let message = match earlier {
                Some(i) => format!("the same LinkedIn identity as item {i} of this import"),
                None => "this LinkedIn identity is already enrolled in the campaign".to_string(),
            };
            reject("duplicate_prospect", message);
            continue;
        }
        for key in keys {
            seen.insert(key, Some(index));
        }

        let prospect = Prospect {
            id: new_id(),
            workspace_id: campaign.workspace_id.clone(),
            full_name,
            profile_url,
            member_id,
            sales_nav_lead_url,
            public_identifier,
            created_at: now,
        };
        prospects::insert(&mut tx, &prospect).await?;
        report.imported += 1;
        let keys = app.policies.prospect_keys(&prospect.identity(None));
        store_keys(&mut tx, &prospect, &keys, now).await?;
        let enrollment = EnrollmentRow::pending(
            &new_id(),
            &campaign.id,
            &prospect.id,
            &campaign.linkedin_account_id,
            now,
        );
        if enrollments::insert(&mut tx, &enrollment).await? {
            report.enrolled += 1;
        }
    }
    let event = NewEvent {
        workspace_id: &campaign.workspace_id,
        linkedin_account_id: Some(&campaign.linkedin_account_id),
        kind: "prospects_imported",
        source: Some("api"),
        detail: Some(serde_json::json!({
            "campaign_id": campaign.id, "imported": report.imported,
            "enrolled": report.enrolled, "rejected": report.rejected.len(),
        })),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    tx.commit().await?;
    if report.imported >= STATISTICS_AFTER_IMPORT {
        app.db.refresh_statistics_soon();
    }
    Ok(Json(report))
}

/// The next scheduled run of an enrollment, for people.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduledRun {
    /// The pending job.
    pub job_id: String,
    /// Its step.
    pub step_index: i64,
    /// When it is due, ms.
    pub run_at: i64,
    /// The same instant, RFC 3339 UTC.
    pub run_at_utc: String,
    /// Why it waits, if it does (window, cap, ramp, spacing, account, campaign).
    pub wait_reason: Option<String>,
}

/// One enrollment of a prospect, with its history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnrollmentDetail {
    /// The enrollment.
    #[serde(flatten)]
    pub enrollment: EnrollmentRow,
    /// The next pending job, when one is scheduled.
    pub next_run: Option<ScheduledRun>,
    /// Its audit timeline, oldest first.
    pub events: Vec<Event>,
    /// Its send jobs, newest first (each with `run_at` and `wait_reason`).
    pub jobs: Vec<Job>,
    /// Its pre-flight skips, newest first.
    pub skips: Vec<SkipRow>,
}

/// A prospect and everything that happened to it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProspectDetail {
    /// The prospect.
    #[serde(flatten)]
    pub prospect: Prospect,
    /// Its enrollments, oldest first.
    pub enrollments: Vec<EnrollmentDetail>,
}

/// A prospect with its enrollments, their event timeline, jobs (scheduled
/// run time and why they wait) and skips.
#[utoipa::path(
    get, path = "/api/prospects/{id}", tag = "prospects",
    params(("id" = String, Path, description = "Prospect id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = ProspectDetail),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn get_prospect(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProspectDetail>> {
    let mut c = conn(&app).await?;
    let prospect = prospects::get(&mut c, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("prospect", &id))?;
    let mut details = Vec::new();
    for enrollment in enrollments::of_prospect(&mut c, &id).await? {
        let jobs = jobs::of_enrollment(&mut c, &enrollment.id).await?;
        let next_run = jobs
            .iter()
            .filter(|j| j.status == "pending")
            .min_by_key(|j| j.run_at)
            .map(|j| ScheduledRun {
                job_id: j.id.clone(),
                step_index: j.step_index,
                run_at: j.run_at,
                run_at_utc: jiff::Timestamp::from_millisecond(j.run_at)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                wait_reason: j.wait_reason.clone(),
            });
        details.push(EnrollmentDetail {
            events: events::of_enrollment(&mut c, &enrollment.id).await?,
            skips: skips::of_enrollment(&mut c, &enrollment.id).await?,
            jobs,
            next_run,
            enrollment,
        });
    }
    Ok(Json(ProspectDetail {
        prospect,
        enrollments: details,
    }))
}

/// Query of `GET /api/traces`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TracesQuery {
    /// Only this workspace's traces.
    pub workspace_id: Option<String>,
    /// Only this kind (`bridge_miss_all_strategies`, `orphan_webhook`,
    /// `unknown_account`, `policy_failure`, …).
    pub kind: Option<String>,
    /// How many, 1-500 (default 100).
    pub limit: Option<i64>,
}

/// Recent decision traces, newest first.
#[utoipa::path(
    get, path = "/api/traces", tag = "traces",
    params(TracesQuery),
    security(("api_token" = [])),
    responses(
        (status = 200, body = Vec<Trace>),
        (status = 400, description = "Malformed query (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 422, description = "`invalid_limit`", body = ErrorBody),
    )
)]
pub async fn list_traces(
    State(app): State<Arc<App>>,
    Query(q): Query<TracesQuery>,
) -> ApiResult<Json<Vec<Trace>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(invalid(
            "invalid_limit",
            format!("`limit` must be 1 to 500, got {limit}"),
        ));
    }
    let mut c = conn(&app).await?;
    Ok(Json(
        traces::list(
            &mut c,
            optional_text(q.workspace_id).as_deref(),
            optional_text(q.kind).as_deref(),
            limit,
        )
        .await?,
    ))
}

/// Re-checks one prospect with the provider and stamps the accept if the
/// prospect is connected. The look-up goes through the account's spacing
/// like every other provider call: clicks join the prospect's open request
/// (on any instance), and a click within the account's spacing after a
/// look-up gets that look-up's answer (`coalesced` says so). `200` with
/// `status: done` when the provider was asked now (or just before);
/// `202` with `status: queued` (served at the account's next free slot,
/// `not_before`) or `checking` (another instance is asking): follow it with
/// `GET /api/prospects/{id}/resync`.
#[utoipa::path(
    post, path = "/api/prospects/{id}/resync", tag = "prospects",
    params(("id" = String, Path, description = "Prospect id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Done: the provider's answer", body = crate::engine::ResyncOutcome),
        (status = 202, description = "Queued behind the account's spacing, or being checked elsewhere", body = crate::engine::ResyncOutcome),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`not_enrolled`: the prospect is in no campaign; `account_not_connected`: none of its accounts is connected", body = ErrorBody),
        (status = 502, description = "`provider_error`: the provider could not be asked", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`", body = ErrorBody),
    )
)]
pub async fn resync_prospect(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<(axum::http::StatusCode, Json<crate::engine::ResyncOutcome>)> {
    use crate::engine::ResyncStatus;
    use axum::http::StatusCode;
    let resync = resyncer(&app)?;
    let outcome = resync.resync(&id).await.map_err(|e| resync_error(e, &id))?;
    let status = match outcome.status {
        ResyncStatus::Done | ResyncStatus::Failed => StatusCode::OK,
        ResyncStatus::Queued | ResyncStatus::Checking => StatusCode::ACCEPTED,
    };
    Ok((status, Json(outcome)))
}

/// The prospect's latest resync request: queued, checking, done (with the
/// provider's answer) or failed (with why).
#[utoipa::path(
    get, path = "/api/prospects/{id}/resync", tag = "prospects",
    params(("id" = String, Path, description = "Prospect id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = crate::engine::ResyncOutcome),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such prospect, or never resynced", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`", body = ErrorBody),
    )
)]
pub async fn get_resync(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::engine::ResyncOutcome>> {
    let resync = resyncer(&app)?;
    match resync.latest(&id).await.map_err(|e| resync_error(e, &id))? {
        Some(outcome) => Ok(Json(outcome)),
        None => Err(ApiError::not_found("resync request of prospect", &id)),
    }
}

fn resyncer(app: &App) -> ApiResult<&crate::engine::Resyncer> {
    app.resync.as_deref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "provider_not_configured",
            "resync needs the Unipile API (ACCORD_UNIPILE_DSN, ACCORD_UNIPILE_API_KEY)",
        )
    })
}

fn resync_error(e: crate::engine::resync::ResyncError, id: &str) -> ApiError {
    use crate::engine::resync::ResyncError;
    match e {
        ResyncError::NotFound(_) => ApiError::not_found("prospect", id),
        e @ ResyncError::NotEnrolled => ApiError::conflict("not_enrolled", e.to_string()),
        e @ ResyncError::NoConnectedAccount => {
            ApiError::conflict("account_not_connected", e.to_string())
        }
        e @ ResyncError::Provider(_) => ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "provider_error",
            e.to_string(),
        ),
        e @ ResyncError::Internal(_) => ApiError::internal(&e),
    }
}
