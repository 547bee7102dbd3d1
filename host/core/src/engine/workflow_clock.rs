//! The workflow clock: starts enrollments of running campaigns, ends waits
//! and wait_accept timeouts when they fall due, and enqueues what the new
//! position asks for.

use super::{Engine, EngineError};
use crate::clock::Millis;
use crate::domain::Named;
use crate::pipeline::{DispatchOutcome, DispatchRequest};
use crate::store::accounts::{self, Account};
use crate::store::campaigns::{self, Campaign};
use crate::store::enrollments::{self, EnrollmentRow};
use crate::store::events::NewEvent;
use crate::store::{Tx, jobs};
use crate::workflow::{self, Landing, StepAction};
use accord_policy_core::{DispatchSource, WorkflowState};
use std::collections::HashMap;

/// Enrollments handled per round.
const ENROLLMENTS_PER_PAGE: i64 = 200;

impl Engine {
    /// Starts pending enrollments of running campaigns and moves
    /// enrollments whose step fell due. Returns how many moved.
    ///
    /// A page is one transaction: each enrollment's move is whole in it,
    /// and a page of moves pays one BEGIN and COMMIT, one read of its
    /// rows under lock and one read of each campaign and account instead
    /// of those per enrollment. A failure rolls the page back; the next
    /// round reads it again.
    pub(crate) async fn advance_due_enrollments(&self) -> Result<usize, EngineError> {
        let now = self.clock.now_ms();
        let due = {
            let mut c = self.db.acquire().await?;
            enrollments::due_for_workflow(&mut c, now, ENROLLMENTS_PER_PAGE).await?
        };
        if due.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.begin().await?;
        // Read again under the write lock: a concurrent accept may have
        // moved some since.
        let ids: Vec<&str> = due.iter().map(|e| e.id.as_str()).collect();
        let current: HashMap<String, EnrollmentRow> =
            enrollments::get_many(&mut tx, &ids, self.db.for_update())
                .await?
                .into_iter()
                .map(|e| (e.id.clone(), e))
                .collect();
        let mut campaigns_seen: HashMap<String, Option<Campaign>> = HashMap::new();
        let mut accounts_seen: HashMap<String, Option<Account>> = HashMap::new();
        let mut moved = 0;
        let mut enqueued = false;
        for row in due {
            let Some(e) = current.get(&row.id) else {
                continue;
            };
            if e.workflow_state != row.workflow_state || e.step_index != row.step_index {
                continue;
            }
            if !campaigns_seen.contains_key(&e.campaign_id) {
                let campaign = campaigns::get(&mut tx, &e.campaign_id).await?;
                campaigns_seen.insert(e.campaign_id.clone(), campaign);
            }
            if !accounts_seen.contains_key(&e.linkedin_account_id) {
                let account = accounts::account(&mut tx, &e.linkedin_account_id).await?;
                accounts_seen.insert(e.linkedin_account_id.clone(), account);
            }
            let (Some(Some(campaign)), Some(Some(account))) = (
                campaigns_seen.get(&e.campaign_id),
                accounts_seen.get(&e.linkedin_account_id),
            ) else {
                continue;
            };
            let accepted = e.linkedin_accepted_at.is_some();
            let (landing, kind) = match e.workflow_state()? {
                WorkflowState::Pending => (
                    workflow::enter(&campaign.steps, e.step_index as u32, now, accepted),
                    "workflow_started",
                ),
                WorkflowState::WaitingAccept if !accepted => (
                    workflow::after_timeout(&campaign.steps, e.step_index as u32, now),
                    "wait_accept_timed_out",
                ),
                _ => (
                    workflow::enter(&campaign.steps, e.step_index as u32 + 1, now, accepted),
                    "workflow_advanced",
                ),
            };
            enqueued |= self
                .land(&mut tx, account, campaign, e, &landing, kind, now)
                .await?;
            moved += 1;
        }
        tx.commit().await?;
        if enqueued {
            self.pipeline.wakers().wake_jobs();
        }
        Ok(moved)
    }

    /// Persists a new position and enqueues what it asks for. Returns
    /// whether a job was enqueued.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn land(
        &self,
        tx: &mut Tx,
        account: &Account,
        campaign: &Campaign,
        e: &EnrollmentRow,
        landing: &Landing,
        kind: &str,
        now: Millis,
    ) -> Result<bool, EngineError> {
        enrollments::set_position(tx, &e.id, landing, now).await?;
        let event = NewEvent {
            workspace_id: &account.workspace_id,
            linkedin_account_id: Some(&account.id),
            enrollment_id: Some(&e.id),
            kind,
            source: Some("engine"),
            detail: Some(serde_json::json!({
                "from": e.step_index, "to": landing.step_index, "state": landing.state.as_str(), "due_at": landing.next_run_at,
            })),
            ..NewEvent::default()
        };
        tx.defer_event(event, now);
        match landing.action {
            StepAction::None => Ok(false),
            StepAction::SendInvite => {
                let run_at = self.config.sabotage.place(
                    &campaign.window()?,
                    now,
                    &e.id,
                    self.config.window_jitter_ms,
                );
                let job = jobs::NewJob {
                    enrollment_id: &e.id,
                    campaign_id: &campaign.id,
                    linkedin_account_id: &account.id,
                    step_index: landing.step_index,
                    action: "send_invite",
                    source: "workflow",
                    run_at,
                    wait_reason: (run_at > now).then_some("window"),
                };
                Ok(jobs::enqueue(tx, &job, now).await?.is_some())
            }
            StepAction::SendMessage => {
                let fresh = enrollments::get(tx, &e.id, "")
                    .await?
                    .unwrap_or_else(|| e.clone());
                let request = DispatchRequest {
                    source: DispatchSource::InTimeAdvance,
                    step_index: landing.step_index,
                };
                let outcome = self
                    .pipeline
                    .dispatch(tx, account, campaign, &fresh, request)
                    .await?;
                Ok(matches!(outcome, DispatchOutcome::Enqueued { .. }))
            }
        }
    }
}
