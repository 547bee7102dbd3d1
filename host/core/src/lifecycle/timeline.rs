//! A prospect's timeline: everything that happened to it in every
//! campaign, as one list sorted by time: the accept signals that named it
//! (inbox rows), its stamps, audit events, traces, send jobs (scheduled
//! run time, wait reason), pre-flight skips, policy decisions and the
//! notifications its accept produced with their deliveries.

use super::LifecycleError;
use super::lists::json;
use crate::app::App;
use crate::store::decisions;
use crate::store::enrollments::{self, EnrollmentRow};
use crate::store::prospects::{self, Prospect};
use crate::store::{Connection, accounts, deliveries, events, inbox, jobs, outbox, skips, traces};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Most policy decisions read per enrollment (newest kept): a prospect's
/// page stays small even when a hostile policy was called in a loop.
pub const MAX_DECISIONS: i64 = 200;

/// One thing that happened.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineItem {
    /// When, ms.
    pub at: i64,
    /// `accept_signal`, `stamp`, `event`, `trace`, `job`, `skip`,
    /// `decision`, `notification` or `delivery`.
    pub kind: String,
    /// A line for people.
    pub title: String,
    /// The enrollment it concerns, if one.
    pub enrollment_id: Option<String>,
    /// The campaign it concerns, if one.
    pub campaign_id: Option<String>,
    /// The record itself.
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// A prospect's timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProspectTimeline {
    /// The prospect.
    pub prospect: Prospect,
    /// Its enrollments, oldest first.
    pub enrollments: Vec<EnrollmentRow>,
    /// Everything, oldest first (ties in a fixed order of kinds).
    pub items: Vec<TimelineItem>,
}

/// The timeline of prospect `id` (`not_found`, also when `only` names
/// another workspace).
pub async fn timeline(
    app: &App,
    id: &str,
    only: Option<&str>,
) -> Result<ProspectTimeline, LifecycleError> {
    let mut c = app.db.acquire().await?;
    let prospect = prospects::get(&mut c, id)
        .await?
        .filter(|p| only.is_none_or(|o| o == p.workspace_id))
        .ok_or_else(|| LifecycleError::not_found("prospect", id))?;
    let enrollments = enrollments::of_prospect(&mut c, id).await?;
    let mut items = vec![TimelineItem {
        at: prospect.created_at,
        kind: "event".into(),
        title: "Prospect imported".into(),
        enrollment_id: None,
        campaign_id: None,
        detail: json!(prospect),
    }];
    for e in &enrollments {
        of_enrollment(&mut c, e, &mut items).await?;
    }
    items.sort_by_key(|i| (i.at, rank(&i.kind)));
    Ok(ProspectTimeline {
        prospect,
        enrollments,
        items,
    })
}

/// The order of kinds at one instant: cause before effect.
fn rank(kind: &str) -> u8 {
    match kind {
        "accept_signal" => 0,
        "decision" => 1,
        "trace" => 2,
        "stamp" => 3,
        "event" => 4,
        "skip" => 5,
        "job" => 6,
        "notification" => 7,
        _ => 8,
    }
}

