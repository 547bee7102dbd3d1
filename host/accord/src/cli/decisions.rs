//! `accord decisions export`: the decision log as JSON lines, for
//! analysis elsewhere.

use super::decision_db::{self, DatabaseArg, LogError};
use crate::policy::Slot;
use crate::store::decisions::DecisionFilter;
use clap::{Args, Subcommand};
use std::io::Write;

/// `accord decisions …`.
#[derive(Debug, Subcommand)]
pub enum DecisionsCommand {
    /// Write every matching decision to stdout as one JSON object per
    /// line, oldest first (`input` and `output` are JSON text, as in the
    /// admin API).
    Export(ExportArgs),
}

/// `accord decisions export --database URL [filters]`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The database holding the log.
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Only this workspace's decisions.
    #[arg(long, value_name = "ID")]
    pub workspace: Option<String>,
    /// Only this slot's decisions.
    #[arg(long)]
    pub slot: Option<Slot>,
    /// Only `active` or only `shadow` decisions.
    #[arg(long, value_parser = ["active", "shadow"])]
    pub mode: Option<String>,
    /// Only the decisions of this module (its sha256).
    #[arg(long, value_name = "SHA256")]
    pub module: Option<String>,
    /// Only the decisions about this enrollment.
    #[arg(long, value_name = "ID")]
    pub enrollment: Option<String>,
    /// Decided at or after: RFC 3339 (2026-10-10T14:30:00Z) or epoch milliseconds.
    #[arg(long, value_name = "T", value_parser = decision_db::parse_time)]
    pub since: Option<i64>,
    /// Decided before: RFC 3339 or epoch milliseconds.
    #[arg(long, value_name = "T", value_parser = decision_db::parse_time)]
    pub until: Option<i64>,
    /// At most this many decisions, oldest first.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

/// Runs a `decisions` subcommand; returns the exit status.
pub fn execute(cmd: DecisionsCommand) -> Result<i32, LogError> {
    match cmd {
        DecisionsCommand::Export(args) => export(args),
    }
}

fn export(args: ExportArgs) -> Result<i32, LogError> {
    decision_db::check_window(args.since, args.until)?;
    let filter = DecisionFilter {
        workspace_id: args.workspace,
        slot: args.slot.map(|s| s.as_str().to_string()),
        mode: args.mode,
        module_sha256: args.module,
        enrollment_id: args.enrollment,
        since: args.since,
        until: args.until,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = decision_db::tokio_runtime()?.block_on(async {
        let db = decision_db::open(&args.database.url).await?;
        let written = decision_db::for_each(&db, &filter, args.limit, |row| {
            serde_json::to_writer(&mut out, &row)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(stdout_error)
        })
        .await;
        db.close().await;
        written
    });
    match written.and_then(|n| out.flush().map_err(stdout_error).map(|()| n)) {
        Ok(n) => {
            eprintln!("exported {n} decisions");
            Ok(0)
        }
        // A reader that stopped early (`| head`) is not a failure.
        Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

fn stdout_error(source: std::io::Error) -> LogError {
    LogError::Io {
        path: "stdout".into(),
        source,
    }
}
