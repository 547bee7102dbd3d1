//! The contract's bounds on each call: an input's approximate size, and
//! the checks an answer passes before the host uses it.

use crate::error::PolicyError;
use crate::sandbox::CallState;
use accord_policy_core::{
    CampaignStep, Enrollment, MatchOutcome, PreflightDecision, PreflightInput, Route, RoutingInput,
};
use serde::Serialize;

fn invalid(msg: String) -> PolicyError {
    PolicyError::InvalidOutput(msg)
}

/// Keys per `prospect-keys` or `signal-keys` answer (the WIT contract).
const MAX_KEYS: usize = 16;
/// Bytes per key (the WIT contract).
const MAX_KEY_BYTES: usize = 256;

/// At most 16 keys of 1 to 256 bytes (the WIT contract). More than 16 is
/// a malformed answer; a key of the wrong size is dropped and noted in
/// `state`, and the others are used: one bad key (an over-long URL's,
/// say) must not cost a prospect the keys it can be matched by.
pub(super) fn check_keys(
    state: &mut CallState,
    keys: Vec<String>,
) -> Result<Vec<String>, PolicyError> {
    if keys.len() > MAX_KEYS {
        return Err(invalid(format!(
            "{} keys returned, at most {MAX_KEYS} are allowed",
            keys.len()
        )));
    }
    let returned = keys.len();
    let (good, bad): (Vec<String>, Vec<String>) = keys
        .into_iter()
        .partition(|k| !k.is_empty() && k.len() <= MAX_KEY_BYTES);
    if !bad.is_empty() {
        let sizes: Vec<String> = bad.iter().map(|k| k.len().to_string()).collect();
        state.dropped = Some(PolicyError::InvalidOutput(format!(
            "{} of {returned} keys dropped, of {} bytes: keys must be 1 to {MAX_KEY_BYTES} bytes",
            bad.len(),
            sizes.join(", ")
        )));
    }
    Ok(good)
}

/// Every match names a candidate and a kebab-case strategy.
pub(super) fn check_outcome(
    outcome: MatchOutcome,
    candidates: &[Enrollment],
) -> Result<MatchOutcome, PolicyError> {
    for m in &outcome.matches {
        if !candidates
            .iter()
            .any(|c| c.enrollment_id == m.enrollment_id)
        {
            return Err(invalid(format!(
                "matched `{}`, which is not one of the candidates",
                m.enrollment_id
            )));
        }
        let valid_name = !m.strategy.is_empty()
            && m.strategy.len() <= 64
            && m.strategy
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            return Err(invalid(format!(
                "strategy name `{}` must be 1-64 chars of [a-z0-9-]",
                m.strategy
            )));
        }
    }
    Ok(outcome)
}

/// A late auto-fire must point at a send-message step of the campaign.
pub(super) fn check_route(route: Route, input: &RoutingInput) -> Result<Route, PolicyError> {
    if let Route::LateAutoFire { step_index } = route {
        let step = input.campaign.steps.get(step_index as usize);
        if !matches!(step, Some(CampaignStep::SendMessage)) {
            return Err(invalid(format!(
                "late-auto-fire({step_index}) does not name a send-message step"
            )));
        }
    }
    Ok(route)
}

/// An enqueue must be for the step asked about, not before 24 h ago nor
/// more than 90 days ahead.
pub(super) fn check_preflight(
    decision: PreflightDecision,
    input: &PreflightInput,
) -> Result<PreflightDecision, PolicyError> {
    const DAY_MS: i64 = 86_400_000;
    if let PreflightDecision::Enqueue {
        step_index,
        not_before,
    } = decision
    {
        if step_index != input.step_index {
            return Err(invalid(format!(
                "enqueue names step {step_index}, pre-flight was asked about step {}",
                input.step_index
            )));
        }
        if not_before < input.now - DAY_MS || not_before > input.now + 90 * DAY_MS {
            return Err(invalid(format!(
                "not-before {not_before} is outside [now - 1 day, now + 90 days]"
            )));
        }
    }
    Ok(decision)
}

/// Size of a value's JSON encoding, without allocating it.
pub(super) fn json_size<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Approximate encoded sizes of inputs: the strings' bytes plus a fixed
/// allowance per record. Cheap enough to run on every call, close enough
/// for a cap measured in hundreds of KiB.
pub(super) mod size {
    use accord_policy_core::*;

    fn s(o: &Option<String>) -> usize {
        o.as_ref().map_or(0, String::len)
    }

    pub(in crate::runtime) fn signal(x: &AcceptSignal) -> usize {
        64 + x.linkedin_account_id.len()
            + s(&x.member_id)
            + s(&x.public_identifier)
            + s(&x.profile_url)
            + s(&x.full_name)
    }

    pub(in crate::runtime) fn identity(x: &ProspectIdentity) -> usize {
        32 + s(&x.profile_url)
            + s(&x.member_id)
            + s(&x.sales_nav_lead_url)
            + s(&x.public_identifier)
            + s(&x.invited_provider_id)
    }

    pub(in crate::runtime) fn enrollment(x: &Enrollment) -> usize {
        128 + x.enrollment_id.len()
            + x.campaign_id.len()
            + identity(&x.identity)
            + x.invite.as_ref().map_or(0, |i| 16 + i.provider_id.len())
    }

    pub(in crate::runtime) fn routing(x: &RoutingInput) -> usize {
        signal(&x.signal)
            + enrollment(&x.enrollment)
            + 32
            + x.campaign.campaign_id.len()
            + 16 * x.campaign.steps.len()
    }

    pub(in crate::runtime) fn preflight(x: &PreflightInput) -> usize {
        128 + x.enrollment_id.len() + x.campaign_id.len()
    }
}
