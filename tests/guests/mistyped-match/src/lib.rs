//! A match policy at contract version 0.1.0 with every name right but
//! `prospect-keys` returning `string` instead of `list<string>`: must be
//! refused at load, naming the function and both types.
wit_bindgen::generate!({ path: "wit", world: "match-policy" });

use accord::policy::types::{AcceptSignal, Enrollment, ProspectIdentity};
use exports::accord::policy::match_strategy::{Guest, MatchOutcome};

struct Mistyped;

impl Guest for Mistyped {
    fn prospect_keys(_identity: ProspectIdentity) -> String {
        "one-key".into()
    }

    fn signal_keys(_signal: AcceptSignal) -> Vec<String> {
        vec!["one-key".into()]
    }

    fn resolve(_signal: AcceptSignal, _candidates: Vec<Enrollment>) -> MatchOutcome {
        MatchOutcome {
            matches: Vec::new(),
            trace: Vec::new(),
        }
    }
}

export!(Mistyped);
