//! The one accept-signal entry point.

use super::Batch;
use super::dispatch::{DispatchOutcome, DispatchRequest};
use super::{Pipeline, PipelineError};
use crate::domain::{Named, StepDef, policy_steps};
use crate::policy::Decision;
use crate::store::accounts::Account;
use crate::store::campaigns::Campaign;
use crate::store::enrollments::{self, CandidateRow, EnrollmentRow};
use crate::store::events::NewEvent;
use crate::store::outbox::{self, NewOutbox};
use crate::store::traces::NewTrace;
use crate::store::{Tx, jobs};
use crate::workflow;
use accord_policy_core::{
    AcceptSignal, CampaignStatus, DispatchSource, Enrollment, Route, RoutingInput, SignalSource,
    StampOnlyReason, WorkflowState,
};
use serde::Serialize;
use std::time::Instant;

/// What one signal did.
#[derive(Debug, Clone, Serialize)]
pub struct SignalOutcome {
    /// The signal's path.
    pub source: SignalSource,
    /// The trace kind written instead of (or besides) a stamp:
    /// `unknown_account`, `orphan_webhook`, `bridge_miss_all_strategies`.
    pub trace: Option<&'static str>,
    /// One report per matched enrollment.
    pub matches: Vec<MatchReport>,
}

/// What happened to one matched enrollment.
#[derive(Debug, Clone, Serialize)]
pub struct MatchReport {
    /// The enrollment.
    pub enrollment_id: String,
    /// The strategy that matched it.
    pub strategy: String,
    /// The stamp.
    pub stamp: StampOutcome,
    /// The route taken (`advance`, `late_auto_fire`, `stamp_only`, `ignore`), when routed.
    pub route: Option<String>,
    /// The follow-up dispatch, when one was attempted.
    pub dispatch: Option<DispatchOutcome>,
}

/// The stamp's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StampOutcome {
    /// This signal stamped the accept (and notified).
    Stamped,
    /// The accept was already stamped: nothing changed.
    AlreadyStamped,
    /// A reply stamped the reply (and the accept if it was missing).
    ReplyStamped,
    /// The reply was already recorded.
    AlreadyReplied,
    /// The enrollment vanished between match and stamp.
    Gone,
}

impl Pipeline {
    /// Runs one accept signal through match → stamp → route → dispatch in
    /// one transaction. Idempotent: the same signal again changes nothing.
    pub async fn accept_signal(
        &self,
        signal: &AcceptSignal,
    ) -> Result<SignalOutcome, PipelineError> {
        let mut tx = self.begin().await?;
        let mut batch = Batch::new();
        let outcome = self.accept_in(&mut tx, &mut batch, signal).await?;
        self.commit(tx, &batch).await?;
        Ok(outcome)
    }

    /// Runs one accept signal inside the caller's transaction (a batch of
    /// inbox rows shares one). The caller commits with
    /// [`Pipeline::commit`], which fires the batch's wake-ups.
    pub async fn accept_in(
        &self,
        tx: &mut Tx,
        batch: &mut Batch,
        signal: &AcceptSignal,
    ) -> Result<SignalOutcome, PipelineError> {
        let started = Instant::now();
        let outcome = self.accept_inner(tx, batch, signal).await;
        metrics::histogram!("accord_pipeline_seconds", "source" => signal.source.as_str())
            .record(started.elapsed().as_secs_f64());
        outcome
    }

