//! Claiming due jobs inside the envelope. One transaction per round:
//! candidates are due jobs of connected accounts in running campaigns
//! whose spacing and breaker allow an action (PostgreSQL: `FOR UPDATE OF j
//! SKIP LOCKED`, and the account row locked while its caps are counted, so
//! two workers can never exceed a cap; SQLite: the single writer). Each
//! candidate is then checked against the window and the caps (with the
//! ramp), and either claimed (fence + 1) or rescheduled with its reason.

use super::gates::{local_day, ramped_cap};
use super::{Engine, EngineError};
use crate::clock::{DAY_MS, Millis};
use crate::sabotage::Gate;
use crate::store::campaigns::{self, Campaign};
use crate::store::jobs::Job;
use crate::store::{Backend, Tx, sql};
use crate::window::jitter;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// A job this worker holds, with the fence its completion must present.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The job as claimed.
    pub job: Job,
    /// The fencing token.
    pub fence: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct AccountGate {
    id: String,
    time_zone: String,
    warmup_started_at: i64,
    daily_invite_cap: i64,
    weekly_invite_cap: i64,
    daily_message_cap: i64,
    weekly_message_cap: i64,
    min_spacing_ms: i64,
    next_action_at: i64,
}

/// Actions used by an account: (today, this rolling week, oldest in week).
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    day: i64,
    week: i64,
    oldest_in_week: Option<i64>,
}

impl Engine {
    /// Puts jobs whose lease expired (a dead worker) back in the queue;
    /// their fence moves on at the next claim, so the dead worker's late
    /// completion is refused. The dead worker may have sent before it died,
    /// so the job is marked in doubt from its claim: the provider's record
    /// is read before it is sent again.
    pub(crate) async fn reclaim_expired(&self) -> Result<u64, EngineError> {
        let now = self.clock.now_ms();
        let r = sqlx::query(
            "UPDATE campaign_send_jobs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
             wait_reason = 'reclaimed', updated_at = $1, outcome_unknown_at = COALESCE(outcome_unknown_at, claimed_at), \
             operator_verdict = NULL WHERE status = 'processing' AND lease_expires_at < $1",
        )
        .bind(now)
        .execute(self.db.pool())
        .await?;
        if r.rows_affected() > 0 {
            tracing::warn!(
                jobs = r.rows_affected(),
                "reclaimed jobs whose worker lease expired"
            );
        }
        Ok(r.rows_affected())
    }

    /// Claims up to `batch` jobs that pass every gate.
    pub async fn claim(&self) -> Result<Vec<Claimed>, EngineError> {
        Ok(self.claim_batch().await?.0)
    }