/// Adds enrollment `e`'s items.
async fn of_enrollment(
    c: &mut Connection,
    e: &EnrollmentRow,
    items: &mut Vec<TimelineItem>,
) -> Result<(), LifecycleError> {
    let mut push = |at: i64, kind: &str, title: String, detail: Value| {
        items.push(TimelineItem {
            at,
            kind: kind.into(),
            title,
            enrollment_id: Some(e.id.clone()),
            campaign_id: Some(e.campaign_id.clone()),
            detail,
        })
    };
    for (at, title) in stamps(e) {
        push(at, "stamp", title, json!({"enrollment": e}));
    }
    for ev in events::of_enrollment(c, &e.id).await? {
        let title = match &ev.source {
            Some(source) => format!("{} ({source})", ev.kind),
            None => ev.kind.clone(),
        };
        let at = ev.occurred_at;
        let detail = json!({
            "id": ev.id, "kind": ev.kind, "source": ev.source, "strategy": ev.strategy,
            "detail": json(&ev.detail),
        });
        push(at, "event", title, detail);
    }
    for t in traces::of_enrollment(c, &e.id).await? {
        let view = super::lists::TraceView::from(t);
        push(view.created_at, "trace", view.kind.clone(), json!(view));
    }
    for j in jobs::of_enrollment(c, &e.id).await? {
        let verb = if j.action == "send_invite" {
            "Invite"
        } else {
            "Message"
        };
        let title = match (j.status.as_str(), &j.wait_reason) {
            ("pending", Some(why)) => {
                format!("{verb} of step {} scheduled, waiting: {why}", j.step_index)
            }
            ("pending", None) => format!("{verb} of step {} scheduled", j.step_index),
            (status, _) => format!("{verb} of step {}: {status}", j.step_index),
        };
        push(j.created_at, "job", title, json!(j));
    }
    for s in skips::of_enrollment(c, &e.id).await? {
        let title = format!(
            "Step {} skipped: {}{}",
            s.step_index,
            s.reason,
            if s.recoverable == 1 {
                " (recoverable)"
            } else {
                ""
            }
        );
        push(s.created_at, "skip", title, json!(s));
    }
    let logged = decisions::of_enrollment(c, &e.id, MAX_DECISIONS).await?;
    let mut inbox_ids = BTreeSet::new();
    for d in logged {
        if let Some(inbox_id) = &d.inbox_id {
            inbox_ids.insert(inbox_id.clone());
        }
        let title = match &d.error_kind {
            Some(error) => format!("{} decided {} (fail-safe: {error})", d.slot, d.summary),
            None => format!("{} decided {}", d.slot, d.summary),
        };
        let detail = json!({
            "id": d.id, "slot": d.slot, "call": d.call, "mode": d.mode,
            "module_sha256": d.module_sha256, "summary": d.summary, "error_kind": d.error_kind,
            "input": json(&d.input), "output": json(&d.output), "inbox_id": d.inbox_id,
            "job_id": d.job_id,
        });
        push(d.decided_at, "decision", title, detail);
    }
    for inbox_id in inbox_ids {
        if let Some(row) = inbox::get(c, &inbox_id).await? {
            let title = format!("{} webhook received ({})", row.event, row.status);
            let detail = json!({
                "id": row.id, "event": row.event, "natural_key": row.natural_key,
                "status": row.status, "outcome": row.outcome.as_deref().map(json),
                "error": row.error, "processed_at": row.processed_at, "body": json(&row.body),
            });
            push(row.received_at, "accept_signal", title, detail);
        }
    }
    if let Some(account) = accounts::account(c, &e.linkedin_account_id).await? {
        let key = outbox::accept_key(&account.provider_account_id, &e.id);
        for row in outbox::by_dedupe_key(c, &key).await? {
            let sent = deliveries::of_outbox(c, &row.id).await?;
            for d in &sent {
                let at = d
                    .delivered_at
                    .unwrap_or(d.next_attempt_at.max(d.created_at));
                let title = format!("Notification to endpoint {}: {}", d.endpoint_id, d.status);
                push(at, "delivery", title, json!(d));
            }
            let title = format!("Notification {} queued", row.event_type);
            let detail = json!({
                "id": row.id, "event_type": row.event_type, "dedupe_key": row.dedupe_key,
                "payload": json(&row.payload), "deliveries": sent.len(),
            });
            push(row.created_at, "notification", title, detail);
        }
    }
    Ok(())
}

/// The enrollment's stamps, as (time, title).
fn stamps(e: &EnrollmentRow) -> Vec<(i64, String)> {
    let mut out = vec![(e.created_at, "Enrolled".to_string())];
    if let Some(at) = e.invited_at {
        out.push((at, "Invite sent".into()));
    }
    if let Some(at) = e.linkedin_accepted_at {
        let how = [e.accept_source.as_deref(), e.accept_strategy.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        out.push((at, format!("Accepted ({how})")));
    }
    if let Some(at) = e.late_accept_observed_at {
        out.push((at, "Late accept observed".into()));
    }
    if let Some(at) = e.followup_sent_at {
        out.push((at, "First follow-up sent".into()));
    }
    if let Some(at) = e.late_accept_followup_sent_at {
        out.push((at, "Late follow-up sent".into()));
    }
    if let Some(at) = e.linkedin_replied_at {
        out.push((at, "Replied".into()));
    }
    out
}
