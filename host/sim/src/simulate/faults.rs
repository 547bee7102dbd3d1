//! The faults, drawn from the seed: provider faults on a timeline (429
//! and 5xx bursts, timeouts before and after acting, 422s of every
//! documented kind, message webhooks dropped, late or twice for a while),
//! each person's `new_relation` webhook fate, and host crashes (a
//! provider wrapper that stops the host at a chosen call).

use super::world::Rng;
use crate::clock::{DAY_MS, HOUR_MS, MINUTE_MS, Millis};
use crate::provider::{
    BoxFuture, ChatMessage, InviteSent, LinkedinProvider, MessageSent, Profile, ProviderAccount,
    ProviderResult, RelationsPage, SentInvitesPage,
};
use crate::simulator::WebhookFate;
use std::sync::{Arc, Mutex};

/// The invite route.
pub const INVITE: &str = "POST /api/v1/users/invite";
/// The new-chat route (first messages).
pub const CHAT: &str = "POST /api/v1/chats";
/// The message-in-chat route.
pub const CHAT_MESSAGE: &str = "POST /api/v1/chats/{chat_id}/messages";

/// Which faults run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Everything in this module.
    Default,
    /// None (outages and pauses of the world still happen).
    None,
}

/// Where a crash strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// During a send, after LinkedIn acted: the outcome is never recorded.
    MidSend,
    /// A job claimed, the host dies before its call leaves.
    MidBatch,
    /// During a relations poll of the ticks.
    MidTick,
}

impl CrashPoint {
    /// Its name in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            CrashPoint::MidSend => "crash_mid_send",
            CrashPoint::MidBatch => "crash_mid_batch",
            CrashPoint::MidTick => "crash_mid_tick",
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The next `n` calls answer 429.
    Throttle(u32),
    /// The next `n` calls answer this 5xx.
    ServerErrors(u16, u32),
    /// The next call on this route times out; after acting or not.
    Timeout(&'static str, bool),
    /// The next call on this route answers this 422 type.
    Refuse(&'static str, &'static str),
    /// Message webhooks take this fate for a while, then the default.
    MessageWebhooks(WebhookFate, Millis),
    /// The host crashes.
    Crash(CrashPoint),
}

impl Fault {
    /// Its name in the report.
    pub fn label(&self) -> String {
        match self {
            Fault::Throttle(_) => "burst_429".into(),
            Fault::ServerErrors(s, _) => format!("burst_{s}"),
            Fault::Timeout(_, true) => "timeout_after_acting".into(),
            Fault::Timeout(_, false) => "timeout_before_acting".into(),
            Fault::Refuse(kind, _) => format!("422_{kind}"),
            Fault::MessageWebhooks(WebhookFate::Drop, _) => "message_webhooks_dropped".into(),
            Fault::MessageWebhooks(WebhookFate::Duplicate { .. }, _) => {
                "message_webhooks_duplicated".into()
            }
            Fault::MessageWebhooks(WebhookFate::Deliver { .. }, _) => {
                "message_webhooks_delayed".into()
            }
            Fault::Crash(p) => p.as_str().into(),
        }
    }
}

/// The 422 types injected: every documented one but `already_connected`
/// and `no_connection_with_recipient`, which would be lies about the
/// relation (the world's relations decide those two).
pub fn refusals() -> Vec<&'static str> {
    crate::provider::KNOWN_ERRORS
        .iter()
        .filter(|e| e.status == 422)
        .map(|e| e.kind)
        .filter(|k| !matches!(*k, "already_connected" | "no_connection_with_recipient"))
        .collect()
}

