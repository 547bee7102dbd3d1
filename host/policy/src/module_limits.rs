//! Limits per module. A Rust guest decides in 128 KiB and tens of
//! thousands of instructions; a Python or JavaScript guest carries its
//! interpreter and a pre-initialised heap of 9–13 MB and runs millions
//! (docs/BENCHMARKS.md, "Python and JavaScript policies"). So each module
//! runs under its own limits: its kind's defaults, or what its uploader
//! declared, never above the host-wide maxima the operator sets
//! ([`Limits`]).

use crate::sandbox::Limits;
use serde::{Deserialize, Serialize};

/// Largest policy module accepted, bytes: a Python module carries CPython
/// (18 MB for the default ports), and a policy's own libraries add to it.
pub const MAX_MODULE_BYTES: usize = 64 << 20;

/// What a module is built from, as far as its limits go. Inferred from
/// the component itself (see `runtime::kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleKind {
    /// Code compiled to WebAssembly (Rust, C, Go): no interpreter.
    Compiled,
    /// A componentize-py module: CPython and its heap.
    Python,
    /// A componentize-js module: SpiderMonkey and its heap.
    Javascript,
}

impl ModuleKind {
    /// Every kind.
    pub const ALL: [ModuleKind; 3] = [
        ModuleKind::Compiled,
        ModuleKind::Python,
        ModuleKind::Javascript,
    ];

    /// `compiled`, `python` or `javascript`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleKind::Compiled => "compiled",
            ModuleKind::Python => "python",
            ModuleKind::Javascript => "javascript",
        }
    }

    /// The limits a module of this kind gets when its uploader declares
    /// none: about 10–30 times what the default policies of the kind were
    /// measured to use on their largest fixture, so a real policy has room
    /// and a runaway one stops early.
    pub fn defaults(self) -> ModuleLimits {
        match self {
            // Measured: 72 K fuel, 128 KiB (Rust, -zstack-size=65536). A
            // Rust guest linked with the default 1 MiB stack still fits.
            ModuleKind::Compiled => ModuleLimits {
                fuel: 10_000_000,
                memory_bytes: 4 << 20,
                deadline_ms: 500,
                max_output_bytes: 64 << 10,
            },
            // Measured: up to 1.8 M fuel, 12.9 MB whatever the input.
            ModuleKind::Python => ModuleLimits {
                fuel: 50_000_000,
                memory_bytes: 48 << 20,
                deadline_ms: 1_000,
                max_output_bytes: 64 << 10,
            },
            // Measured: up to 6.1 M fuel, 9.5 MB whatever the input.
            ModuleKind::Javascript => ModuleLimits {
                fuel: 100_000_000,
                memory_bytes: 48 << 20,
                deadline_ms: 1_000,
                max_output_bytes: 64 << 10,
            },
        }
    }
}

impl std::fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModuleKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModuleKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown module kind `{s}` (compiled, python, javascript)"))
    }
}

/// The limits one module's calls run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleLimits {
    /// Fuel per call.
    pub fuel: u64,
    /// Linear memory cap per call, bytes.
    pub memory_bytes: usize,
    /// Wall-clock deadline per call, milliseconds.
    pub deadline_ms: u64,
    /// Output size cap, bytes (approximate encoded size).
    pub max_output_bytes: usize,
}

/// What an uploader declares for a module; `None`: its kind's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeclaredLimits {
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Linear memory cap per call, bytes.
    pub memory_bytes: Option<usize>,
    /// Wall-clock deadline per call, milliseconds.
    pub deadline_ms: Option<u64>,
    /// Output size cap, bytes.
    pub max_output_bytes: Option<usize>,
}

/// The smallest value each limit may be declared with: below them not
/// even an empty decision fits.
pub const MIN_FUEL: u64 = 10_000;
/// One wasm page.
pub const MIN_MEMORY_BYTES: usize = 64 << 10;
/// The epoch ticker's granularity.
pub const MIN_DEADLINE_MS: u64 = 10;
/// The smallest decision's encoding, with room.
pub const MIN_OUTPUT_BYTES: usize = 1 << 10;