    async fn accept_inner(
        &self,
        tx: &mut Tx,
        batch: &mut Batch,
        signal: &AcceptSignal,
    ) -> Result<SignalOutcome, PipelineError> {
        let mut outcome = SignalOutcome {
            source: signal.source,
            trace: None,
            matches: Vec::new(),
        };
        let now = self.clock.now_ms();
        let Some((account, running)) = batch.account(tx, &signal.linkedin_account_id).await? else {
            let trace = NewTrace {
                kind: "unknown_account",
                signal: signal_json(signal),
                ..NewTrace::default()
            };
            tx.defer_trace(trace, now);
            outcome.trace = Some("unknown_account");
            return Ok(outcome);
        };
        if !running {
            let trace = NewTrace {
                workspace_id: Some(&account.workspace_id),
                linkedin_account_id: Some(&account.id),
                kind: "orphan_webhook",
                signal: signal_json(signal),
                detail: serde_json::json!({"why": "the workspace has no running campaign"}),
                ..NewTrace::default()
            };
            tx.defer_trace(trace, now);
            outcome.trace = Some("orphan_webhook");
        }

        let keys = self.policies.signal_keys(signal);
        self.trace_policy_failure(tx, &account, None, &keys, signal);
        let lock = self.db.for_update_of_enrollments();
        let rows = enrollments::candidate_views(tx, &account.id, &keys.value, lock).await?;
        let candidates = rows
            .iter()
            .map(|r| r.to_policy())
            .collect::<Result<Vec<_>, _>>()?;
        let resolved = self.policies.resolve(signal, &candidates);
        self.trace_policy_failure(tx, &account, None, &resolved, signal);

        if resolved.value.matches.is_empty() {
            if outcome.trace.is_none() {
                self.bridge_miss(tx, &account, signal, &keys.value, &candidates, &resolved);
                outcome.trace = Some("bridge_miss_all_strategies");
            }
            return Ok(outcome);
        }
        for m in &resolved.value.matches {
            // The runtime checked that every match names a candidate.
            let Some(i) = rows.iter().position(|r| r.enrollment.id == m.enrollment_id) else {
                continue;
            };
            let report = self
                .stamp_and_route(
                    tx,
                    batch,
                    &account,
                    signal,
                    &rows[i],
                    &candidates[i],
                    &m.strategy,
                )
                .await?;
            outcome.matches.push(report);
        }
        Ok(outcome)
    }

    fn bridge_miss<T>(
        &self,
        tx: &mut Tx,
        account: &Account,
        signal: &AcceptSignal,
        keys: &[String],
        candidates: &[Enrollment],
        resolved: &Decision<T>,
    ) {
        let detail = serde_json::json!({
            "keys": keys,
            "candidates": candidates.iter().map(|c| &c.enrollment_id).collect::<Vec<_>>(),
            "policy_trace": resolved.trace.iter().map(|l| &l.message).collect::<Vec<_>>(),
        });
        let trace = NewTrace {
            workspace_id: Some(&account.workspace_id),
            linkedin_account_id: Some(&account.id),
            kind: "bridge_miss_all_strategies",
            signal: signal_json(signal),
            detail,
            module_sha256: Some(&resolved.module_sha256),
            ..NewTrace::default()
        };
        tx.defer_trace(trace, self.clock.now_ms());
        metrics::counter!("accord_bridge_misses_total").increment(1);
    }

    /// Records a policy failure as a `policy_failure` trace (at commit).
    pub(crate) fn trace_policy_failure<T>(
        &self,
        tx: &mut Tx,
        account: &Account,
        enrollment_id: Option<&str>,
        decision: &Decision<T>,
        signal: &AcceptSignal,
    ) {
        let Some(error) = &decision.error else {
            return;
        };
        let trace = NewTrace {
            workspace_id: Some(&account.workspace_id),
            linkedin_account_id: Some(&account.id),
            enrollment_id,
            kind: "policy_failure",
            signal: signal_json(signal),
            detail: serde_json::json!({"kind": error.kind(), "error": error.to_string()}),
            module_sha256: Some(&decision.module_sha256),
        };
        tx.defer_trace(trace, self.clock.now_ms());
    }

