//! Accord's default dispatch pre-flight (see `accord_policy_core::defaults::preflight`).

wit_bindgen::generate!({ path: "../../wit", world: "preflight-policy" });

accord_policy_core::wit_conversions!(types = crate::accord::policy::types);
accord_policy_core::wit_conversions!(
    dispatch_preflight = crate::exports::accord::policy::dispatch_preflight
);

use accord_policy_core::{self as core, convert::Convert};
use exports::accord::policy::dispatch_preflight::{Guest, PreflightDecision, PreflightInput};

struct DefaultPreflight;

impl Guest for DefaultPreflight {
    fn check(input: PreflightInput) -> PreflightDecision {
        let input: core::PreflightInput = input.convert();
        core::defaults::preflight(&input).convert()
    }
}

export!(DefaultPreflight);
