//! Running a claimed job against the provider and recording its outcome
//! with the claim's fence (a stale worker's completion is refused).

use super::claim::Claimed;
use super::context::{Context, breaker_failure, breaker_success, event, stale};
use super::reconcile::Reconciled;
use super::{Engine, EngineError};
use crate::clock::Millis;
use crate::domain::{Named, StepDef};
use crate::pipeline::keys::{self, KeyedOn};
use crate::provider::{ErrorClass, InviteSent, ProviderError};
use crate::store::Tx;
use crate::store::accounts;
use crate::store::campaigns;
use crate::store::enrollments;
use crate::store::prospects::{self, Prospect};
use crate::store::{invites, jobs};
use crate::workflow::{self, StepAction};
use accord_policy_core::{
    AcceptSignal, AccountStatus, DispatchSource, LinkedinStatus, SignalSource,
};

impl Engine {
    /// Runs one claimed job. A claim another worker has taken over since
    /// (its lease expired) does nothing: the fence is checked before the
    /// provider is called, and again when the outcome is recorded.
    pub async fn execute(&self, claimed: Claimed) -> Result<(), EngineError> {
        if !self.still_owned(&claimed).await? {
            return stale(&claimed);
        }
        let Some(ctx) = self.context(&claimed).await? else {
            return self
                .finish(
                    &claimed,
                    "cancelled",
                    Some("the enrollment, campaign or account is gone"),
                )
                .await;
        };
        match claimed.job.action.as_str() {
            "send_invite" => self.send_invite(&claimed, &ctx).await,
            _ => self.send_message(&claimed, &ctx).await,
        }
    }

    async fn still_owned(&self, claimed: &Claimed) -> Result<bool, EngineError> {
        let mut c = self.db.acquire().await?;
        Ok(jobs::still_claimed(&mut c, &claimed.job.id, claimed.fence, &self.worker_id).await?)
    }

    async fn context(&self, claimed: &Claimed) -> Result<Option<Context>, EngineError> {
        let mut c = self.db.acquire().await?;
        let job = &claimed.job;
        let Some(enrollment) = enrollments::get(&mut c, &job.enrollment_id, "").await? else {
            return Ok(None);
        };
        let (Some(account), Some(campaign), Some(prospect)) = (
            accounts::account(&mut c, &job.linkedin_account_id).await?,
            campaigns::get(&mut c, &job.campaign_id).await?,
            prospects::get(&mut c, &enrollment.prospect_id).await?,
        ) else {
            return Ok(None);
        };
        Ok(Some(Context {
            account,
            campaign,
            enrollment,
            prospect,
        }))
    }

    /// The provider id to address: the invite's, the imported member id,
    /// or a profile lookup (Sales Navigator ids through the provider's
    /// conversion).
    async fn target(&self, ctx: &Context) -> Result<String, ProviderError> {
        if let Some(id) = &ctx.enrollment.invited_provider_id {
            return Ok(id.clone());
        }
        if let Some(id) = ctx
            .prospect
            .member_id
            .as_ref()
            .filter(|id| id.starts_with("ACo"))
        {
            return Ok(id.clone());
        }
        let (identifier, sales_nav) = lookup_identifier(&ctx.prospect);
        let profile = self
            .provider
            .get_profile(&ctx.account.provider_account_id, &identifier, sales_nav)
            .await?;
        Ok(profile.provider_id)
    }