    /// One matched enrollment: stamp, audit, outbox, route, dispatch. The
    /// candidate row was read in this transaction (locked on PostgreSQL).
    #[allow(clippy::too_many_arguments)]
    async fn stamp_and_route(
        &self,
        tx: &mut Tx,
        batch: &mut Batch,
        account: &Account,
        signal: &AcceptSignal,
        candidate: &CandidateRow,
        before: &Enrollment,
        strategy: &str,
    ) -> Result<MatchReport, PipelineError> {
        let row = &candidate.enrollment;
        let mut report = MatchReport {
            enrollment_id: row.id.clone(),
            strategy: strategy.to_string(),
            stamp: StampOutcome::Gone,
            route: None,
            dispatch: None,
        };
        let now = self.clock.now_ms();
        let Some(campaign) = batch.campaign(tx, &row.campaign_id).await? else {
            return Ok(report);
        };
        let prospect = ProspectLabel::of(candidate);

        if signal.source == SignalSource::ReplyInferred {
            report.stamp = self
                .stamp_reply(
                    tx, account, &campaign, row, before, &prospect, signal, strategy, now,
                )
                .await?;
            batch.wake_outbox = true;
            return Ok(report);
        }
        // Route first, so the stamp and the route's own writes (the new
        // position, the late observation) are one statement.
        let routing = RoutingInput {
            signal: signal.clone(),
            enrollment: before.clone(),
            campaign: accord_policy_core::Campaign {
                campaign_id: campaign.id.clone(),
                status: campaign.status,
                steps: policy_steps(&campaign.steps),
            },
            now,
        };
        let route = self.policies.route(&routing);
        let plan = plan_route(&campaign, before, &route.value, now);
        let accepted_at = signal.observed_at.min(now);
        let stamp = enrollments::AcceptStamp {
            accepted_at,
            source: signal.source,
            strategy,
            landing: plan.landing.as_ref(),
            late_observed_at: plan.late_observed.then_some(accepted_at),
        };
        let Some(fresh) = enrollments::stamp_accept(tx, &row.id, &stamp, now).await? else {
            report.stamp = StampOutcome::AlreadyStamped;
            return Ok(report);
        };
        report.stamp = StampOutcome::Stamped;
        self.record_accept(
            tx,
            account,
            &campaign,
            &row.id,
            &prospect,
            signal,
            strategy,
            accepted_at,
            now,
        );
        batch.wake_outbox = true;
        self.trace_policy_failure(tx, account, Some(&row.id), &route, signal);
        report.route = Some(route_name(&route.value).to_string());
        if plan.landing.is_some() && candidate.has_active_job == 1 {
            // An accept makes a pending invite for this enrollment moot.
            jobs::cancel_pending(tx, &row.id, "the prospect is already connected", now).await?;
        }
        report.dispatch = self
            .apply_route(
                tx,
                account,
                &campaign,
                &fresh,
                before,
                signal,
                &route.value,
                &plan,
                now,
            )
            .await?;
        if matches!(report.dispatch, Some(DispatchOutcome::Enqueued { .. })) {
            batch.wake_jobs = true;
        }
        Ok(report)
    }

