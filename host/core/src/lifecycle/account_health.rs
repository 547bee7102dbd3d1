//! A LinkedIn account's health as the engine sees it now: its status,
//! today's actions against its caps after the warm-up ramp (the claim's
//! own arithmetic, [`crate::engine::gates`]), its next action and its
//! circuit breaker.

use super::LifecycleError;
use crate::clock::{DAY_MS, Millis};
use crate::engine::EngineConfig;
use crate::engine::gates::{local_day, ramped_cap};
use crate::store::accounts::{self, Account};
use crate::store::{Connection, claims, jobs};
use serde::Serialize;

/// Where an account is in its warm-up ramp.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Warmup {
    /// When the ramp started, ms.
    pub started_at: i64,
    /// Today's day of the ramp, 1 on the first day.
    pub day: i64,
    /// Days the ramp lasts; from the day after, the full caps apply.
    pub ramp_days: i64,
    /// The fraction of the daily caps allowed today (1.0 once warmed up).
    pub fraction: f64,
    /// Whether the ramp still limits the account.
    pub warming_up: bool,
}

/// One kind of action (invites or messages) against its caps.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActionUsage {
    /// Actions since local midnight in the account's time zone (sends in
    /// doubt included, as the claim counts them).
    pub today: i64,
    /// The daily cap as configured.
    pub daily_cap: i64,
    /// Today's cap after the warm-up ramp: what the claim allows today.
    pub today_cap: i64,
    /// Actions in the rolling 7 days.
    pub week: i64,
    /// The rolling 7-day cap.
    pub weekly_cap: i64,
}

/// The account's next scheduled action: its earliest pending job.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NextAction {
    /// The job.
    pub job_id: String,
    /// Its campaign.
    pub campaign_id: String,
    /// Its enrollment.
    pub enrollment_id: String,
    /// `send_invite` or `send_message`.
    pub action: String,
    /// When it is due, ms (not before the account's spacing allows).
    pub run_at: i64,
    /// Why it waits, if it does (window, cap, ramp, spacing, account, campaign).
    pub wait_reason: Option<String>,
}

/// The account's circuit breaker.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Breaker {
    /// `open` (the account's jobs are held) or `closed`.
    pub state: String,
    /// Consecutive transient provider failures.
    pub consecutive_failures: i64,
    /// Failures in a row that open it.
    pub threshold: i64,
    /// Until when it holds the account, ms, while open.
    pub open_until: Option<i64>,
}

/// A LinkedIn account's health.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountHealth {
    /// The account.
    pub account_id: String,
    /// Its label.
    pub display_name: String,
    /// The provider's account id.
    pub provider_account_id: String,
    /// `connected`, `disconnected`, `restricted` or `connecting`.
    pub status: String,
    /// Last status change, ms.
    pub status_changed_at: i64,
    /// IANA time zone its day is counted in.
    pub time_zone: String,
    /// Its warm-up ramp.
    pub warmup: Warmup,
    /// Invites against their caps.
    pub invites: ActionUsage,
    /// Messages against their caps.
    pub messages: ActionUsage,
    /// Minimum time between two provider actions, ms.
    pub min_spacing_ms: i64,
    /// The spacing's next free slot, ms.
    pub next_action_at: i64,
    /// The earliest pending job, if any.
    pub next_job: Option<NextAction>,
    /// The circuit breaker.
    pub breaker: Breaker,
}

/// The health of `account` at `now`, by the engine's settings.
pub async fn account_health(
    c: &mut Connection,
    engine: &EngineConfig,
    account: &Account,
    now: Millis,
) -> Result<AccountHealth, LifecycleError> {
    let (day_start, _) = local_day(&account.time_zone, now);
    let usage = claims::usage(c, &account.id, day_start, now - 7 * DAY_MS).await?;
    let used = |action: &str| {
        usage
            .iter()
            .find(|(a, _)| a == action)
            .map(|(_, u)| *u)
            .unwrap_or_default()
    };
    let ramp = &engine.ramp;
    let against = |action: &str, daily: i64, weekly: i64| {
        let u = used(action);
        ActionUsage {
            today: u.day,
            daily_cap: daily,
            today_cap: ramped_cap(daily, account.warmup_started_at, now, ramp),
            week: u.week,
            weekly_cap: weekly,
        }
    };
    let day = (now - account.warmup_started_at).max(0) / DAY_MS;
    let fraction = usize::try_from(day)
        .ok()
        .and_then(|d| ramp.get(d))
        .map_or(1.0, |f| f.clamp(0.0, 1.0));
    let breaker = accounts::breaker(c, &account.id)
        .await?
        .ok_or_else(|| LifecycleError::not_found("LinkedIn account", &account.id))?;
    let open = breaker.breaker_open_until.is_some_and(|until| until > now);
    let next_job = jobs::next_pending_of_account(c, &account.id)
        .await?
        .map(|j| NextAction {
            job_id: j.id,
            campaign_id: j.campaign_id,
            enrollment_id: j.enrollment_id,
            action: j.action,
            run_at: j.run_at,
            wait_reason: j.wait_reason,
        });
    Ok(AccountHealth {
        account_id: account.id.clone(),
        display_name: account.display_name.clone(),
        provider_account_id: account.provider_account_id.clone(),
        status: account.status.clone(),
        status_changed_at: account.status_changed_at,
        time_zone: account.time_zone.clone(),
        warmup: Warmup {
            started_at: account.warmup_started_at,
            day: day + 1,
            ramp_days: ramp.len() as i64,
            fraction,
            warming_up: fraction < 1.0,
        },
        invites: against(
            "send_invite",
            account.daily_invite_cap,
            account.weekly_invite_cap,
        ),
        messages: against(
            "send_message",
            account.daily_message_cap,
            account.weekly_message_cap,
        ),
        min_spacing_ms: account.min_spacing_ms,
        next_action_at: account.next_action_at,
        next_job,
        breaker: Breaker {
            state: if open { "open" } else { "closed" }.to_string(),
            consecutive_failures: breaker.consecutive_failures,
            threshold: engine.breaker_threshold,
            open_until: breaker.breaker_open_until.filter(|_| open),
        },
    })
}
