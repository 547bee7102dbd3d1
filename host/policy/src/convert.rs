//! The contract's conversions for the host's `bindgen!` types, expanded
//! from the one description the guests expand too (`wit_conversions!`).
//!
//! Inputs go down (core → wit), decisions come up (wit → core), both
//! through [`accord_policy_core::convert::Convert`]. A future contract
//! version adds its own conversions that forward to these.

accord_policy_core::wit_conversions!(types = crate::bindings::wit);
accord_policy_core::wit_conversions!(match_strategy = crate::bindings::wit_match);
accord_policy_core::wit_conversions!(late_accept_routing = crate::bindings::wit_routing);
accord_policy_core::wit_conversions!(dispatch_preflight = crate::bindings::wit_preflight);
