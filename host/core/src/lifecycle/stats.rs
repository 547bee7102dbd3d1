//! A campaign's live counters, computed from the rows on each call: the
//! campaign stats route and the workspace overview (and the dashboard's
//! pages) read them here, so both show the same numbers.

use super::LifecycleError;
use crate::store::Connection;
use crate::store::campaigns::Campaign;
use crate::store::enrollments::{self, CampaignStats};
use crate::store::{jobs, skips, traces};
use accord_policy_core::CampaignStatus;
use serde::Serialize;
use std::collections::BTreeMap;

/// The statuses a send job can be in, each reported (0 when none).
const JOB_STATUSES: [&str; 5] = ["pending", "processing", "succeeded", "failed", "cancelled"];

/// A campaign's own counters.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignCounts {
    /// The campaign.
    pub campaign_id: String,
    /// Its name.
    pub name: String,
    /// Its status.
    #[schema(value_type = String)]
    pub status: CampaignStatus,
    /// Enrollment counters, computed from the rows.
    #[serde(flatten)]
    pub enrollments: CampaignStats,
    /// Recoverable pre-flight skips not yet resolved.
    pub open_recoverable_skips: i64,
    /// Send jobs per status (`pending`, `processing`, `succeeded`, `failed`, `cancelled`).
    pub jobs: BTreeMap<String, i64>,
}

/// Counts the campaign's enrollments, open recoverable skips and jobs.
pub async fn campaign_counts(
    c: &mut Connection,
    campaign: &Campaign,
) -> Result<CampaignCounts, LifecycleError> {
    let mut jobs_by_status: BTreeMap<String, i64> =
        JOB_STATUSES.iter().map(|s| (s.to_string(), 0)).collect();
    for (status, n) in jobs::count_by_status_of_campaign(c, &campaign.id).await? {
        jobs_by_status.insert(status, n);
    }
    Ok(CampaignCounts {
        campaign_id: campaign.id.clone(),
        name: campaign.name.clone(),
        status: campaign.status,
        enrollments: enrollments::stats(c, &campaign.id).await?,
        open_recoverable_skips: skips::count_open_recoverable(c, &campaign.id).await?,
        jobs: jobs_by_status,
    })
}

/// A campaign's live counters (`GET /api/campaigns/{id}/stats`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignStatsView {
    /// The campaign.
    pub campaign_id: String,
    /// Its status.
    #[schema(value_type = String)]
    pub status: CampaignStatus,
    /// Enrollment counters, computed from the rows.
    #[serde(flatten)]
    pub enrollments: CampaignStats,
    /// Accept signals no strategy could attribute, in the campaign's
    /// workspace (`bridge_miss_all_strategies` traces).
    pub bridge_misses: i64,
    /// Webhooks that arrived while the workspace had no running campaign
    /// (`orphan_webhook` traces).
    pub orphan_webhooks: i64,
    /// Recoverable pre-flight skips not yet resolved.
    pub open_recoverable_skips: i64,
    /// Send jobs per status (`pending`, `processing`, `succeeded`, `failed`, `cancelled`).
    pub jobs: BTreeMap<String, i64>,
}

/// The campaign's counters with its workspace's unattributed signals.
pub async fn campaign_stats(
    c: &mut Connection,
    campaign: &Campaign,
) -> Result<CampaignStatsView, LifecycleError> {
    let counts = campaign_counts(c, campaign).await?;
    Ok(CampaignStatsView {
        bridge_misses: traces::count(c, &campaign.workspace_id, "bridge_miss_all_strategies")
            .await?,
        orphan_webhooks: traces::count(c, &campaign.workspace_id, "orphan_webhook").await?,
        campaign_id: counts.campaign_id,
        status: counts.status,
        enrollments: counts.enrollments,
        open_recoverable_skips: counts.open_recoverable_skips,
        jobs: counts.jobs,
    })
}
