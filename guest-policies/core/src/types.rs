//! The contract `accord:policy@0.1.0` as plain Rust types.
//!
//! These mirror `wit/policy.wit` one to one. Their serde form (snake_case
//! fields and enum values, times as integer milliseconds) is the JSON that
//! `accord policy run` reads and that fixtures are written in.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type TimestampMs = i64;

/// Which path observed an accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSource {
    /// A Unipile `new_relation` webhook.
    Webhook,
    /// The periodic relations-list reconcile.
    Polling,
    /// A send_invite answered `already_connected`.
    EngineAlreadyConnected,
    /// A message from the prospect.
    ReplyInferred,
    /// A user-requested re-check of one prospect.
    ManualResync,
}

impl SignalSource {
    /// The snake_case name used in JSON, metrics and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Polling => "polling",
            Self::EngineAlreadyConnected => "engine_already_connected",
            Self::ReplyInferred => "reply_inferred",
            Self::ManualResync => "manual_resync",
        }
    }
}

/// Evidence that a LinkedIn member connected with one of our accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptSignal {
    /// The path that observed it.
    pub source: SignalSource,
    /// The provider's id of our LinkedIn account.
    pub linkedin_account_id: String,
    /// The member's provider id, when known.
    #[serde(default)]
    pub member_id: Option<String>,
    /// The member's vanity slug, when known.
    #[serde(default)]
    pub public_identifier: Option<String>,
    /// The member's profile URL, when known.
    #[serde(default)]
    pub profile_url: Option<String>,
    /// The member's display name, when known.
    #[serde(default)]
    pub full_name: Option<String>,
    /// When the connection happened (or was first observed).
    pub observed_at: TimestampMs,
}

/// What we know about a prospect's LinkedIn identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProspectIdentity {
    /// The profile URL as imported.
    #[serde(default)]
    pub profile_url: Option<String>,
    /// A provider member id (`ACo…`).
    #[serde(default)]
    pub member_id: Option<String>,
    /// A Sales Navigator lead URL.
    #[serde(default)]
    pub sales_nav_lead_url: Option<String>,
    /// A vanity slug known separately from the URL.
    #[serde(default)]
    pub public_identifier: Option<String>,
    /// The provider id our invite was sent to.
    #[serde(default)]
    pub invited_provider_id: Option<String>,
}

/// A campaign's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being edited.
    Draft,
    /// Sending.
    Running,
    /// Held by the user.
    Paused,
    /// Every enrollment finished.
    Completed,
    /// Ended by the user.
    Stopped,
}

/// A LinkedIn account's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Usable.
    Connected,
    /// Session lost; the user must reconnect.
    Disconnected,
    /// Restricted by LinkedIn.
    Restricted,
    /// Being (re)established.
    Connecting,
}

/// The prospect's relationship with our account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkedinStatus {
    /// Enrolled; no invite yet.
    NotInvited,
    /// Invite sent.
    Invited,
    /// Accept stamped.
    Connected,
    /// Replied.
    Replied,
    /// The accepted? condition took its false branch.
    ConditionSkipped,
    /// The provider says we cannot reach the member.
    Unreachable,
}

/// One workflow step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CampaignStep {
    /// Send a connection invite.
    SendInvite,
    /// Wait up to `days` for the accept.
    WaitAccept {
        /// Days before the wait times out.
        days: u32,
    },
    /// Branch on the accept.
    Condition {
        /// Step index when accepted.
        if_accepted: u32,
        /// Step index otherwise; `None` ends as condition-skipped.
        #[serde(default)]
        otherwise: Option<u32>,
    },
    /// Send a message.
    SendMessage,
    /// Wait `days`.
    Wait {
        /// Days to wait.
        days: u32,
    },
}

/// Where an enrollment is in its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    /// Not started.
    Pending,
    /// Executing or waiting on the current step.
    Active,
    /// Waiting on a wait-accept step.
    WaitingAccept,
    /// A wait-accept step expired.
    TimedOut,
    /// Routed to a condition's false-branch end.
    ConditionSkipped,
    /// Reached the end.
    Completed,
    /// Removed from automation.
    Stopped,
}

/// The invite Accord sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteInfo {
    /// The provider id it was addressed to.
    pub provider_id: String,
    /// When it was sent.
    pub sent_at: TimestampMs,
}

/// An enrollment (a prospect in one campaign).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// Its id.
    pub enrollment_id: String,
    /// Its campaign's id.
    pub campaign_id: String,
    /// The prospect's identity.
    #[serde(default)]
    pub identity: ProspectIdentity,
    /// The invite we sent.
    #[serde(default)]
    pub invite: Option<InviteInfo>,
    /// The campaign's state.
    pub campaign_status: CampaignStatus,
    /// The relationship state.
    pub linkedin_status: LinkedinStatus,
    /// Index of the current step.
    pub step_index: u32,
    /// Where it is in the workflow.
    pub workflow_state: WorkflowState,
    /// When the accept was stamped.
    #[serde(default)]
    pub accepted_at: Option<TimestampMs>,
    /// When the prospect replied.
    #[serde(default)]
    pub replied_at: Option<TimestampMs>,
    /// When a late accept was observed.
    #[serde(default)]
    pub late_accept_observed_at: Option<TimestampMs>,
    /// When the late-accept follow-up was sent.
    #[serde(default)]
    pub late_accept_followup_sent_at: Option<TimestampMs>,
}

