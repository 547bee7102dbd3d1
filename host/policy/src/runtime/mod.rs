//! The policy runtime: one wasmtime engine and linker shared by every
//! module and call, and the validated modules it runs.

mod answers;
mod call;
mod contract;
mod engine;
mod load;
mod outside_async;

pub use outside_async::calls_together;

use crate::bindings::{match_world, preflight_world, routing_world};
use crate::error::LoadError;
use crate::sandbox::{self, CallState, Limits};
use crate::slot::Slot;
use engine::{engine_config, engine_tag, start_epoch_ticker};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
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
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule")
            .field("slot", &self.slot)
            .field("sha256", &self.sha256)
            .field("origin", &self.origin)
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
        let engine = Engine::new(&engine_config(&limits))
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

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}
