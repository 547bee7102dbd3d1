//! Accord's default match strategy: invite bridge, direct member id, Sales
//! Navigator decode, public identifier (see `accord_policy_core::defaults`).

wit_bindgen::generate!({ path: "../../wit", world: "match-policy" });

accord_policy_core::wit_conversions!(types = crate::accord::policy::types);
accord_policy_core::wit_conversions!(
    match_strategy = crate::exports::accord::policy::match_strategy
);

use accord::policy::host::{Level, log};
use accord::policy::types::{AcceptSignal, Enrollment, ProspectIdentity};
use accord_policy_core::{self as core, convert::Convert, defaults};
use exports::accord::policy::match_strategy::{Guest, MatchOutcome};

struct DefaultMatch;

impl Guest for DefaultMatch {
    fn prospect_keys(identity: ProspectIdentity) -> Vec<String> {
        let identity: core::ProspectIdentity = identity.convert();
        defaults::prospect_keys(&identity)
    }

    fn signal_keys(signal: AcceptSignal) -> Vec<String> {
        let signal: core::AcceptSignal = signal.convert();
        defaults::signal_keys(&signal)
    }

    fn resolve(signal: AcceptSignal, candidates: Vec<Enrollment>) -> MatchOutcome {
        let signal: core::AcceptSignal = signal.convert();
        let candidates: Vec<core::Enrollment> = candidates.convert();
        let outcome = defaults::resolve(&signal, &candidates);
        if outcome.matches.is_empty() {
            log(Level::Info, "no strategy matched any candidate");
        }
        outcome.convert()
    }
}

export!(DefaultMatch);
