//! Re-keying a page of a scope's prospects into a match module's key
//! space (a workspace's prospects, or for the global scope those of every
//! workspace without a match module of its own). The job that pages
//! through a scope, resumes after a restart and switches the module once
//! its space is complete is `lifecycle::rekey_jobs`.
//!
//! Each module has its own key space, so computing a new module's keys
//! touches nothing the deciding module reads: the old module keeps
//! deciding with its keys, complete, until the switch.

use super::keys::{self, KeyedOn, failed};
use crate::decisions::Decisions;
use crate::policy::{Decision, PolicyModule, calls_together};
use crate::store::prospects::{self, Prospect};
use crate::store::{Connection, StoreError};

/// What keying one page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageReport {
    /// Prospects whose keys were written.
    pub keyed: i64,
    /// Prospects the module failed on (they keep the keys `from_space`
    /// gave them, copied).
    pub failures: i64,
    /// The first failure, for a refusal's message.
    pub first_failure: Option<String>,
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

/// Writes `module`'s keys for `page` into its key space, replacing what
/// the space held for those prospects (`replace`; a page of prospects
/// missing from the space has nothing to replace). A prospect the module fails on
/// keeps what the space holds and gets the keys `from_space` gave it
/// (stale keys can still find it, none never would); failures and
/// dropped keys are traced.
pub async fn key_page(
    c: &mut Connection,
    decisions: &Decisions,
    module: &PolicyModule,
    from_space: Option<&str>,
    page: &[(Prospect, Vec<String>)],
    replace: bool,
    now: i64,
) -> Result<PageReport, StoreError> {
    let mut report = PageReport::default();
    let space = module.sha256();
    let mut keyed_ids: Vec<&str> = Vec::with_capacity(page.len());
    let mut rows: Vec<(&str, &str)> = Vec::new();
    let computed = keys_of(decisions, module, page);
    for ((prospect, _), keys) in page.iter().zip(&computed) {
        if let Some(error) = failed(keys) {
            report.failures += 1;
            report
                .first_failure
                .get_or_insert_with(|| error.to_string());
            keys::trace_failure(c, prospect, keys, error, KeyedOn::Rekey, now).await?;
            if let Some(from) = from_space.filter(|f| *f != space) {
                prospects::copy_keys(c, from, space, &prospect.id).await?;
            }
            continue;
        }
        if let Some(dropped) = &keys.dropped {
            keys::trace_failure(c, prospect, keys, dropped, KeyedOn::Rekey, now).await?;
        }
        keyed_ids.push(&prospect.id);
        rows.extend(
            keys.value
                .iter()
                .map(|k| (prospect.id.as_str(), k.as_str())),
        );
        report.keyed += 1;
    }
    if replace {
        prospects::delete_keys(c, space, &keyed_ids).await?;
    }
    prospects::insert_keys(c, space, &rows).await?;
    Ok(report)
}
