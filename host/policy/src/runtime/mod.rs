//! The policy runtime: one wasmtime engine and linker shared by every
//! module and call, and the validated modules it runs.

mod answers;
mod call;
mod contract;
mod engine;
pub mod function_cache;
mod guest_message;
mod kind;
mod load;
mod outside_async;

pub use kind::infer as infer_kind;
pub use load::{check_header, module_sha256};
pub use outside_async::calls_together;

use crate::bindings::{match_world, preflight_world, routing_world};
use crate::error::LoadError;
use crate::module_limits::ResolvedLimits;
use crate::sandbox::{self, CallState, Limits};
use crate::slot::Slot;
use engine::{engine_config, engine_tag, start_epoch_ticker};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// A validated, compiled policy module, ready to instantiate.
pub struct PolicyModule {
    slot: Slot,
    sha256: Arc<str>,
    origin: String,
    pre: SlotPre,
    /// `accord_policy_calls_total{slot, module}`, resolved once at load.
    calls: metrics::Counter,
    /// How its machine code was had, and how long that took.
    compile: CompileStats,
    /// Its kind and the limits its calls run under.
    limits: ResolvedLimits,
}

/// How a module's machine code was had when it was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compilation {
    /// Read from the runtime's disk cache.
    FromCache,
    /// Compiled and written to the disk cache for the next load.
    Cached {
        /// The cache held an unreadable artifact for it, which was replaced.
        replaced_unreadable: bool,
    },
    /// Compiled, and not cached (the runtime has no cache directory, or
    /// the artifact could not be written).
    Uncached,
}

/// [`Compilation`] and its wall time (compiling, or reading the cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileStats {
    /// Compiled or read from the cache.
    pub how: Compilation,
    /// How long it took.
    pub elapsed: Duration,
}

/// The module's `InstancePre`, typed by its slot's world.
enum SlotPre {
    Match(match_world::MatchPolicyPre<CallState>),
    Routing(routing_world::RoutingPolicyPre<CallState>),
    Preflight(preflight_world::PreflightPolicyPre<CallState>),
}

impl PolicyModule {
    /// The slot it implements.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// Hex sha256 of its bytes: its identity.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Where it came from (a path, `builtin:…`, an upload).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether it was compiled or read from the cache when loaded, and
    /// how long that took.
    pub fn compile_stats(&self) -> CompileStats {
        self.compile
    }

    /// Its kind, its declared limits and the ones its calls run under.
    pub fn limits(&self) -> &ResolvedLimits {
        &self.limits
    }
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule")
            .field("slot", &self.slot)
            .field("sha256", &self.sha256)
            .field("origin", &self.origin)
            .field("limits", &self.limits)
            .finish()
    }
}

/// The engine, linker and limits shared by every module and call.
pub struct PolicyRuntime {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    engine_tag: String,
    /// Each slot's built-in module, compiled on first need: the reference
    /// whose export types a module must match.
    references: [OnceLock<Component>; 3],
}

impl PolicyRuntime {
    /// A runtime with these limits, caching compiled modules in
    /// `cache_dir` when given.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, LoadError> {
        let engine = Engine::new(&engine_config(&limits)?)
            .map_err(|e| LoadError::Config(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        sandbox::link(&mut linker).map_err(|e| LoadError::Config(format!("{e:#}")))?;
        start_epoch_ticker(&engine)?;
        let engine_tag = engine_tag(&engine);
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).map_err(|source| LoadError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        Ok(PolicyRuntime {
            engine,
            linker,
            limits,
            cache_dir,
            engine_tag,
            references: Default::default(),
        })
    }

    /// The host-wide limits: the maxima of every module's own.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where compiled modules are cached, if anywhere.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache_dir.as_deref()
    }
}
