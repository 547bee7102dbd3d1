//! A workspace's overview: the tiles the seeds' dashboard shows (late
//! accepts, bridge misses, orphan webhooks, recoverable skips waiting,
//! policy failures), each campaign's live counts computed from the rows,
//! and each LinkedIn account's health, all read by
//! [`accord_core::lifecycle::overview`]. The moving part is also served
//! alone, so the live stream ([`crate::live`]) can replace it in place.

use crate::error::{PageError, PageResult};
use crate::session::Viewing;
use crate::view::{self, Chrome};
use accord_core::app::App;
use accord_core::domain::Named;
use accord_core::lifecycle::LifecycleError;
use accord_core::lifecycle::account_health::AccountHealth;
use accord_core::lifecycle::overview::{self, WorkspaceOverview};
use accord_core::lifecycle::stats::CampaignCounts;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use std::sync::Arc;

/// One tile: a count and where its list is.
#[derive(Debug, Clone)]
pub struct Tile {
    /// What it counts.
    pub label: &'static str,
    /// How many.
    pub count: i64,
    /// A second line (the last 24 hours, what is still owed).
    pub detail: String,
    /// The list it opens, if there is one.
    pub href: Option<String>,
    /// `attention` when a non-zero count asks for a look.
    pub tone: &'static str,
    /// One sentence on what it means.
    pub hint: &'static str,
}

/// One campaign's line.
#[derive(Debug, Clone)]
pub struct CampaignLine {
    /// The campaign's counts.
    pub counts: CampaignCounts,
    /// Its status, as text.
    pub status: &'static str,
}

/// One LinkedIn account's health, for people.
#[derive(Debug, Clone)]
pub struct AccountLine {
    /// The health as read.
    pub health: AccountHealth,
    /// Today's invites against today's cap (and the week's).
    pub invites: String,
    /// Today's messages against today's cap (and the week's).
    pub messages: String,
    /// Where the warm-up ramp is.
    pub warmup: String,
    /// The next provider action: when, and what.
    pub next_action: String,
    /// The circuit breaker, for people.
    pub breaker: String,
}

/// The part of the overview that moves: tiles and campaign counts.
#[derive(Debug, Clone)]
pub struct LiveCounts {
    /// The workspace.
    pub workspace_id: String,
    /// The tiles.
    pub tiles: Vec<Tile>,
    /// The campaigns.
    pub campaigns: Vec<CampaignLine>,
    /// Accepts over all campaigns (the headline counter).
    pub accepted: i64,
}

fn live_counts(o: &WorkspaceOverview) -> LiveCounts {
    let id = &o.workspace_id;
    let t = &o.tiles;
    let tile = |label, count: i64, detail: String, href: Option<String>, hint| Tile {
        label,
        count,
        detail,
        href,
        tone: if count > 0 { "attention" } else { "calm" },
        hint,
    };
    let tiles = vec![
        tile(
            "Late accepts",
            t.late_accepts,
            format!(
                "{} without a follow-up yet",
                t.late_accepts_without_followup
            ),
            Some(format!("/ui/workspaces/{id}/late-accepts")),
            "accepted after the workflow moved on; the late-accept policy routes them",
        ),
        tile(
            "Bridge misses",
            t.bridge_misses,
            format!("{} in the last 24 h", t.bridge_misses_24h),
            Some(format!("/ui/workspaces/{id}/bridge-misses")),
            "accept signals no match strategy could tie to an invite",
        ),
        tile(
            "Orphan webhooks",
            t.orphan_webhooks,
            format!("{} in the last 24 h", t.orphan_webhooks_24h),
            Some(format!("/ui/workspaces/{id}/orphan-webhooks")),
            "signals that came while no campaign of the account was running",
        ),
        tile(
            "Skips waiting",
            t.recoverable_skips_waiting,
            "retried hourly and on resume".to_string(),
            None,
            "recoverable pre-flight skips (campaign paused, account disconnected…)",
        ),
        tile(
            "Policy failures",
            t.policy_failures_24h,
            format!(
                "in the last 24 h; {} in shadow",
                t.shadow_policy_failures_24h
            ),
            Some(format!("/ui/policies?workspace={id}")),
            "decisions that fell back to the slot's fail-safe default",
        ),
    ];
    LiveCounts {
        workspace_id: id.clone(),
        tiles,
        accepted: o.campaigns.iter().map(|k| k.enrollments.accepted).sum(),
        campaigns: o
            .campaigns
            .iter()
            .map(|k| CampaignLine {
                status: k.status.as_str(),
                counts: k.clone(),
            })
            .collect(),
    }
}

