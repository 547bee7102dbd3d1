//! The limits a module is declared with in the author commands (`policy
//! check`, `run`, `test`, `replay`) and in `policy upload`: the same
//! flags, so a module runs on the author's machine as it will on the host.

use crate::policy::{DeclaredLimits, LimitError, Limits};
use clap::Args;

/// Limits declared for the module (the rest: its kind's defaults, see
/// `accord policy check`), within the host's maxima.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// Fuel per call.
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Linear memory cap per call, MiB.
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// Wall-clock deadline per call, milliseconds.
    #[arg(long)]
    pub deadline_ms: Option<u64>,
    /// Output size cap, KiB.
    #[arg(long)]
    pub output_kib: Option<u64>,
}

impl LimitArgs {
    /// The host-wide maxima the author commands run under: the server's
    /// defaults, four calls at once.
    pub fn maxima(&self) -> Limits {
        Limits {
            max_concurrent: 4,
            ..Limits::default()
        }
    }

    /// The declaration these flags make, refused as an upload to a host
    /// with the default maxima would be.
    pub fn declared(&self) -> Result<DeclaredLimits, LimitError> {
        let declared = DeclaredLimits::in_units(
            self.fuel,
            self.memory_mib,
            self.deadline_ms,
            self.output_kib,
        );
        declared.check(&self.maxima())?;
        Ok(declared)
    }

    /// The flags as `PUT /admin/policies/{slot}`'s query parameters.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("fuel", self.fuel),
            ("memory_mib", self.memory_mib),
            ("deadline_ms", self.deadline_ms),
            ("output_kib", self.output_kib),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| (name, v.to_string())))
        .collect()
    }
}
