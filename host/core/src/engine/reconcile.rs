//! Sends whose outcome is unknown. A timeout or a 504 after the request
//! left, or a worker that died mid-send, may have reached LinkedIn: sending
//! again blindly can message a prospect twice. Such a job is reconciled
//! first with the provider's own record (one read, claimed inside the
//! account's spacing like any action); it is sent again only when that
//! record shows nothing, and held for an operator when it cannot be read.

use super::claim::Claimed;
use super::context::{Context, breaker_failure, event, stale};
use super::{Engine, EngineError};
use crate::clock::{MINUTE_MS, Millis};
use crate::provider::{ChatMessage, ProviderError, SentInvitesPage};
use crate::store::jobs;

/// How far the provider's timestamps may lag our clock and still count as
/// the attempt in doubt.
const CLOCK_SKEW_MS: Millis = 5 * MINUTE_MS;

/// What reconciliation concluded before a send.
pub(super) enum Reconciled {
    /// Nothing is in doubt: send.
    NoDoubt,
    /// The provider has it (the chat or invitation id, when known): record
    /// the success without a call.
    Sent(Option<String>),
    /// The job was put back (not sent: it sends at its next claim) or held;
    /// nothing more to do in this claim.
    Settled,
}

/// What the provider's record says of the attempt.
enum Record {
    Found(Option<String>),
    Absent,
    /// The record was read but cannot rule the attempt out.
    Unsure(String),
}

impl Engine {
    /// Reads the provider's record if the job's last attempt is in doubt.
    /// `text` is the message's text, or `None` for an invite.
    pub(super) async fn reconcile(
        &self,
        claimed: &Claimed,
        ctx: &Context,
        target: &str,
        text: Option<&str>,
    ) -> Result<Reconciled, EngineError> {
        let job = &claimed.job;
        if self.config.sabotage.is_off(crate::sabotage::Gate::Dedupe) {
            return Ok(Reconciled::NoDoubt);
        }
        match job.operator_verdict.as_deref() {
            Some("sent") => return Ok(Reconciled::Sent(None)),
            // An operator checked LinkedIn: send.
            Some(_) => return Ok(Reconciled::NoDoubt),
            None => {}
        }
        let Some(since) = job.outcome_unknown_at else {
            return Ok(Reconciled::NoDoubt);
        };
        let account = ctx.account.provider_account_id.as_str();
        let record = match text {
            Some(text) => self
                .provider
                .list_attendee_messages(account, target)
                .await
                .map(|messages| find_message(&messages, text, since)),
            None => self
                .provider
                .list_sent_invites(account, None)
                .await
                .map(|page| find_invite(&page, target, since)),
        };
        // A hold's reason, or none when the record shows nothing was sent.
        let held = match record {
            Ok(Record::Found(id)) => {
                metrics::counter!("accord_sends_reconciled_total", "found" => "true").increment(1);
                return Ok(Reconciled::Sent(id));
            }
            Ok(Record::Absent) => None,
            Ok(Record::Unsure(why)) => Some(why),
            Err(e) => Some(format!("the provider's record could not be read: {e}")),
        };
        // Only the outcomes that write take a transaction (on SQLite, the
        // write lock).
        let now = self.clock.now_ms();
        let mut tx = self.db.begin().await?;
        let settled = match held {
            Some(why) => self.hold(&mut tx, claimed, ctx, &why, now).await?,
            None => {
                if !jobs::mark_not_sent(&mut tx, &job.id, claimed.fence, now).await? {
                    return stale(claimed).map(|()| Reconciled::Settled);
                }
                metrics::counter!("accord_sends_reconciled_total", "found" => "false").increment(1);
                event(
                    &mut tx,
                    ctx,
                    "send_reconciled",
                    serde_json::json!({"job_id": job.id, "found": false, "attempt_at": since}),
                    now,
                )
                .await?;
                Reconciled::Settled
            }
        };
        tx.commit().await?;
        Ok(settled)
    }

    /// Holds the job for an operator (`POST /admin/jobs/{id}/verdict`).
    async fn hold(
        &self,
        tx: &mut crate::store::Tx,
        claimed: &Claimed,
        ctx: &Context,
        why: &str,
        now: Millis,
    ) -> Result<Reconciled, EngineError> {
        if !jobs::hold(tx, &claimed.job.id, claimed.fence, why, now).await? {
            return stale(claimed).map(|()| Reconciled::Settled);
        }
        tracing::warn!(job = %claimed.job.id, reason = why, "send held for an operator: its outcome is unknown");
        metrics::counter!("accord_sends_held_total").increment(1);
        event(
            tx,
            ctx,
            "send_held",
            serde_json::json!({"job_id": claimed.job.id, "reason": why, "attempt_at": claimed.job.outcome_unknown_at}),
            now,
        )
        .await?;
        Ok(Reconciled::Settled)
    }

