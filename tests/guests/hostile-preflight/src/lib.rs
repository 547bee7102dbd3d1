//! A pre-flight policy that misbehaves on demand; the mode is the
//! enrollment id. Otherwise it enqueues the step at `now`, or with mode
//! "far-future" a time a year ahead, or with "other-step" another step;
//! with "says-paused" it skips as if the campaign were paused (a
//! well-formed decision that differs from the default's).
wit_bindgen::generate!({ path: "../../../wit", world: "preflight-policy" });

#[path = "../../behaviour.rs"]
mod behaviour;

use exports::accord::policy::dispatch_preflight::{
    Enqueue, Guest, PreflightDecision, PreflightInput, Skip, SkipReason,
};

struct Hostile;

impl Guest for Hostile {
    fn check(input: PreflightInput) -> PreflightDecision {
        let mode = input.enrollment_id;
        if let Some(report) = behaviour::misbehave(&mode) {
            return PreflightDecision::Skip(Skip {
                reason: SkipReason::PolicyError,
                recoverable: false,
                detail: report,
            });
        }
        match mode.as_str() {
            "huge" => PreflightDecision::Skip(Skip {
                reason: SkipReason::PolicyError,
                recoverable: false,
                detail: behaviour::huge(200_000),
            }),
            "far-future" => PreflightDecision::Enqueue(Enqueue {
                step_index: input.step_index,
                not_before: input.now + 365 * 86_400_000,
            }),
            "says-paused" => PreflightDecision::Skip(Skip {
                reason: SkipReason::CampaignPaused,
                recoverable: true,
                detail: "this candidate thinks the campaign is paused".into(),
            }),
            "other-step" => PreflightDecision::Enqueue(Enqueue {
                step_index: input.step_index + 1,
                not_before: input.now,
            }),
            _ => PreflightDecision::Enqueue(Enqueue {
                step_index: input.step_index,
                not_before: input.now,
            }),
        }
    }
}

export!(Hostile);
