//! A decision as the decision log keeps it, and the way back from the
//! log: the call's input in the envelope `accord policy run` and the
//! fixtures read, the decision as JSON, a summary in a few words; running
//! a logged input on any module of the slot (shadow, replay); comparing
//! two decisions.
//!
//! Two decisions agree when their JSON is equal except for free text
//! (`detail`, `trace`): a module that reworded a skip's explanation has
//! not changed what it decided.

use crate::decision::Decision;
use crate::runtime::{PolicyModule, PolicyRuntime};
use crate::slot::Slot;
use accord_policy_core::fixture::{MatchCall, MatchResult};
use accord_policy_core::{
    AcceptSignal, Enrollment, MatchOutcome, PreflightDecision, PreflightInput, Route, RoutingInput,
};
use serde::Serialize;
use serde_json::Value;

/// Keys whose values are explanations, not decisions.
pub const FREE_TEXT: [&str; 2] = ["detail", "trace"];

/// One decision in its logged form.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// `resolve`, `route` or `preflight`.
    pub call: &'static str,
    /// The input, JSON text.
    pub input: String,
    /// The decision, JSON.
    pub output: Value,
    /// The decision in a few words.
    pub summary: String,
}

/// The input of `resolve` as the log keeps it (the fixtures' envelope).
#[derive(Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
enum MatchCallRef<'a> {
    Resolve {
        signal: &'a AcceptSignal,
        candidates: &'a [Enrollment],
    },
}

fn to_text(value: &impl Serialize) -> String {
    // The contract's types serialize infallibly (no maps with non-string
    // keys, no foreign serializers).
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A `resolve` decision.
pub fn of_resolve(
    signal: &AcceptSignal,
    candidates: &[Enrollment],
    outcome: &MatchOutcome,
) -> Logged {
    let output = to_json(&MatchResult::Matches {
        matches: outcome.matches.clone(),
    });
    Logged {
        call: "resolve",
        input: to_text(&MatchCallRef::Resolve { signal, candidates }),
        summary: summary(Slot::Match, &output),
        output,
    }
}

/// A routing decision.
pub fn of_route(input: &RoutingInput, route: &Route) -> Logged {
    let output = to_json(route);
    Logged {
        call: "route",
        input: to_text(input),
        summary: summary(Slot::Routing, &output),
        output,
    }
}

/// A pre-flight decision.
pub fn of_preflight(input: &PreflightInput, decision: &PreflightDecision) -> Logged {
    let output = to_json(decision);
    Logged {
        call: "preflight",
        input: to_text(input),
        summary: summary(Slot::Preflight, &output),
        output,
    }
}

/// A decision in a few words, from its JSON: `matched:invite-bridge`,
/// `no_match`, `keys:3`, `advance`, `late_auto_fire:2`,
/// `stamp_only:campaign_completed`, `enqueue`, `skip:campaign_paused`.
pub fn summary(slot: Slot, output: &Value) -> String {
    let text = |key: &str| output.get(key).and_then(Value::as_str).unwrap_or("?");
    match slot {
        Slot::Match => {
            if let Some(keys) = output.get("keys").and_then(Value::as_array) {
                return format!("keys:{}", keys.len());
            }
            let mut strategies: Vec<&str> = output
                .get("matches")
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .filter_map(|m| m.get("strategy")?.as_str())
                        .collect()
                })
                .unwrap_or_default();
            strategies.sort_unstable();
            strategies.dedup();
            if strategies.is_empty() {
                "no_match".to_string()
            } else {
                format!("matched:{}", strategies.join("+"))
            }
        }
        Slot::Routing => match text("route") {
            "late_auto_fire" => format!(
                "late_auto_fire:{}",
                output
                    .get("step_index")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            ),
            route @ ("stamp_only" | "ignore") => format!("{route}:{}", text("reason")),
            route => route.to_string(),
        },
        Slot::Preflight => match text("decision") {
            "skip" => format!("skip:{}", text("reason")),
            decision => decision.to_string(),
        },
    }
}

/// The JSON paths where two decisions differ, free text aside; empty when
/// they agree.
pub fn differences(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(a, b, "$", &mut out);
    out
}

fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                if FREE_TEXT.contains(&k.as_str()) {
                    continue;
                }
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(xv), Some(yv)) => diff(xv, yv, &p, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (xv, yv)) in x.iter().zip(y).enumerate() {
                diff(xv, yv, &format!("{path}[{i}]"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(path.to_string()),
    }
}

/// Why a logged input cannot be run.
#[derive(Debug, thiserror::Error)]
#[error("the input does not fit the {slot} slot: {reason}")]
pub struct InputError {
    /// The slot the module implements.
    pub slot: Slot,
    /// What is wrong with the input.
    pub reason: String,
}

impl PolicyRuntime {
    /// Runs a logged input (any call of the module's slot) and returns the
    /// decision as JSON, in the log's shape.
    pub fn run_logged(
        &self,
        module: &PolicyModule,
        input: &str,
    ) -> Result<Decision<Value>, InputError> {
        let slot = module.slot();
        let bad = |e: serde_json::Error| InputError {
            slot,
            reason: e.to_string(),
        };
        Ok(match slot {
            Slot::Match => match serde_json::from_str::<MatchCall>(input).map_err(bad)? {
                MatchCall::ProspectKeys { identity } => {
                    as_json(self.prospect_keys(module, &identity), |keys| {
                        MatchResult::Keys { keys }
                    })
                }
                MatchCall::SignalKeys { signal } => {
                    as_json(self.signal_keys(module, &signal), |keys| {
                        MatchResult::Keys { keys }
                    })
                }
                MatchCall::Resolve { signal, candidates } => {
                    as_json(self.resolve(module, &signal, &candidates), |o| {
                        MatchResult::Matches { matches: o.matches }
                    })
                }
            },
            Slot::Routing => {
                let input: RoutingInput = serde_json::from_str(input).map_err(bad)?;
                as_json(self.route(module, &input), |r| r)
            }
            Slot::Preflight => {
                let input: PreflightInput = serde_json::from_str(input).map_err(bad)?;
                as_json(self.preflight(module, &input), |d| d)
            }
        })
    }
}

fn as_json<T, U: Serialize>(d: Decision<T>, shape: impl FnOnce(T) -> U) -> Decision<Value> {
    Decision {
        value: to_json(&shape(d.value)),
        error: d.error,
        dropped: d.dropped,
        trace: d.trace,
        stats: d.stats,
        module_sha256: d.module_sha256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_text_is_not_a_difference() {
        let a = json!({"decision": "skip", "reason": "campaign_paused", "recoverable": true, "detail": "x"});
        let b = json!({"decision": "skip", "reason": "campaign_paused", "recoverable": true, "detail": "y"});
        assert!(differences(&a, &b).is_empty());
        let c = json!({"decision": "skip", "reason": "already_sent", "recoverable": false, "detail": "y"});
        assert_eq!(differences(&a, &c), vec!["$.reason", "$.recoverable"]);
        let e = json!({"decision": "enqueue", "step_index": 1, "not_before": 5});
        assert_eq!(
            differences(&a, &e),
            vec![
                "$.decision",
                "$.not_before",
                "$.reason",
                "$.recoverable",
                "$.step_index"
            ]
        );
    }

    #[test]
    fn arrays_differ_by_element_or_length() {
        let one = json!({"matches": [{"enrollment_id": "a", "strategy": "member-id"}]});
        let other = json!({"matches": [{"enrollment_id": "b", "strategy": "member-id"}]});
        let none = json!({"matches": []});
        assert_eq!(
            differences(&one, &other),
            vec!["$.matches[0].enrollment_id"]
        );
        assert_eq!(differences(&one, &none), vec!["$.matches"]);
    }

    #[test]
    fn summaries_name_the_decision() {
        let s = |slot, v: Value| summary(slot, &v);
        assert_eq!(s(Slot::Match, json!({"matches": []})), "no_match");
        assert_eq!(
            s(
                Slot::Match,
                json!({"matches": [{"enrollment_id": "a", "strategy": "slug"}, {"enrollment_id": "b", "strategy": "member-id"}, {"enrollment_id": "c", "strategy": "slug"}]})
            ),
            "matched:member-id+slug"
        );
        assert_eq!(s(Slot::Match, json!({"keys": ["a", "b"]})), "keys:2");
        assert_eq!(s(Slot::Routing, json!({"route": "advance"})), "advance");
        assert_eq!(
            s(
                Slot::Routing,
                json!({"route": "late_auto_fire", "step_index": 2})
            ),
            "late_auto_fire:2"
        );
        assert_eq!(
            s(
                Slot::Routing,
                json!({"route": "stamp_only", "reason": "campaign_completed", "detail": ""})
            ),
            "stamp_only:campaign_completed"
        );
        assert_eq!(
            s(Slot::Preflight, json!({"decision": "enqueue"})),
            "enqueue"
        );
        assert_eq!(
            s(
                Slot::Preflight,
                json!({"decision": "skip", "reason": "campaign_paused"})
            ),
            "skip:campaign_paused"
        );
    }
}
