//! The JSON envelopes of `accord policy run` and `accord policy test`.
//!
//! A fixture is one JSON file:
//!
//! ```json
//! { "description": "why this case exists",
//!   "input":    { …the slot's input… },
//!   "expected": { …the decision… } }
//! ```
//!
//! `expected` is compared with the decision as a pattern: every key it
//! names must be present with a matching value; keys it leaves out (a
//! skip's free-text `detail`, say) are not compared. Arrays must have the
//! same length and match element by element.

use crate::types::*;
use serde::{Deserialize, Serialize};

/// An input for the match slot: which of its three functions to call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum MatchCall {
    /// `prospect-keys(identity)`.
    ProspectKeys {
        /// The prospect's identity.
        identity: ProspectIdentity,
    },
    /// `signal-keys(signal)`.
    SignalKeys {
        /// The accept signal.
        signal: AcceptSignal,
    },
    /// `resolve(signal, candidates)`.
    Resolve {
        /// The accept signal.
        signal: AcceptSignal,
        /// Enrollments sharing a key with it.
        candidates: Vec<Enrollment>,
    },
}

/// The decision of a match-slot call (trace lines are reported apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatchResult {
    /// From `prospect-keys` or `signal-keys`.
    Keys {
        /// The keys.
        keys: Vec<String>,
    },
    /// From `resolve`.
    Matches {
        /// The matched enrollments.
        matches: Vec<Matched>,
    },
}

/// One fixture file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Why the case exists.
    #[serde(default)]
    pub description: String,
    /// The slot's input.
    pub input: serde_json::Value,
    /// The expected decision (a pattern, see the module docs).
    pub expected: serde_json::Value,
}

/// Checks `actual` against the pattern `expected`; on a mismatch returns
/// the JSON path and both values.
pub fn match_pattern(
    expected: &serde_json::Value,
    actual: &serde_json::Value,
) -> Result<(), String> {
    compare(expected, actual, "$")
}

fn compare(
    expected: &serde_json::Value,
    actual: &serde_json::Value,
    path: &str,
) -> Result<(), String> {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => compare(ev, av, &p)?,
                    None => {
                        return Err(format!(
                            "{p}: expected {ev}, but the decision has no such field"
                        ));
                    }
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: expected {} elements, got {}: {actual}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare(ev, av, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// Runs a slot input through the native default logic (for tests and the
/// benchmark baseline). `slot` is `match`, `routing` or `preflight`.
pub fn run_default(slot: &str, input: serde_json::Value) -> Result<serde_json::Value, String> {
    use crate::defaults;
    let out = match slot {
        "match" => match serde_json::from_value::<MatchCall>(input).map_err(|e| e.to_string())? {
            MatchCall::ProspectKeys { identity } => serde_json::to_value(MatchResult::Keys {
                keys: defaults::prospect_keys(&identity),
            }),
            MatchCall::SignalKeys { signal } => serde_json::to_value(MatchResult::Keys {
                keys: defaults::signal_keys(&signal),
            }),
            MatchCall::Resolve { signal, candidates } => {
                serde_json::to_value(MatchResult::Matches {
                    matches: defaults::resolve(&signal, &candidates).matches,
                })
            }
        },
        "routing" => {
            let input: RoutingInput = serde_json::from_value(input).map_err(|e| e.to_string())?;
            serde_json::to_value(defaults::route(&input))
        }
        "preflight" => {
            let input: PreflightInput = serde_json::from_value(input).map_err(|e| e.to_string())?;
            serde_json::to_value(defaults::preflight(&input))
        }
        other => return Err(format!("unknown slot {other}")),
    };
    out.map_err(|e| e.to_string())
}
