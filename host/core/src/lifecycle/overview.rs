//! A workspace at a glance: each campaign's live counters, the tiles the
//! seeds' dashboard shows (late accepts, bridge misses, orphan webhooks,
//! recoverable skips waiting, policy failures) and each LinkedIn
//! account's health.

use super::LifecycleError;
use super::account_health::{AccountHealth, account_health};
use super::stats::{CampaignCounts, campaign_counts};
use crate::app::App;
use crate::clock::{DAY_MS, Millis};
use crate::store::{accounts, campaigns, decisions, traces};
use serde::Serialize;

/// How far back the windowed tiles count (bridge misses, orphan webhooks
/// and policy failures of the last 24 hours, besides their totals).
pub const TILE_WINDOW_MS: Millis = DAY_MS;

/// The trace kind of an accept signal no strategy could attribute.
pub const BRIDGE_MISS: &str = "bridge_miss_all_strategies";

/// The trace kind of a webhook for a workspace with no running campaign.
pub const ORPHAN_WEBHOOK: &str = "orphan_webhook";

/// The workspace's tiles.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Tiles {
    /// Start of the window the `*_24h` tiles count, ms (now - 24 h).
    pub window_start: i64,
    /// Accepts observed after the workflow had moved on, all campaigns.
    pub late_accepts: i64,
    /// Of those, how many have no late follow-up sent yet.
    pub late_accepts_without_followup: i64,
    /// Accept signals no strategy could attribute, all time.
    pub bridge_misses: i64,
    /// Of those, in the window.
    pub bridge_misses_24h: i64,
    /// Webhooks that arrived while no campaign was running, all time.
    pub orphan_webhooks: i64,
    /// Of those, in the window.
    pub orphan_webhooks_24h: i64,
    /// Recoverable pre-flight skips waiting for a retry (skip-retry tick
    /// or resume sweep), all campaigns.
    pub recoverable_skips_waiting: i64,
    /// Decisions in the window that took their slot's fail-safe default
    /// (the policy trapped, ran out of fuel or time, or answered
    /// something invalid) and so changed state conservatively.
    pub policy_failures_24h: i64,
    /// Shadow decisions in the window that failed (they changed nothing).
    pub shadow_policy_failures_24h: i64,
}

/// A workspace's overview.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkspaceOverview {
    /// The workspace.
    pub workspace_id: String,
    /// Its name.
    pub name: String,
    /// When this was computed, ms.
    pub computed_at: i64,
    /// The tiles.
    pub tiles: Tiles,
    /// Each campaign's counters, oldest campaign first.
    pub campaigns: Vec<CampaignCounts>,
    /// Each LinkedIn account's health.
    pub accounts: Vec<AccountHealth>,
}

/// The overview of workspace `id` (`not_found`, also when `only` names
/// another workspace: a workspace token's view).
pub async fn overview(
    app: &App,
    id: &str,
    only: Option<&str>,
) -> Result<WorkspaceOverview, LifecycleError> {
    let now = app.clock.now_ms();
    let mut c = app.db.acquire().await?;
    let workspace = accounts::workspace(&mut c, id)
        .await?
        .filter(|w| only.is_none_or(|o| o == w.id))
        .ok_or_else(|| LifecycleError::not_found("workspace", id))?;
    let since = now - TILE_WINDOW_MS;
    let mut tiles = Tiles {
        window_start: since,
        bridge_misses: traces::count(&mut c, id, BRIDGE_MISS).await?,
        bridge_misses_24h: traces::count_since(&mut c, id, BRIDGE_MISS, since).await?,
        orphan_webhooks: traces::count(&mut c, id, ORPHAN_WEBHOOK).await?,
        orphan_webhooks_24h: traces::count_since(&mut c, id, ORPHAN_WEBHOOK, since).await?,
        ..Tiles::default()
    };
    for (mode, n) in decisions::failures_since(&mut c, id, since).await? {
        match mode.as_str() {
            "shadow" => tiles.shadow_policy_failures_24h += n,
            _ => tiles.policy_failures_24h += n,
        }
    }
    let mut cards = Vec::new();
    for campaign in campaigns::of_workspace(&mut c, id).await? {
        let card = campaign_counts(&mut c, &campaign).await?;
        tiles.late_accepts += card.enrollments.late_accepts;
        tiles.late_accepts_without_followup +=
            card.enrollments.late_accepts - card.enrollments.late_followups_sent;
        tiles.recoverable_skips_waiting += card.open_recoverable_skips;
        cards.push(card);
    }
    let mut health = Vec::new();
    for account in accounts::accounts_of(&mut c, id).await? {
        health.push(account_health(&mut c, &app.config.engine, &account, now).await?);
    }
    Ok(WorkspaceOverview {
        workspace_id: workspace.id,
        name: workspace.name,
        computed_at: now,
        tiles,
        campaigns: cards,
        accounts: health,
    })
}