/// A declared limit the host refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Above the host's maximum for it.
    #[error(
        "the declared {limit} ({declared}) is above this host's maximum ({maximum}); declare at most the maximum or ask the operator to raise it"
    )]
    OverMaximum {
        /// `fuel`, `memory_bytes`, `deadline_ms` or `max_output_bytes`.
        limit: &'static str,
        /// What was declared.
        declared: u64,
        /// The host's maximum.
        maximum: u64,
    },
    /// Below the smallest useful value.
    #[error("the declared {limit} ({declared}) is below the minimum ({minimum})")]
    UnderMinimum {
        /// The limit.
        limit: &'static str,
        /// What was declared.
        declared: u64,
        /// The minimum.
        minimum: u64,
    },
}

/// Where one effective limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// The uploader declared it.
    Declared,
    /// The module kind's default.
    KindDefault,
    /// Cut to the host's maximum (the default, or a stored declaration,
    /// was above it).
    HostMaximum,
}

/// Each limit's source, in [`ModuleLimits`]' order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitSources {
    /// Of the fuel.
    pub fuel: LimitSource,
    /// Of the memory cap.
    pub memory_bytes: LimitSource,
    /// Of the deadline.
    pub deadline_ms: LimitSource,
    /// Of the output cap.
    pub max_output_bytes: LimitSource,
}

/// A module's limits as the host applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedLimits {
    /// The module's kind.
    pub kind: ModuleKind,
    /// What its uploader declared.
    pub declared: DeclaredLimits,
    /// What its calls run under.
    pub effective: ModuleLimits,
    /// Where each came from.
    pub sources: LimitSources,
}

impl DeclaredLimits {
    /// A declaration in the units people give it (the admin API's query,
    /// the CLI's flags): memory in MiB, output in KiB. An absurd size
    /// saturates, so it is refused as over the maximum rather than wrapped.
    pub fn in_units(
        fuel: Option<u64>,
        memory_mib: Option<u64>,
        deadline_ms: Option<u64>,
        output_kib: Option<u64>,
    ) -> Self {
        let bytes = |n: u64, shift: u32| {
            usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(1 << shift))
                .unwrap_or(usize::MAX)
        };
        DeclaredLimits {
            fuel,
            memory_bytes: memory_mib.map(|m| bytes(m, 20)),
            deadline_ms,
            max_output_bytes: output_kib.map(|k| bytes(k, 10)),
        }
    }

    /// Whether nothing was declared.
    pub fn is_empty(&self) -> bool {
        *self == DeclaredLimits::default()
    }

    /// Refuses a declaration below a limit's minimum or above the host's
    /// maximum: what an upload must pass.
    pub fn check(&self, maxima: &Limits) -> Result<(), LimitError> {
        let rows = [
            ("fuel", self.fuel, MIN_FUEL, maxima.fuel),
            (
                "memory_bytes",
                self.memory_bytes.map(|v| v as u64),
                MIN_MEMORY_BYTES as u64,
                maxima.memory_bytes as u64,
            ),
            (
                "deadline_ms",
                self.deadline_ms,
                MIN_DEADLINE_MS,
                maxima.deadline_ms,
            ),
            (
                "max_output_bytes",
                self.max_output_bytes.map(|v| v as u64),
                MIN_OUTPUT_BYTES as u64,
                maxima.max_output_bytes as u64,
            ),
        ];
        for (limit, declared, minimum, maximum) in rows {
            let Some(declared) = declared else { continue };
            if declared < minimum {
                return Err(LimitError::UnderMinimum {
                    limit,
                    declared,
                    minimum,
                });
            }
            if declared > maximum {
                return Err(LimitError::OverMaximum {
                    limit,
                    declared,
                    maximum,
                });
            }
        }
        Ok(())
    }
}

