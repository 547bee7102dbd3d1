//! Host guards a simulation may switch off, one at a time, to prove that
//! `accord simulate run`'s checker sees the violations they prevent.
//! For simulations only: nothing outside `accord simulate run --sabotage`
//! sets them, and every guard is on by default.

use crate::clock::Millis;
use crate::window::SendingWindow;
use std::fmt;
use std::str::FromStr;

/// One guard of the safety envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    /// Daily and weekly caps.
    Cap,
    /// The campaign's sending window in the account's time zone: where a job
    /// is placed when it is enqueued, and the check when it is claimed.
    Window,
    /// The warm-up ramp (the full cap from day 1).
    Ramp,
    /// The per-account spacing between actions.
    Spacing,
    /// Messages only to 1st-degree connections.
    Connection,
    /// Reconciling a send whose outcome is unknown before sending again.
    Dedupe,
}

impl Gate {
    /// Every gate, in the order the CLI lists them.
    pub const ALL: [Gate; 6] = [
        Gate::Cap,
        Gate::Window,
        Gate::Ramp,
        Gate::Spacing,
        Gate::Connection,
        Gate::Dedupe,
    ];

    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Cap => "cap",
            Gate::Window => "window",
            Gate::Ramp => "ramp",
            Gate::Spacing => "spacing",
            Gate::Connection => "connection",
            Gate::Dedupe => "dedupe",
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not a gate name.
#[derive(Debug, thiserror::Error)]
#[error("unknown gate `{0}` (cap, window, ramp, spacing, connection, dedupe)")]
pub struct UnknownGate(String);

impl FromStr for Gate {
    type Err = UnknownGate;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Gate::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| UnknownGate(s.to_string()))
    }
}

/// The guards switched off (simulations only; empty by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sabotage {
    off: Option<Gate>,
}

impl Sabotage {
    /// Every guard on.
    pub const NONE: Sabotage = Sabotage { off: None };

    /// `gate` switched off.
    pub fn off(gate: Gate) -> Self {
        Sabotage { off: Some(gate) }
    }

    /// Whether `gate` is switched off.
    pub fn is_off(self, gate: Gate) -> bool {
        self.off == Some(gate)
    }

    /// The gate switched off, if any.
    pub fn gate(self) -> Option<Gate> {
        self.off
    }

    /// Where a job enqueued for `at` is placed: the window's next open
    /// slot (jittered by `seed`), or `at` itself with the window guard off.
    pub fn place(
        self,
        window: &SendingWindow,
        at: Millis,
        seed: &str,
        max_jitter_ms: Millis,
    ) -> Millis {
        if self.is_off(Gate::Window) {
            at
        } else {
            window.next_slot(at, seed, max_jitter_ms)
        }
    }
}
