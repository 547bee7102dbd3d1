//! The sandbox limits an author command runs a module under
//! (`policy run`, `policy test`, `policy replay`).

use crate::policy::Limits;
use clap::Args;

/// Sandbox limits for the author tools (the server's defaults otherwise).
#[derive(Debug, Default, Args)]
pub struct LimitArgs {
    /// Fuel per call.
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Linear memory cap per call, MiB.
    #[arg(long)]
    pub memory_mib: Option<usize>,
    /// Wall-clock deadline per call, milliseconds.
    #[arg(long)]
    pub deadline_ms: Option<u64>,
}

impl LimitArgs {
    /// The limits these flags give: the server's defaults for the ones
    /// not given, four calls at once.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits {
            max_concurrent: 4,
            ..Limits::default()
        };
        if let Some(fuel) = self.fuel {
            limits.fuel = fuel;
        }
        if let Some(mib) = self.memory_mib {
            limits.memory_bytes = mib << 20;
        }
        if let Some(ms) = self.deadline_ms {
            limits.deadline_ms = ms;
        }
        limits
    }
}
