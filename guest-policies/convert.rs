//! Conversions between the wit-bindgen types of `accord:policy` and
//! `accord_policy_core`'s plain types, shared by the default guests.
#![allow(dead_code)]

use crate::accord::policy::types as wit;
use accord_policy_core as core;

pub fn signal(s: wit::AcceptSignal) -> core::AcceptSignal {
    core::AcceptSignal {
        source: match s.source {
            wit::SignalSource::Webhook => core::SignalSource::Webhook,
            wit::SignalSource::Polling => core::SignalSource::Polling,
            wit::SignalSource::EngineAlreadyConnected => core::SignalSource::EngineAlreadyConnected,
            wit::SignalSource::ReplyInferred => core::SignalSource::ReplyInferred,
            wit::SignalSource::ManualResync => core::SignalSource::ManualResync,
        },
        linkedin_account_id: s.linkedin_account_id,
        member_id: s.member_id,
        public_identifier: s.public_identifier,
        profile_url: s.profile_url,
        full_name: s.full_name,
        observed_at: s.observed_at,
    }
}

pub fn identity(i: wit::ProspectIdentity) -> core::ProspectIdentity {
    core::ProspectIdentity {
        profile_url: i.profile_url,
        member_id: i.member_id,
        sales_nav_lead_url: i.sales_nav_lead_url,
        public_identifier: i.public_identifier,
        invited_provider_id: i.invited_provider_id,
    }
}

pub fn campaign_status(s: wit::CampaignStatus) -> core::CampaignStatus {
    match s {
        wit::CampaignStatus::Draft => core::CampaignStatus::Draft,
        wit::CampaignStatus::Running => core::CampaignStatus::Running,
        wit::CampaignStatus::Paused => core::CampaignStatus::Paused,
        wit::CampaignStatus::Completed => core::CampaignStatus::Completed,
        wit::CampaignStatus::Stopped => core::CampaignStatus::Stopped,
    }
}

pub fn account_status(s: wit::AccountStatus) -> core::AccountStatus {
    match s {
        wit::AccountStatus::Connected => core::AccountStatus::Connected,
        wit::AccountStatus::Disconnected => core::AccountStatus::Disconnected,
        wit::AccountStatus::Restricted => core::AccountStatus::Restricted,
        wit::AccountStatus::Connecting => core::AccountStatus::Connecting,
    }
}

pub fn linkedin_status(s: wit::LinkedinStatus) -> core::LinkedinStatus {
    match s {
        wit::LinkedinStatus::NotInvited => core::LinkedinStatus::NotInvited,
        wit::LinkedinStatus::Invited => core::LinkedinStatus::Invited,
        wit::LinkedinStatus::Connected => core::LinkedinStatus::Connected,
        wit::LinkedinStatus::Replied => core::LinkedinStatus::Replied,
        wit::LinkedinStatus::ConditionSkipped => core::LinkedinStatus::ConditionSkipped,
        wit::LinkedinStatus::Unreachable => core::LinkedinStatus::Unreachable,
    }
}

pub fn workflow_state(s: wit::WorkflowState) -> core::WorkflowState {
    match s {
        wit::WorkflowState::Pending => core::WorkflowState::Pending,
        wit::WorkflowState::Active => core::WorkflowState::Active,
        wit::WorkflowState::WaitingAccept => core::WorkflowState::WaitingAccept,
        wit::WorkflowState::TimedOut => core::WorkflowState::TimedOut,
        wit::WorkflowState::ConditionSkipped => core::WorkflowState::ConditionSkipped,
        wit::WorkflowState::Completed => core::WorkflowState::Completed,
        wit::WorkflowState::Stopped => core::WorkflowState::Stopped,
    }
}

pub fn step(s: wit::CampaignStep) -> core::CampaignStep {
    match s {
        wit::CampaignStep::SendInvite => core::CampaignStep::SendInvite,
        wit::CampaignStep::WaitAccept(days) => core::CampaignStep::WaitAccept { days },
        wit::CampaignStep::Condition(b) => core::CampaignStep::Condition {
            if_accepted: b.if_accepted,
            otherwise: b.otherwise,
        },
        wit::CampaignStep::SendMessage => core::CampaignStep::SendMessage,
        wit::CampaignStep::Wait(days) => core::CampaignStep::Wait { days },
    }
}

pub fn enrollment(e: wit::Enrollment) -> core::Enrollment {
    core::Enrollment {
        enrollment_id: e.enrollment_id,
        campaign_id: e.campaign_id,
        identity: identity(e.identity),
        invite: e.invite.map(|i| core::InviteInfo {
            provider_id: i.provider_id,
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

pub fn campaign(c: wit::Campaign) -> core::Campaign {
    core::Campaign {
        campaign_id: c.campaign_id,
        status: campaign_status(c.status),
        steps: c.steps.into_iter().map(step).collect(),
    }
}