    async fn send_invite(&self, claimed: &Claimed, ctx: &Context) -> Result<(), EngineError> {
        let note = match ctx.campaign.steps.get(claimed.job.step_index as usize) {
            Some(StepDef::SendInvite { note }) => note.clone(),
            _ => {
                return self
                    .finish(
                        claimed,
                        "failed",
                        Some("the step is no longer a send_invite"),
                    )
                    .await;
            }
        };
        let target = match self.target(ctx).await {
            Ok(t) => t,
            Err(e) => return self.provider_failed(claimed, ctx, None, e).await,
        };
        match self.reconcile(claimed, ctx, &target, None).await? {
            Reconciled::NoDoubt => {}
            Reconciled::Sent(found) => {
                let invite = InviteSent {
                    invitation_id: found.unwrap_or_default(),
                    usage: None,
                };
                return self.invite_sent(claimed, ctx, &target, invite, true).await;
            }
            Reconciled::Settled => return Ok(()),
        }
        let attempt_at = self.clock.now_ms();
        let sent = self
            .provider
            .send_invite(&ctx.account.provider_account_id, &target, note.as_deref())
            .await;
        match sent {
            Ok(invite) => self.invite_sent(claimed, ctx, &target, invite, false).await,
            Err(e) if e.class == ErrorClass::AlreadyConnected => {
                // A forensic accept: the engine's own path into the pipeline.
                let now = self.clock.now_ms();
                let mut tx = self.db.begin().await?;
                if !complete(
                    &mut tx,
                    claimed,
                    "succeeded",
                    Some("already_connected"),
                    now,
                )
                .await?
                {
                    return stale(claimed);
                }
                self.record_invite(&mut tx, ctx, &target, None, now).await?;
                breaker_success(&mut tx, &ctx.account.id).await?;
                tx.commit().await?;
                let signal = AcceptSignal {
                    source: SignalSource::EngineAlreadyConnected,
                    linkedin_account_id: ctx.account.provider_account_id.clone(),
                    member_id: Some(target),
                    public_identifier: ctx.prospect.public_identifier.clone(),
                    profile_url: ctx.prospect.profile_url.clone(),
                    full_name: ctx.prospect.full_name.clone(),
                    observed_at: now,
                };
                self.pipeline.accept_signal(&signal).await?;
                Ok(())
            }
            Err(e) if e.outcome_unknown() => {
                self.outcome_unknown(claimed, ctx, &target, attempt_at, e)
                    .await
            }
            Err(e) => self.provider_failed(claimed, ctx, Some(&target), e).await,
        }
    }

    /// An invite the provider took: the job succeeds, the invite bridge is
    /// recorded and the workflow moves past the invite step.
    async fn invite_sent(
        &self,
        claimed: &Claimed,
        ctx: &Context,
        target: &str,
        invite: InviteSent,
        reconciled: bool,
    ) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin().await?;
        if !complete(&mut tx, claimed, "succeeded", None, now).await? {
            return stale(claimed);
        }
        let invitation_id = Some(invite.invitation_id.as_str()).filter(|i| !i.is_empty());
        self.record_invite(&mut tx, ctx, target, invitation_id, now)
            .await?;
        let landing = workflow::enter(
            &ctx.campaign.steps,
            claimed.job.step_index as u32 + 1,
            now,
            false,
        );
        enrollments::set_position(&mut tx, &ctx.enrollment.id, &landing, now).await?;
        event(&mut tx, ctx, "invite_sent", serde_json::json!({"provider_id": target, "invitation_id": invitation_id, "usage": invite.usage, "reconciled": reconciled}), now).await?;
        breaker_success(&mut tx, &ctx.account.id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn send_message(&self, claimed: &Claimed, ctx: &Context) -> Result<(), EngineError> {
        let text = match ctx.campaign.steps.get(claimed.job.step_index as usize) {
            Some(StepDef::SendMessage { text }) => text.clone(),
            _ => {
                return self
                    .finish(
                        claimed,
                        "failed",
                        Some("the step is no longer a send_message"),
                    )
                    .await;
            }
        };
        // The envelope again, at execution time: 1st-degree only, never
        // after a reply.
        let status = ctx.enrollment.linkedin_status()?;
        let connection_off = self
            .config
            .sabotage
            .is_off(crate::sabotage::Gate::Connection);
        if (status != LinkedinStatus::Connected && !connection_off)
            || ctx.enrollment.linkedin_replied_at.is_some()
        {
            return self
                .finish(
                    claimed,
                    "cancelled",
                    Some("the prospect is not a connection that has not replied"),
                )
                .await;
        }
        let target = match self.target(ctx).await {
            Ok(t) => t,
            Err(e) => return self.provider_failed(claimed, ctx, None, e).await,
        };
        match self.reconcile(claimed, ctx, &target, Some(&text)).await? {
            Reconciled::NoDoubt => {}
            Reconciled::Sent(chat_id) => {
                return self
                    .message_sent(claimed, ctx, chat_id.unwrap_or_default(), true)
                    .await;
            }
            Reconciled::Settled => return Ok(()),
        }
        let attempt_at = self.clock.now_ms();
        match self
            .provider
            .send_message(&ctx.account.provider_account_id, &target, &text)
            .await
        {
            Ok(sent) => self.message_sent(claimed, ctx, sent.chat_id, false).await,
            Err(e) if e.outcome_unknown() => {
                self.outcome_unknown(claimed, ctx, &target, attempt_at, e)
                    .await
            }
            Err(e) => self.provider_failed(claimed, ctx, Some(&target), e).await,
        }
    }

    /// A message the provider took: the job succeeds, the enrollment's
    /// follow-up is stamped and, for a late accept, so is the late
    /// follow-up, in the same transaction, whatever
    /// source sent it (late auto-fire, heal, resume, skip-retry), so no
    /// later dispatch can send it again.
    async fn message_sent(
        &self,
        claimed: &Claimed,
        ctx: &Context,
        chat_id: String,
        reconciled: bool,
    ) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin().await?;
        if !complete(&mut tx, claimed, "succeeded", None, now).await? {
            return stale(claimed);
        }
        let late = matches!(claimed.job.source.as_str(), "late_auto_fire" | "heal_late")
            || ctx.enrollment.late_accept_observed_at.is_some();
        enrollments::stamp_followup(&mut tx, &ctx.enrollment.id, now).await?;
        if late {
            enrollments::stamp_late_followup(&mut tx, &ctx.enrollment.id, now).await?;
        }
        event(&mut tx, ctx, "message_sent", serde_json::json!({"step_index": claimed.job.step_index, "chat_id": chat_id, "source": claimed.job.source, "reconciled": reconciled}), now).await?;
        breaker_success(&mut tx, &ctx.account.id).await?;
        let enqueue = self
            .advance_after_message(&mut tx, claimed, ctx, late, now)
            .await?;
        tx.commit().await?;
        if enqueue {
            self.pipeline.wakers().wake_jobs();
        }
        Ok(())
    }