    /// The route's events and dispatch, after the stamp wrote its
    /// position change. `fresh` is the enrollment as the stamp left it.
    #[allow(clippy::too_many_arguments)]
    async fn apply_route(
        &self,
        tx: &mut Tx,
        account: &Account,
        campaign: &Campaign,
        fresh: &EnrollmentRow,
        before: &Enrollment,
        signal: &AcceptSignal,
        route: &Route,
        plan: &RoutePlan,
        now: i64,
    ) -> Result<Option<DispatchOutcome>, PipelineError> {
        let mut event = NewEvent {
            workspace_id: &account.workspace_id,
            linkedin_account_id: Some(&account.id),
            enrollment_id: Some(&fresh.id),
            source: Some(signal.source.as_str()),
            ..NewEvent::default()
        };
        match route {
            Route::Advance => {
                let from = before.step_index;
                let Some(landing) = &plan.landing else {
                    event.kind = "accept_in_time";
                    event.detail = Some(
                        serde_json::json!({"step_index": from, "note": "the workflow reads the stamp when it gets there"}),
                    );
                    tx.defer_event(event, now);
                    return Ok(None);
                };
                event.kind = "workflow_advanced";
                event.detail = Some(serde_json::json!({
                    "from": from, "to": landing.step_index, "state": landing.state.as_str(),
                }));
                tx.defer_event(event, now);
                if landing.action != workflow::StepAction::SendMessage {
                    return Ok(None);
                }
                let request = DispatchRequest {
                    source: DispatchSource::InTimeAdvance,
                    step_index: landing.step_index,
                };
                Ok(Some(
                    self.dispatch(tx, account, campaign, fresh, request).await?,
                ))
            }
            Route::LateAutoFire { step_index } => {
                event.kind = "late_accept_observed";
                event.detail = Some(
                    serde_json::json!({"followup_step": step_index, "workflow_state": before.workflow_state.as_str()}),
                );
                tx.defer_event(event, now);
                metrics::counter!("accord_late_accepts_total").increment(1);
                let request = DispatchRequest {
                    source: DispatchSource::LateAutoFire,
                    step_index: *step_index,
                };
                Ok(Some(
                    self.dispatch(tx, account, campaign, fresh, request).await?,
                ))
            }
            Route::StampOnly { reason, detail } => {
                event.kind = "accept_stamp_only";
                event.detail = Some(serde_json::json!({"reason": reason, "detail": detail}));
                tx.defer_event(event, now);
                Ok(None)
            }
            Route::Ignore { reason, detail } => {
                event.kind = "accept_ignored";
                event.detail = Some(serde_json::json!({"reason": reason, "detail": detail}));
                tx.defer_event(event, now);
                Ok(None)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn stamp_reply(
        &self,
        tx: &mut Tx,
        account: &Account,
        campaign: &Campaign,
        row: &EnrollmentRow,
        before: &Enrollment,
        prospect: &ProspectLabel<'_>,
        signal: &AcceptSignal,
        strategy: &str,
        now: i64,
    ) -> Result<StampOutcome, PipelineError> {
        let at = signal.observed_at.min(now);
        if !enrollments::stamp_reply(tx, &row.id, at, strategy, now).await? {
            return Ok(StampOutcome::AlreadyReplied);
        }
        let newly_accepted = before.accepted_at.is_none();
        let cancelled = jobs::cancel_pending(tx, &row.id, "the prospect replied", now).await?;
        let event = NewEvent {
            workspace_id: &account.workspace_id,
            linkedin_account_id: Some(&account.id),
            enrollment_id: Some(&row.id),
            kind: "reply_received",
            source: Some(signal.source.as_str()),
            strategy: Some(strategy),
            detail: Some(
                serde_json::json!({"replied_at": at, "accept_inferred": newly_accepted, "jobs_cancelled": cancelled}),
            ),
        };
        tx.defer_event(event, now);
        if newly_accepted {
            self.record_accept(
                tx, account, campaign, &row.id, prospect, signal, strategy, at, now,
            );
        }
        Ok(StampOutcome::ReplyStamped)
    }

    /// Records a new accept stamp: the counter, the `accept_stamped` audit
    /// event and the `linkedin.invite_accepted` outbox row (deduplicated on
    /// `li-accept:<linkedinAccountId>:<enrollmentId>`).
    #[allow(clippy::too_many_arguments)]
    fn record_accept(
        &self,
        tx: &mut Tx,
        account: &Account,
        campaign: &Campaign,
        enrollment_id: &str,
        prospect: &ProspectLabel<'_>,
        signal: &AcceptSignal,
        strategy: &str,
        accepted_at: i64,
        now: i64,
    ) {
        let source = signal.source;
        metrics::counter!("accord_accepts_stamped_total", "source" => source.as_str(), "strategy" => strategy.to_string())
            .increment(1);
        let event = NewEvent {
            workspace_id: &account.workspace_id,
            linkedin_account_id: Some(&account.id),
            enrollment_id: Some(enrollment_id),
            kind: "accept_stamped",
            source: Some(source.as_str()),
            strategy: Some(strategy),
            detail: Some(
                serde_json::json!({"accepted_at": accepted_at, "observed_at": signal.observed_at}),
            ),
        };
        tx.defer_event(event, now);
        let timestamp = jiff::Timestamp::from_millisecond(now)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let payload = serde_json::json!({
            "type": "linkedin.invite_accepted",
            "timestamp": timestamp,
            "data": {
                "workspace_id": account.workspace_id,
                "linkedin_account_id": account.id,
                "provider_account_id": account.provider_account_id,
                "account_name": account.display_name,
                "enrollment_id": enrollment_id,
                "campaign_id": campaign.id,
                "campaign_name": campaign.name,
                "prospect_id": prospect.id,
                "prospect_name": prospect.full_name,
                "profile_url": prospect.profile_url,
                "accepted_at": accepted_at,
                "source": source.as_str(),
                "strategy": strategy,
            }
        });
        let key = outbox::accept_key(&account.provider_account_id, enrollment_id);
        tx.defer_outbox(NewOutbox::new(
            &account.workspace_id,
            "linkedin.invite_accepted",
            &key,
            &payload,
            now,
        ));
    }
}

/// Who an accept notification names.
struct ProspectLabel<'a> {
    id: &'a str,
    full_name: Option<&'a str>,
    /// The profile URL, else the Sales Navigator lead URL.
    profile_url: Option<&'a str>,
}

impl<'a> ProspectLabel<'a> {
    fn of(c: &'a CandidateRow) -> Self {
        ProspectLabel {
            id: &c.enrollment.prospect_id,
            full_name: c.p_full_name.as_deref(),
            profile_url: c
                .p_profile_url
                .as_deref()
                .or(c.p_sales_nav_lead_url.as_deref()),
        }
    }
}

/// What a route writes with the stamp.
struct RoutePlan {
    /// The workflow's new position (an in-time accept on an invite or
    /// wait-for-accept step moves past it).
    landing: Option<workflow::Landing>,
    /// Whether the accept is recorded as late.
    late_observed: bool,
}

fn plan_route(campaign: &Campaign, before: &Enrollment, route: &Route, now: i64) -> RoutePlan {
    match route {
        Route::Advance => {
            let from = before.step_index;
            let advances = matches!(
                campaign.steps.get(from as usize),
                Some(StepDef::SendInvite { .. } | StepDef::WaitAccept { .. })
            ) && matches!(
                before.workflow_state,
                WorkflowState::Pending | WorkflowState::Active | WorkflowState::WaitingAccept
            );
            RoutePlan {
                landing: advances.then(|| workflow::enter(&campaign.steps, from + 1, now, true)),
                late_observed: false,
            }
        }
        Route::LateAutoFire { .. } => RoutePlan {
            landing: None,
            late_observed: true,
        },
        // A routing failure on a late accept still records it, so the
        // late-accepts heal tick can dispatch once things are sane.
        Route::StampOnly { reason, .. } => RoutePlan {
            landing: None,
            late_observed: *reason == StampOnlyReason::PolicyError
                && (campaign.status == CampaignStatus::Completed
                    || matches!(
                        before.workflow_state,
                        WorkflowState::TimedOut
                            | WorkflowState::ConditionSkipped
                            | WorkflowState::Completed
                    )),
        },
        Route::Ignore { .. } => RoutePlan {
            landing: None,
            late_observed: false,
        },
    }
}

fn route_name(route: &Route) -> &'static str {
    match route {
        Route::Advance => "advance",
        Route::LateAutoFire { .. } => "late_auto_fire",
        Route::StampOnly { .. } => "stamp_only",
        Route::Ignore { .. } => "ignore",
    }
}

fn signal_json(signal: &AcceptSignal) -> Option<String> {
    serde_json::to_string(signal).ok()
}
