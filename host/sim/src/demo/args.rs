//! `accord demo`'s settings: the flags with their bounds, and the fixed
//! ones (time zone, daily cap) the story is written for. Apart so setup,
//! scoring and the table all read them without reading each other.

use super::cast;
use anyhow::bail;
use clap::Args;
use std::path::PathBuf;

/// The account's time zone.
pub(super) const TIME_ZONE: &str = "Europe/Paris";
/// Invites per day: 36 prospects take two days.
pub(super) const DAILY_INVITE_CAP: i64 = 20;

/// `accord demo` settings.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The SQLite file to create (it must not exist); default: `demo.db`
    /// in a new temporary directory, kept for inspection.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Simulated days to run (10 to 60; a late accept needs the 7-day
    /// wait_accept to time out first).
    #[arg(long, default_value_t = 12)]
    pub days: u32,
    /// Prospects to import (8 to 200).
    #[arg(long, default_value_t = 36)]
    pub prospects: usize,
    /// Print only the final table, not the story.
    #[arg(long)]
    pub quiet: bool,
    /// Draw every id and random number from this seed: the same seed
    /// prints the same story and the same event-log digest.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            db: None,
            days: 12,
            prospects: 36,
            quiet: false,
            seed: None,
        }
    }
}

impl DemoArgs {
    /// Refuses days or prospects out of bounds, before anything starts.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if !(10..=60).contains(&self.days) {
            bail!(
                "--days must be 10 to 60 (a late accept needs the 7-day wait_accept to time out), got {}",
                self.days
            );
        }
        if !(cast::MIN_PROSPECTS..=200).contains(&self.prospects) {
            bail!(
                "--prospects must be {} to 200 (fewer cannot show every path), got {}",
                cast::MIN_PROSPECTS,
                self.prospects
            );
        }
        Ok(())
    }

    /// The SQLite file to create: `--db` when it does not exist yet, else
    /// `demo.db` in a new temporary directory kept for inspection.
    pub(super) fn database(&self) -> anyhow::Result<PathBuf> {
        Ok(match &self.db {
            Some(path) if path.exists() => bail!(
                "--db {}: the file exists; the demo needs a fresh file",
                path.display()
            ),
            Some(path) => path.clone(),
            None => tempfile::Builder::new()
                .prefix("accord-demo-")
                .tempdir()?
                .keep()
                .join("demo.db"),
        })
    }
}
