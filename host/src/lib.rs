//! Accord: detects LinkedIn invite accepts, stamps each exactly once,
//! notifies the team and dispatches the follow-up inside the account-safety
//! envelope. Decisions are made by sandboxed WebAssembly policies
//! ([`policy`]); the host does all I/O and scheduling.

pub mod app;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod http;
pub mod ingest;
pub mod notify;
pub mod pipeline;
pub mod provider;
pub mod runtime;
pub mod sabotage;
pub mod simulate;
pub mod simulator;

/// The vocabulary without I/O, its own crate (`host/domain`).
pub use accord_domain::{clock, domain, text, window, workflow};
/// The database, its own crate (`host/store`): no wasmtime, no HTTP.
pub use accord_store as store;

/// The policy runtime, its own crate (`host/policy`): a leaf that knows
/// no database and no HTTP.
pub use accord_policy as policy;

/// mimalloc for every binary that links the host (the `accord` binary, its
/// tests and benches): the write path allocates many small short-lived
/// buffers (rows, JSON, SQL). Against glibc's allocator it cut the SQLite
/// drain's host CPU per webhook by ~14 % (docs/BENCHMARKS.md, 2026-11-30).
/// Built without transparent huge pages (`no_thp`): with them, each reuse
/// of a purged arena page zeroed 2 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
