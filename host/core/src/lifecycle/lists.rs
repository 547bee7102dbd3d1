//! The lists the overview's tiles open: a workspace's late accepts (with
//! their traces and whether the follow-up went out) and its bridge misses
//! (accept signals no strategy could attribute), newest first, a keyset
//! page at a time.

use super::LifecycleError;
use super::overview::{BRIDGE_MISS, ORPHAN_WEBHOOK};
use super::pages::{self, time_cursor};
use crate::app::App;
use crate::store::enrollment_pages::{self, LateCursor, ProspectRow};
use crate::store::jobs::{self, Job};
use crate::store::traces::{self, Trace};
use crate::store::{Connection, accounts, campaigns};
use serde::Serialize;
use std::collections::HashMap;

/// A trace with its signal and detail as JSON.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TraceView {
    /// Id.
    pub id: String,
    /// `bridge_miss_all_strategies`, `orphan_webhook`, `policy_failure`, …
    pub kind: String,
    /// LinkedIn account, when known.
    pub linkedin_account_id: Option<String>,
    /// Enrollment, when known.
    pub enrollment_id: Option<String>,
    /// The accept signal, when there was one.
    #[schema(value_type = Option<Object>)]
    pub signal: Option<serde_json::Value>,
    /// Details (keys tried, candidates, policy trace lines, error).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The deciding module.
    pub module_sha256: Option<String>,
    /// When, ms.
    pub created_at: i64,
}

/// Stored JSON text as a value (as a string when it does not parse:
/// shown, never lost).
pub(crate) fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

impl From<Trace> for TraceView {
    fn from(t: Trace) -> Self {
        TraceView {
            signal: t.signal.as_deref().map(json),
            detail: json(&t.detail),
            id: t.id,
            kind: t.kind,
            linkedin_account_id: t.linkedin_account_id,
            enrollment_id: t.enrollment_id,
            module_sha256: t.module_sha256,
            created_at: t.created_at,
        }
    }
}

/// One late accept.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LateAcceptItem {
    /// The enrollment and its prospect (`late_accept_observed_at` and
    /// `late_accept_followup_sent_at` among its stamps).
    #[serde(flatten)]
    pub row: ProspectRow,
    /// Its campaign's name.
    pub campaign_name: String,
    /// Whether the late follow-up went out.
    pub followup_sent: bool,
    /// The follow-up message's job since the accept was observed (the
    /// newest), if one was enqueued: its status, run time, wait reason.
    pub followup_job: Option<Job>,
    /// The enrollment's traces, oldest first.
    pub traces: Vec<TraceView>,
}

/// A page of late accepts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LateAcceptPage {
    /// Most recently observed first.
    pub items: Vec<LateAcceptItem>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A page of bridge misses.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BridgeMissPage {
    /// Newest first.
    pub items: Vec<TraceView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// The workspace `id` exists and `only` (a workspace token's) allows it
/// (`not_found` otherwise, the same for both).
async fn visible_workspace(
    c: &mut Connection,
    id: &str,
    only: Option<&str>,
) -> Result<(), LifecycleError> {
    match accounts::workspace(c, id).await? {
        Some(w) if only.is_none_or(|o| o == w.id) => Ok(()),
        _ => Err(LifecycleError::not_found("workspace", id)),
    }
}

/// A page of workspace `id`'s late accepts after `cursor` (`not_found`,
/// `invalid_limit`, `invalid_cursor`).
pub async fn late_accepts(
    app: &App,
    id: &str,
    only: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<LateAcceptPage, LifecycleError> {
    let limit = pages::limit(limit)?;
    let cursor = cursor
        .map(time_cursor)
        .transpose()?
        .map(|(observed_at, id)| LateCursor {
            observed_at,
            enrollment_id: id.to_string(),
        });
    let mut c = app.db.acquire().await?;
    visible_workspace(&mut c, id, only).await?;
    let rows = enrollment_pages::late_accepts(&mut c, id, cursor.as_ref(), limit).await?;
    let next_cursor = pages::next(&rows, limit, |r| {
        format!(
            "{}.{}",
            r.late_accept_observed_at.unwrap_or_default(),
            r.enrollment_id
        )
    });
    let ids: Vec<&str> = rows.iter().map(|r| r.enrollment_id.as_str()).collect();
    let mut messages: HashMap<String, Job> = HashMap::new();
    for job in jobs::of_enrollments(&mut c, &ids, None, Some("send_message")).await? {
        // Oldest first: the newest job since the observation wins.
        messages.insert(job.enrollment_id.clone(), job);
    }
    let mut traces_of: HashMap<String, Vec<TraceView>> = HashMap::new();
    for t in traces::of_enrollments(&mut c, &ids).await? {
        if let Some(e) = t.enrollment_id.clone() {
            traces_of.entry(e).or_default().push(t.into());
        }
    }
    let names: HashMap<String, String> = campaigns::of_workspace(&mut c, id)
        .await?
        .into_iter()
        .map(|k| (k.id, k.name))
        .collect();
    let items = rows
        .into_iter()
        .map(|row| {
            let observed = row.late_accept_observed_at.unwrap_or_default();
            LateAcceptItem {
                campaign_name: names.get(&row.campaign_id).cloned().unwrap_or_default(),
                followup_sent: row.late_accept_followup_sent_at.is_some(),
                followup_job: messages
                    .remove(&row.enrollment_id)
                    .filter(|j| j.created_at >= observed),
                traces: traces_of.remove(&row.enrollment_id).unwrap_or_default(),
                row,
            }
        })
        .collect();
    Ok(LateAcceptPage { items, next_cursor })
}

/// A page of workspace `id`'s bridge misses after `cursor` (`not_found`,
/// `invalid_limit`, `invalid_cursor`).
pub async fn bridge_misses(
    app: &App,
    id: &str,
    only: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<BridgeMissPage, LifecycleError> {
    traces_of_kind(app, id, only, BRIDGE_MISS, cursor, limit).await
}

/// A page of workspace `id`'s orphan webhooks (signals that came while
/// no campaign of the account was running), newest first, after `cursor`
/// (`not_found`, `invalid_limit`, `invalid_cursor`).
pub async fn orphan_webhooks(
    app: &App,
    id: &str,
    only: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<BridgeMissPage, LifecycleError> {
    traces_of_kind(app, id, only, ORPHAN_WEBHOOK, cursor, limit).await
}

/// A page of workspace `id`'s traces of `kind`, newest first.
async fn traces_of_kind(
    app: &App,
    id: &str,
    only: Option<&str>,
    kind: &str,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<BridgeMissPage, LifecycleError> {
    let limit = pages::limit(limit)?;
    let before = cursor.map(time_cursor).transpose()?;
    let mut c = app.db.acquire().await?;
    visible_workspace(&mut c, id, only).await?;
    let rows = traces::page_of_kind(&mut c, id, kind, before, limit).await?;
    let next_cursor = pages::next(&rows, limit, |t| format!("{}.{}", t.created_at, t.id));
    Ok(BridgeMissPage {
        items: rows.into_iter().map(TraceView::from).collect(),
        next_cursor,
    })
}
