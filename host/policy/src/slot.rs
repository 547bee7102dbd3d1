//! The three decisions a policy module can make, and the contract
//! version whose worlds name them.

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

    pub(crate) fn from_interface(name: &str) -> Option<Slot> {
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