fn account_line(h: AccountHealth, now: i64) -> AccountLine {
    let usage = |u: &accord_core::lifecycle::account_health::ActionUsage| {
        format!(
            "{} / {} today · {} / {} this week",
            u.today, u.today_cap, u.week, u.weekly_cap
        )
    };
    AccountLine {
        invites: usage(&h.invites),
        messages: usage(&h.messages),
        warmup: if h.warmup.warming_up {
            format!(
                "day {} of {} ({:.0} % of the caps)",
                h.warmup.day,
                h.warmup.ramp_days,
                h.warmup.fraction * 100.0
            )
        } else {
            "warmed up".to_string()
        },
        next_action: match &h.next_job {
            Some(j) => format!(
                "{} at {} ({}){}",
                j.action,
                view::when(Some(j.run_at)),
                view::relative(Some(j.run_at), now),
                j.wait_reason
                    .as_deref()
                    .map(|w| format!(", waiting for {w}"))
                    .unwrap_or_default()
            ),
            None => "nothing queued".to_string(),
        },
        breaker: match h.breaker.open_until {
            Some(until) if until > now => format!(
                "open until {} ({} failures)",
                view::when(Some(until)),
                h.breaker.consecutive_failures
            ),
            _ => format!(
                "{} ({} of {} failures)",
                h.breaker.state, h.breaker.consecutive_failures, h.breaker.threshold
            ),
        },
        health: h,
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    name: String,
    live: LiveCounts,
    accounts: Vec<AccountLine>,
}

#[derive(Template)]
#[template(path = "overview_live.html")]
pub(crate) struct LiveFragment {
    pub(crate) live: LiveCounts,
}

/// Reads workspace `id`'s overview as `viewing` may see it (404 otherwise).
pub(crate) async fn read(app: &App, viewing: &Viewing, id: &str) -> PageResult<WorkspaceOverview> {
    overview::overview(app, id, viewing.viewer.workspace())
        .await
        .map_err(|e| match e {
            LifecycleError::NotFound { .. } => PageError::not_found("workspace"),
            e => e.into(),
        })
}

/// The live fragment's HTML for an overview.
pub(crate) fn live_html(o: &WorkspaceOverview) -> PageResult<String> {
    Ok(LiveFragment {
        live: live_counts(o),
    }
    .render()?)
}

/// `GET /ui/workspaces/{id}`.
pub async fn overview(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
) -> PageResult<Html<String>> {
    let o = read(&app, &viewing, &id).await?;
    let now = o.computed_at;
    let page = OverviewPage {
        chrome: viewing
            .chrome(format!("{} · Overview", o.name))
            .in_workspace(&id, "overview"),
        live: live_counts(&o),
        accounts: o
            .accounts
            .iter()
            .cloned()
            .map(|h| account_line(h, now))
            .collect(),
        name: o.name,
    };
    Ok(Html(page.render()?))
}

/// `GET /ui/workspaces/{id}/counts`: the moving part alone.
pub async fn counts_fragment(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
) -> PageResult<Html<String>> {
    let o = read(&app, &viewing, &id).await?;
    Ok(Html(live_html(&o)?))
}
