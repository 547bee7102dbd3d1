//! Re-keying a scope's prospects when its match policy changes (a
//! workspace's, or the global module's: the prospects of every workspace
//! without one of its own).
//!
//! The new module's keys must be in place before it decides (or its
//! signals miss every prospect not yet re-keyed), and the old keys must
//! stay until then (or the old module misses them), so a swap runs in
//! three passes over the prospects, a page per transaction:
//!
//! 1. [`check`], before anything is written: the new module's keys for
//!    every prospect, counting the prospects it fails on. A module that
//!    fails on most is refused.
//! 2. [`stage`], still before activation: each prospect's new keys are
//!    added beside its old ones.
//! 3. [`finish`], once the module is active: the old keys of every
//!    prospect that has new ones are deleted; a prospect with none (the
//!    module failed on it, gave it no keys, or it was imported meanwhile)
//!    is keyed again, and keeps its old keys if the module fails again.
//!
//! A crash between the passes leaves extra keys, never missing ones: a
//! candidate that shares an old key is still resolved by the policy.

use super::keys::{self, KeyedOn, failed};
use crate::clock::SharedClock;
use crate::decisions::Decisions;
use crate::policy::{Decision, PolicyModule, Scope, Slot, calls_together};
use crate::store::prospects::{self, Prospect};
use crate::store::{Db, StoreError};
use std::fmt;

/// Prospects per transaction.
const PAGE: i64 = 500;

/// What [`check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RekeyCheck {
    /// Prospects keyed.
    pub prospects: u64,
    /// Those the module failed on (an error, or only invalid keys).
    pub failures: u64,
    /// The first failure, for the refusal's message.
    pub first_failure: Option<String>,
}

impl RekeyCheck {
    /// Whether the module fails on most prospects: activating it would
    /// leave most of them matched by stale keys only.
    pub fn refused(&self) -> bool {
        self.failures * 2 > self.prospects
    }
}

impl fmt::Display for RekeyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the match module fails on {} of {} prospects' keys",
            self.failures, self.prospects
        )?;
        if let Some(first) = &self.first_failure {
            write!(f, " (first: {first})")?;
        }
        Ok(())
    }
}

/// The module's keys for a page of prospects, with one hand-off of the
/// async worker for the page.
fn keys_of(
    decisions: &Decisions,
    module: &PolicyModule,
    page: &[(Prospect, Vec<String>)],
) -> Vec<Decision<Vec<String>>> {
    calls_together(|| {
        page.iter()
            .map(|(p, invited)| keys::prospect_keys(decisions, Some(module), p, invited))
            .collect()
    })
}

/// Pass 1: the module's keys for every prospect of `scope`, written
/// nowhere.
pub async fn check(
    db: &Db,
    decisions: &Decisions,
    module: &PolicyModule,
    scope: &Scope,
) -> Result<RekeyCheck, StoreError> {
    let mut report = RekeyCheck::default();
    let mut after = String::new();
    let mut c = db.acquire().await?;
    loop {
        let page = prospects::page_for_keys(&mut c, scope.workspace(), &after, PAGE).await?;
        let Some((last, _)) = page.last() else {
            return Ok(report);
        };
        after = last.id.clone();
        for keys in keys_of(decisions, module, &page) {
            report.prospects += 1;
            if let Some(error) = failed(&keys) {
                report.failures += 1;
                report
                    .first_failure
                    .get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Pass 2: adds each prospect's keys from the module beside its old ones;
/// returns how many prospects got keys. Keys the host dropped are traced.
pub async fn stage(
    db: &Db,
    decisions: &Decisions,
    clock: &SharedClock,
    module: &PolicyModule,
    scope: &Scope,
) -> Result<u64, StoreError> {
    let mut staged = 0;
    let mut after = String::new();
    loop {
        let mut tx = db.begin().await?;
        let page = prospects::page_for_keys(&mut tx, scope.workspace(), &after, PAGE).await?;
        let Some((last, _)) = page.last() else {
            tx.commit().await?;
            return Ok(staged);
        };
        after = last.id.clone();
        let now = clock.now_ms();
        for ((prospect, _), keys) in page.iter().zip(keys_of(decisions, module, &page)) {
            if keys.error.is_some() || keys.value.is_empty() {
                // Left to `finish`, which traces a failure once.
                continue;
            }
            if let Some(dropped) = &keys.dropped {
                keys::trace_failure(&mut tx, prospect, &keys, dropped, KeyedOn::Rekey, now).await?;
            }
            prospects::add_keys(&mut tx, &prospect.id, &keys.value, &keys.module_sha256).await?;
            staged += 1;
        }
        tx.commit().await?;
    }
}

/// Pass 3, once `module` is active: drops superseded keys and keys the
/// prospects that have none from it. Returns (prospects keyed again,
/// prospects it failed on, which keep their old keys). Stops early when
/// another swap replaced `module` meanwhile (that swap re-keys).
pub async fn finish(
    db: &Db,
    decisions: &Decisions,
    clock: &SharedClock,
    module: &PolicyModule,
    scope: &Scope,
) -> Result<(u64, u64), StoreError> {
    let (mut keyed, mut failures) = (0u64, 0u64);
    let mut after = String::new();
    loop {
        if decisions.module_for_scope(scope, Slot::Match).sha256() != module.sha256() {
            tracing::info!(
                module_sha256 = module.sha256(),
                "re-key stopped: the match policy changed again"
            );
            break;
        }
        let mut tx = db.begin().await?;
        let page = prospects::page_for_keys(&mut tx, scope.workspace(), &after, PAGE).await?;
        let Some((last, _)) = page.last() else {
            tx.commit().await?;
            break;
        };
        let last = last.id.clone();
        prospects::drop_superseded_keys(&mut tx, &after, &last, module.sha256()).await?;
        let done: std::collections::HashSet<String> =
            prospects::keyed_by(&mut tx, &after, &last, module.sha256())
                .await?
                .into_iter()
                .collect();
        let rest: Vec<_> = page
            .into_iter()
            .filter(|(p, _)| !done.contains(&p.id))
            .collect();
        let now = clock.now_ms();
        for ((prospect, _), keys) in rest.iter().zip(keys_of(decisions, module, &rest)) {
            // A failure keeps its old keys and is traced.
            if keys::store(&mut tx, prospect, &keys, KeyedOn::Rekey, now).await? {
                keyed += 1;
            } else {
                failures += 1;
            }
        }
        tx.commit().await?;
        after = last;
    }
    tracing::info!(
        module_sha256 = module.sha256(),
        keyed,
        failures,
        "prospects re-keyed"
    );
    // Every key changed: the planner's picture of match_keys is stale.
    db.refresh_statistics_soon();
    Ok((keyed, failures))
}
