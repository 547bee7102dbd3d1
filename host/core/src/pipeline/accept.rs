//! The one accept-signal entry point.

use super::Batch;
use super::dispatch::{DispatchItem, DispatchOutcome, DispatchRequest};
use super::{Pipeline, PipelineError};
use crate::decisions::About;
use crate::domain::{Named, StepDef, policy_steps};
use crate::policy::{Decision, calls_together};
use crate::store::accounts::Account;
use crate::store::campaigns::Campaign;
use crate::store::enrollments::{self, CandidateQuery, CandidateRow, EnrollmentRow};
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
use std::collections::HashMap;
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

impl SignalOutcome {
    fn new(source: SignalSource) -> Self {
        SignalOutcome {
            source,
            trace: None,
            matches: Vec::new(),
        }
    }
}

/// A signal once its account is known and the match policy named its keys.
struct Prepared<'s> {
    signal: &'s AcceptSignal,
    /// The inbox row it came from, if it came from one.
    inbox_id: Option<&'s str>,
    outcome: SignalOutcome,
    /// The account and the keys; `None` for an unknown account.
    matching: Option<(Account, Decision<Vec<String>>)>,
}

/// One matched enrollment on its way through stamp, route and dispatch.
struct Work {
    /// Index of its signal among the round's.
    signal: usize,
    candidate: CandidateRow,
    /// The enrollment as the policies saw it before the stamp.
    before: Enrollment,
    report: MatchReport,
}

/// A matched accept, routed, waiting for the round's stamp statement.
struct Routed {
    work: usize,
    campaign: Campaign,
    route: Decision<Route>,
    plan: RoutePlan,
    accepted_at: i64,
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

    /// Runs one accept signal inside the caller's transaction. The caller
    /// commits with [`Pipeline::commit`], which fires the batch's wake-ups.
    pub async fn accept_in(
        &self,
        tx: &mut Tx,
        batch: &mut Batch,
        signal: &AcceptSignal,
    ) -> Result<SignalOutcome, PipelineError> {
        match self
            .accept_many(tx, batch, std::slice::from_ref(signal), &[])
            .await?
            .pop()
        {
            Some(outcome) => Ok(outcome),
            None => unreachable!("accept_many answers every signal"),
        }
    }

    /// Runs several accept signals inside the caller's transaction,
    /// set-wise: one candidate look-up, one stamp statement, one job
    /// history read and one job insert for all of them (a batch of inbox
    /// rows shares them). Each signal gets exactly the outcome it would
    /// get alone, in order: a signal whose candidates an earlier signal of
    /// the batch matched waits for that one's writes (a new round).
    /// `inbox_ids` names the inbox row of each signal (empty when they
    /// came from elsewhere), for the decision log.
    /// Returns one outcome per signal, in order.
    pub async fn accept_many(
        &self,
        tx: &mut Tx,
        batch: &mut Batch,
        signals: &[AcceptSignal],
        inbox_ids: &[String],
    ) -> Result<Vec<SignalOutcome>, PipelineError> {
        let started = Instant::now();
        let mut prepared = self.prepare(tx, batch, signals).await?;
        for (p, id) in prepared.iter_mut().zip(inbox_ids) {
            p.inbox_id = Some(id);
        }
        let mut done = 0;
        while done < prepared.len() {
            done += self.accept_round(tx, batch, &mut prepared[done..]).await?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        Ok(prepared
            .into_iter()
            .map(|p| {
                metrics::histogram!("accord_pipeline_seconds", "source" => p.signal.source.as_str())
                    .record(elapsed);
                p.outcome
            })
            .collect())
    }

    /// Finds each signal's account and asks the match policy for its
    /// keys; traces unknown accounts and workspaces with nothing running.
    async fn prepare<'s>(
        &self,
        tx: &mut Tx,
        batch: &mut Batch,
        signals: &'s [AcceptSignal],
    ) -> Result<Vec<Prepared<'s>>, PipelineError> {
        let now = self.clock.now_ms();
        let ids: Vec<&str> = signals
            .iter()
            .map(|s| s.linkedin_account_id.as_str())
            .collect();
        let accounts = batch.accounts(tx, &ids).await?;
        let decisions = &self.decisions;
        let mut keys = calls_together(|| {
            signals
                .iter()
                .zip(&accounts)
                .map(|(signal, account)| {
                    account
                        .as_ref()
                        .map(|(a, _)| decisions.signal_keys(&a.workspace_id, signal))
                })
                .collect::<Vec<_>>()
        })
        .into_iter();
        let mut prepared = Vec::with_capacity(signals.len());
        for (signal, account) in signals.iter().zip(accounts) {
            let mut outcome = SignalOutcome::new(signal.source);
            let (Some((account, running)), Some(Some(keys))) = (account, keys.next()) else {
                let trace = NewTrace {
                    kind: "unknown_account",
                    signal: signal_json(signal),
                    ..NewTrace::default()
                };
                tx.defer_trace(trace, now);
                outcome.trace = Some("unknown_account");
                prepared.push(Prepared {
                    signal,
                    inbox_id: None,
                    outcome,
                    matching: None,
                });
                continue;
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
            self.trace_policy_failure(tx, &account, None, &keys, signal);
            prepared.push(Prepared {
                signal,
                inbox_id: None,
                outcome,
                matching: Some((account, keys)),
            });
        }
        Ok(prepared)
    }

