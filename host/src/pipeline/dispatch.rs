//! The dispatcher: pre-flight (policy) inside the host's envelope, then
//! enqueue ONE job (`ON CONFLICT DO NOTHING` on the partial unique index)
//! or record the skip. Used by in-time advances, late auto-fire, the heal
//! ticks, the skip-retry tick and resume sweeps.

use super::{Pipeline, PipelineError};
use crate::domain::StepDef;
use crate::store::accounts::Account;
use crate::store::campaigns::Campaign;
use crate::store::enrollments::EnrollmentRow;
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

impl Pipeline {
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
        let now = self.clock.now_ms();
        let DispatchRequest { source, step_index } = request;
        let Some(step) = campaign.steps.get(step_index as usize) else {
            let detail = format!("step {step_index} does not exist");
            return self
                .skip(
                    tx,
                    account,
                    e,
                    request,
                    SkipReason::InvalidStep,
                    false,
                    &detail,
                    "host",
                    now,
                )
                .await;
        };
        let (active_job_exists, succeeded_at) = jobs::step_history(tx, &e.id, step_index).await?;
        let already_sent_at = match source {
            DispatchSource::LateAutoFire | DispatchSource::HealLate => {
                e.late_accept_followup_sent_at
            }
            _ => succeeded_at,
        };
        let input = PreflightInput {
            source,
            enrollment_id: e.id.clone(),
            campaign_id: campaign.id.clone(),
            step_index,
            step: step.to_policy(),
            account_status: account.status()?,
            campaign_status: campaign.status,
            linkedin_status: e.linkedin_status()?,
            already_sent_at,
            replied_at: e.linkedin_replied_at,
            active_job_exists,
            now,
        };
        let decision = self.policies.preflight(&input);
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
        let module = decision.module_sha256.clone();
        match decision.value {
            PreflightDecision::Skip {
                reason,
                recoverable,
                detail,
            } => {
                self.skip(
                    tx,
                    account,
                    e,
                    request,
                    reason,
                    recoverable,
                    &detail,
                    &module,
                    now,
                )
                .await
            }
            PreflightDecision::Enqueue { not_before, .. } => {
                // The envelope is the host's, whatever the policy said:
                // only message steps, only to 1st-degree connections.
                if !matches!(step, StepDef::SendMessage { .. }) {
                    let detail = "host envelope: only send_message steps are dispatched";
                    return self
                        .skip(
                            tx,
                            account,
                            e,
                            request,
                            SkipReason::InvalidStep,
                            false,
                            detail,
                            "host",
                            now,
                        )
                        .await;
                }
                if e.linkedin_status()? != LinkedinStatus::Connected {
                    let detail = "host envelope: messages go only to 1st-degree connections";
                    return self
                        .skip(
                            tx,
                            account,
                            e,
                            request,
                            SkipReason::NotConnectedToProspect,
                            false,
                            detail,
                            "host",
                            now,
                        )
                        .await;
                }
                self.enqueue(tx, account, campaign, e, request, not_before.max(now), now)
                    .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn enqueue(
        &self,
        tx: &mut Tx,
        account: &Account,
        campaign: &Campaign,
        e: &EnrollmentRow,
        request: DispatchRequest,
        not_before: i64,
        now: i64,
    ) -> Result<DispatchOutcome, PipelineError> {
        let window = campaign.window()?;
        let run_at = window.next_slot(not_before, &e.id, self.jitter_ms);
        let wait_reason = (run_at > now).then_some(if run_at > not_before {
            "window"
        } else {
            "not_before"
        });
        let job = jobs::NewJob {
            enrollment_id: &e.id,
            campaign_id: &campaign.id,
            linkedin_account_id: &account.id,
            step_index: request.step_index,
            action: "send_message",
            source: request.source.as_str(),
            run_at,
            wait_reason,
        };
        let Some(job_id) = jobs::enqueue(tx, &job, now).await? else {
            return Ok(DispatchOutcome::AlreadyQueued);
        };
        skips::resolve(tx, &e.id, request.step_index, now).await?;
        let event = NewEvent {
            workspace_id: &account.workspace_id,
            linkedin_account_id: Some(&account.id),
            enrollment_id: Some(&e.id),
            kind: "job_enqueued",
            source: Some(request.source.as_str()),
            detail: Some(
                serde_json::json!({"job_id": job_id, "step_index": request.step_index, "run_at": run_at, "wait_reason": wait_reason}),
            ),
            ..NewEvent::default()
        };
        tx.defer_event(event, now);
        metrics::counter!("accord_dispatches_total", "source" => request.source.as_str(), "outcome" => "enqueued").increment(1);
        Ok(DispatchOutcome::Enqueued { job_id, run_at })
    }

    #[allow(clippy::too_many_arguments)]
    async fn skip(
        &self,
        tx: &mut Tx,
        account: &Account,
        e: &EnrollmentRow,
        request: DispatchRequest,
        reason: SkipReason,
        recoverable: bool,
        detail: &str,
        module: &str,
        now: i64,
    ) -> Result<DispatchOutcome, PipelineError> {
        let source = request.source.as_str();
        skips::record(
            tx,
            &e.id,
            &e.campaign_id,
            request.step_index,
            source,
            reason.as_str(),
            recoverable,
            detail,
            module,
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
                "step_index": request.step_index, "reason": reason.as_str(), "recoverable": recoverable, "detail": detail,
            })),
            ..NewEvent::default()
        };
        tx.defer_event(event, now);
        metrics::counter!("accord_dispatches_total", "source" => source, "outcome" => reason.as_str()).increment(1);
        Ok(DispatchOutcome::Skipped {
            reason,
            recoverable,
        })
    }
}