    /// Claims up to `batch` jobs that pass every gate; also says whether
    /// the candidates filled the batch (more may be due: claim again).
    pub(crate) async fn claim_batch(&self) -> Result<(Vec<Claimed>, bool), EngineError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin().await?;
        let lock = match self.db.backend() {
            Backend::Postgres => " FOR UPDATE OF j SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let cols = crate::store::jobs::COLUMNS
            .split(", ")
            .map(|c| format!("j.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        // Driven by the accounts that may act now and their running
        // campaigns (SQLite keeps a CROSS JOIN's order), each campaign's due
        // jobs read through its own index range: the jobs of accounts
        // waiting out their spacing and of paused campaigns stay due and
        // are never walked.
        let candidates: Vec<Job> = sqlx::query_as(sql(format!(
            "SELECT {cols} FROM linkedin_accounts a CROSS JOIN campaigns c CROSS JOIN campaign_send_jobs j \
             WHERE a.status = 'connected' AND a.next_action_at <= $1 \
             AND (a.breaker_open_until IS NULL OR a.breaker_open_until <= $1) \
             AND c.linkedin_account_id = a.id AND c.status = 'running' \
             AND j.campaign_id = c.id AND j.linkedin_account_id = a.id AND j.status = 'pending' AND j.run_at <= $1 \
             ORDER BY j.run_at, j.id LIMIT $2{lock}"
        )))
        .bind(now)
        .bind(self.config.batch as i64)
        .fetch_all(&mut *tx)
        .await?;
        let full = candidates.len() >= self.config.batch;
        let mut by_account: Vec<(String, Vec<Job>)> = Vec::new();
        for job in candidates {
            match by_account
                .iter_mut()
                .find(|(a, _)| *a == job.linkedin_account_id)
            {
                Some((_, jobs)) => jobs.push(job),
                None => by_account.push((job.linkedin_account_id.clone(), vec![job])),
            }
        }
        by_account.sort_by(|a, b| a.0.cmp(&b.0)); // a fixed lock order: no deadlocks
        let mut campaigns_seen: HashMap<String, Campaign> = HashMap::new();
        let mut claimed = Vec::new();
        for (account_id, jobs) in by_account {
            let lock = self.db.for_update();
            let account: Option<AccountGate> = sqlx::query_as(sql(format!(
                "SELECT id, time_zone, warmup_started_at, daily_invite_cap, weekly_invite_cap, daily_message_cap, \
                 weekly_message_cap, min_spacing_ms, next_action_at FROM linkedin_accounts WHERE id = $1{lock}"
            )))
            .bind(&account_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(account) = account else { continue };
            if account.next_action_at > now {
                continue; // another worker acted for this account meanwhile
            }
            let got = self
                .claim_for_account(&mut tx, &account, jobs, &mut campaigns_seen, now)
                .await?;
            if !got.is_empty() && !self.config.sabotage.is_off(Gate::Spacing) {
                let spacing = account.min_spacing_ms
                    + if account.min_spacing_ms > 0 {
                        jitter(
                            &format!("{}{now}", account.id),
                            self.config.spacing_jitter_ms,
                        )
                    } else {
                        0
                    };
                sqlx::query("UPDATE linkedin_accounts SET next_action_at = $1 WHERE id = $2")
                    .bind(now + spacing)
                    .bind(&account.id)
                    .execute(&mut *tx)
                    .await?;
            }
            claimed.extend(got);
        }
        tx.commit().await?;
        Ok((claimed, full))
    }

    async fn claim_for_account(
        &self,
        tx: &mut Tx,
        account: &AccountGate,
        jobs: Vec<Job>,
        campaigns_seen: &mut HashMap<String, Campaign>,
        now: Millis,
    ) -> Result<Vec<Claimed>, EngineError> {
        let (day_start, day_end) = local_day(&account.time_zone, now);
        let mut usage = usage(tx, &account.id, day_start, now - 7 * DAY_MS).await?;
        let mut to_claim = Vec::new();
        for job in jobs {
            if !campaigns_seen.contains_key(&job.campaign_id)
                && let Some(c) = campaigns::get(tx, &job.campaign_id).await?
            {
                campaigns_seen.insert(c.id.clone(), c);
            }
            let Some(campaign) = campaigns_seen.get(&job.campaign_id) else {
                continue;
            };
            let window = campaign.window()?;
            let off = |gate| self.config.sabotage.is_off(gate);
            if !window.is_open(now) && !off(Gate::Window) {
                let at = window.next_slot(now, &job.enrollment_id, self.config.window_jitter_ms);
                reschedule(tx, &job.id, at, "window", now).await?;
                continue;
            }
            let (daily, weekly) = match job.action.as_str() {
                "send_invite" => (account.daily_invite_cap, account.weekly_invite_cap),
                _ => (account.daily_message_cap, account.weekly_message_cap),
            };
            let ramped = if off(Gate::Ramp) {
                daily
            } else {
                ramped_cap(daily, account.warmup_started_at, now, &self.config.ramp)
            };
            let used = usage.entry(job.action.clone()).or_default();
            if used.day >= ramped && !off(Gate::Cap) {
                let reason = if ramped < daily { "ramp" } else { "cap" };
                let at =
                    window.next_slot(day_end, &job.enrollment_id, self.config.window_jitter_ms);
                reschedule(tx, &job.id, at, reason, now).await?;
                continue;
            }
            if used.week >= weekly && !off(Gate::Cap) {
                let at = used
                    .oldest_in_week
                    .map_or(day_end, |o| o + 7 * DAY_MS)
                    .max(now + 1);
                let at = window.next_slot(at, &job.enrollment_id, self.config.window_jitter_ms);
                reschedule(tx, &job.id, at, "cap", now).await?;
                continue;
            }
            used.day += 1;
            used.week += 1;
            used.oldest_in_week.get_or_insert(now);
            to_claim.push(job);
            if account.min_spacing_ms > 0 && !off(Gate::Spacing) {
                break; // one action per spacing interval
            }
        }
        self.take(tx, to_claim, now).await
    }

    /// Claims the chosen jobs in one statement (they are locked by this
    /// transaction): processing, leased to this worker, fence + 1.
    async fn take(
        &self,
        tx: &mut Tx,
        jobs: Vec<Job>,
        now: Millis,
    ) -> Result<Vec<Claimed>, EngineError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let statement = format!(
            "UPDATE campaign_send_jobs SET status = 'processing', lease_owner = $1, lease_expires_at = $2, \
             fence = fence + 1, claimed_at = $3, attempts = attempts + 1, wait_reason = NULL, updated_at = $3 \
             WHERE status = 'pending' AND id IN ({}) RETURNING id, fence",
            crate::store::placeholders(4, jobs.len())
        );
        let mut q = sqlx::query_as(sql(statement))
            .bind(&self.worker_id)
            .bind(now + self.config.lease_ms)
            .bind(now);
        for job in &jobs {
            q = q.bind(&job.id);
        }
        let fences: Vec<(String, i64)> = q.fetch_all(&mut **tx).await?;
        let fences: HashMap<String, i64> = fences.into_iter().collect();
        Ok(jobs
            .into_iter()
            .filter_map(|job| fences.get(&job.id).map(|&fence| Claimed { job, fence }))
            .collect())
    }
}

async fn usage(
    tx: &mut Tx,
    account_id: &str,
    day_start: Millis,
    week_start: Millis,
) -> Result<HashMap<String, Usage>, EngineError> {
    // A send in doubt (its answer lost) may have reached LinkedIn: it
    // counts, at its attempt, while it waits to be reconciled.
    let rows: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT action, COALESCE(SUM(CASE WHEN COALESCE(outcome_unknown_at, claimed_at) >= $1 THEN 1 ELSE 0 END), 0), \
         COUNT(*), MIN(COALESCE(outcome_unknown_at, claimed_at)) \
         FROM campaign_send_jobs WHERE linkedin_account_id = $2 \
         AND (claimed_at >= $3 OR outcome_unknown_at >= $3) \
         AND (status IN ('processing', 'succeeded', 'failed') OR (status = 'pending' AND outcome_unknown_at IS NOT NULL)) \
         GROUP BY action",
    )
    .bind(day_start)
    .bind(account_id)
    .bind(week_start)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(a, day, week, oldest)| {
            (
                a,
                Usage {
                    day,
                    week,
                    oldest_in_week: oldest,
                },
            )
        })
        .collect())
}

