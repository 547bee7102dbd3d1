//! `accord simulate run`: a month of Accord use in simulated time, under
//! provider faults and host crashes, checked against what LinkedIn (the
//! Unipile simulator) received.
//!
//! Everything is real but LinkedIn and the clock: the host(s) on a fresh
//! database with their HTTP routers on loopback, the simulator posting
//! webhooks to them, the real Unipile client, the engine, ticks, inbox and
//! notifier delivering to a local receiver. The world and the faults are
//! drawn from `--seed` before the run; the clock moves from one due
//! instant to the next. At the end the checker reads the simulator's log
//! and counts violations of the safety invariants (docs/SIMULATION.md).

mod checker;
mod digest;
mod driver;
pub mod faults;
mod host;
pub mod report;
pub mod world;

use crate::sabotage::Gate;
use clap::Args;
use std::path::PathBuf;

pub use report::Report;

/// `accord simulate run` settings.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Simulated days (2 to 60).
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// LinkedIn accounts.
    #[arg(long, default_value_t = 100)]
    pub accounts: usize,
    /// Prospects, spread over the accounts' campaigns.
    #[arg(long, default_value_t = 10_000)]
    pub prospects: usize,
    /// Seed of the world, the faults and the crashes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Database URL; default: a SQLite file in a new temporary directory.
    #[arg(long)]
    pub database: Option<String>,
    /// PostgreSQL schema to create and use; default: a fresh one.
    #[arg(long)]
    pub database_schema: Option<String>,
    /// Host instances sharing the database and the workload.
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// Provider and host faults.
    #[arg(long, default_value = "default", value_parser = ["default", "none"])]
    pub faults: String,
    /// Write the report as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// FOR SIMULATIONS ONLY: switch off one host guard (cap, window, ramp,
    /// spacing, connection, dedupe) to show the checker catches it.
    #[arg(long)]
    pub sabotage: Option<Gate>,
    /// Let the run's threads use every core. By default `accord simulate
    /// run` keeps them to one: the run is one sequential driver whose
    /// every statement and HTTP call hands work from one thread to
    /// another, a plain switch on one core and a wake-up of another
    /// processor across cores (docs/BENCHMARKS.md, "Simulation").
    #[arg(long)]
    pub all_cores: bool,
}

impl Default for RunArgs {
    fn default() -> Self {
        RunArgs {
            days: 30,
            accounts: 100,
            prospects: 10_000,
            seed: 42,
            database: None,
            database_schema: None,
            instances: 1,
            faults: "default".into(),
            report: None,
            sabotage: None,
            all_cores: false,
        }
    }
}

/// `accord simulate run`: runs, prints the table, writes the JSON; exit
/// status 1 on any violation.
pub async fn cli(args: RunArgs) -> anyhow::Result<i32> {
    crate::clock::seed_process(args.seed)?;
    let report = run(&args).await?;
    print!("{}", report.table());
    eprintln!("{}", report.run_line());
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        eprintln!("  report     {}", path.display());
    }
    Ok(if report.total_violations() == 0 { 0 } else { 1 })
}

/// Runs the simulation and returns the checked report.
pub async fn run(args: &RunArgs) -> anyhow::Result<Report> {
    driver::run(args).await
}
