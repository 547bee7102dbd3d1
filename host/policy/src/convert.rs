//! Conversions between the contract's plain types (`accord_policy_core`)
//! and the `bindgen!` types of `accord:policy@0.1.0`.
//!
//! Inputs go down (core → wit), decisions come up (wit → core). A future
//! contract version adds its own conversions that forward to these.

use super::bindings::{wit, wit_match, wit_preflight, wit_routing};
use accord_policy_core as core;

pub(crate) fn signal(s: &core::AcceptSignal) -> wit::AcceptSignal {
    wit::AcceptSignal {
        source: match s.source {
            core::SignalSource::Webhook => wit::SignalSource::Webhook,
            core::SignalSource::Polling => wit::SignalSource::Polling,
            core::SignalSource::EngineAlreadyConnected => wit::SignalSource::EngineAlreadyConnected,
            core::SignalSource::ReplyInferred => wit::SignalSource::ReplyInferred,
            core::SignalSource::ManualResync => wit::SignalSource::ManualResync,
        },
        linkedin_account_id: s.linkedin_account_id.clone(),
        member_id: s.member_id.clone(),
        public_identifier: s.public_identifier.clone(),
        profile_url: s.profile_url.clone(),
        full_name: s.full_name.clone(),
        observed_at: s.observed_at,
    }
}

pub(crate) fn identity(i: &core::ProspectIdentity) -> wit::ProspectIdentity {
    wit::ProspectIdentity {
        profile_url: i.profile_url.clone(),
        member_id: i.member_id.clone(),
        sales_nav_lead_url: i.sales_nav_lead_url.clone(),
        public_identifier: i.public_identifier.clone(),
        invited_provider_id: i.invited_provider_id.clone(),
    }
}

fn campaign_status(s: core::CampaignStatus) -> wit::CampaignStatus {
    match s {
        core::CampaignStatus::Draft => wit::CampaignStatus::Draft,
        core::CampaignStatus::Running => wit::CampaignStatus::Running,
        core::CampaignStatus::Paused => wit::CampaignStatus::Paused,
        core::CampaignStatus::Completed => wit::CampaignStatus::Completed,
        core::CampaignStatus::Stopped => wit::CampaignStatus::Stopped,
    }
}

fn account_status(s: core::AccountStatus) -> wit::AccountStatus {
    match s {
        core::AccountStatus::Connected => wit::AccountStatus::Connected,
        core::AccountStatus::Disconnected => wit::AccountStatus::Disconnected,
        core::AccountStatus::Restricted => wit::AccountStatus::Restricted,
        core::AccountStatus::Connecting => wit::AccountStatus::Connecting,
    }
}

fn linkedin_status(s: core::LinkedinStatus) -> wit::LinkedinStatus {
    match s {
        core::LinkedinStatus::NotInvited => wit::LinkedinStatus::NotInvited,
        core::LinkedinStatus::Invited => wit::LinkedinStatus::Invited,
        core::LinkedinStatus::Connected => wit::LinkedinStatus::Connected,
        core::LinkedinStatus::Replied => wit::LinkedinStatus::Replied,
        core::LinkedinStatus::ConditionSkipped => wit::LinkedinStatus::ConditionSkipped,
        core::LinkedinStatus::Unreachable => wit::LinkedinStatus::Unreachable,
    }
}

fn workflow_state(s: core::WorkflowState) -> wit::WorkflowState {
    match s {
        core::WorkflowState::Pending => wit::WorkflowState::Pending,
        core::WorkflowState::Active => wit::WorkflowState::Active,
        core::WorkflowState::WaitingAccept => wit::WorkflowState::WaitingAccept,
        core::WorkflowState::TimedOut => wit::WorkflowState::TimedOut,
        core::WorkflowState::ConditionSkipped => wit::WorkflowState::ConditionSkipped,
        core::WorkflowState::Completed => wit::WorkflowState::Completed,
        core::WorkflowState::Stopped => wit::WorkflowState::Stopped,
    }
}

fn step(s: &core::CampaignStep) -> wit::CampaignStep {
    match *s {
        core::CampaignStep::SendInvite => wit::CampaignStep::SendInvite,
        core::CampaignStep::WaitAccept { days } => wit::CampaignStep::WaitAccept(days),
        core::CampaignStep::Condition {
            if_accepted,
            otherwise,
        } => wit::CampaignStep::Condition(wit::ConditionBranches {
            if_accepted,
            otherwise,
        }),
        core::CampaignStep::SendMessage => wit::CampaignStep::SendMessage,
        core::CampaignStep::Wait { days } => wit::CampaignStep::Wait(days),
    }
}