    /// After an in-time message, the workflow moves on (a wait, the next
    /// message through pre-flight, or the end). A late follow-up is ONE
    /// message: the workflow stays where it was.
    async fn advance_after_message(
        &self,
        tx: &mut Tx,
        claimed: &Claimed,
        ctx: &Context,
        late: bool,
        now: Millis,
    ) -> Result<bool, EngineError> {
        let e = &ctx.enrollment;
        if late
            || e.step_index != claimed.job.step_index
            || e.workflow_state()? != accord_policy_core::WorkflowState::Active
        {
            return Ok(false);
        }
        let landing = workflow::enter(
            &ctx.campaign.steps,
            claimed.job.step_index as u32 + 1,
            now,
            true,
        );
        enrollments::set_position(tx, &e.id, &landing, now).await?;
        if landing.action != StepAction::SendMessage {
            return Ok(false);
        }
        let fresh = enrollments::get(tx, &e.id, "")
            .await?
            .unwrap_or_else(|| e.clone());
        let request = crate::pipeline::DispatchRequest {
            source: DispatchSource::InTimeAdvance,
            step_index: landing.step_index,
        };
        let outcome = self
            .pipeline
            .dispatch(tx, &ctx.account, &ctx.campaign, &fresh, request)
            .await?;
        Ok(matches!(
            outcome,
            crate::pipeline::DispatchOutcome::Enqueued { .. }
        ))
    }

    async fn record_invite(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        target: &str,
        invitation_id: Option<&str>,
        now: Millis,
    ) -> Result<(), EngineError> {
        enrollments::record_invite(tx, &ctx.enrollment.id, target, now, now).await?;
        invites::record(
            tx,
            &ctx.enrollment.id,
            &ctx.account.id,
            target,
            invitation_id,
            now,
        )
        .await?;
        // The invite target is a new key (the invite bridge), beside the
        // targets of the prospect's other invites.
        let invited = prospects::invite_targets(tx, &ctx.prospect.id).await?;
        let decisions = self.pipeline.decisions();
        let modules = keys::modules_for(tx, decisions, &ctx.prospect.workspace_id).await?;
        keys::store_in(
            tx,
            decisions,
            &modules,
            &ctx.prospect,
            &invited,
            KeyedOn::Invite,
            now,
        )
        .await?;
        Ok(())
    }

