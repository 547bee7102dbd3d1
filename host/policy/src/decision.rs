//! What one policy call hands back: the decision or its fail-safe
//! default, the trace, the cost and the module that decided.

use super::error::PolicyError;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// One line of a decision trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// What one call cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Fuel consumed (about one unit per wasm instruction).
    pub fuel_used: u64,
    /// Wall time of the call, instantiation included.
    #[serde(serialize_with = "as_micros")]
    pub elapsed: Duration,
    /// Largest linear memory size the guest reached, bytes.
    pub peak_memory_bytes: usize,
}

fn as_micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e6)
}

/// The outcome of one policy call. `value` is always usable: when `error`
/// is set it is the slot's fail-safe default.
#[derive(Debug, Clone)]
pub struct Decision<T> {
    /// The decision, or the fail-safe default.
    pub value: T,
    /// Why the policy's own answer was not used.
    pub error: Option<PolicyError>,
    /// Part of the policy's answer the host dropped as invalid while using
    /// the rest (say one over-long key among good ones); `value` is the
    /// rest. `None` when the whole answer was used, or none of it.
    pub dropped: Option<PolicyError>,
    /// Lines the policy logged (and the host's notes).
    pub trace: Vec<TraceLine>,
    /// Cost of the call.
    pub stats: CallStats,
    /// sha256 of the module that decided.
    pub module_sha256: Arc<str>,
}