async fn reschedule(
    tx: &mut Tx,
    job_id: &str,
    run_at: Millis,
    reason: &str,
    now: Millis,
) -> Result<(), EngineError> {
    sqlx::query("UPDATE campaign_send_jobs SET run_at = $1, wait_reason = $2, updated_at = $3 WHERE id = $4 AND status = 'pending'")
        .bind(run_at)
        .bind(reason)
        .bind(now)
        .bind(job_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Engine {
    /// Records why due jobs are held by their account or campaign, so the
    /// prospect detail can say why a job waits. At most once per
    /// `explain_waits_every_ms` of the clock: a pass reads every due job,
    /// and rounds come every few seconds while a label is read by people.
    ///
    /// One statement labels every due job held by its campaign or account
    /// with the one reason that holds it, the most lasting first (a paused
    /// campaign outlasts a disconnected account, which outlasts an open
    /// breaker, which outlasts the spacing), and writes only labels that
    /// change: a job held by two causes is not relabelled back and forth.
    pub(crate) async fn explain_waits(&self) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        // `i64::MIN` (never) starts a range no clock reading falls in.
        let last = self.waits_explained_at.load(Ordering::Relaxed);
        if (last..last.saturating_add(self.config.explain_waits_every_ms)).contains(&now) {
            return Ok(());
        }
        sqlx::query(
            "UPDATE campaign_send_jobs SET wait_reason = w.reason FROM ( \
               SELECT j.id, CASE WHEN c.status <> 'running' THEN 'campaign' \
                 WHEN a.status <> 'connected' THEN 'account' \
                 WHEN a.breaker_open_until > $1 THEN 'breaker' \
                 WHEN a.next_action_at > $1 THEN 'spacing' END AS reason \
               FROM campaign_send_jobs j JOIN campaigns c ON c.id = j.campaign_id \
               JOIN linkedin_accounts a ON a.id = j.linkedin_account_id \
               WHERE j.status = 'pending' AND j.run_at <= $1) w \
             WHERE campaign_send_jobs.id = w.id AND w.reason IS NOT NULL \
             AND (campaign_send_jobs.wait_reason IS NULL OR campaign_send_jobs.wait_reason <> w.reason)",
        )
        .bind(now)
        .execute(self.db.pool())
        .await?;
        self.waits_explained_at.store(now, Ordering::Relaxed);
        Ok(())
    }
}
