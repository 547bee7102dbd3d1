//! Webhook delivery: each event's fate (on time, late, dropped, twice),
//! the outbox, the deliveries due, and retries after a failed attempt.
//! The events themselves are made in `events`; this is only the mail room.

use super::model::AccountState;
use super::{SimTickReport, SimWorld};
use crate::clock::Millis;
use serde_json::Value;

/// What happens to one webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFate {
    /// Delivered once, `delay_ms` after the event.
    Deliver {
        /// Delay of simulated time.
        delay_ms: Millis,
    },
    /// Never delivered.
    Drop,
    /// Delivered twice: after `delay_ms`, and again `gap_ms` later.
    Duplicate {
        /// Delay of the first delivery.
        delay_ms: Millis,
        /// Gap between the two.
        gap_ms: Millis,
    },
}

/// The webhook sources the simulator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookKind {
    /// `new_relation` (source `users`).
    NewRelation,
    /// `message_received` (source `messaging`), inbound replies and echoes.
    MessageReceived,
    /// `{"AccountStatus": …}`.
    AccountStatus,
}

impl WebhookKind {
    /// The event name.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::NewRelation => "new_relation",
            WebhookKind::MessageReceived => "message_received",
            WebhookKind::AccountStatus => "AccountStatus",
        }
    }
}

/// Retry delays after a failed webhook delivery (5 retries, growing).
pub const WEBHOOK_RETRY_DELAYS_MS: [Millis; 5] = [30_000, 60_000, 120_000, 300_000, 600_000];

/// One webhook delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    /// The delivery (one event; a duplicate is another delivery).
    pub delivery_id: u64,
    /// The webhook source.
    pub kind: WebhookKind,
    /// The account the event concerns.
    pub account_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Simulated time of the attempt.
    pub at_ms: Millis,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// The transport error, if it did not.
    pub error: Option<String>,
    /// The body sent.
    pub body: Value,
}

/// An event waiting in the outbox.
#[derive(Debug, Clone)]
pub(super) struct Delivery {
    pub(super) id: u64,
    pub(super) kind: WebhookKind,
    pub(super) account_id: String,
    pub(super) body: Value,
    pub(super) due: Millis,
    pub(super) attempts: u32,
}

/// A webhook due for an attempt, handed to the sender.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// Delivery id.
    pub id: u64,
    /// Source.
    pub kind: WebhookKind,
    /// The account.
    pub account_id: String,
    /// Body.
    pub body: Value,
    /// The attempt this is (1-based).
    pub attempt: u32,
}

impl SimWorld {
    /// The default fate of a webhook source.
    pub fn set_fate(&mut self, kind: WebhookKind, fate: WebhookFate) {
        self.fates.insert(kind, fate);
    }

    /// Every webhook delivery attempt so far.
    pub fn attempts(&self) -> &[DeliveryAttempt] {
        &self.attempts
    }

    /// Webhook deliveries not yet acknowledged nor given up.
    pub fn pending_deliveries(&self) -> usize {
        self.outbox.len()
    }

    /// Queues an event for delivery as its fate says: `fate` when given (a
    /// person's own), else the source's default.
    pub(super) fn emit(
        &mut self,
        kind: WebhookKind,
        account: &str,
        body: Value,
        fate: Option<WebhookFate>,
        now: Millis,
    ) {
        let fate = fate
            .or_else(|| self.fates.get(&kind).copied())
            .unwrap_or(WebhookFate::Deliver { delay_ms: 0 });
        let dues = match fate {
            WebhookFate::Drop => vec![],
            WebhookFate::Deliver { delay_ms } => vec![now + delay_ms.max(0)],
            WebhookFate::Duplicate { delay_ms, gap_ms } => {
                vec![now + delay_ms.max(0), now + delay_ms.max(0) + gap_ms.max(0)]
            }
        };
        for due in dues {
            let id = self.next_seq();
            self.outbox.push(Delivery {
                id,
                kind,
                account_id: account.to_string(),
                body: body.clone(),
                due,
                attempts: 0,
            });
        }
    }

    /// The webhook deliveries due at `now` (events of a disconnected or
    /// restricted account wait for its reconnection, except its status
    /// changes), in due order.
    pub(super) fn due_deliveries(&self, now: Millis) -> Vec<DueDelivery> {
        let mut out: Vec<DueDelivery> = self
            .outbox
            .iter()
            .filter(|d| d.due <= now)
            .filter(|d| {
                d.kind == WebhookKind::AccountStatus
                    || self.account(&d.account_id).map(|a| a.state) == Some(AccountState::Ok)
            })
            .map(|d| DueDelivery {
                id: d.id,
                kind: d.kind,
                account_id: d.account_id.clone(),
                body: d.body.clone(),
                attempt: d.attempts + 1,
            })
            .collect();
        out.sort_by_key(|d| {
            let due = self
                .outbox
                .iter()
                .find(|o| o.id == d.id)
                .map_or(0, |o| o.due);
            (due, d.id)
        });
        out
    }

    /// Records the outcome of a delivery attempt; a failure is retried
    /// after a growing delay, at most 5 times.
    pub fn delivery_done(
        &mut self,
        delivery: &DueDelivery,
        status: Option<u16>,
        error: Option<String>,
        now: Millis,
        report: &mut SimTickReport,
    ) {
        self.attempts.push(DeliveryAttempt {
            delivery_id: delivery.id,
            kind: delivery.kind,
            account_id: delivery.account_id.clone(),
            attempt: delivery.attempt,
            at_ms: now,
            status,
            error,
            body: delivery.body.clone(),
        });
        let Some(pos) = self.outbox.iter().position(|d| d.id == delivery.id) else {
            return;
        };
        if status == Some(200) {
            report.delivered += 1;
            self.outbox.remove(pos);
            return;
        }
        report.failed += 1;
        let d = &mut self.outbox[pos];
        d.attempts = delivery.attempt;
        match WEBHOOK_RETRY_DELAYS_MS.get(d.attempts as usize - 1) {
            Some(delay) => d.due = now + delay,
            None => {
                self.outbox.remove(pos);
            }
        }
    }
}
