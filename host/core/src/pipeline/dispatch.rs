//! The dispatcher: pre-flight (policy) inside the host's envelope, then
//! enqueue ONE job (`ON CONFLICT DO NOTHING` on the partial unique index)
//! or record the skip. Used by in-time advances, late auto-fire, the heal
//! ticks, the skip-retry tick and resume sweeps.

use super::{Pipeline, PipelineError};
use crate::decisions::About;
use crate::domain::StepDef;
use crate::policy::calls_together;
use crate::store::accounts::{self, Account};
use crate::store::campaigns::{self, Campaign};
use crate::store::enrollments::{self, EnrollmentRow};
use crate::store::events::NewEvent;
use crate::store::traces::NewTrace;
use crate::store::{Tx, jobs, skips};
use accord_policy_core::{
    DispatchSource, LinkedinStatus, PreflightDecision, PreflightInput, SkipReason,
};
use serde::Serialize;

/// What to dispatch.
#[derive(Debug, Clone, Copy)]
pub struct DispatchRequest {
    /// Who asks.
    pub source: DispatchSource,
    /// The send_message step.
    pub step_index: u32,
}

/// The dispatcher's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DispatchOutcome {
    /// A job was enqueued.
    Enqueued {
        /// The job.
        job_id: String,
        /// Its scheduled run time (window-clamped, jittered), ms.
        run_at: i64,
    },
    /// An active job for (enrollment, step) already existed.
    AlreadyQueued,
    /// Pre-flight (or the host's envelope) said no.
    Skipped {
        /// Why.
        reason: SkipReason,
        /// Whether skip-retry and resume sweeps try again.
        recoverable: bool,
    },
}

/// One dispatch among several made together.
#[derive(Debug, Clone, Copy)]
pub struct DispatchItem<'a> {
    /// The enrollment's LinkedIn account.
    pub account: &'a Account,
    /// Its campaign.
    pub campaign: &'a Campaign,
    /// The enrollment as it now is.
    pub enrollment: &'a EnrollmentRow,
    /// What to dispatch.
    pub request: DispatchRequest,
}

/// Pre-flight's answer for one item, before anything is written.
enum Verdict {
    Skip(SkipPlan),
    Enqueue {
        run_at: i64,
        wait_reason: Option<&'static str>,
        /// The logged pre-flight decision's place in the transaction.
        logged: Option<usize>,
    },
}

/// A skip to record.
struct SkipPlan {
    reason: SkipReason,
    recoverable: bool,
    detail: String,
    /// The deciding module's sha256, or `host` for the host's envelope.
    module: String,
}

impl SkipPlan {
    fn host(reason: SkipReason, detail: impl Into<String>) -> Self {
        SkipPlan {
            reason,
            recoverable: false,
            detail: detail.into(),
            module: "host".to_string(),
        }
    }
}

impl Pipeline {
    /// Dispatches `request` again for an enrollment, in the caller's
    /// transaction: the enrollment (locked), its campaign and its account
    /// read afresh, then [`Pipeline::dispatch`]. `None` when one of them is
    /// gone. The resume sweep and the skip-retry and heal ticks all come
    /// through here; the caller commits and wakes the job worker.
    pub async fn dispatch_again(
        &self,
        tx: &mut Tx,
        enrollment_id: &str,
        request: DispatchRequest,
    ) -> Result<Option<DispatchOutcome>, PipelineError> {
        let Some(e) = enrollments::get(tx, enrollment_id, self.db.for_update()).await? else {
            return Ok(None);
        };
        let (Some(campaign), Some(account)) = (
            campaigns::get(tx, &e.campaign_id).await?,
            accounts::account(tx, &e.linkedin_account_id).await?,
        ) else {
            return Ok(None);
        };
        Ok(Some(
            self.dispatch(tx, &account, &campaign, &e, request).await?,
        ))
    }

    /// Pre-flight and enqueue inside the caller's transaction. The caller
    /// wakes the job worker after commit when a job was enqueued.
    pub async fn dispatch(
        &self,
        tx: &mut Tx,
        account: &Account,
        campaign: &Campaign,
        e: &EnrollmentRow,
        request: DispatchRequest,
    ) -> Result<DispatchOutcome, PipelineError> {
        let item = DispatchItem {
            account,
            campaign,
            enrollment: e,
            request,
        };
        match self.dispatch_many(tx, &[item]).await?.pop() {
            Some(outcome) => Ok(outcome),
            None => unreachable!("dispatch_many answers every item"),
        }
    }

