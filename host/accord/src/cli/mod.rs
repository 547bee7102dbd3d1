//! The `accord` command line.

pub mod cache;
pub mod demo;
pub mod limits;
pub mod policy;
pub mod policy_new;
pub mod policy_remote;
pub mod serve;
pub mod simulate;

// The decision log's readers: `policy replay`, `policy fixtures`,
// `decisions export`.
pub mod decision_db;
pub mod decisions;
pub mod fixtures;
pub mod replay;

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
    /// Run the host: webhooks, API, workers.
    Serve(serve::ServeArgs),
    /// Apply the database migrations and exit.
    Migrate(serve::HostArgs),
    /// Work with the webhook inbox.
    #[command(subcommand)]
    Inbox(InboxCommand),
    /// Policy author tooling: start, run, test and check `.wasm` policy
    /// modules; upload, promote, roll back and list them on a running host.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Run a provider simulator (local runs and tests).
    #[command(subcommand)]
    Simulate(simulate::SimulateCommand),
    /// Watch the whole product work: host + simulated LinkedIn on a fresh
    /// SQLite file, 12 simulated days in seconds, every accept path; with
    /// `--serve`, then explore it in the dashboard.
    Demo(demo::DemoCommand),
    /// Read the decision log: `accord decisions export`.
    #[command(subcommand)]
    Decisions(decisions::DecisionsCommand),
}

/// `accord inbox …`.
#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// Process pending and failed webhooks again (idempotent).
    Replay {
        /// Database settings.
        #[command(flatten)]
        host: serve::HostArgs,
        /// Replay every stored webhook, not only pending and failed ones.
        #[arg(long)]
        all: bool,
    },
}
