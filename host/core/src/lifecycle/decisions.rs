//! Reading the decision log: a page of decisions, one decision, a shadow
//! module's agreement report, and replay (impact analysis: a candidate
//! module run over logged inputs, its decisions compared with the logged
//! ones). The HTTP edge and the CLI both call these.

use super::LifecycleError;
use crate::policy::logged;
use crate::policy::{Mode, PolicyModule, PolicyRuntime, Scope, Slot, calls_together};
use crate::store::Db;
use crate::store::decisions::{self, Cursor, DecisionFilter, DecisionRow, Order, ShadowGroup};
use serde::Serialize;
use std::collections::BTreeMap;

/// Most decisions one page holds.
pub const MAX_PAGE: i64 = 500;

/// One page of the log, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecisionPage {
    /// The decisions.
    pub items: Vec<DecisionRow>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A page of decisions matching `filter`, newest first, after `cursor`
/// (as [`DecisionPage::next_cursor`] gave it).
pub async fn page(
    db: &Db,
    filter: &DecisionFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<DecisionPage, LifecycleError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(LifecycleError::invalid(
            "invalid_limit",
            format!("`limit` must be 1 to {MAX_PAGE}, got {limit}"),
        ));
    }
    let cursor = match cursor {
        None => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            LifecycleError::invalid(
                "invalid_cursor",
                "`cursor` must be a `next_cursor` this endpoint returned",
            )
        })?),
    };
    let mut c = db.acquire().await?;
    let items = decisions::page(&mut c, filter, Order::NewestFirst, cursor.as_ref(), limit).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|r| Cursor::after(r).encode()))
        .flatten();
    Ok(DecisionPage { items, next_cursor })
}

/// One decision.
pub async fn get(db: &Db, id: &str) -> Result<DecisionRow, LifecycleError> {
    let mut c = db.acquire().await?;
    decisions::get(&mut c, id)
        .await?
        .ok_or_else(|| LifecycleError::not_found("decision", id))
}

/// What a shadow module decided beside the active one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShadowReport {
    /// The slot.
    pub slot: String,
    /// `""` for global, else the workspace.
    pub scope: String,
    /// The shadow module reported on (the one bound now, unless asked).
    pub module_sha256: Option<String>,
    /// Shadow decisions logged.
    pub calls: i64,
    /// How many agreed with the active decision.
    pub agreements: i64,
    /// How many did not.
    pub disagreements: i64,
    /// How many shadow calls failed (they took the fail-safe default).
    pub errors: i64,
    /// Shadow calls this instance dropped because its queue was full
    /// (since it started; all modules of the slot).
    pub dropped: u64,
    /// The decisions grouped by (active → shadow), most calls first.
    pub groups: Vec<ShadowGroup>,
}

/// The shadow report of `module` (default: the shadow module bound now to
/// `scope` and `slot`). A workspace's report counts that workspace's
/// decisions; the global one, every workspace's.
pub async fn shadow_report(
    db: &Db,
    bound: Option<&PolicyModule>,
    dropped: u64,
    scope: &Scope,
    slot: Slot,
    module: Option<&str>,
    since: Option<i64>,
) -> Result<ShadowReport, LifecycleError> {
    known_workspace(db, scope.workspace()).await?;
    let module_sha256 = module
        .map(str::to_string)
        .or_else(|| bound.map(|m| m.sha256().to_string()));
    let groups = match &module_sha256 {
        Some(sha) => {
            let mut c = db.acquire().await?;
            decisions::shadow_groups(&mut c, slot.as_str(), sha, scope.workspace(), since).await?
        }
        None => Vec::new(),
    };
    let sum = |f: fn(&ShadowGroup) -> i64| groups.iter().map(f).sum::<i64>();
    let calls = sum(|g| g.calls);
    let agreements = sum(|g| if g.agrees == 1 { g.calls } else { 0 });
    Ok(ShadowReport {
        slot: slot.as_str().to_string(),
        scope: scope.key().to_string(),
        module_sha256,
        calls,
        agreements,
        disagreements: calls - agreements,
        errors: sum(|g| g.errors),
        dropped,
        groups,
    })
}

