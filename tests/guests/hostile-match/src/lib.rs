//! A match policy that misbehaves on demand. The mode is the signal's
//! `full-name` (or the identity's `public-identifier` up to its first `.`,
//! so several prospects can share a mode); any other value matches every
//! candidate with strategy `hostile`.
wit_bindgen::generate!({ path: "../../../wit", world: "match-policy" });

#[path = "../../behaviour.rs"]
mod behaviour;

use accord::policy::host::{Level, log};
use accord::policy::types::{AcceptSignal, Enrollment, ProspectIdentity};
use exports::accord::policy::match_strategy::{Guest, MatchOutcome, Matched};

struct Hostile;

fn keys_for(mode: &str) -> Vec<String> {
    match mode {
        "many-keys" => (0..17).map(|i| format!("k{i}")).collect(),
        // A good key and one over the contract's 256 bytes.
        "long-key" => vec!["good-key".into(), behaviour::huge(300)],
        "log-flood" => {
            let long = behaviour::huge(1100);
            for i in 0..200 {
                log(Level::Info, &format!("line {i} {long}"));
            }
            vec!["flooded".into()]
        }
        // One message as large as guest memory allows, logged again and
        // again: each call is a few instructions for the guest.
        "log-huge" => {
            let huge = behaviour::huge(1 << 20);
            for _ in 0..100 {
                log(Level::Info, &huge);
            }
            vec!["flooded".into()]
        }
        // An endless stream of 200 KiB messages.
        "log-stream" => {
            let big = behaviour::huge(200 << 10);
            loop {
                log(Level::Info, &big);
            }
        }
        _ => vec![behaviour::misbehave(mode).unwrap_or_else(|| "hostile".into())],
    }
}

impl Guest for Hostile {
    fn prospect_keys(identity: ProspectIdentity) -> Vec<String> {
        let mode = identity.public_identifier.as_deref().unwrap_or("");
        keys_for(mode.split('.').next().unwrap_or(mode))
    }

    fn signal_keys(signal: AcceptSignal) -> Vec<String> {
        keys_for(signal.full_name.as_deref().unwrap_or(""))
    }

    fn resolve(signal: AcceptSignal, candidates: Vec<Enrollment>) -> MatchOutcome {
        let mode = signal.full_name.unwrap_or_default();
        let trace = match mode.as_str() {
            "huge" => vec![behaviour::huge(200_000)],
            _ => behaviour::misbehave(&mode).into_iter().collect(),
        };
        let matches = match mode.as_str() {
            "stranger" => vec![Matched {
                enrollment_id: "not-a-candidate".into(),
                strategy: "hostile".into(),
            }],
            "bad-strategy" => candidates
                .iter()
                .map(|c| Matched {
                    enrollment_id: c.enrollment_id.clone(),
                    strategy: "Not Kebab!".into(),
                })
                .collect(),
            _ => candidates
                .iter()
                .map(|c| Matched {
                    enrollment_id: c.enrollment_id.clone(),
                    strategy: "hostile".into(),
                })
                .collect(),
        };
        MatchOutcome { matches, trace }
    }
}

export!(Hostile);