    /// Pre-flight and enqueue for several items inside the caller's
    /// transaction, set-wise: one read of their job and skip history, one
    /// insert of their jobs. Each item gets exactly the outcome
    /// [`Pipeline::dispatch`] would give it alone; an enrollment named
    /// twice is dispatched the second time after the first is written.
    /// Returns one outcome per item, in order.
    pub async fn dispatch_many(
        &self,
        tx: &mut Tx,
        items: &[DispatchItem<'_>],
    ) -> Result<Vec<DispatchOutcome>, PipelineError> {
        let mut outcomes = Vec::with_capacity(items.len());
        let mut rest = items;
        while !rest.is_empty() {
            let cut = distinct_prefix(rest, |i| i.enrollment.id.as_str());
            outcomes.extend(self.dispatch_round(tx, &rest[..cut]).await?);
            rest = &rest[cut..];
        }
        Ok(outcomes)
    }

    /// Items naming distinct enrollments.
    async fn dispatch_round(
        &self,
        tx: &mut Tx,
        items: &[DispatchItem<'_>],
    ) -> Result<Vec<DispatchOutcome>, PipelineError> {
        let now = self.clock.now_ms();
        let steps: Vec<(&str, u32)> = items
            .iter()
            .map(|i| (i.enrollment.id.as_str(), i.request.step_index))
            .collect();
        let histories = jobs::step_histories(tx, &steps).await?;
        let verdicts = calls_together(|| {
            items
                .iter()
                .zip(&histories)
                .map(|(item, history)| self.preflight(tx, item, history, now))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut outcomes = Vec::with_capacity(items.len());
        let mut queued = Vec::new();
        for ((item, history), verdict) in items.iter().zip(&histories).zip(verdicts) {
            match verdict {
                Verdict::Skip(plan) => outcomes.push(self.skip(tx, item, plan, now).await?),
                Verdict::Enqueue {
                    run_at,
                    wait_reason,
                    logged,
                } => {
                    // Overwritten below when the insert takes the job.
                    queued.push((
                        outcomes.len(),
                        item,
                        history.open_skip,
                        run_at,
                        wait_reason,
                        logged,
                    ));
                    outcomes.push(DispatchOutcome::AlreadyQueued);
                }
            }
        }
        let new_jobs: Vec<jobs::NewJob<'_>> = queued
            .iter()
            .map(|(_, item, _, run_at, wait_reason, _)| jobs::NewJob {
                enrollment_id: &item.enrollment.id,
                campaign_id: &item.campaign.id,
                linkedin_account_id: &item.account.id,
                step_index: item.request.step_index,
                action: "send_message",
                source: item.request.source.as_str(),
                run_at: *run_at,
                wait_reason: *wait_reason,
            })
            .collect();
        let ids = jobs::enqueue_many(tx, &new_jobs, now).await?;
        for ((slot, item, open_skip, run_at, wait_reason, logged), id) in
            queued.into_iter().zip(ids)
        {
            let source = item.request.source.as_str();
            let Some(job_id) = id else {
                metrics::counter!("accord_dispatches_total", "source" => source, "outcome" => "already_queued").increment(1);
                continue;
            };
            if let Some(at) = logged {
                tx.set_decision_job(at, &job_id);
            }
            if open_skip {
                skips::resolve(tx, &item.enrollment.id, item.request.step_index, now).await?;
            }
            let event = NewEvent {
                workspace_id: &item.account.workspace_id,
                linkedin_account_id: Some(&item.account.id),
                enrollment_id: Some(&item.enrollment.id),
                kind: "job_enqueued",
                source: Some(source),
                detail: Some(
                    serde_json::json!({"job_id": job_id, "step_index": item.request.step_index, "run_at": run_at, "wait_reason": wait_reason}),
                ),
                ..NewEvent::default()
            };
            tx.defer_event(event, now);
            metrics::counter!("accord_dispatches_total", "source" => source, "outcome" => "enqueued").increment(1);
            outcomes[slot] = DispatchOutcome::Enqueued { job_id, run_at };
        }
        Ok(outcomes)
    }

    /// Pre-flight (the policy) inside the host's envelope, and the slot a
    /// job would take. Writes nothing but a policy-failure trace.
    fn preflight(
        &self,
        tx: &mut Tx,
        item: &DispatchItem<'_>,
        history: &jobs::StepHistory,
        now: i64,
    ) -> Result<Verdict, PipelineError> {
        let DispatchItem {
            account,
            campaign,
            enrollment: e,
            request,
        } = *item;
        let DispatchRequest { source, step_index } = request;
        let Some(step) = campaign.steps.get(step_index as usize) else {
            let detail = format!("step {step_index} does not exist");
            return Ok(Verdict::Skip(SkipPlan::host(
                SkipReason::InvalidStep,
                detail,
            )));
        };
        // A late follow-up counts as sent once stamped OR once a job for the
        // step succeeded, whichever source sent it (resume, skip-retry…).
        let already_sent_at = match source {
            DispatchSource::LateAutoFire | DispatchSource::HealLate => {
                e.late_accept_followup_sent_at.or(history.succeeded_at)
            }
            _ => history.succeeded_at,
        };
        let connection_off = self.sabotage.is_off(crate::sabotage::Gate::Connection);
        let input = PreflightInput {
            source,
            enrollment_id: e.id.clone(),
            campaign_id: campaign.id.clone(),
            step_index,
            step: step.to_policy(),
            account_status: account.status()?,
            campaign_status: campaign.status,
            linkedin_status: if connection_off {
                LinkedinStatus::Connected
            } else {
                e.linkedin_status()?
            },
            already_sent_at,
            replied_at: e.linkedin_replied_at,
            active_job_exists: history.active_job_exists,
            now,
        };
        let about = About {
            inbox_id: None,
            enrollment_id: Some(&e.id),
        };
        let (decision, logged) = self
            .decisions
            .preflight(tx, about, &account.workspace_id, &input);
        if let Some(error) = &decision.error {
            let trace = NewTrace {
                workspace_id: Some(&account.workspace_id),
                linkedin_account_id: Some(&account.id),
                enrollment_id: Some(&e.id),
                kind: "policy_failure",
                detail: serde_json::json!({"slot": "preflight", "kind": error.kind(), "error": error.to_string(), "source": source.as_str()}),
                module_sha256: Some(&decision.module_sha256),
                ..NewTrace::default()
            };
            tx.defer_trace(trace, now);
        }
        let not_before = match decision.value {
            PreflightDecision::Skip {
                reason,
                recoverable,
                detail,
            } => {
                return Ok(Verdict::Skip(SkipPlan {
                    reason,
                    recoverable,
                    detail,
                    module: decision.module_sha256.to_string(),
                }));
            }
            PreflightDecision::Enqueue { not_before, .. } => not_before.max(now),
        };
        // The envelope is the host's, whatever the policy said: only
        // message steps, only to 1st-degree connections.
        if !matches!(step, StepDef::SendMessage { .. }) {
            let detail = "host envelope: only send_message steps are dispatched";
            return Ok(Verdict::Skip(SkipPlan::host(
                SkipReason::InvalidStep,
                detail,
            )));
        }
        if e.linkedin_status()? != LinkedinStatus::Connected && !connection_off {
            let detail = "host envelope: messages go only to 1st-degree connections";
            return Ok(Verdict::Skip(SkipPlan::host(
                SkipReason::NotConnectedToProspect,
                detail,
            )));
        }
        let run_at = self
            .sabotage
            .place(&campaign.window()?, not_before, &e.id, self.jitter_ms);
        let wait_reason = (run_at > now).then_some(if run_at > not_before {
            "window"
        } else {
            "not_before"
        });
        Ok(Verdict::Enqueue {
            run_at,
            wait_reason,
            logged,
        })
    }

    async fn skip(
        &self,
        tx: &mut Tx,
        item: &DispatchItem<'_>,
        plan: SkipPlan,
        now: i64,
    ) -> Result<DispatchOutcome, PipelineError> {
        let DispatchItem {
            account,
            enrollment: e,
            request,
            ..
        } = *item;
        let source = request.source.as_str();
        let reason = plan.reason;
        skips::record(
            tx,
            &e.id,
            &e.campaign_id,
            request.step_index,
            source,
            reason.as_str(),
            plan.recoverable,
            &plan.detail,
            &plan.module,
            now,
        )
        .await?;
        let event = NewEvent {
            workspace_id: &account.workspace_id,
            linkedin_account_id: Some(&account.id),
            enrollment_id: Some(&e.id),
            kind: "dispatch_skipped",
            source: Some(source),
            detail: Some(serde_json::json!({
                "step_index": request.step_index, "reason": reason.as_str(), "recoverable": plan.recoverable, "detail": plan.detail,
            })),
            ..NewEvent::default()
        };
        tx.defer_event(event, now);
        metrics::counter!("accord_dispatches_total", "source" => source, "outcome" => reason.as_str()).increment(1);
        Ok(DispatchOutcome::Skipped {
            reason,
            recoverable: plan.recoverable,
        })
    }
}

/// The length of the longest prefix of `items` whose keys are distinct
/// (at least 1 when `items` is not empty).
fn distinct_prefix<T>(items: &[T], key: impl Fn(&T) -> &str) -> usize {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .position(|i| !seen.insert(key(i)))
        .unwrap_or(items.len())
}