/// Refuses a workspace that does not exist (`not_found`), as every
/// scoped policy route does.
async fn known_workspace(db: &Db, workspace: Option<&str>) -> Result<(), LifecycleError> {
    if let Some(w) = workspace {
        let mut c = db.acquire().await?;
        if crate::store::accounts::workspace(&mut c, w)
            .await?
            .is_none()
        {
            return Err(LifecycleError::not_found("workspace", w));
        }
    }
    Ok(())
}

/// Which logged decisions a replay runs.
#[derive(Debug, Clone, Default)]
pub struct ReplayScope {
    /// One workspace's decisions, or every workspace's.
    pub workspace_id: Option<String>,
    /// Decided at or after, ms.
    pub since: Option<i64>,
    /// Decided before, ms.
    pub until: Option<i64>,
    /// At most this many decisions (oldest first); all when `None`.
    pub limit: Option<u64>,
}

/// Most sample ids and paths a group of differences keeps.
const SAMPLES: usize = 5;

/// What a candidate would have decided on logged inputs.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct PolicyReplayReport {
    /// The slot.
    pub slot: String,
    /// sha256 of the candidate.
    pub candidate_sha256: String,
    /// Decisions replayed.
    pub replayed: u64,
    /// Decided the same (free text aside).
    pub same: u64,
    /// Decided otherwise.
    pub different: u64,
    /// The candidate failed (it took the fail-safe default), or the
    /// logged input could not be run.
    pub errors: u64,
    /// The differences grouped by (logged → candidate), most first.
    pub groups: Vec<PolicyReplayGroup>,
    /// Samples of the failures: decision id and error kind.
    pub error_samples: Vec<PolicyReplayError>,
}

/// A group of differences.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyReplayGroup {
    /// The logged decision, in a few words.
    pub logged: String,
    /// The candidate's, in a few words.
    pub candidate: String,
    /// How many decisions.
    pub count: u64,
    /// Some of their ids.
    pub sample_ids: Vec<String>,
    /// The JSON paths that differ (across the group, first seen first).
    pub paths: Vec<String>,
}

/// A failed replay.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyReplayError {
    /// The decision replayed.
    pub decision_id: String,
    /// Why it failed (`fuel_exhausted`, `invalid_input`, …).
    pub kind: String,
}

impl PolicyReplayReport {
    /// The one-line summary: `N same, M different, K errors`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} same, {} different, {} errors",
            self.same, self.different, self.errors
        )
    }
}

/// Decisions read and replayed per round.
const REPLAY_PAGE: i64 = 500;