/// The timeline of faults, sorted by time.
pub fn plan(rng: &mut Rng, start: Millis, end: Millis, mode: FaultMode) -> Vec<(Millis, Fault)> {
    let mut out = Vec::new();
    if mode == FaultMode::None {
        return out;
    }
    let days = ((end - start) / DAY_MS).max(1);
    // Faults stop a day before the end so that the run can drain.
    let last = (end - DAY_MS).max(start + HOUR_MS);
    let at = |rng: &mut Rng| start + rng.range(0, last - start);
    let sends = [INVITE, CHAT, CHAT_MESSAGE];
    for _ in 0..3 * days {
        let t = at(rng);
        out.push((t, Fault::Throttle(rng.range(2, 8) as u32)));
        let t = at(rng);
        let status = *rng.pick(&[500u16, 502, 503, 504]);
        out.push((t, Fault::ServerErrors(status, rng.range(2, 8) as u32)));
    }
    for _ in 0..4 * days {
        let t = at(rng);
        out.push((
            t,
            Fault::Timeout(sends[rng.below(sends.len() as u64) as usize], true),
        ));
        let t = at(rng);
        out.push((
            t,
            Fault::Timeout(sends[rng.below(sends.len() as u64) as usize], false),
        ));
    }
    let kinds = refusals();
    let n = kinds.len().max(2 * days as usize);
    for i in 0..n {
        let t = at(rng);
        out.push((
            t,
            Fault::Refuse(
                kinds[i % kinds.len()],
                sends[rng.below(sends.len() as u64) as usize],
            ),
        ));
    }
    for _ in 0..(days + 1) / 2 {
        let t = at(rng);
        let fate = match rng.below(3) {
            0 => WebhookFate::Drop,
            1 => WebhookFate::Deliver {
                delay_ms: rng.range(MINUTE_MS, 8 * HOUR_MS),
            },
            _ => WebhookFate::Duplicate {
                delay_ms: rng.range(1_000, HOUR_MS),
                gap_ms: rng.range(MINUTE_MS, 3 * HOUR_MS),
            },
        };
        out.push((
            t,
            Fault::MessageWebhooks(fate, rng.range(HOUR_MS, 4 * HOUR_MS)),
        ));
    }
    let points = [
        CrashPoint::MidSend,
        CrashPoint::MidBatch,
        CrashPoint::MidTick,
    ];
    for i in 0..(days as usize).max(3) {
        let t = at(rng);
        out.push((t, Fault::Crash(points[i % points.len()])));
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// A person's `new_relation` webhook under faults: mostly on time, else
/// late (up to 8 h), lost, or twice.
pub fn relation_fate(rng: &mut Rng, mode: FaultMode) -> Option<WebhookFate> {
    if mode == FaultMode::None {
        return None;
    }
    match rng.below(100) {
        0..=69 => None,
        70..=81 => Some(WebhookFate::Deliver {
            delay_ms: rng.range(10 * MINUTE_MS, 8 * HOUR_MS),
        }),
        82..=89 => Some(WebhookFate::Drop),
        _ => Some(WebhookFate::Duplicate {
            delay_ms: rng.range(1_000, HOUR_MS),
            gap_ms: rng.range(MINUTE_MS, 3 * HOUR_MS),
        }),
    }
}

/// A crash armed on the provider: the `calls`-th matching call stops the
/// host (sends: after LinkedIn acted, or before the call leaves; polls:
/// before).
#[derive(Debug, Default)]
pub struct CrashSwitch {
    armed: Mutex<Option<(CrashPoint, u32)>>,
    fired: tokio::sync::Notify,
}

impl CrashSwitch {
    /// Arms a crash at the next matching call.
    pub fn arm(&self, point: CrashPoint) {
        *self.armed.lock().unwrap_or_else(|p| p.into_inner()) = Some((point, 1));
    }

    /// Whether a crash is armed and has not struck yet.
    pub fn is_armed(&self) -> bool {
        self.armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Resolves when the crash strikes.
    pub async fn fired(&self) {
        self.fired.notified().await;
    }

    /// Whether this call is the one: `send` for sends, else a poll.
    fn strikes(&self, send: bool) -> Option<CrashPoint> {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        let (point, left) = armed.as_mut()?;
        let matches = match point {
            CrashPoint::MidSend | CrashPoint::MidBatch => send,
            CrashPoint::MidTick => !send,
        };
        if !matches {
            return None;
        }
        *left -= 1;
        if *left > 0 {
            return None;
        }
        let point = *point;
        *armed = None;
        Some(point)
    }

    /// The host dies here: the driver drops everything in flight.
    async fn die(&self) -> ! {
        self.fired.notify_one();
        std::future::pending::<()>().await;
        unreachable!("a pending future never resolves")
    }
}

/// The provider as one host instance sees it: the real client, with the
/// instance's crash switch in front.
pub struct Crashable {
    inner: Arc<dyn LinkedinProvider>,
    switch: Arc<CrashSwitch>,
}

impl Crashable {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn LinkedinProvider>, switch: Arc<CrashSwitch>) -> Self {
        Crashable { inner, switch }
    }
}

impl LinkedinProvider for Crashable {
    fn list_relations<'a>(
        &'a self,
        account_id: &'a str,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, ProviderResult<RelationsPage>> {
        Box::pin(async move {
            if self.switch.strikes(false).is_some() {
                self.switch.die().await;
            }
            self.inner.list_relations(account_id, cursor, limit).await
        })
    }

    fn get_profile<'a>(
        &'a self,
        account_id: &'a str,
        identifier: &'a str,
        sales_navigator: bool,
    ) -> BoxFuture<'a, ProviderResult<Profile>> {
        self.inner
            .get_profile(account_id, identifier, sales_navigator)
    }

    fn send_invite<'a>(
        &'a self,
        account_id: &'a str,
        provider_id: &'a str,
        message: Option<&'a str>,
    ) -> BoxFuture<'a, ProviderResult<InviteSent>> {
        Box::pin(async move {
            match self.switch.strikes(true) {
                Some(CrashPoint::MidSend) => {
                    let _lost = self
                        .inner
                        .send_invite(account_id, provider_id, message)
                        .await;
                    self.switch.die().await
                }
                Some(_) => self.switch.die().await,
                None => {
                    self.inner
                        .send_invite(account_id, provider_id, message)
                        .await
                }
            }
        })
    }

    fn send_message<'a>(
        &'a self,
        account_id: &'a str,
        attendee_provider_id: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, ProviderResult<MessageSent>> {
        Box::pin(async move {
            match self.switch.strikes(true) {
                Some(CrashPoint::MidSend) => {
                    let _lost = self
                        .inner
                        .send_message(account_id, attendee_provider_id, text)
                        .await;
                    self.switch.die().await
                }
                Some(_) => self.switch.die().await,
                None => {
                    self.inner
                        .send_message(account_id, attendee_provider_id, text)
                        .await
                }
            }
        })
    }

    fn list_sent_invites<'a>(
        &'a self,
        account_id: &'a str,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, ProviderResult<SentInvitesPage>> {
        self.inner.list_sent_invites(account_id, cursor)
    }

    fn list_attendee_messages<'a>(
        &'a self,
        account_id: &'a str,
        attendee_provider_id: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Vec<ChatMessage>>> {
        self.inner
            .list_attendee_messages(account_id, attendee_provider_id)
    }

    fn list_accounts<'a>(&'a self) -> BoxFuture<'a, ProviderResult<Vec<ProviderAccount>>> {
        self.inner.list_accounts()
    }
}
