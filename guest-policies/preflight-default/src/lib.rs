//! Accord's default dispatch pre-flight (see `accord_policy_core::defaults::preflight`).

wit_bindgen::generate!({ path: "../../wit", world: "preflight-policy" });

#[path = "../../convert.rs"]
mod convert;

use accord_policy_core as core;
use exports::accord::policy::dispatch_preflight::{
    DispatchSource, Enqueue, Guest, PreflightDecision, PreflightInput, Skip, SkipReason,
};

struct DefaultPreflight;

impl Guest for DefaultPreflight {
    fn check(input: PreflightInput) -> PreflightDecision {
        let input = core::PreflightInput {
            source: match input.source {
                DispatchSource::InTimeAdvance => core::DispatchSource::InTimeAdvance,
                DispatchSource::LateAutoFire => core::DispatchSource::LateAutoFire,
                DispatchSource::HealLate => core::DispatchSource::HealLate,
                DispatchSource::HealStuck => core::DispatchSource::HealStuck,
                DispatchSource::SkipRetry => core::DispatchSource::SkipRetry,
                DispatchSource::Resume => core::DispatchSource::Resume,
            },
            enrollment_id: input.enrollment_id,
            campaign_id: input.campaign_id,
            step_index: input.step_index,
            step: convert::step(input.step),
            account_status: convert::account_status(input.account_status),
            campaign_status: convert::campaign_status(input.campaign_status),
            linkedin_status: convert::linkedin_status(input.linkedin_status),
            already_sent_at: input.already_sent_at,
            replied_at: input.replied_at,
            active_job_exists: input.active_job_exists,
            now: input.now,
        };
        match core::defaults::preflight(&input) {
            core::PreflightDecision::Enqueue {
                step_index,
                not_before,
            } => PreflightDecision::Enqueue(Enqueue {
                step_index,
                not_before,
            }),
            core::PreflightDecision::Skip {
                reason,
                recoverable,
                detail,
            } => PreflightDecision::Skip(Skip {
                reason: skip_reason(reason),
                recoverable,
                detail,
            }),
        }
    }
}

fn skip_reason(r: core::SkipReason) -> SkipReason {
    use core::SkipReason as C;
    match r {
        C::AccountNotConnected => SkipReason::AccountNotConnected,
        C::CampaignPaused => SkipReason::CampaignPaused,
        C::CampaignNotRunning => SkipReason::CampaignNotRunning,
        C::AlreadySent => SkipReason::AlreadySent,
        C::ActiveJobExists => SkipReason::ActiveJobExists,
        C::ProspectReplied => SkipReason::ProspectReplied,
        C::ConditionStepSkipped => SkipReason::ConditionStepSkipped,
        C::ConcurrentAdvance => SkipReason::ConcurrentAdvance,
        C::NotConnectedToProspect => SkipReason::NotConnectedToProspect,
        C::InvalidStep => SkipReason::InvalidStep,
        C::PolicyError => SkipReason::PolicyError,
    }
}

export!(DefaultPreflight);
