//! The policy host: sandboxed WebAssembly components that make Accord's
//! three decisions (match, late-accept routing, dispatch pre-flight).
//!
//! A leaf module: it knows the contract's types and the sandbox's limits,
//! not the database. Lifecycle of a module: bytes → [`PolicyRuntime::load`]
//! (validated against the slot's world, compiled or read from the disk
//! cache) → [`PolicyRegistry::activate`] (atomic swap) → one decision per
//! call, each in a fresh `Store` from the module's `InstancePre`. A failing
//! call returns the slot's fail-safe default together with the error.

pub mod builtin;
pub mod logged;

mod bindings;
mod convert;
mod decision;
mod error;
mod module_limits;
mod registry;
mod runtime;
mod sandbox;
mod slot;

pub use decision::{CallStats, Decision, TraceLine};
pub use error::{LoadError, PolicyError};
pub use module_limits::{
    DeclaredLimits, LimitError, LimitSource, LimitSources, MAX_MODULE_BYTES, ModuleKind,
    ModuleLimits, ResolvedLimits,
};
pub use registry::{KEPT_COMPILED, Mode, PolicyRegistry, Scope};
pub use runtime::function_cache::{FunctionCacheStats, function_cache_stats};
pub use runtime::{
    Compilation, CompileStats, PolicyModule, PolicyRuntime, calls_together, check_header,
    infer_kind, module_sha256,
};
pub use sandbox::Limits;
pub use slot::{CONTRACT_VERSION, Slot};
