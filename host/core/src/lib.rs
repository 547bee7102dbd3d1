//! Accord's core: accept signals come in through [`ingest`], become stamps
//! and follow-ups in [`pipeline`], are sent by [`engine`] through a
//! [`provider`], and are told to the team by [`notify`]. Every decision a
//! team may change is a call into the sandboxed [`policy`] runtime; every
//! write goes through the [`store`]. The HTTP edge, the simulator and the
//! binary are other crates that call in here; nothing here calls out to
//! them.

pub mod app;
pub mod decisions;
pub mod engine;
pub mod ingest;
pub mod lifecycle;
pub mod notify;
pub mod pipeline;
pub mod provider;
pub mod sabotage;
pub mod workers;

/// The vocabulary without I/O, its own crate (`host/domain`).
pub use accord_domain::{clock, domain, text, window, workflow};
/// The policy runtime, its own crate (`host/policy`): a leaf that knows
/// no database and no HTTP.
pub use accord_policy as policy;
/// The database, its own crate (`host/store`): no wasmtime, no HTTP.
pub use accord_store as store;
