//! The three default policies, as pure functions over [`crate::types`].
//!
//! `accord policy new` writes the same logic out as plain Rust over the
//! generated bindings (host/accord/src/cli/templates/); the test suite
//! runs every default fixture against those copies, so a rule changed
//! here with a fixture shows there too.

use crate::linkedin::{ProfileRef, decode_member_number, normalize_slug, parse_profile_url};
use crate::types::*;

/// Key prefixes of the default match strategy's key space.
mod key {
    /// An exact provider id.
    pub const PROVIDER_ID: &str = "pid:";
    /// The numeric member id decoded from an `ACo…`/`ACw…` id.
    pub const MEMBER_NUMBER: &str = "num:";
    /// A normalised vanity slug.
    pub const SLUG: &str = "slug:";
}

/// Strategy names, in the order they are tried.
pub mod strategy {
    /// The invite we sent went to the signal's member id.
    pub const INVITE_BRIDGE: &str = "invite-bridge";
    /// The prospect's stored member id equals the signal's.
    pub const MEMBER_ID: &str = "member-id";
    /// A Sales Navigator id and a classic id decode to the same member.
    pub const SALES_NAV_DECODE: &str = "sales-nav-decode";
    /// Public identifier / profile URL slug match.
    pub const PUBLIC_IDENTIFIER: &str = "public-identifier";
}

/// The identifiers of one side of a match, normalised.
#[derive(Default)]
struct Ids {
    provider_ids: Vec<String>,
    numbers: Vec<u64>,
    slugs: Vec<String>,
}

impl Ids {
    fn add_provider_id(&mut self, id: &str) {
        let id = id.trim();
        if id.is_empty() {
            return;
        }
        if let Some(n) = decode_member_number(id) {
            push_unique(&mut self.numbers, n);
        }
        push_unique(&mut self.provider_ids, id.to_string());
    }

    fn add_ref(&mut self, r: Option<ProfileRef>) {
        match r {
            Some(ProfileRef::Slug(s)) => push_unique(&mut self.slugs, s),
            Some(ProfileRef::ProviderId(id)) => self.add_provider_id(&id),
            None => {}
        }
    }

    fn of_identity(identity: &ProspectIdentity) -> Self {
        let mut ids = Self::default();
        if let Some(id) = &identity.member_id {
            ids.add_provider_id(id);
        }
        if let Some(url) = &identity.sales_nav_lead_url {
            // A bare lead id is accepted too; anything else that is not a
            // LinkedIn URL (another site, a whole URL) is no key at all.
            let bare_id = || normalize_slug(url).filter(|r| matches!(r, ProfileRef::ProviderId(_)));
            ids.add_ref(parse_profile_url(url).or_else(bare_id));
        }
        if let Some(url) = &identity.profile_url {
            ids.add_ref(parse_profile_url(url));
        }
        if let Some(slug) = &identity.public_identifier {
            ids.add_ref(normalize_slug(slug));
        }
        if let Some(id) = &identity.invited_provider_id {
            ids.add_provider_id(id);
        }
        ids
    }

    fn of_signal(signal: &AcceptSignal) -> Self {
        let mut ids = Self::default();
        if let Some(id) = &signal.member_id {
            ids.add_provider_id(id);
        }
        if let Some(slug) = &signal.public_identifier {
            ids.add_ref(normalize_slug(slug));
        }
        if let Some(url) = &signal.profile_url {
            ids.add_ref(parse_profile_url(url));
        }
        ids
    }

    fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        keys.extend(
            self.provider_ids
                .iter()
                .map(|id| format!("{}{id}", key::PROVIDER_ID)),
        );
        keys.extend(
            self.numbers
                .iter()
                .map(|n| format!("{}{n}", key::MEMBER_NUMBER)),
        );
        keys.extend(self.slugs.iter().map(|s| format!("{}{s}", key::SLUG)));
        keys
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Default `prospect-keys`: exact provider ids, decoded member numbers and
/// normalised slugs of everything the identity holds.
pub fn prospect_keys(identity: &ProspectIdentity) -> Vec<String> {
    Ids::of_identity(identity).keys()
}

/// Default `signal-keys`, in the same key space as [`prospect_keys`].
pub fn signal_keys(signal: &AcceptSignal) -> Vec<String> {
    Ids::of_signal(signal).keys()
}

/// Default `resolve`: every candidate that matches by the first strategy
/// that applies, tried in order: invite bridge, direct member id, Sales
/// Navigator decode, public identifier.
pub fn resolve(signal: &AcceptSignal, candidates: &[Enrollment]) -> MatchOutcome {
    let seen = Ids::of_signal(signal);
    let mut outcome = MatchOutcome::default();
    for candidate in candidates {
        if outcome
            .matches
            .iter()
            .any(|m| m.enrollment_id == candidate.enrollment_id)
        {
            continue;
        }
        match match_one(&seen, candidate) {
            Some(strategy) => {
                outcome.trace.push(format!(
                    "{}: matched by {strategy}",
                    candidate.enrollment_id
                ));
                outcome.matches.push(Matched {
                    enrollment_id: candidate.enrollment_id.clone(),
                    strategy: strategy.to_string(),
                });
            }
            None => outcome.trace.push(format!(
                "{}: shares a key but no strategy matched",
                candidate.enrollment_id
            )),
        }
    }
    if candidates.is_empty() {
        outcome
            .trace
            .push("no candidates share a key with the signal".to_string());
    }
    outcome
}

fn match_one(seen: &Ids, candidate: &Enrollment) -> Option<&'static str> {
    let invited = candidate
        .invite
        .as_ref()
        .map(|i| i.provider_id.as_str())
        .into_iter()
        .chain(candidate.identity.invited_provider_id.as_deref());
    if invited
        .into_iter()
        .any(|id| seen.provider_ids.iter().any(|s| s == id))
    {
        return Some(strategy::INVITE_BRIDGE);
    }
    let identity = &candidate.identity;
    let seen_id = |id: &str| seen.provider_ids.iter().any(|s| s == id.trim());
    let direct = identity.member_id.as_deref().is_some_and(seen_id)
        || identity.profile_url.as_deref().is_some_and(|url| {
            matches!(parse_profile_url(url), Some(ProfileRef::ProviderId(id)) if seen_id(&id))
        });
    if direct {
        return Some(strategy::MEMBER_ID);
    }
    let all = Ids::of_identity(&candidate.identity);
    if all.numbers.iter().any(|n| seen.numbers.contains(n)) {
        return Some(strategy::SALES_NAV_DECODE);
    }
    if all.slugs.iter().any(|s| seen.slugs.contains(s)) {
        return Some(strategy::PUBLIC_IDENTIFIER);
    }
    None
}

/// Default late-accept routing.
///
/// - replied (including a reply-inferred signal: the reply itself is the
///   evidence), already stamped, stopped or unreachable → ignore / stamp only;
/// - still before or on its wait-accept step in a running or paused
///   campaign → advance (in time);
/// - past wait-accept (timed out, condition-skipped, completed, or further
///   along the false branch), or the campaign completed → late auto-fire of
///   the follow-up message, or stamp only when there is none;
/// - a stopped or draft campaign → stamp only.
pub fn route(input: &RoutingInput) -> Route {
    let e = &input.enrollment;
    // The enrollment is passed as it was before this accept, so for a
    // reply-inferred accept its replied_at may still be empty: the signal
    // is the reply, and a reply stops automation.
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
        _ => {}
    }
    let wait_accept = first_wait_accept(&input.campaign.steps);
    let in_time = input.campaign.status != CampaignStatus::Completed
        && matches!(
            e.workflow_state,
            WorkflowState::Pending | WorkflowState::Active | WorkflowState::WaitingAccept
        )
        && wait_accept.is_none_or(|w| e.step_index <= w);
    if in_time {
        return Route::Advance;
    }
    match followup_step(&input.campaign.steps, wait_accept) {
        Some(step_index) => Route::LateAutoFire { step_index },
        None => stamp_only(
            StampOnlyReason::NoFollowupStep,
            "no send_message step follows the accept in this workflow",
        ),
    }
}