/// Runs `candidate` over the active decisions of its slot logged in
/// `scope`, oldest first, and compares.
pub async fn replay(
    db: &Db,
    runtime: &PolicyRuntime,
    candidate: &PolicyModule,
    scope: &ReplayScope,
) -> Result<PolicyReplayReport, LifecycleError> {
    known_workspace(db, scope.workspace_id.as_deref()).await?;
    let slot = candidate.slot();
    let filter = DecisionFilter {
        workspace_id: scope.workspace_id.clone(),
        slot: Some(slot.as_str().to_string()),
        mode: Some(Mode::Active.as_str().to_string()),
        since: scope.since,
        until: scope.until,
        ..DecisionFilter::default()
    };
    let mut report = PolicyReplayReport {
        slot: slot.as_str().to_string(),
        candidate_sha256: candidate.sha256().to_string(),
        ..PolicyReplayReport::default()
    };
    let mut groups: BTreeMap<(String, String), PolicyReplayGroup> = BTreeMap::new();
    let mut cursor: Option<Cursor> = None;
    let mut left = scope.limit.unwrap_or(u64::MAX);
    while left > 0 {
        let want = i64::try_from(left).unwrap_or(i64::MAX).min(REPLAY_PAGE);
        let rows = {
            let mut c = db.acquire().await?;
            decisions::page(&mut c, &filter, Order::OldestFirst, cursor.as_ref(), want).await?
        };
        let Some(last) = rows.last() else {
            break;
        };
        cursor = Some(Cursor::after(last));
        left -= rows.len() as u64;
        let outcomes = calls_together(|| {
            rows.iter()
                .map(|row| replay_one(runtime, candidate, row))
                .collect::<Vec<_>>()
        });
        for (row, outcome) in rows.iter().zip(outcomes) {
            report.replayed += 1;
            match outcome {
                Replayed::Same => report.same += 1,
                Replayed::Error(kind) => {
                    report.errors += 1;
                    if report.error_samples.len() < SAMPLES {
                        report.error_samples.push(PolicyReplayError {
                            decision_id: row.id.clone(),
                            kind,
                        });
                    }
                }
                Replayed::Different { summary, paths } => {
                    report.different += 1;
                    let group = groups
                        .entry((row.summary.clone(), summary.clone()))
                        .or_insert_with(|| PolicyReplayGroup {
                            logged: row.summary.clone(),
                            candidate: summary,
                            count: 0,
                            sample_ids: Vec::new(),
                            paths: Vec::new(),
                        });
                    group.count += 1;
                    if group.sample_ids.len() < SAMPLES {
                        group.sample_ids.push(row.id.clone());
                    }
                    for p in paths {
                        if group.paths.len() < 2 * SAMPLES && !group.paths.contains(&p) {
                            group.paths.push(p);
                        }
                    }
                }
            }
        }
        if (rows.len() as i64) < want {
            break;
        }
    }
    report.groups = groups.into_values().collect();
    report.groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    Ok(report)
}

enum Replayed {
    Same,
    Different { summary: String, paths: Vec<String> },
    Error(String),
}

fn replay_one(runtime: &PolicyRuntime, candidate: &PolicyModule, row: &DecisionRow) -> Replayed {
    let decision = match runtime.run_logged(candidate, &row.input) {
        Ok(d) => d,
        Err(_) => return Replayed::Error("invalid_input".to_string()),
    };
    if let Some(e) = &decision.error {
        return Replayed::Error(e.kind().to_string());
    }
    let Ok(logged_output) = serde_json::from_str::<serde_json::Value>(&row.output) else {
        return Replayed::Error("invalid_logged_output".to_string());
    };
    let paths = logged::differences(&logged_output, &decision.value);
    if paths.is_empty() {
        Replayed::Same
    } else {
        Replayed::Different {
            summary: logged::summary(candidate.slot(), &decision.value),
            paths,
        }
    }
}

/// The module a replay runs: uploaded bytes, or a stored module by sha256.
pub enum Candidate<'a> {
    /// A component's bytes (not stored).
    Bytes(&'a [u8]),
    /// A module stored by an earlier upload.
    Stored(&'a str),
}

/// Loads a replay's candidate for `slot`: `invalid_policy` when it is not
/// a module of that slot, `not_found` when no stored module has the sha256.
pub async fn candidate(
    db: &Db,
    runtime: &PolicyRuntime,
    slot: Slot,
    candidate: Candidate<'_>,
) -> Result<std::sync::Arc<PolicyModule>, LifecycleError> {
    let stored;
    let (bytes, origin, declared) = match candidate {
        Candidate::Bytes(bytes) => (bytes, "replay candidate", Default::default()),
        Candidate::Stored(sha256) => {
            let mut c = db.acquire().await?;
            stored = crate::store::policies::module_bytes(&mut c, sha256)
                .await?
                .ok_or_else(|| LifecycleError::not_found("policy module", sha256))?;
            (
                stored.bytes.as_slice(),
                "stored module",
                super::policies::declared(&stored.limits),
            )
        }
    };
    let load = || runtime.load_declared(bytes, origin, Some(slot), declared);
    calls_together(load).map_err(|e| LifecycleError::invalid("invalid_policy", e.to_string()))
}
