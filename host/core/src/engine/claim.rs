//! Claiming due jobs inside the envelope. One transaction per round:
//! candidates are due jobs of connected accounts in running campaigns
//! whose spacing and breaker allow an action (the store's `claims` says
//! how they are locked). Each candidate is then checked against the
//! window and the caps (with the ramp), and either claimed (fence + 1) or
//! rescheduled with its reason.

use super::gates::{local_day, ramped_cap};
use super::{Engine, EngineError};
use crate::clock::{DAY_MS, Millis};
use crate::sabotage::Gate;
use crate::store::Tx;
use crate::store::campaigns::{self, Campaign};
use crate::store::claims::{self, AccountGate, Usage};
use crate::store::jobs::Job;
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

impl Engine {
    /// Puts jobs whose lease expired (a dead worker) back in the queue;
    /// their fence moves on at the next claim, so the dead worker's late
    /// completion is refused. The dead worker may have sent before it died,
    /// so the job is marked in doubt from its claim: the provider's record
    /// is read before it is sent again.
    pub(crate) async fn reclaim_expired(&self) -> Result<u64, EngineError> {
        let now = self.clock.now_ms();
        let mut c = self.db.acquire().await?;
        let reclaimed = claims::reclaim_expired(&mut c, now).await?;
        if reclaimed > 0 {
            tracing::warn!(
                jobs = reclaimed,
                "reclaimed jobs whose worker lease expired"
            );
        }
        Ok(reclaimed)
    }

    /// Claims up to `batch` jobs that pass every gate.
    pub async fn claim(&self) -> Result<Vec<Claimed>, EngineError> {
        Ok(self.claim_batch().await?.0)
    }

    /// Claims up to `batch` jobs that pass every gate; also says whether
    /// more may be claimable now (claim again): the candidates filled the
    /// batch and some were claimed, or a campaign's candidates were cut at
    /// [`claims::PER_CAMPAIGN`] and its account went through them all
    /// without its spacing stopping it.
    pub(crate) async fn claim_batch(&self) -> Result<(Vec<Claimed>, bool), EngineError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin().await?;
        let candidates = claims::candidates(&mut tx, now, self.config.batch as i64).await?;
        let full = candidates.len() >= self.config.batch;
        let mut more = false;
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
            let Some(account) = claims::account_gate(&mut tx, &account_id).await? else {
                continue;
            };
            if account.next_action_at > now {
                continue; // another worker acted for this account meanwhile
            }
            let cut = {
                let mut per_campaign: HashMap<&str, i64> = HashMap::new();
                for job in &jobs {
                    *per_campaign.entry(job.campaign_id.as_str()).or_default() += 1;
                }
                per_campaign.values().any(|&n| n >= claims::PER_CAMPAIGN)
            };
            let (got, spaced) = self
                .claim_for_account(&mut tx, &account, jobs, &mut campaigns_seen, now)
                .await?;
            more |= cut && !spaced;
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
                claims::charge_spacing(&mut tx, &account.id, now + spacing).await?;
            }
            claimed.extend(got);
        }
        tx.commit().await?;
        let again = more || (full && !claimed.is_empty());
        Ok((claimed, again))
    }

    async fn claim_for_account(
        &self,
        tx: &mut Tx,
        account: &AccountGate,
        jobs: Vec<Job>,
        campaigns_seen: &mut HashMap<String, Campaign>,
        now: Millis,
    ) -> Result<(Vec<Claimed>, bool), EngineError> {
        let (day_start, day_end) = local_day(&account.time_zone, now);
        let mut usage: HashMap<String, Usage> =
            claims::usage(tx, &account.id, day_start, now - 7 * DAY_MS)
                .await?
                .into_iter()
                .collect();
        let mut to_claim = Vec::new();
        // Whether the account's spacing ended the walk (the rest wait).
        let mut spaced = false;
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
                claims::reschedule(tx, &job.id, at, "window", now).await?;
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
                claims::reschedule(tx, &job.id, at, reason, now).await?;
                continue;
            }
            if used.week >= weekly && !off(Gate::Cap) {
                let at = used
                    .oldest_in_week
                    .map_or(day_end, |o| o + 7 * DAY_MS)
                    .max(now + 1);
                let at = window.next_slot(at, &job.enrollment_id, self.config.window_jitter_ms);
                claims::reschedule(tx, &job.id, at, "cap", now).await?;
                continue;
            }
            used.day += 1;
            used.week += 1;
            used.oldest_in_week.get_or_insert(now);
            to_claim.push(job);
            if account.min_spacing_ms > 0 && !off(Gate::Spacing) {
                spaced = true;
                break; // one action per spacing interval
            }
        }
        Ok((self.take(tx, to_claim, now).await?, spaced))
    }

    /// Claims the chosen jobs in one statement (they are locked by this
    /// transaction): processing, leased to this worker, fence + 1.
    async fn take(
        &self,
        tx: &mut Tx,
        jobs: Vec<Job>,
        now: Millis,
    ) -> Result<Vec<Claimed>, EngineError> {
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        let fences =
            claims::take(tx, &ids, &self.worker_id, now + self.config.lease_ms, now).await?;
        let fences: HashMap<String, i64> = fences.into_iter().collect();
        Ok(jobs
            .into_iter()
            .filter_map(|job| fences.get(&job.id).map(|&fence| Claimed { job, fence }))
            .collect())
    }
}

impl Engine {
    /// Records why due jobs are held by their account or campaign, so the
    /// prospect detail can say why a job waits. At most once per
    /// `explain_waits_every_ms` of the clock: a pass reads every due job's
    /// label, and rounds come every few seconds while a label is read by
    /// people.
    pub(crate) async fn explain_waits(&self) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        // `i64::MIN` (never) starts a range no clock reading falls in.
        let last = self.waits_explained_at.load(Ordering::Relaxed);
        if (last..last.saturating_add(self.config.explain_waits_every_ms)).contains(&now) {
            return Ok(());
        }
        let mut c = self.db.acquire().await?;
        claims::explain_waits(&mut c, now).await?;
        self.waits_explained_at.store(now, Ordering::Relaxed);
        Ok(())
    }
}
