//! The simulator's world: accounts, people, relations, invites, chats, the
//! schedule of what happens next (accepts, replies, webhook deliveries),
//! fault knobs and the call log. Plain synchronous data behind one mutex;
//! time is whatever the caller passes as `now`.
//!
//! [`SimWorld`] holds every concern's state; each file holds the records
//! and the methods of one concern, so a change to how webhooks retry, how
//! an answer is shaped or how a person is scripted touches one file:
//!
//! - `model`: the records (accounts, people, relations, invites, chats)
//!   and their look-ups;
//! - `people`: scripting people and accounts, the schedule of accepts and
//!   replies;
//! - `events`: what happens in the world and the webhook each emits;
//! - `webhooks`: fates, the outbox, deliveries and retries;
//! - `faults`: injected failures and forced errors;
//! - `calls`: the endpoints' checks and answers, the call log;
//! - `wire`: Unipile's error body, time stamps and pagination;
//! - `ids`: minted ids and names.

mod calls;
mod events;
mod faults;
mod ids;
mod model;
mod people;
mod webhooks;
mod wire;

pub use calls::CallRecord;
pub use faults::SimAction;
pub use ids::encode_member_id;
pub use model::{AccountState, SimAccount, SimInvite, SimMessage, SimPerson};
pub use people::PersonSpec;
pub use webhooks::{
    DeliveryAttempt, DueDelivery, WEBHOOK_RETRY_DELAYS_MS, WebhookFate, WebhookKind,
};
pub use wire::{CreatedAtUnit, SimFailure, iso_ms, known_kind_for_status};

use crate::clock::Millis;
use faults::{Fault, Forced};
use model::{Account, Chat, Invite, RelationRec};
use people::{Person, Scheduled};
use std::collections::HashMap;
use webhooks::Delivery;

/// The whole simulated world.
#[derive(Debug)]
pub struct SimWorld {
    accounts: Vec<Account>,
    people: Vec<Person>,
    index: HashMap<String, usize>,
    relations: HashMap<String, Vec<RelationRec>>,
    invites: Vec<Invite>,
    chats: Vec<Chat>,
    scheduled: Vec<Scheduled>,
    outbox: Vec<Delivery>,
    attempts: Vec<DeliveryAttempt>,
    faults: Vec<Fault>,
    forced: Vec<Forced>,
    calls: Vec<CallRecord>,
    fates: HashMap<WebhookKind, WebhookFate>,
    created_at_unit: CreatedAtUnit,
    webhook_name: String,
    seq: u64,
}

/// What a tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimTickReport {
    /// Invites accepted.
    pub accepted: usize,
    /// Replies received.
    pub replies: usize,
    /// Webhook deliveries answered 200.
    pub delivered: usize,
    /// Webhook attempts that failed (retried or given up).
    pub failed: usize,
}

impl SimWorld {
    /// An empty world; webhooks carry `webhook_name`.
    pub fn new(webhook_name: &str) -> Self {
        let fates = HashMap::from([
            (
                WebhookKind::NewRelation,
                WebhookFate::Deliver { delay_ms: 3_000 },
            ),
            (
                WebhookKind::MessageReceived,
                WebhookFate::Deliver { delay_ms: 1_000 },
            ),
            (
                WebhookKind::AccountStatus,
                WebhookFate::Deliver { delay_ms: 0 },
            ),
        ]);
        SimWorld {
            accounts: Vec::new(),
            people: Vec::new(),
            index: HashMap::new(),
            relations: HashMap::new(),
            invites: Vec::new(),
            chats: Vec::new(),
            scheduled: Vec::new(),
            outbox: Vec::new(),
            attempts: Vec::new(),
            faults: Vec::new(),
            forced: Vec::new(),
            calls: Vec::new(),
            fates,
            created_at_unit: CreatedAtUnit::Millis,
            webhook_name: webhook_name.to_string(),
            seq: 0,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// When the next scheduled thing is due (accept, reply or delivery).
    pub fn next_due(&self) -> Option<Millis> {
        self.scheduled
            .iter()
            .map(|s| s.due)
            .chain(self.outbox.iter().map(|d| d.due))
            .min()
    }

    /// Performs the accepts and replies due at `now`, then hands out the
    /// webhook deliveries due (events of a disconnected or restricted
    /// account wait for its reconnection, except its status changes).
    pub fn run_due(&mut self, now: Millis, report: &mut SimTickReport) -> Vec<DueDelivery> {
        self.run_scheduled(now, report);
        self.due_deliveries(now)
    }
}
