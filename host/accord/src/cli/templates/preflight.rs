//! An Accord pre-flight policy: may a follow-up message be enqueued now,
//! or why not?
//!
//! It starts as Accord's default pre-flight. Change `preflight` below; the
//! host still applies its caps, windows, ramp and spacing to every job.

wit_bindgen::generate!({ path: "wit", world: "preflight-policy" });

use accord::policy::host::{Level, log};
use accord::policy::types::{AccountStatus, CampaignStatus, CampaignStep, LinkedinStatus};
use exports::accord::policy::dispatch_preflight::{
    DispatchSource, Enqueue, Guest, PreflightDecision, PreflightInput, Skip, SkipReason,
};

struct Policy;

impl Guest for Policy {
    fn check(input: PreflightInput) -> PreflightDecision {
        preflight(&input)
    }
}

export!(Policy);

/// The step must be a message, the prospect must not have replied, the
/// source's "already sent" column must be empty, the account connected, the
/// campaign running (completed is allowed for late-accept sources), the
/// prospect a 1st-degree connection, and no job may be queued for the step.
fn preflight(input: &PreflightInput) -> PreflightDecision {
    if !matches!(input.step, CampaignStep::SendMessage) {
        return skip(
            SkipReason::InvalidStep,
            false,
            "only send_message steps are dispatched",
        );
    }
    if input.replied_at.is_some() || input.linkedin_status == LinkedinStatus::Replied {
        return skip(
            SkipReason::ProspectReplied,
            false,
            "the prospect replied; automation stops",
        );
    }
    if let Some(at) = input.already_sent_at {
        return skip(
            SkipReason::AlreadySent,
            false,
            &format!("already sent at {at}"),
        );
    }
    if input.account_status != AccountStatus::Connected {
        return skip(
            SkipReason::AccountNotConnected,
            true,
            "the LinkedIn account is not connected",
        );
    }
    // A late accept may still get its follow-up after the campaign completed.
    let late_source = matches!(
        input.source,
        DispatchSource::LateAutoFire | DispatchSource::HealLate
    );
    match input.campaign_status {
        CampaignStatus::Running => {}
        CampaignStatus::Completed if late_source => {}
        CampaignStatus::Paused => {
            return skip(SkipReason::CampaignPaused, true, "the campaign is paused");
        }
        CampaignStatus::Draft => {
            return skip(
                SkipReason::CampaignNotRunning,
                false,
                "the campaign is draft",
            );
        }
        CampaignStatus::Completed => {
            return skip(
                SkipReason::CampaignNotRunning,
                false,
                "the campaign is completed",
            );
        }
        CampaignStatus::Stopped => {
            return skip(
                SkipReason::CampaignNotRunning,
                false,
                "the campaign is stopped",
            );
        }
    }
    if input.linkedin_status != LinkedinStatus::Connected {
        return skip(
            SkipReason::NotConnectedToProspect,
            false,
            "messages go only to 1st-degree connections",
        );
    }
    if input.active_job_exists {
        return skip(
            SkipReason::ActiveJobExists,
            false,
            "a job for this step is already queued",
        );
    }
    PreflightDecision::Enqueue(Enqueue {
        step_index: input.step_index,
        not_before: input.now,
    })
}

/// A skip, with its reason on the decision trace too.
fn skip(reason: SkipReason, recoverable: bool, detail: &str) -> PreflightDecision {
    log(Level::Info, &format!("skip: {detail}"));
    PreflightDecision::Skip(Skip {
        reason,
        recoverable,
        detail: detail.to_string(),
    })
}
