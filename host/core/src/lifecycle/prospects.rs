//! Prospects' lifecycle: import into a campaign (validated item by
//! item, keyed by the match policy, enrolled), all in one transaction.
//! A prospect's resync is the engine's [`crate::engine::Resyncer`].

use super::{LifecycleError, optional_text};
use crate::app::App;
use crate::clock::new_id;
use crate::domain::Named;
use crate::pipeline::keys::{self, KeyedOn};
use crate::store::enrollments::{self, EnrollmentRow};
use crate::store::events::{self, NewEvent};
use crate::store::prospects::{self, Prospect};
use accord_policy_core::CampaignStatus;
use accord_policy_core::linkedin::{
    ProfileRef, decode_member_number, normalize_slug, parse_profile_url,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
/// account), computing each one's match keys with the match policy.
/// Items without an identifier, with a profile URL that is not a LinkedIn
/// URL, or repeating a person already in the campaign are listed in
/// `rejected`; the others are imported, all in one transaction
/// (`invalid_prospects` for not 1 to [`MAX_IMPORT`] items, `not_found`,
/// `campaign_closed`). `source` names the edge in the audit event.
pub async fn import(
    app: &App,
    campaign_id: &str,
    request: ImportRequest,
    source: &'static str,
) -> Result<ImportReport, LifecycleError> {
    let n = request.prospects.len();
    if n == 0 || n > MAX_IMPORT {
        return Err(LifecycleError::invalid(
            "invalid_prospects",
            format!("`prospects` must hold 1 to {MAX_IMPORT} items, got {n}"),
        ));
    }
    let body = request;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let campaign = super::campaigns::load(&mut tx, campaign_id).await?;
    if matches!(
        campaign.status,
        CampaignStatus::Stopped | CampaignStatus::Completed
    ) {
        return Err(LifecycleError::conflict(
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
    // Read once per import, at its first prospect: every prospect is of one workspace.
    let mut key_modules: Option<Vec<std::sync::Arc<crate::policy::PolicyModule>>> = None;
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
        let decisions = app.pipeline.decisions();
        let modules = match &key_modules {
            Some(m) => m,
            None => key_modules
                .insert(keys::modules_for(&mut tx, decisions, &campaign.workspace_id).await?),
        };
        keys::store_in(
            &mut tx,
            decisions,
            modules,
            &prospect,
            &[],
            KeyedOn::Import,
            now,
        )
        .await?;
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
        source: Some(source),
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
    Ok(report)
}
