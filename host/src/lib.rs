//! Accord: detects LinkedIn invite accepts, stamps each exactly once,
//! notifies the team and dispatches the follow-up inside the account-safety
//! envelope. Decisions are made by sandboxed WebAssembly policies
//! ([`policy`]); the host does all I/O and scheduling.

pub mod app;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod http;
pub mod ingest;
pub mod notify;
pub mod pipeline;
pub mod policy;
pub mod provider;
pub mod runtime;
pub mod simulator;
pub mod store;
pub mod window;
pub mod workflow;
