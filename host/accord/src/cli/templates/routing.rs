//! An Accord routing policy: what a matched accept does to its enrollment
//! (advance in time, late auto-fire, stamp only, ignore).
//!
//! It starts as Accord's default routing. Change `route` below; the host
//! still stamps each accept once and checks that a late auto-fire points at
//! a message step.

wit_bindgen::generate!({ path: "wit", world: "routing-policy" });

use accord::policy::host::{Level, log};
use accord::policy::types::{
    CampaignStatus, CampaignStep, LinkedinStatus, SignalSource, WorkflowState,
};
use exports::accord::policy::late_accept_routing::{
    Guest, IgnoreDetail, IgnoreReason, RoutingDecision, RoutingInput, StampOnlyDetail,
    StampOnlyReason,
};

struct Policy;

impl Guest for Policy {
    fn route(input: RoutingInput) -> RoutingDecision {
        route(&input)
    }
}

export!(Policy);

/// - replied (a reply-inferred signal too: the reply is the evidence),
///   already stamped, stopped or unreachable: ignore, or stamp only;
/// - a stopped or draft campaign: stamp only;
/// - still before or on its wait-accept step in a running or paused
///   campaign: advance (in time);
/// - past wait-accept (timed out, condition-skipped, completed), or the
///   campaign completed: late auto-fire of the follow-up message, or stamp
///   only when the workflow has none.
fn route(input: &RoutingInput) -> RoutingDecision {
    let e = &input.enrollment;
    // The enrollment is as it was before this accept, so a reply-inferred
    // accept may not show its reply yet: the signal is the reply.
    if e.replied_at.is_some()
        || e.linkedin_status == LinkedinStatus::Replied
        || input.signal.source == SignalSource::ReplyInferred
    {
        return ignore(IgnoreReason::Replied, "the prospect already replied");
    }
    if e.accepted_at.is_some() || e.late_accept_observed_at.is_some() {
        return ignore(
            IgnoreReason::AlreadyStamped,
            "the accept is already recorded",
        );
    }
    if e.workflow_state == WorkflowState::Stopped {
        return ignore(IgnoreReason::Stopped, "the enrollment left automation");
    }
    if e.linkedin_status == LinkedinStatus::Unreachable {
        return stamp_only(
            StampOnlyReason::UnsafeState,
            "the provider reported the prospect unreachable; no automatic message",
        );
    }
    match input.campaign.status {
        CampaignStatus::Stopped => {
            return stamp_only(StampOnlyReason::CampaignStopped, "the campaign was stopped");
        }
        CampaignStatus::Draft => {
            return stamp_only(StampOnlyReason::UnsafeState, "the campaign is a draft");
        }
        CampaignStatus::Running | CampaignStatus::Paused | CampaignStatus::Completed => {}
    }
    let steps = &input.campaign.steps;
    let wait_accept = first_wait_accept(steps);
    let in_time = input.campaign.status != CampaignStatus::Completed
        && matches!(
            e.workflow_state,
            WorkflowState::Pending | WorkflowState::Active | WorkflowState::WaitingAccept
        )
        && wait_accept.is_none_or(|w| e.step_index <= w);
    if in_time {
        return RoutingDecision::Advance;
    }
    match followup_step(steps, wait_accept) {
        Some(step_index) => {
            log(
                Level::Info,
                &format!("late accept: follow-up at step {step_index}"),
            );
            RoutingDecision::LateAutoFire(step_index)
        }
        None => stamp_only(
            StampOnlyReason::NoFollowupStep,
            "no send_message step follows the accept in this workflow",
        ),
    }
}

fn ignore(reason: IgnoreReason, detail: &str) -> RoutingDecision {
    RoutingDecision::Ignore(IgnoreDetail {
        reason,
        detail: detail.to_string(),
    })
}

fn stamp_only(reason: StampOnlyReason, detail: &str) -> RoutingDecision {
    RoutingDecision::StampOnly(StampOnlyDetail {
        reason,
        detail: detail.to_string(),
    })
}

/// The index of the workflow's first wait-accept step, if it has one.
fn first_wait_accept(steps: &[CampaignStep]) -> Option<u32> {
    steps
        .iter()
        .position(|s| matches!(s, CampaignStep::WaitAccept(_)))
        .and_then(|i| u32::try_from(i).ok())
}

/// The message an accept unlocks: the accepted branch of the first
/// condition after wait-accept if it is a message, else the first message
/// after wait-accept.
fn followup_step(steps: &[CampaignStep], wait_accept: Option<u32>) -> Option<u32> {
    let start = wait_accept.map_or(0, |w| w as usize + 1);
    let is_message = |i: u32| matches!(steps.get(i as usize), Some(CampaignStep::SendMessage));
    for (i, step) in steps.iter().enumerate().skip(start) {
        match step {
            CampaignStep::Condition(branches) if is_message(branches.if_accepted) => {
                return Some(branches.if_accepted);
            }
            CampaignStep::SendMessage => return u32::try_from(i).ok(),
            _ => {}
        }
    }
    None
}
