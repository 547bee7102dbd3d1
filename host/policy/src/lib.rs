//! The policy host: sandboxed WebAssembly components that make Accord's
//! three decisions (match, late-accept routing, dispatch pre-flight).
//!
//! A leaf module: it knows the contract's types and the sandbox's limits,
//! not the database. Lifecycle of a module: bytes → [`PolicyRuntime::load`]
//! (validated against the slot's world, compiled or read from the disk
//! cache) → [`PolicyRegistry::activate`] (atomic swap) → one decision per
//! call, each in a fresh `Store` from the module's `InstancePre`. A failing
//! call returns the slot's fail-safe default together with the error.

mod bindings;
mod convert;
mod decision;
mod error;
mod registry;
mod runtime;
mod sandbox;

pub use decision::{CallStats, Decision, TraceLine};
pub use error::{LoadError, PolicyError};
pub use registry::PolicyRegistry;
pub use runtime::{PolicyModule, PolicyRuntime, calls_together};
pub use sandbox::Limits;

use serde::{Deserialize, Serialize};
use std::fmt;

/// One of the three decisions a policy module can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// `match-policy`: attributes accept signals to enrollments.
    Match,
    /// `routing-policy`: routes a matched accept (in time, late, …).
    Routing,
    /// `preflight-policy`: decides whether a follow-up may be enqueued.
    Preflight,
}

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

impl Slot {
    /// All slots.
    pub const ALL: [Slot; 3] = [Slot::Match, Slot::Routing, Slot::Preflight];

    /// The slot's name: `match`, `routing` or `preflight`.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Match => "match",
            Slot::Routing => "routing",
            Slot::Preflight => "preflight",
        }
    }

    /// The WIT world a module for this slot must implement.
    pub fn world(self) -> &'static str {
        match self {
            Slot::Match => "match-policy",
            Slot::Routing => "routing-policy",
            Slot::Preflight => "preflight-policy",
        }
    }

    /// The interface the world exports, without package or version.
    pub fn interface(self) -> &'static str {
        match self {
            Slot::Match => "match-strategy",
            Slot::Routing => "late-accept-routing",
            Slot::Preflight => "dispatch-preflight",
        }
    }

    /// The fully qualified export name, e.g.
    /// `accord:policy/match-strategy@0.1.0`.
    pub fn export_name(self) -> String {
        format!("accord:policy/{}@{CONTRACT_VERSION}", self.interface())
    }

    fn from_interface(name: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|s| s.interface() == name)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Slot {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Slot::ALL
            .into_iter()
            .find(|slot| slot.as_str() == s || slot.world() == s)
            .ok_or_else(|| format!("unknown slot `{s}`: expected match, routing or preflight"))
    }
}

/// The default policies, built from `guest-policies/` by `build.rs` and
/// embedded in the binary.
pub mod builtin {
    use super::Slot;

    /// The default match strategy component.
    pub const MATCH: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/accord_match_default.wasm"));
    /// The default late-accept routing component.
    pub const ROUTING: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/accord_routing_default.wasm"));
    /// The default dispatch pre-flight component.
    pub const PREFLIGHT: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/accord_preflight_default.wasm"));

    /// The embedded default for a slot, with its label.
    pub fn for_slot(slot: Slot) -> (&'static [u8], &'static str) {
        match slot {
            Slot::Match => (MATCH, "builtin:match-default"),
            Slot::Routing => (ROUTING, "builtin:routing-default"),
            Slot::Preflight => (PREFLIGHT, "builtin:preflight-default"),
        }
    }
}
