//! `accord policy replay`: impact analysis before a promotion. A candidate
//! module runs over the inputs the decision log holds and its decisions
//! are compared with the logged ones.

use super::cache::{CacheArgs, compile_line};
use super::decision_db::{self, DatabaseArg, LogError};
use super::limits::LimitArgs;
use crate::lifecycle::decisions::{PolicyReplayReport, ReplayScope, replay};
use crate::policy::Slot;
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `accord policy replay CANDIDATE.wasm --database URL --slot S …`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The candidate policy component (`.wasm`).
    pub candidate: PathBuf,
    /// The database holding the log.
    #[command(flatten)]
    pub database: DatabaseArg,
    /// The slot the candidate implements; its active decisions are replayed.
    #[arg(long)]
    pub slot: Slot,
    /// Only this workspace's decisions.
    #[arg(long, value_name = "ID")]
    pub workspace: Option<String>,
    /// Decided at or after: RFC 3339 (2026-10-10T14:30:00Z) or epoch milliseconds.
    #[arg(long, value_name = "T", value_parser = decision_db::parse_time)]
    pub since: Option<i64>,
    /// Decided before: RFC 3339 or epoch milliseconds.
    #[arg(long, value_name = "T", value_parser = decision_db::parse_time)]
    pub until: Option<i64>,
    /// At most this many decisions, oldest first.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when any decision differs or the candidate fails on any.
    #[arg(long)]
    pub fail_on_diff: bool,
    /// Limits declared for the candidate (give the ones it will be
    /// uploaded with, so it runs as it will on the host).
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The compiled-module cache.
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Runs the replay and prints its report; returns the exit status.
pub fn execute(args: ReplayArgs) -> Result<i32, LogError> {
    decision_db::check_window(args.since, args.until)?;
    let runtime = args
        .cache
        .runtime(args.limits.maxima())
        .map_err(|source| LogError::Module {
            path: "runtime".into(),
            source,
        })?;
    let declared = args.limits.declared()?;
    let candidate = decision_db::load_for_slot(&runtime, &args.candidate, args.slot, declared)?;
    let compiled = compile_line(candidate.compile_stats(), runtime.cache_dir());
    let scope = ReplayScope {
        workspace_id: args.workspace.clone(),
        since: args.since,
        until: args.until,
        limit: args.limit,
    };
    let report = decision_db::tokio_runtime()?.block_on(async {
        let db = decision_db::open(&args.database.url).await?;
        let report = replay(&db, &runtime, &candidate, &scope).await?;
        db.close().await;
        Ok::<_, LogError>(report)
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        // The JSON report alone on stdout, so it stays machine-readable.
        eprintln!("{compiled}");
    } else {
        // Last, so the first line stays the summary a gate reads.
        println!("{}{compiled}", render(&report));
        if report.replayed == 0 {
            eprintln!(
                "note: no active {} decisions in the log match (workspace, --since, --until)",
                args.slot
            );
        }
    }
    let failed = report.different > 0 || report.errors > 0;
    Ok(i32::from(args.fail_on_diff && failed))
}

/// The text report: the summary line, then each group of differences
/// (logged → candidate) with its JSON paths and sample ids, then the
/// failures.
pub fn render(report: &PolicyReplayReport) -> String {
    let mut out = String::new();
    let sha = report.candidate_sha256.get(..12).unwrap_or_default();
    let _ = writeln!(out, "{}", report.summary_line());
    let _ = writeln!(
        out,
        "replayed {} {} decisions with candidate {sha}",
        report.replayed, report.slot
    );
    for group in &report.groups {
        let _ = writeln!(
            out,
            "\n{} × {} → {}",
            group.count, group.logged, group.candidate
        );
        let _ = writeln!(out, "    paths:   {}", group.paths.join(", "));
        let _ = writeln!(out, "    samples: {}", group.sample_ids.join(", "));
    }
    if !report.error_samples.is_empty() {
        let _ = writeln!(out, "\n{} errors, for example:", report.errors);
        for e in &report.error_samples {
            let _ = writeln!(out, "    {} ({})", e.decision_id, e.kind);
        }
    }
    out
}
