//! Accord: detects LinkedIn invite accepts, stamps each exactly once,
//! notifies the team and dispatches the follow-up inside the account-safety
//! envelope. Decisions are made by sandboxed WebAssembly policies
//! ([`policy`]); the host does all I/O and scheduling.

pub mod cli;

/// The core: ingest, pipeline, engine, notify, provider, lifecycles
/// (`host/core`), with the domain, store and policy crates it re-exports.
pub use accord_core::*;
/// The HTTP edge (`host/http`).
pub use accord_http as http;
/// The simulator, the simulation and the demo (`host/sim`).
pub use accord_sim::{demo, simulate, simulator};

/// mimalloc for every binary that links the host (the `accord` binary, its
/// tests and benches): the write path allocates many small short-lived
/// buffers (rows, JSON, SQL). Against glibc's allocator it cut the SQLite
/// drain's host CPU per webhook by ~14 % (docs/BENCHMARKS.md, 2026-11-30).
/// Built without transparent huge pages (`no_thp`): with them, each reuse
/// of a purged arena page zeroed 2 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
