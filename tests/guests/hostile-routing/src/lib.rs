//! A routing policy that misbehaves on demand; the mode is the
//! enrollment id. Otherwise it auto-fires step 0 (valid only when step 0 is
//! a message) or, with mode "advance", advances.
wit_bindgen::generate!({ path: "../../../wit", world: "routing-policy" });

#[path = "../../behaviour.rs"]
mod behaviour;

use exports::accord::policy::late_accept_routing::{Guest, RoutingDecision, RoutingInput};

struct Hostile;

impl Guest for Hostile {
    fn route(input: RoutingInput) -> RoutingDecision {
        let mode = input.enrollment.enrollment_id;
        behaviour::misbehave(&mode);
        match mode.as_str() {
            "advance" => RoutingDecision::Advance,
            _ => RoutingDecision::LateAutoFire(0),
        }
    }
}

export!(Hostile);
