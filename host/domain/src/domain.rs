//! Accord's domain types on the host side: what the database stores and
//! the API shows. The policy contract's enums are reused; campaign steps
//! here also carry their texts, which policies never see.

use accord_policy_core::{
    AccountStatus, CampaignStatus, CampaignStep, LinkedinStatus, WorkflowState,
};
use serde::{Deserialize, Serialize};

/// An enum stored as its snake_case name.
pub trait Named: Sized + Copy + 'static {
    /// Every value.
    const ALL: &'static [Self];
    /// The stored name.
    fn as_str(self) -> &'static str;
    /// Parses a stored name.
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

macro_rules! named {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl Named for $ty {
            const ALL: &'static [Self] = &[$(<$ty>::$variant),+];
            fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }
        }
    };
}

named!(CampaignStatus { Draft => "draft", Running => "running", Paused => "paused", Completed => "completed", Stopped => "stopped" });
named!(AccountStatus { Connected => "connected", Disconnected => "disconnected", Restricted => "restricted", Connecting => "connecting" });
named!(LinkedinStatus {
    NotInvited => "not_invited", Invited => "invited", Connected => "connected", Replied => "replied",
    ConditionSkipped => "condition_skipped", Unreachable => "unreachable",
});
named!(WorkflowState {
    Pending => "pending", Active => "active", WaitingAccept => "waiting_accept", TimedOut => "timed_out",
    ConditionSkipped => "condition_skipped", Completed => "completed", Stopped => "stopped",
});

/// One workflow step, as authored (with texts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepDef {
    /// Send a connection invite, with an optional note (≤ 300 chars).
    SendInvite {
        /// The invite note.
        #[serde(default)]
        note: Option<String>,
    },
    /// Wait up to `days` for the accept.
    WaitAccept {
        /// Days (1-365).
        days: u32,
    },
    /// Branch on the accept.
    Condition {
        /// Step index when accepted (a later step).
        if_accepted: u32,
        /// Step index otherwise (a later step); none ends as condition_skipped.
        #[serde(default)]
        otherwise: Option<u32>,
    },
    /// Send a message (to a 1st-degree connection only).
    SendMessage {
        /// The text (1-8,000 chars).
        text: String,
    },
    /// Wait `days`.
    Wait {
        /// Days (1-365).
        days: u32,
    },
}

impl StepDef {
    /// The step as the policies see it.
    pub fn to_policy(&self) -> CampaignStep {
        match *self {
            StepDef::SendInvite { .. } => CampaignStep::SendInvite,
            StepDef::WaitAccept { days } => CampaignStep::WaitAccept { days },
            StepDef::Condition {
                if_accepted,
                otherwise,
            } => CampaignStep::Condition {
                if_accepted,
                otherwise,
            },
            StepDef::SendMessage { .. } => CampaignStep::SendMessage,
            StepDef::Wait { days } => CampaignStep::Wait { days },
        }
    }
}

/// Checks a workflow: 1-50 steps, branches pointing forward and in range
/// (so a workflow always ends), sane durations and texts.
pub fn validate_steps(steps: &[StepDef]) -> Result<(), String> {
    if steps.is_empty() || steps.len() > 50 {
        return Err(format!(
            "a campaign needs 1 to 50 steps, got {}",
            steps.len()
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        let forward = |target: u32| (target as usize) > i && (target as usize) < steps.len();
        match step {
            StepDef::SendInvite { note } => {
                if note.as_ref().is_some_and(|n| n.chars().count() > 300) {
                    return Err(format!(
                        "step {i}: an invite note is at most 300 characters"
                    ));
                }
            }
            StepDef::WaitAccept { days } | StepDef::Wait { days } => {
                if !(1..=365).contains(days) {
                    return Err(format!("step {i}: days must be 1 to 365, got {days}"));
                }
            }
            StepDef::Condition {
                if_accepted,
                otherwise,
            } => {
                if !forward(*if_accepted) || otherwise.is_some_and(|o| !forward(o)) {
                    return Err(format!(
                        "step {i}: condition branches must point to later steps"
                    ));
                }
            }
            StepDef::SendMessage { text } => {
                let n = text.chars().count();
                if n == 0 || n > 8000 {
                    return Err(format!(
                        "step {i}: a message is 1 to 8,000 characters, got {n}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The policy view of a workflow.
pub fn policy_steps(steps: &[StepDef]) -> Vec<CampaignStep> {
    steps.iter().map(StepDef::to_policy).collect()
}