    /// A send whose answer was lost: back to the queue, marked for
    /// reconciliation, never retried blindly.
    pub(super) async fn outcome_unknown(
        &self,
        claimed: &Claimed,
        ctx: &Context,
        target: &str,
        attempt_at: Millis,
        e: ProviderError,
    ) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin().await?;
        let error = e.to_string();
        if !jobs::mark_outcome_unknown(
            &mut tx,
            &claimed.job.id,
            claimed.fence,
            attempt_at,
            &error,
            now,
        )
        .await?
        {
            return stale(claimed);
        }
        breaker_failure(
            &mut tx,
            &ctx.account.id,
            self.config.breaker_threshold,
            now + self.config.breaker_cooldown_ms,
        )
        .await?;
        event(
            &mut tx,
            ctx,
            "send_outcome_unknown",
            serde_json::json!({"job_id": claimed.job.id, "action": claimed.job.action, "target": target, "status": e.status, "type": e.kind}),
            now,
        )
        .await?;
        tx.commit().await?;
        metrics::counter!("accord_provider_errors_total", "class" => "outcome_unknown", "action" => claimed.job.action.clone()).increment(1);
        Ok(())
    }
}

/// Our message with this text, sent at or after the attempt in doubt.
fn find_message(messages: &[ChatMessage], text: &str, since: Millis) -> Record {
    let ours = messages.iter().find(|m| {
        m.is_sender
            && m.text.as_deref().map(str::trim) == Some(text.trim())
            && m.at_ms.is_none_or(|at| at >= since - CLOCK_SKEW_MS)
    });
    match ours {
        Some(m) => Record::Found(Some(m.chat_id.clone())),
        None => Record::Absent,
    }
}

/// A pending invitation to `target` sent at or after the attempt in doubt.
/// Its absence is conclusive only if the page reaches back past the
/// attempt (or is the last page).
fn find_invite(page: &SentInvitesPage, target: &str, since: Millis) -> Record {
    let from = since - CLOCK_SKEW_MS;
    let ours = page.items.iter().find(|i| {
        i.invited_user_id.as_deref() == Some(target) && i.sent_at_ms.is_none_or(|at| at >= from)
    });
    if let Some(invite) = ours {
        return Record::Found(Some(invite.id.clone()));
    }
    let reaches_back = page
        .items
        .iter()
        .any(|i| i.sent_at_ms.is_some_and(|at| at < from));
    if page.cursor.is_none() || reaches_back {
        Record::Absent
    } else {
        Record::Unsure(
            "the first page of sent invitations does not reach back to the attempt".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::SentInvite;

    fn message(text: &str, is_sender: bool, at_ms: Millis) -> ChatMessage {
        ChatMessage {
            id: "m".into(),
            chat_id: "c".into(),
            is_sender,
            text: Some(text.into()),
            at_ms: Some(at_ms),
        }
    }

    #[test]
    fn a_message_counts_only_if_ours_with_the_text_and_recent() {
        let since = 1_000_000_000;
        let found = |m: &[ChatMessage]| matches!(find_message(m, "Hi", since), Record::Found(_));
        assert!(found(&[message("Hi", true, since)]));
        assert!(!found(&[message("Hi", false, since)]));
        assert!(!found(&[message("Hello", true, since)]));
        assert!(!found(&[message("Hi", true, since - CLOCK_SKEW_MS - 1)]));
    }

    #[test]
    fn an_invites_absence_is_conclusive_only_when_the_page_reaches_back() {
        let since = 1_000_000_000;
        let invite = |to: &str, at| SentInvite {
            id: format!("inv-{to}"),
            invited_user_id: Some(to.into()),
            invited_user_public_id: None,
            invitation_text: None,
            sent_at_ms: Some(at),
        };
        let page = |items, cursor: Option<&str>| SentInvitesPage {
            items,
            cursor: cursor.map(str::to_string),
        };
        let newer = page(vec![invite("other", since + 5)], Some("next"));
        assert!(matches!(
            find_invite(&newer, "ACo1", since),
            Record::Unsure(_)
        ));
        let last = page(vec![invite("other", since + 5)], None);
        assert!(matches!(find_invite(&last, "ACo1", since), Record::Absent));
        let older = page(vec![invite("other", since - CLOCK_SKEW_MS - 10)], Some("n"));
        assert!(matches!(find_invite(&older, "ACo1", since), Record::Absent));
        let ours = page(vec![invite("ACo1", since + 1)], Some("n"));
        assert!(matches!(
            find_invite(&ours, "ACo1", since),
            Record::Found(_)
        ));
    }
}