/// A campaign as routing and pre-flight see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    /// Its id.
    pub campaign_id: String,
    /// Its state.
    pub status: CampaignStatus,
    /// Its workflow.
    pub steps: Vec<CampaignStep>,
}

/// One enrollment a match attributes a signal to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    /// A candidate's enrollment id.
    pub enrollment_id: String,
    /// The strategy that matched, kebab-case.
    pub strategy: String,
}

/// The match verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchOutcome {
    /// Every enrollment the signal belongs to.
    pub matches: Vec<Matched>,
    /// Why, for the decision trace.
    #[serde(default)]
    pub trace: Vec<String>,
}

/// Why an accept is stamped without a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StampOnlyReason {
    /// The campaign was stopped.
    CampaignStopped,
    /// No message step follows the accept.
    NoFollowupStep,
    /// An automatic message would be unsafe.
    UnsafeState,
    /// The policy declines for another reason.
    PolicyDeclined,
    /// The routing policy failed (set by the host).
    PolicyError,
}

/// Why an accept changes nothing beyond the stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// Already recorded.
    AlreadyStamped,
    /// The prospect replied.
    Replied,
    /// The enrollment left automation.
    Stopped,
    /// No invite from this campaign.
    NotInvited,
}

/// The routing decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "route", rename_all = "snake_case")]
pub enum Route {
    /// In time: advance the workflow.
    Advance,
    /// Late: fire one follow-up at `step_index`.
    LateAutoFire {
        /// The send-message step to fire.
        step_index: u32,
    },
    /// Record the accept only.
    StampOnly {
        /// Why.
        reason: StampOnlyReason,
        /// Explanation.
        detail: String,
    },
    /// Nothing to do.
    Ignore {
        /// Why.
        reason: IgnoreReason,
        /// Explanation.
        detail: String,
    },
}

/// Input of the routing slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingInput {
    /// The accept.
    pub signal: AcceptSignal,
    /// The matched enrollment, before this accept.
    pub enrollment: Enrollment,
    /// Its campaign.
    pub campaign: Campaign,
    /// The host's current time.
    pub now: TimestampMs,
}

/// Who asks for a dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchSource {
    /// An in-time accept reached a message step.
    InTimeAdvance,
    /// A late accept at webhook time.
    LateAutoFire,
    /// The late-accepts heal tick.
    HealLate,
    /// The stuck post-accepts heal tick.
    HealStuck,
    /// The hourly skip retry.
    SkipRetry,
    /// A campaign resume sweep.
    Resume,
}

impl DispatchSource {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InTimeAdvance => "in_time_advance",
            Self::LateAutoFire => "late_auto_fire",
            Self::HealLate => "heal_late",
            Self::HealStuck => "heal_stuck",
            Self::SkipRetry => "skip_retry",
            Self::Resume => "resume",
        }
    }
}

/// Why a dispatch was not enqueued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Account not connected.
    AccountNotConnected,
    /// Campaign paused.
    CampaignPaused,
    /// Campaign draft, stopped or completed.
    CampaignNotRunning,
    /// The source's column is set.
    AlreadySent,
    /// An active job exists for (enrollment, step).
    ActiveJobExists,
    /// The prospect replied.
    ProspectReplied,
    /// The workflow routed away from this step.
    ConditionStepSkipped,
    /// Another dispatch raced this one.
    ConcurrentAdvance,
    /// Not a 1st-degree connection.
    NotConnectedToProspect,
    /// Not a message step.
    InvalidStep,
    /// The policy failed (set by the host).
    PolicyError,
}

impl SkipReason {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountNotConnected => "account_not_connected",
            Self::CampaignPaused => "campaign_paused",
            Self::CampaignNotRunning => "campaign_not_running",
            Self::AlreadySent => "already_sent",
            Self::ActiveJobExists => "active_job_exists",
            Self::ProspectReplied => "prospect_replied",
            Self::ConditionStepSkipped => "condition_step_skipped",
            Self::ConcurrentAdvance => "concurrent_advance",
            Self::NotConnectedToProspect => "not_connected_to_prospect",
            Self::InvalidStep => "invalid_step",
            Self::PolicyError => "policy_error",
        }
    }
}

/// Input of the pre-flight slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightInput {
    /// Who asks.
    pub source: DispatchSource,
    /// The enrollment.
    pub enrollment_id: String,
    /// Its campaign.
    pub campaign_id: String,
    /// The step to enqueue.
    pub step_index: u32,
    /// That step.
    pub step: CampaignStep,
    /// The account's state.
    pub account_status: AccountStatus,
    /// The campaign's state.
    pub campaign_status: CampaignStatus,
    /// The relationship state.
    pub linkedin_status: LinkedinStatus,
    /// The source-specific "already sent" column.
    #[serde(default)]
    pub already_sent_at: Option<TimestampMs>,
    /// When the prospect replied.
    #[serde(default)]
    pub replied_at: Option<TimestampMs>,
    /// Whether an active job exists for (enrollment, step).
    pub active_job_exists: bool,
    /// The host's current time.
    pub now: TimestampMs,
}

/// The pre-flight verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum PreflightDecision {
    /// Enqueue the job.
    Enqueue {
        /// The step to run.
        step_index: u32,
        /// Not before this time.
        not_before: TimestampMs,
    },
    /// Do not enqueue.
    Skip {
        /// Why.
        reason: SkipReason,
        /// Whether skip-retry should try again.
        recoverable: bool,
        /// Explanation.
        detail: String,
    },
}
