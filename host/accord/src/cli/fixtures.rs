//! `accord policy fixtures`: logged decisions become fixtures, so real
//! traffic becomes a policy author's test suite (`accord policy test`).

use super::decision_db::{self, DatabaseArg, LogError};
use crate::policy::Slot;
use crate::policy::logged::FREE_TEXT;
use crate::store::decisions::{DecisionFilter, DecisionRow};
use accord_policy_core::fixture::Fixture;
use clap::Args;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `accord policy fixtures --database URL --slot S [filters] DIR`.
#[derive(Debug, Args)]
pub struct FixturesArgs {
    /// The folder to write `<decision id>.json` into (created if missing).
    pub dir: PathBuf,
    /// The database holding the log.
    #[command(flatten)]
    pub database: DatabaseArg,
    /// The slot whose decisions become fixtures.
    #[arg(long)]
    pub slot: Slot,
    /// `active` (default: the decisions that changed state) or `shadow`.
    #[arg(long, default_value = "active", value_parser = ["active", "shadow"])]
    pub mode: String,
    /// Only this workspace's decisions.
    #[arg(long, value_name = "ID")]
    pub workspace: Option<String>,
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

/// What [`execute`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// Fixture files written.
    pub written: u64,
    /// Decisions whose policy failed (their output is the fail-safe
    /// default, not the module's answer).
    pub failed: u64,
    /// Decisions whose id cannot name a file, or whose input or output
    /// is not JSON (a hand-edited row).
    pub unusable: u64,
    /// The modules that made the written decisions.
    pub modules: BTreeSet<String>,
}

/// Writes the fixtures and says how many; returns the exit status.
pub fn execute(args: FixturesArgs) -> Result<i32, LogError> {
    decision_db::check_window(args.since, args.until)?;
    std::fs::create_dir_all(&args.dir).map_err(|source| LogError::Io {
        path: args.dir.display().to_string(),
        source,
    })?;
    let filter = DecisionFilter {
        workspace_id: args.workspace.clone(),
        slot: Some(args.slot.as_str().to_string()),
        mode: Some(args.mode.clone()),
        module_sha256: args.module.clone(),
        enrollment_id: args.enrollment.clone(),
        since: args.since,
        until: args.until,
    };
    let done = decision_db::tokio_runtime()?.block_on(async {
        let db = decision_db::open(&args.database.url).await?;
        let mut done = Written::default();
        decision_db::for_each(&db, &filter, args.limit, |row| {
            write_one(&args.dir, row, &mut done)
        })
        .await?;
        db.close().await;
        Ok::<_, LogError>(done)
    })?;
    println!("wrote {} fixtures to {}", done.written, args.dir.display());
    if done.failed > 0 {
        println!(
            "skipped {} decisions whose policy failed (they hold the fail-safe default, not the module's answer)",
            done.failed
        );
    }
    if done.unusable > 0 {
        println!(
            "skipped {} decisions whose id cannot name a file or whose input or output is not JSON",
            done.unusable
        );
    }
    if done.modules.len() > 1 {
        let short: Vec<&str> = done
            .modules
            .iter()
            .map(|m| m.get(..12).unwrap_or(m))
            .collect();
        eprintln!(
            "note: {} modules made these decisions ({}); `accord policy test` checks one module, so pass --module SHA256 to keep one module's",
            done.modules.len(),
            short.join(", ")
        );
    }
    Ok(0)
}

fn write_one(dir: &Path, row: DecisionRow, done: &mut Written) -> Result<(), LogError> {
    if row.error_kind.is_some() {
        done.failed += 1;
        return Ok(());
    }
    // The id names a file: anything that could leave `dir` is refused.
    let nameable = !row.id.is_empty()
        && row
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let Some(fixture) = fixture(&row).filter(|_| nameable) else {
        done.unusable += 1;
        return Ok(());
    };
    let path = dir.join(format!("{}.json", row.id));
    let text = serde_json::to_string_pretty(&fixture).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|source| LogError::Io {
        path: path.display().to_string(),
        source,
    })?;
    done.written += 1;
    done.modules.insert(row.module_sha256);
    Ok(())
}

/// The fixture of one logged decision: its input as logged, its output
/// less free text as the expected pattern (so a module that rewords an
/// explanation still passes, as replay and the shadow report also
/// ignore it); `None` when either is not JSON.
pub fn fixture(row: &DecisionRow) -> Option<Fixture> {
    let input = serde_json::from_str::<Value>(&row.input).ok()?;
    let mut expected = serde_json::from_str::<Value>(&row.output).ok()?;
    strip_free_text(&mut expected);
    let workspace = if row.workspace_id.is_empty() {
        "-"
    } else {
        &row.workspace_id
    };
    Some(Fixture {
        description: format!(
            "logged {} decision {} ({}) in workspace {workspace}, decided {} by module {}: {}",
            row.slot,
            row.id,
            row.call,
            decision_db::rfc3339(row.decided_at),
            row.module_sha256.get(..12).unwrap_or(&row.module_sha256),
            row.summary
        ),
        input,
        expected,
    })
}

fn strip_free_text(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !FREE_TEXT.contains(&k.as_str()));
            map.values_mut().for_each(strip_free_text);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_free_text),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_text_is_left_out_of_expected() {
        let mut v = json!({"decision": "skip", "reason": "campaign_paused", "detail": "x",
                           "nested": [{"trace": [], "keep": 1}]});
        strip_free_text(&mut v);
        assert_eq!(
            v,
            json!({"decision": "skip", "reason": "campaign_paused", "nested": [{"keep": 1}]})
        );
    }
}