impl ResolvedLimits {
    /// The limits of a module of `kind` declared with `declared` on a host
    /// with `maxima`: each declared value, else the kind's default, cut to
    /// the maximum. Never fails, so a module stored under higher maxima
    /// still loads after the operator lowers them (uploads are checked
    /// first with [`DeclaredLimits::check`]).
    pub fn resolve(kind: ModuleKind, declared: DeclaredLimits, maxima: &Limits) -> Self {
        let defaults = kind.defaults();
        fn pick<T: Ord + Copy>(declared: Option<T>, default: T, maximum: T) -> (T, LimitSource) {
            let (value, source) = match declared {
                Some(v) => (v, LimitSource::Declared),
                None => (default, LimitSource::KindDefault),
            };
            if value > maximum {
                (maximum, LimitSource::HostMaximum)
            } else {
                (value, source)
            }
        }
        let fuel = pick(declared.fuel, defaults.fuel, maxima.fuel);
        let memory = pick(
            declared.memory_bytes,
            defaults.memory_bytes,
            maxima.memory_bytes,
        );
        let deadline = pick(
            declared.deadline_ms,
            defaults.deadline_ms,
            maxima.deadline_ms,
        );
        let output = pick(
            declared.max_output_bytes,
            defaults.max_output_bytes,
            maxima.max_output_bytes,
        );
        ResolvedLimits {
            kind,
            declared,
            effective: ModuleLimits {
                fuel: fuel.0,
                memory_bytes: memory.0,
                deadline_ms: deadline.0,
                max_output_bytes: output.0,
            },
            sources: LimitSources {
                fuel: fuel.1,
                memory_bytes: memory.1,
                deadline_ms: deadline.1,
                max_output_bytes: output.1,
            },
        }
    }

    /// One line for people: `fuel 50000000 (python default), memory 48 MiB
    /// (declared), …`.
    pub fn describe(&self) -> String {
        let source = |s: LimitSource| match s {
            LimitSource::Declared => "declared".to_string(),
            LimitSource::KindDefault => format!("{} default", self.kind),
            LimitSource::HostMaximum => "host maximum".to_string(),
        };
        let e = &self.effective;
        format!(
            "fuel {} ({}), memory {} ({}), deadline {} ms ({}), output {} ({})",
            e.fuel,
            source(self.sources.fuel),
            bytes(e.memory_bytes),
            source(self.sources.memory_bytes),
            e.deadline_ms,
            source(self.sources.deadline_ms),
            bytes(e.max_output_bytes),
            source(self.sources.max_output_bytes),
        )
    }
}

/// `48 MiB`, `64 KiB`, `1000 bytes`.
fn bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_limit_wins_and_the_maximum_cuts() {
        let maxima = Limits {
            memory_bytes: 32 << 20,
            ..Limits::default()
        };
        let declared = DeclaredLimits {
            fuel: Some(1_000_000),
            ..DeclaredLimits::default()
        };
        let r = ResolvedLimits::resolve(ModuleKind::Python, declared, &maxima);
        assert_eq!(r.effective.fuel, 1_000_000);
        assert_eq!(r.sources.fuel, LimitSource::Declared);
        assert_eq!(r.effective.memory_bytes, 32 << 20);
        assert_eq!(r.sources.memory_bytes, LimitSource::HostMaximum);
        assert_eq!(r.sources.deadline_ms, LimitSource::KindDefault);
    }

    #[test]
    fn a_declaration_outside_the_bounds_is_refused() {
        let maxima = Limits::default();
        let over = DeclaredLimits {
            memory_bytes: Some(maxima.memory_bytes + 1),
            ..DeclaredLimits::default()
        };
        assert!(matches!(
            over.check(&maxima),
            Err(LimitError::OverMaximum {
                limit: "memory_bytes",
                ..
            })
        ));
        let under = DeclaredLimits {
            fuel: Some(1),
            ..DeclaredLimits::default()
        };
        assert!(matches!(
            under.check(&maxima),
            Err(LimitError::UnderMinimum { limit: "fuel", .. })
        ));
        assert!(DeclaredLimits::default().check(&maxima).is_ok());
    }

    #[test]
    fn every_kind_default_fits_the_default_maxima() {
        let maxima = Limits::default();
        for kind in ModuleKind::ALL {
            let r = ResolvedLimits::resolve(kind, DeclaredLimits::default(), &maxima);
            assert_eq!(r.effective, kind.defaults(), "{kind}");
        }
    }
}
