//! What `accord policy replay`, `accord policy fixtures` and `accord
//! decisions export` share: the database flag, opening a database whose
//! decision log they read, the time bounds, their errors.

use crate::lifecycle::LifecycleError;
use crate::policy::{DeclaredLimits, LimitError, LoadError, PolicyModule, PolicyRuntime, Slot};
use crate::store::decisions::{self, DecisionFilter, DecisionRow, Order};
use crate::store::{Db, StoreError, redact};
use clap::Args;
use std::path::Path;
use std::sync::Arc;

/// The database whose decision log a command reads.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArg {
    /// The host's database: `sqlite://FILE` or `postgres://…` (read only;
    /// nothing is migrated).
    #[arg(
        long = "database",
        visible_alias = "database-url",
        env = "ACCORD_DATABASE_URL",
        value_name = "URL"
    )]
    pub url: String,
}

/// Decisions read per page (the store's and the API's largest).
pub const PAGE: i64 = 500;

/// Why a decision log command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The database URL is unusable or the database does not answer.
    #[error("{0}")]
    Database(#[source] StoreError),
    /// The database answers but holds no decision log.
    #[error(
        "cannot read the decision log of {url}: {source}; is it an Accord database migrated to 0014 or later? (`accord migrate` applies the migrations)"
    )]
    NoLog {
        /// The URL, password removed.
        url: String,
        /// What the database said.
        #[source]
        source: StoreError,
    },
    /// Reading the log failed midway.
    #[error("reading the decision log: {0}")]
    Read(#[from] StoreError),
    /// The replay itself failed.
    #[error("replay: {0}")]
    Replay(#[from] LifecycleError),
    /// The candidate module was refused.
    #[error("{path}: {source}")]
    Module {
        /// The module file.
        path: String,
        /// Why.
        #[source]
        source: LoadError,
    },
    /// The declared limits are outside the host's bounds.
    #[error("limits: {0}")]
    Limits(#[from] LimitError),
    /// The candidate implements another slot than `--slot`.
    #[error("{path} does not implement the {slot} slot: {source}")]
    WrongSlot {
        /// The module file.
        path: String,
        /// The slot asked for.
        slot: Slot,
        /// What the module exports instead.
        #[source]
        source: LoadError,
    },
    /// `--since` is not before `--until`.
    #[error("--since ({since}) must be before --until ({until})")]
    EmptyWindow {
        /// Decided at or after, ms.
        since: i64,
        /// Decided before, ms.
        until: i64,
    },
    /// A file or the output could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file, or `stdout`.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Parses `--since` / `--until`: an RFC 3339 timestamp
/// (`2026-10-10T14:30:00Z`) or milliseconds since the Unix epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|e| format!("`{text}`: {e} (milliseconds since the epoch)"));
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| {
            format!(
                "`{text}` is neither an RFC 3339 timestamp such as 2026-10-10T14:30:00Z nor milliseconds since the epoch ({e})"
            )
        })
}

/// Checks that `since` comes before `until` when both are given.
pub fn check_window(since: Option<i64>, until: Option<i64>) -> Result<(), LogError> {
    match (since, until) {
        (Some(since), Some(until)) if since >= until => Err(LogError::EmptyWindow { since, until }),
        _ => Ok(()),
    }
}

/// A time as RFC 3339 (UTC), or the milliseconds when out of range.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// A runtime for one command (the binary's `main` is synchronous).
pub fn tokio_runtime() -> Result<tokio::runtime::Runtime, LogError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| LogError::Io {
            path: "tokio runtime".into(),
            source,
        })
}

/// Connects to `url` without migrating it and checks that it holds a
/// decision log (one row read), so a wrong database is named at once.
pub async fn open(url: &str) -> Result<Db, LogError> {
    let db = Db::connect(url).await.map_err(LogError::Database)?;
    let probe = async {
        let mut c = db.acquire().await?;
        decisions::page(
            &mut c,
            &DecisionFilter::default(),
            Order::OldestFirst,
            None,
            1,
        )
        .await
    };
    match probe.await {
        Ok(_) => Ok(db),
        Err(source @ (StoreError::Sql(_) | StoreError::Corrupt { .. })) => Err(LogError::NoLog {
            url: redact(url),
            source,
        }),
        Err(e) => Err(LogError::Database(e)),
    }
}

/// Loads a module file as `slot`, naming a module of another slot as such.
pub fn load_for_slot(
    runtime: &PolicyRuntime,
    path: &Path,
    slot: Slot,
    declared: DeclaredLimits,
) -> Result<Arc<PolicyModule>, LogError> {
    let shown = path.display().to_string();
    runtime
        .load_file_declared(path, Some(slot), declared)
        .map_err(|source| match source {
            LoadError::WrongWorld { .. } => LogError::WrongSlot {
                path: shown,
                slot,
                source,
            },
            source => LogError::Module {
                path: shown,
                source,
            },
        })
}

/// Calls `each` on every decision matching `filter`, oldest first, at
/// most `limit` of them, reading pages of [`PAGE`]; returns how many.
pub async fn for_each(
    db: &Db,
    filter: &DecisionFilter,
    limit: Option<u64>,
    mut each: impl FnMut(DecisionRow) -> Result<(), LogError>,
) -> Result<u64, LogError> {
    let mut cursor = None;
    let mut left = limit.unwrap_or(u64::MAX);
    let mut seen = 0;
    while left > 0 {
        let want = i64::try_from(left).unwrap_or(i64::MAX).min(PAGE);
        let rows = {
            let mut c = db.acquire().await?;
            decisions::page(&mut c, filter, Order::OldestFirst, cursor.as_ref(), want).await?
        };
        let full = rows.len() as i64 == want;
        cursor = rows.last().map(decisions::Cursor::after);
        for row in rows {
            left -= 1;
            seen += 1;
            each(row)?;
        }
        if !full {
            break;
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_milliseconds() {
        assert_eq!(parse_time("1791642600000"), Ok(1_791_642_600_000));
        assert_eq!(parse_time("2026-10-10T14:30:00Z"), Ok(1_791_642_600_000));
        assert_eq!(
            parse_time("2026-10-10T16:30:00+02:00"),
            Ok(1_791_642_600_000)
        );
        for bad in ["yesterday", "2026-10-10", "", "-5", "99999999999999999999"] {
            let e = parse_time(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!(check_window(Some(2), Some(1)).is_err());
        assert!(check_window(Some(1), Some(2)).is_ok());
        assert!(check_window(None, Some(2)).is_ok());
    }
}
