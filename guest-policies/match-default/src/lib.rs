//! Accord's default match strategy: invite bridge, direct member id, Sales
//! Navigator decode, public identifier (see `accord_policy_core::defaults`).

wit_bindgen::generate!({ path: "../../wit", world: "match-policy" });

#[path = "../../convert.rs"]
mod convert;

use accord::policy::host::{Level, log};
use accord::policy::types::{AcceptSignal, Enrollment, ProspectIdentity};
use accord_policy_core::defaults;
use exports::accord::policy::match_strategy::{Guest, MatchOutcome, Matched};

struct DefaultMatch;

impl Guest for DefaultMatch {
    fn prospect_keys(identity: ProspectIdentity) -> Vec<String> {
        defaults::prospect_keys(&convert::identity(identity))
    }

    fn signal_keys(signal: AcceptSignal) -> Vec<String> {
        defaults::signal_keys(&convert::signal(signal))
    }

    fn resolve(signal: AcceptSignal, candidates: Vec<Enrollment>) -> MatchOutcome {
        let signal = convert::signal(signal);
        let candidates: Vec<_> = candidates.into_iter().map(convert::enrollment).collect();
        let outcome = defaults::resolve(&signal, &candidates);
        if outcome.matches.is_empty() {
            log(Level::Info, "no strategy matched any candidate");
        }
        MatchOutcome {
            matches: outcome
                .matches
                .into_iter()
                .map(|m| Matched {
                    enrollment_id: m.enrollment_id,
                    strategy: m.strategy,
                })
                .collect(),
            trace: outcome.trace,
        }
    }
}

export!(DefaultMatch);