pub(crate) fn enrollment(e: &core::Enrollment) -> wit::Enrollment {
    wit::Enrollment {
        enrollment_id: e.enrollment_id.clone(),
        campaign_id: e.campaign_id.clone(),
        identity: identity(&e.identity),
        invite: e.invite.as_ref().map(|i| wit::InviteInfo {
            provider_id: i.provider_id.clone(),
            sent_at: i.sent_at,
        }),
        campaign_status: campaign_status(e.campaign_status),
        linkedin_status: linkedin_status(e.linkedin_status),
        step_index: e.step_index,
        workflow_state: workflow_state(e.workflow_state),
        accepted_at: e.accepted_at,
        replied_at: e.replied_at,
        late_accept_observed_at: e.late_accept_observed_at,
        late_accept_followup_sent_at: e.late_accept_followup_sent_at,
    }
}

pub(crate) fn routing_input(i: &core::RoutingInput) -> wit_routing::RoutingInput {
    wit_routing::RoutingInput {
        signal: signal(&i.signal),
        enrollment: enrollment(&i.enrollment),
        campaign: wit::Campaign {
            campaign_id: i.campaign.campaign_id.clone(),
            status: campaign_status(i.campaign.status),
            steps: i.campaign.steps.iter().map(step).collect(),
        },
        now: i.now,
    }
}

pub(crate) fn preflight_input(i: &core::PreflightInput) -> wit_preflight::PreflightInput {
    use wit_preflight::DispatchSource as W;
    wit_preflight::PreflightInput {
        source: match i.source {
            core::DispatchSource::InTimeAdvance => W::InTimeAdvance,
            core::DispatchSource::LateAutoFire => W::LateAutoFire,
            core::DispatchSource::HealLate => W::HealLate,
            core::DispatchSource::HealStuck => W::HealStuck,
            core::DispatchSource::SkipRetry => W::SkipRetry,
            core::DispatchSource::Resume => W::Resume,
        },
        enrollment_id: i.enrollment_id.clone(),
        campaign_id: i.campaign_id.clone(),
        step_index: i.step_index,
        step: step(&i.step),
        account_status: account_status(i.account_status),
        campaign_status: campaign_status(i.campaign_status),
        linkedin_status: linkedin_status(i.linkedin_status),
        already_sent_at: i.already_sent_at,
        replied_at: i.replied_at,
        active_job_exists: i.active_job_exists,
        now: i.now,
    }
}

pub(crate) fn match_outcome(o: wit_match::MatchOutcome) -> core::MatchOutcome {
    core::MatchOutcome {
        matches: o
            .matches
            .into_iter()
            .map(|m| core::Matched {
                enrollment_id: m.enrollment_id,
                strategy: m.strategy,
            })
            .collect(),
        trace: o.trace,
    }
}

pub(crate) fn route(r: wit_routing::RoutingDecision) -> core::Route {
    use wit_routing::{IgnoreReason as I, RoutingDecision as R, StampOnlyReason as S};
    match r {
        R::Advance => core::Route::Advance,
        R::LateAutoFire(step_index) => core::Route::LateAutoFire { step_index },
        R::StampOnly(d) => core::Route::StampOnly {
            reason: match d.reason {
                S::CampaignStopped => core::StampOnlyReason::CampaignStopped,
                S::NoFollowupStep => core::StampOnlyReason::NoFollowupStep,
                S::UnsafeState => core::StampOnlyReason::UnsafeState,
                S::PolicyDeclined => core::StampOnlyReason::PolicyDeclined,
                S::PolicyError => core::StampOnlyReason::PolicyError,
            },
            detail: d.detail,
        },
        R::Ignore(d) => core::Route::Ignore {
            reason: match d.reason {
                I::AlreadyStamped => core::IgnoreReason::AlreadyStamped,
                I::Replied => core::IgnoreReason::Replied,
                I::Stopped => core::IgnoreReason::Stopped,
                I::NotInvited => core::IgnoreReason::NotInvited,
            },
            detail: d.detail,
        },
    }
}

pub(crate) fn preflight_decision(d: wit_preflight::PreflightDecision) -> core::PreflightDecision {
    use wit_preflight::{PreflightDecision as D, SkipReason as R};
    match d {
        D::Enqueue(e) => core::PreflightDecision::Enqueue {
            step_index: e.step_index,
            not_before: e.not_before,
        },
        D::Skip(s) => core::PreflightDecision::Skip {
            reason: match s.reason {
                R::AccountNotConnected => core::SkipReason::AccountNotConnected,
                R::CampaignPaused => core::SkipReason::CampaignPaused,
                R::CampaignNotRunning => core::SkipReason::CampaignNotRunning,
                R::AlreadySent => core::SkipReason::AlreadySent,
                R::ActiveJobExists => core::SkipReason::ActiveJobExists,
                R::ProspectReplied => core::SkipReason::ProspectReplied,
                R::ConditionStepSkipped => core::SkipReason::ConditionStepSkipped,
                R::ConcurrentAdvance => core::SkipReason::ConcurrentAdvance,
                R::NotConnectedToProspect => core::SkipReason::NotConnectedToProspect,
                R::InvalidStep => core::SkipReason::InvalidStep,
                R::PolicyError => core::SkipReason::PolicyError,
            },
            recoverable: s.recoverable,
            detail: s.detail,
        },
    }
}
