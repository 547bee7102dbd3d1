//! README.md's walk-through policy, verbatim but for the WIT path.
wit_bindgen::generate!({ path: "../../../wit", world: "preflight-policy" });

use accord::policy::host::{Level, log};
use accord::policy::types::{AccountStatus, CampaignStatus, CampaignStep, LinkedinStatus};
use exports::accord::policy::dispatch_preflight::*;

struct NoLateSteps;

impl Guest for NoLateSteps {
    fn check(input: PreflightInput) -> PreflightDecision {
        let skip = |reason, recoverable, detail: &str| {
            PreflightDecision::Skip(Skip {
                reason,
                recoverable,
                detail: detail.into(),
            })
        };
        if !matches!(input.step, CampaignStep::SendMessage) || input.step_index > 10 {
            log(Level::Info, "not a message step we send");
            return skip(SkipReason::InvalidStep, false, "only early message steps");
        }
        if input.already_sent_at.is_some() {
            return skip(SkipReason::AlreadySent, false, "already sent");
        }
        if input.account_status != AccountStatus::Connected {
            return skip(
                SkipReason::AccountNotConnected,
                true,
                "account not connected",
            );
        }
        if input.campaign_status == CampaignStatus::Paused {
            return skip(SkipReason::CampaignPaused, true, "campaign paused");
        }
        if input.linkedin_status != LinkedinStatus::Connected {
            return skip(
                SkipReason::NotConnectedToProspect,
                false,
                "not a connection",
            );
        }
        if input.active_job_exists {
            return skip(SkipReason::ActiveJobExists, false, "already queued");
        }
        PreflightDecision::Enqueue(Enqueue {
            step_index: input.step_index,
            not_before: input.now,
        })
    }
}

export!(NoLateSteps);
