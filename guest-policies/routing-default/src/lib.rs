//! Accord's default late-accept routing (see `accord_policy_core::defaults::route`).

wit_bindgen::generate!({ path: "../../wit", world: "routing-policy" });

accord_policy_core::wit_conversions!(types = crate::accord::policy::types);
accord_policy_core::wit_conversions!(
    late_accept_routing = crate::exports::accord::policy::late_accept_routing
);

use accord_policy_core::{self as core, convert::Convert};
use exports::accord::policy::late_accept_routing::{Guest, RoutingDecision, RoutingInput};

struct DefaultRouting;

impl Guest for DefaultRouting {
    fn route(input: RoutingInput) -> RoutingDecision {
        let input: core::RoutingInput = input.convert();
        core::defaults::route(&input).convert()
    }
}

export!(DefaultRouting);
