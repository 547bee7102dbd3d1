//! Accord's default late-accept routing (see `accord_policy_core::defaults::route`).

wit_bindgen::generate!({ path: "../../wit", world: "routing-policy" });

#[path = "../../convert.rs"]
mod convert;

use accord_policy_core as core;
use exports::accord::policy::late_accept_routing::{
    Guest, IgnoreDetail, IgnoreReason, RoutingDecision, RoutingInput, StampOnlyDetail,
    StampOnlyReason,
};

struct DefaultRouting;

impl Guest for DefaultRouting {
    fn route(input: RoutingInput) -> RoutingDecision {
        let input = core::RoutingInput {
            signal: convert::signal(input.signal),
            enrollment: convert::enrollment(input.enrollment),
            campaign: convert::campaign(input.campaign),
            now: input.now,
        };
        match core::defaults::route(&input) {
            core::Route::Advance => RoutingDecision::Advance,
            core::Route::LateAutoFire { step_index } => RoutingDecision::LateAutoFire(step_index),
            core::Route::StampOnly { reason, detail } => {
                RoutingDecision::StampOnly(StampOnlyDetail {
                    reason: match reason {
                        core::StampOnlyReason::CampaignStopped => StampOnlyReason::CampaignStopped,
                        core::StampOnlyReason::NoFollowupStep => StampOnlyReason::NoFollowupStep,
                        core::StampOnlyReason::UnsafeState => StampOnlyReason::UnsafeState,
                        core::StampOnlyReason::PolicyDeclined => StampOnlyReason::PolicyDeclined,
                        core::StampOnlyReason::PolicyError => StampOnlyReason::PolicyError,
                    },
                    detail,
                })
            }
            core::Route::Ignore { reason, detail } => RoutingDecision::Ignore(IgnoreDetail {
                reason: match reason {
                    core::IgnoreReason::AlreadyStamped => IgnoreReason::AlreadyStamped,
                    core::IgnoreReason::Replied => IgnoreReason::Replied,
                    core::IgnoreReason::Stopped => IgnoreReason::Stopped,
                    core::IgnoreReason::NotInvited => IgnoreReason::NotInvited,
                },
                detail,
            }),
        }
    }
}

export!(DefaultRouting);
