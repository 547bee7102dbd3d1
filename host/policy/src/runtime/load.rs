//! From bytes to a ready [`PolicyModule`]: the contract checks in order,
//! the compiled-artifact cache on disk, and the slot's typed `InstancePre`.

use super::{Compilation, CompileStats, PolicyModule, PolicyRuntime, SlotPre, contract, kind};
use crate::bindings::{match_world, preflight_world, routing_world};
use crate::builtin;
use crate::error::LoadError;
use crate::module_limits::{DeclaredLimits, ResolvedLimits};
use crate::slot::Slot;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The cheap checks of a module's bytes, before anything is compiled: a
/// WebAssembly binary, and a component rather than a core module. What
/// [`PolicyRuntime::load`] checks first.
pub fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    contract::check_header(bytes)
}

/// Hex sha256 of a module's bytes: its identity.
pub fn module_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl PolicyRuntime {
    /// Reads and loads a module file.
    pub fn load_file(
        &self,
        path: &Path,
        slot: Option<Slot>,
    ) -> Result<Arc<PolicyModule>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load(&bytes, &path.display().to_string(), slot)
    }

    /// [`Self::load_file`] under the limits `declared` for the module
    /// (see [`Self::load_declared`]).
    pub fn load_file_declared(
        &self,
        path: &Path,
        slot: Option<Slot>,
        declared: DeclaredLimits,
    ) -> Result<Arc<PolicyModule>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load_declared(&bytes, &path.display().to_string(), slot, declared)
    }

    /// Validates and compiles a module, to run under its kind's default
    /// limits. With `slot` given the module must implement that slot's
    /// world; otherwise the slot is inferred from its exports.
    pub fn load(
        &self,
        bytes: &[u8],
        origin: &str,
        slot: Option<Slot>,
    ) -> Result<Arc<PolicyModule>, LoadError> {
        self.load_declared(bytes, origin, slot, DeclaredLimits::default())
    }

    /// [`Self::load`], the module's calls running under the limits
    /// `declared` for it (the rest its kind's defaults), each cut to the
    /// host's maximum. A declaration outside the host's bounds is not
    /// refused here: a stored module keeps loading after the operator
    /// lowers a maximum (an upload checks it first,
    /// [`DeclaredLimits::check`]).
    pub fn load_declared(
        &self,
        bytes: &[u8],
        origin: &str,
        slot: Option<Slot>,
        declared: DeclaredLimits,
    ) -> Result<Arc<PolicyModule>, LoadError> {
        contract::check_header(bytes)?;
        let sha256 = module_sha256(bytes);
        let started = Instant::now();
        let (component, how) = self.compile(bytes, &sha256)?;
        let compile = CompileStats {
            how,
            elapsed: started.elapsed(),
        };
        let slot = contract::check_exports(&self.engine, &component, slot)?;
        if let Some(reference) = self.reference(slot, &component, bytes)? {
            contract::check_export_types(&self.engine, &component, reference, slot)?;
        }
        contract::check_imports(&self.engine, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Incompatible(format!("{e:#}")))?;
        let typed = |e: wasmtime::Error| LoadError::Incompatible(format!("{e:#}"));
        let pre = match slot {
            Slot::Match => SlotPre::Match(match_world::MatchPolicyPre::new(pre).map_err(typed)?),
            Slot::Routing => {
                SlotPre::Routing(routing_world::RoutingPolicyPre::new(pre).map_err(typed)?)
            }
            Slot::Preflight => {
                SlotPre::Preflight(preflight_world::PreflightPolicyPre::new(pre).map_err(typed)?)
            }
        };
        let calls = metrics::counter!(
            "accord_policy_calls_total",
            "slot" => slot.as_str(),
            "module" => sha256[..12].to_string()
        );
        Ok(Arc::new(PolicyModule {
            slot,
            sha256: sha256.into(),
            origin: origin.to_string(),
            pre,
            calls,
            compile,
            limits: ResolvedLimits::resolve(kind::infer(bytes), declared, &self.limits),
        }))
    }

    /// Compiles, or reads the compiled artifact from the disk cache. The
    /// cache key is the module's sha256 plus the engine's compatibility
    /// hash (wasmtime version and every setting that affects codegen).
    fn compile(&self, bytes: &[u8], sha256: &str) -> Result<(Component, Compilation), LoadError> {
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes)
                .map(|c| (c, Compilation::Uncached))
                .map_err(|e| LoadError::Compile(format!("{e:#}")));
        };
        let path = dir.join(format!("{sha256}-{}.cwasm", self.engine_tag));
        let mut replaced_unreadable = false;
        if path.exists() {
            match load_cached(&self.engine, &path) {
                Ok(component) => return Ok((component, Compilation::FromCache)),
                Err(e) => {
                    replaced_unreadable = true;
                    tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "discarding unreadable compiled policy")
                }
            }
        }
        let artifact = self
            .engine
            .precompile_component(bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        if let Err(e) = write_atomically(dir, &path, &artifact) {
            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled policy");
        }
        match load_cached(&self.engine, &path) {
            Ok(component) => Ok((
                component,
                Compilation::Cached {
                    replaced_unreadable,
                },
            )),
            Err(_) => Component::new(&self.engine, bytes)
                .map(|c| (c, Compilation::Uncached))
                .map_err(|e| LoadError::Compile(format!("{e:#}"))),
        }
    }

    /// The slot's built-in module, compiled on first need: the reference
    /// whose export types a module must match. `None` when `bytes` are the
    /// built-in module itself, which then becomes the reference.
    fn reference(
        &self,
        slot: Slot,
        component: &Component,
        bytes: &[u8],
    ) -> Result<Option<&Component>, LoadError> {
        let (reference_bytes, _) = builtin::for_slot(slot);
        let cell = &self.references[slot_index(slot)];
        if bytes == reference_bytes {
            let _ = cell.set(component.clone());
            return Ok(None);
        }
        if let Some(reference) = cell.get() {
            return Ok(Some(reference));
        }
        let sha256 = hex::encode(Sha256::digest(reference_bytes));
        let (compiled, _) = self.compile(reference_bytes, &sha256)?;
        Ok(Some(cell.get_or_init(|| compiled)))
    }
}

/// The slot's place in [`PolicyRuntime`]'s `references`.
fn slot_index(slot: Slot) -> usize {
    match slot {
        Slot::Match => 0,
        Slot::Routing => 1,
        Slot::Preflight => 2,
    }
}

/// Reads a compiled artifact of the cache.
#[allow(unsafe_code)]
fn load_cached(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file is an artifact this process (or an earlier run with
    // the same engine tag) wrote with `precompile_component` into the cache
    // directory Accord owns; wasmtime still checks its header and engine
    // compatibility. The cache directory must not be writable by others.
    unsafe { Component::deserialize_file(engine, path) }
}

/// Writes through a temporary file, so a concurrent reader or a crash
/// never leaves a half-written artifact under the cache's name.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
