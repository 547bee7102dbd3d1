//! The `accord` command line.

pub mod policy;

use clap::{Parser, Subcommand};

/// Accord: LinkedIn accept detection and safe follow-up dispatch, with
/// sandboxed WebAssembly policies.
#[derive(Debug, Parser)]
#[command(name = "accord", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "ACCORD_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Policy author tooling: run, test and check `.wasm` policy modules.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}