    /// One round: match the signals (up to the first whose candidates an
    /// earlier one matched), stamp them in one statement, route and
    /// dispatch them. Returns how many signals it finished.
    async fn accept_round(
        &self,
        tx: &mut Tx,
        batch: &mut Batch,
        prepared: &mut [Prepared<'_>],
    ) -> Result<usize, PipelineError> {
        let (taken, mut works) = self.match_round(tx, prepared).await?;
        let routed = self.route_round(tx, batch, prepared, &mut works).await?;
        self.stamp_round(tx, batch, prepared, &mut works, routed)
            .await?;
        for work in works {
            prepared[work.signal].outcome.matches.push(work.report);
        }
        Ok(taken)
    }

    /// Reads the candidates of all signals at once and resolves them in
    /// order. Stops before a signal whose candidates an earlier signal of
    /// the round matched: that one needs the earlier writes.
    async fn match_round(
        &self,
        tx: &mut Tx,
        prepared: &mut [Prepared<'_>],
    ) -> Result<(usize, Vec<Work>), PipelineError> {
        let queries: Vec<CandidateQuery<'_>> = prepared
            .iter()
            .filter_map(|p| p.matching.as_ref())
            .map(|(account, keys)| CandidateQuery {
                account_id: &account.id,
                keys: &keys.value,
                key_space: &keys.module_sha256,
            })
            .collect();
        let lock = self.db.for_update_of_enrollments();
        let found = enrollments::candidate_views(tx, &queries, lock)
            .await?
            .into_iter();
        calls_together(|| self.resolve_all(tx, prepared, found))
    }

    /// The match policy's `resolve` for each signal, in order, up to the
    /// first whose candidates an earlier signal matched.
    fn resolve_all(
        &self,
        tx: &mut Tx,
        prepared: &mut [Prepared<'_>],
        mut found: std::vec::IntoIter<Vec<CandidateRow>>,
    ) -> Result<(usize, Vec<Work>), PipelineError> {
        let mut touched = std::collections::HashSet::new();
        let mut works = Vec::new();
        for (i, p) in prepared.iter_mut().enumerate() {
            let Some((account, keys)) = &p.matching else {
                continue;
            };
            let rows = found.next().unwrap_or_default();
            if rows.iter().any(|r| touched.contains(&r.enrollment.id)) {
                return Ok((i, works));
            }
            let candidates = rows
                .iter()
                .map(|r| r.to_policy())
                .collect::<Result<Vec<_>, _>>()?;
            let about = About {
                inbox_id: p.inbox_id,
                enrollment_id: None,
            };
            let resolved =
                self.decisions
                    .resolve(tx, about, &account.workspace_id, p.signal, &candidates);
            self.trace_policy_failure(tx, account, None, &resolved, p.signal);
            if resolved.value.matches.is_empty() {
                if p.outcome.trace.is_none() {
                    self.bridge_miss(tx, account, p.signal, &keys.value, &candidates, &resolved);
                    p.outcome.trace = Some("bridge_miss_all_strategies");
                }
                continue;
            }
            for m in &resolved.value.matches {
                // The runtime checked that every match names a candidate.
                let Some(at) = rows.iter().position(|r| r.enrollment.id == m.enrollment_id) else {
                    continue;
                };
                if !touched.insert(m.enrollment_id.clone()) {
                    continue;
                }
                works.push(Work {
                    signal: i,
                    candidate: rows[at].clone(),
                    before: candidates[at].clone(),
                    report: MatchReport {
                        enrollment_id: m.enrollment_id.clone(),
                        strategy: m.strategy.clone(),
                        stamp: StampOutcome::Gone,
                        route: None,
                        dispatch: None,
                    },
                });
            }
        }
        Ok((prepared.len(), works))
    }

    /// Routes every matched accept (a reply is stamped here, on its own
    /// path); returns the accepts to stamp.
    async fn route_round(
        &self,
        tx: &mut Tx,
        batch: &mut Batch,
        prepared: &[Prepared<'_>],
        works: &mut [Work],
    ) -> Result<Vec<Routed>, PipelineError> {
        let now = self.clock.now_ms();
        let wanted: Vec<(&str, &str)> = works
            .iter()
            .map(|w| {
                let c = &w.candidate;
                (
                    c.enrollment.campaign_id.as_str(),
                    c.campaign_status.as_str(),
                )
            })
            .collect();
        let campaigns = self.campaigns_as_read(tx, &wanted).await?;
        let mut to_route = Vec::with_capacity(works.len());
        for ((w, work), campaign) in works.iter_mut().enumerate().zip(campaigns) {
            let p = &prepared[work.signal];
            let (Some((account, _)), Some(campaign)) = (&p.matching, campaign) else {
                continue;
            };
            if p.signal.source == SignalSource::ReplyInferred {
                let prospect = ProspectLabel::of(&work.candidate);
                work.report.stamp = self
                    .stamp_reply(
                        tx,
                        account,
                        &campaign,
                        &work.candidate.enrollment,
                        &work.before,
                        &prospect,
                        p.signal,
                        &work.report.strategy,
                        now,
                    )
                    .await?;
                batch.wake_outbox = true;
                continue;
            }
            to_route.push((w, campaign));
        }
        // Route first, so the stamp and the route's own writes (the new
        // position, the late observation) are one statement.
        let routed = calls_together(|| {
            to_route
                .into_iter()
                .map(|(w, campaign)| {
                    let work = &works[w];
                    let signal = prepared[work.signal].signal;
                    let input = RoutingInput {
                        signal: signal.clone(),
                        enrollment: work.before.clone(),
                        campaign: accord_policy_core::Campaign {
                            campaign_id: campaign.id.clone(),
                            status: campaign.status,
                            steps: policy_steps(&campaign.steps),
                        },
                        now,
                    };
                    let about = About {
                        inbox_id: prepared[work.signal].inbox_id,
                        enrollment_id: Some(&work.candidate.enrollment.id),
                    };
                    let route = self
                        .decisions
                        .route(tx, about, &campaign.workspace_id, &input);
                    let plan = plan_route(&campaign, &work.before, &route.value, now);
                    Routed {
                        work: w,
                        campaign,
                        route,
                        plan,
                        accepted_at: signal.observed_at.min(now),
                    }
                })
                .collect::<Vec<_>>()
        });
        Ok(routed)
    }

    /// Stamps the round's routed accepts in one statement, then records
    /// what each new stamp owes: audit, outbox, the route's events, the
    /// cancelled invite, the follow-up dispatch.
    async fn stamp_round(
        &self,
        tx: &mut Tx,
        batch: &mut Batch,
        prepared: &[Prepared<'_>],
        works: &mut [Work],
        routed: Vec<Routed>,
    ) -> Result<(), PipelineError> {
        let now = self.clock.now_ms();
        let stamps: Vec<(&str, enrollments::AcceptStamp<'_>)> = routed
            .iter()
            .map(|r| {
                let work = &works[r.work];
                let stamp = enrollments::AcceptStamp {
                    accepted_at: r.accepted_at,
                    source: prepared[work.signal].signal.source,
                    strategy: &work.report.strategy,
                    landing: r.plan.landing.as_ref(),
                    late_observed_at: r.plan.late_observed.then_some(r.accepted_at),
                };
                (work.candidate.enrollment.id.as_str(), stamp)
            })
            .collect();
        let mut fresh: HashMap<String, EnrollmentRow> =
            enrollments::stamp_accepts(tx, &stamps, now)
                .await?
                .into_iter()
                .map(|row| (row.id.clone(), row))
                .collect();
        drop(stamps);
        // (routed entry, the row as stamped) for each new stamp.
        let mut stamped = Vec::with_capacity(routed.len());
        let mut cancel = Vec::new();
        for r in routed {
            let work = &mut works[r.work];
            let Some(row) = fresh.remove(&work.candidate.enrollment.id) else {
                work.report.stamp = StampOutcome::AlreadyStamped;
                continue;
            };
            let p = &prepared[work.signal];
            let Some((account, _)) = &p.matching else {
                continue;
            };
            work.report.stamp = StampOutcome::Stamped;
            work.report.route = Some(route_name(&r.route.value).to_string());
            let prospect = ProspectLabel::of(&work.candidate);
            self.record_accept(
                tx,
                account,
                &r.campaign,
                &row.id,
                &prospect,
                p.signal,
                &work.report.strategy,
                r.accepted_at,
                now,
            );
            batch.wake_outbox = true;
            self.trace_policy_failure(tx, account, Some(&row.id), &r.route, p.signal);
            if r.plan.landing.is_some() && work.candidate.has_active_job == 1 {
                // An accept makes a pending invite for this enrollment moot.
                cancel.push(row.id.clone());
            }
            stamped.push((r, row));
        }
        jobs::cancel_pending_many(tx, &cancel, "the prospect is already connected", now).await?;

        let mut items = Vec::new();
        let mut item_works = Vec::new();
        for (r, row) in &stamped {
            let work = &works[r.work];
            let p = &prepared[work.signal];
            let Some((account, _)) = &p.matching else {
                continue;
            };
            let request = self.route_events(
                tx,
                account,
                row,
                &work.before,
                p.signal,
                &r.route.value,
                &r.plan,
                now,
            );
            if let Some(request) = request {
                items.push(DispatchItem {
                    account,
                    campaign: &r.campaign,
                    enrollment: row,
                    request,
                });
                item_works.push(r.work);
            }
        }
        let outcomes = self.dispatch_many(tx, &items).await?;
        drop(items);
        for (w, outcome) in item_works.into_iter().zip(outcomes) {
            if matches!(outcome, DispatchOutcome::Enqueued { .. }) {
                batch.wake_jobs = true;
            }
            works[w].report.dispatch = Some(outcome);
        }
        Ok(())
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

    /// The route's audit events, after the stamp wrote its position
    /// change; returns the follow-up to dispatch, if the route owes one.
    /// `fresh` is the enrollment as the stamp left it.
    #[allow(clippy::too_many_arguments)]
    fn route_events(
        &self,
        tx: &mut Tx,
        account: &Account,
        fresh: &EnrollmentRow,
        before: &Enrollment,
        signal: &AcceptSignal,
        route: &Route,
        plan: &RoutePlan,
        now: i64,
    ) -> Option<DispatchRequest> {
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
                    return None;
                };
                event.kind = "workflow_advanced";
                event.detail = Some(serde_json::json!({
                    "from": from, "to": landing.step_index, "state": landing.state.as_str(),
                }));
                tx.defer_event(event, now);
                (landing.action == workflow::StepAction::SendMessage).then_some(DispatchRequest {
                    source: DispatchSource::InTimeAdvance,
                    step_index: landing.step_index,
                })
            }
            Route::LateAutoFire { step_index } => {
                event.kind = "late_accept_observed";
                event.detail = Some(
                    serde_json::json!({"followup_step": step_index, "workflow_state": before.workflow_state.as_str()}),
                );
                tx.defer_event(event, now);
                metrics::counter!("accord_late_accepts_total").increment(1);
                Some(DispatchRequest {
                    source: DispatchSource::LateAutoFire,
                    step_index: *step_index,
                })
            }
            Route::StampOnly { reason, detail } => {
                event.kind = "accept_stamp_only";
                event.detail = Some(serde_json::json!({"reason": reason, "detail": detail}));
                tx.defer_event(event, now);
                None
            }
            Route::Ignore { reason, detail } => {
                event.kind = "accept_ignored";
                event.detail = Some(serde_json::json!({"reason": reason, "detail": detail}));
                tx.defer_event(event, now);
                None
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
        metrics::counter!("accord_accepts_stamped_total", "source" => source.as_str(), "strategy" => strategy_label(strategy))
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

/// A strategy name (any text a match policy returns) as a metric label:
/// the default policy's strategies, `other` for anything else, so an
/// uploaded policy cannot make a new series per call.
fn strategy_label(strategy: &str) -> &'static str {
    use accord_policy_core::defaults::strategy::*;
    [
        INVITE_BRIDGE,
        MEMBER_ID,
        SALES_NAV_DECODE,
        PUBLIC_IDENTIFIER,
    ]
    .into_iter()
    .find(|known| *known == strategy)
    .unwrap_or("other")
}