    /// A provider failure, by class.
    async fn provider_failed(
        &self,
        claimed: &Claimed,
        ctx: &Context,
        target: Option<&str>,
        e: ProviderError,
    ) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin().await?;
        let detail = serde_json::json!({"class": e.class.as_str(), "status": e.status, "type": e.kind, "title": e.title, "action": claimed.job.action, "target": target});
        match e.class {
            ErrorClass::Transient => {
                let attempts = claimed.job.attempts + 1;
                let backoff = self
                    .config
                    .retry_backoff_ms
                    .get(attempts as usize - 1)
                    .copied();
                let kept = match backoff {
                    Some(delay) => {
                        retry(&mut tx, claimed, now + delay, "retry", &e.to_string(), now).await?
                    }
                    None => complete(&mut tx, claimed, "failed", Some(&e.to_string()), now).await?,
                };
                if !kept {
                    return stale(claimed);
                }
                let opened = breaker_failure(
                    &mut tx,
                    &ctx.account.id,
                    self.config.breaker_threshold,
                    now + self.config.breaker_cooldown_ms,
                )
                .await?;
                event(&mut tx, ctx, "provider_transient_error", detail, now).await?;
                if opened {
                    event(
                        &mut tx,
                        ctx,
                        "circuit_breaker_opened",
                        serde_json::json!({"until": now + self.config.breaker_cooldown_ms}),
                        now,
                    )
                    .await?;
                }
            }
            ErrorClass::AccountLevel => {
                // The job waits for the account; it used no attempt.
                if !retry(&mut tx, claimed, now, "account", &e.to_string(), now).await? {
                    return stale(claimed);
                }
                jobs::refund_attempt(&mut tx, &claimed.job.id).await?;
                if e.status == Some(422) {
                    // An account limit (limit_exceeded, insufficient_credits…):
                    // the account is fine but may not act until tomorrow.
                    let (_, tomorrow) = super::gates::local_day(&ctx.account.time_zone, now);
                    accounts::open_breaker(&mut tx, &ctx.account.id, tomorrow).await?;
                    event(&mut tx, ctx, "account_limited", detail, now).await?;
                    tx.commit().await?;
                    return Ok(());
                }
                let status = if e.status == Some(403) {
                    AccountStatus::Restricted
                } else {
                    AccountStatus::Disconnected
                };
                if accounts::set_status(&mut tx, &ctx.account.id, status, now).await? {
                    event(&mut tx, ctx, "account_status_changed", serde_json::json!({"from": ctx.account.status, "to": status.as_str(), "source": "engine", "error": e.kind}), now).await?;
                }
            }
            ErrorClass::NoConnectionWithRecipient
            | ErrorClass::TerminalForRecipient
            | ErrorClass::Invalid
            | ErrorClass::AlreadyConnected => {
                // Never retried: a second attempt is the retry storm.
                if !complete(&mut tx, claimed, "failed", Some(&e.to_string()), now).await? {
                    return stale(claimed);
                }
                enrollments::stop_refused(&mut tx, &ctx.enrollment.id, now).await?;
                let kind = if e.class == ErrorClass::NoConnectionWithRecipient {
                    "message_refused_no_connection"
                } else {
                    "action_refused"
                };
                event(&mut tx, ctx, kind, detail, now).await?;
            }
        }
        tx.commit().await?;
        metrics::counter!("accord_provider_errors_total", "class" => e.class.as_str(), "action" => claimed.job.action.clone()).increment(1);
        Ok(())
    }

    async fn finish(
        &self,
        claimed: &Claimed,
        status: &str,
        why: Option<&str>,
    ) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin().await?;
        let kept = complete(&mut tx, claimed, status, why, now).await?;
        tx.commit().await?;
        if kept { Ok(()) } else { stale(claimed) }
    }
}

fn lookup_identifier(p: &Prospect) -> (String, bool) {
    use accord_policy_core::linkedin::{ProfileRef, parse_profile_url};
    if let Some(Some(ProfileRef::ProviderId(id))) =
        p.sales_nav_lead_url.as_deref().map(parse_profile_url)
    {
        return (id, true);
    }
    match p.profile_url.as_deref().and_then(parse_profile_url) {
        Some(ProfileRef::Slug(slug)) => (slug, false),
        Some(ProfileRef::ProviderId(id)) => (id.clone(), id.starts_with("ACw")),
        None => (
            p.public_identifier
                .clone()
                .or_else(|| p.member_id.clone())
                .unwrap_or_default(),
            false,
        ),
    }
}

/// Completes a job if this claim still holds it.
async fn complete(
    tx: &mut Tx,
    claimed: &Claimed,
    status: &str,
    error: Option<&str>,
    now: Millis,
) -> Result<bool, EngineError> {
    Ok(jobs::complete(tx, &claimed.job.id, claimed.fence, status, error, now).await?)
}

/// Puts a job back in the queue at `run_at` if this claim still holds it.
async fn retry(
    tx: &mut Tx,
    claimed: &Claimed,
    run_at: Millis,
    reason: &str,
    error: &str,
    now: Millis,
) -> Result<bool, EngineError> {
    let (id, fence) = (&claimed.job.id, claimed.fence);
    Ok(jobs::retry(tx, id, fence, run_at, reason, error, now).await?)
}