fn ignore(reason: IgnoreReason, detail: &str) -> Route {
    Route::Ignore {
        reason,
        detail: detail.to_string(),
    }
}

fn stamp_only(reason: StampOnlyReason, detail: &str) -> Route {
    Route::StampOnly {
        reason,
        detail: detail.to_string(),
    }
}

fn first_wait_accept(steps: &[CampaignStep]) -> Option<u32> {
    steps
        .iter()
        .position(|s| matches!(s, CampaignStep::WaitAccept { .. }))
        .and_then(|i| u32::try_from(i).ok())
}

/// The message an accept unlocks: the accepted branch of the first
/// condition after wait-accept if it is a message, else the first message
/// after wait-accept.
pub fn followup_step(steps: &[CampaignStep], wait_accept: Option<u32>) -> Option<u32> {
    let start = wait_accept.map_or(0, |w| w as usize + 1);
    let is_message = |i: u32| matches!(steps.get(i as usize), Some(CampaignStep::SendMessage));
    for (i, step) in steps.iter().enumerate().skip(start) {
        match step {
            CampaignStep::Condition { if_accepted, .. } if is_message(*if_accepted) => {
                return Some(*if_accepted);
            }
            CampaignStep::SendMessage => return u32::try_from(i).ok(),
            _ => {}
        }
    }
    None
}

/// Default dispatch pre-flight: the step must be a message, the prospect
/// must not have replied, the source's column must be null, the account
/// connected, the campaign running (completed is allowed for late-accept
/// sources), the prospect a 1st-degree connection, and no active job may
/// exist for (enrollment, step).
pub fn preflight(input: &PreflightInput) -> PreflightDecision {
    use SkipReason::*;
    if !matches!(input.step, CampaignStep::SendMessage) {
        return skip(InvalidStep, false, "only send_message steps are dispatched");
    }
    if input.replied_at.is_some() || input.linkedin_status == LinkedinStatus::Replied {
        return skip(
            ProspectReplied,
            false,
            "the prospect replied; automation stops",
        );
    }
    if let Some(at) = input.already_sent_at {
        return skip(AlreadySent, false, &format!("already sent at {at}"));
    }
    if input.account_status != AccountStatus::Connected {
        return skip(
            AccountNotConnected,
            true,
            "the LinkedIn account is not connected",
        );
    }
    let late_source = matches!(
        input.source,
        DispatchSource::LateAutoFire | DispatchSource::HealLate
    );
    match input.campaign_status {
        CampaignStatus::Running => {}
        CampaignStatus::Completed if late_source => {}
        CampaignStatus::Paused => return skip(CampaignPaused, true, "the campaign is paused"),
        other => {
            return skip(
                CampaignNotRunning,
                false,
                &format!("the campaign is {other:?}").to_lowercase(),
            );
        }
    }
    if input.linkedin_status != LinkedinStatus::Connected {
        return skip(
            NotConnectedToProspect,
            false,
            "messages go only to 1st-degree connections",
        );
    }
    if input.active_job_exists {
        return skip(
            ActiveJobExists,
            false,
            "a job for this step is already queued",
        );
    }
    PreflightDecision::Enqueue {
        step_index: input.step_index,
        not_before: input.now,
    }
}

fn skip(reason: SkipReason, recoverable: bool, detail: &str) -> PreflightDecision {
    PreflightDecision::Skip {
        reason,
        recoverable,
        detail: detail.to_string(),
    }
}
