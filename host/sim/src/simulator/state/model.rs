//! The world's records: accounts, people, relations, invites and chats,
//! with the look-ups and plain edits every other concern builds on. Nothing
//! here schedules, emits a webhook or answers a call.

use super::SimWorld;
use crate::clock::Millis;

/// An account of the simulated Unipile workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAccount {
    /// The Unipile account id.
    pub id: String,
    /// The account owner's own member id (`ACo…`).
    pub own_member_id: String,
    /// The owner's vanity slug.
    pub public_identifier: String,
    /// The owner's name.
    pub name: String,
}

/// A LinkedIn member of the simulated world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPerson {
    /// The numeric member id both provider ids encode.
    pub number: u64,
    /// Classic provider id, `ACo…`.
    pub provider_id: String,
    /// Sales Navigator id, `ACw…` (same member number).
    pub sales_navigator_id: String,
    /// Vanity slug.
    pub public_identifier: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

impl SimPerson {
    /// `https://www.linkedin.com/in/<slug>/`.
    pub fn profile_url(&self) -> String {
        format!("https://www.linkedin.com/in/{}/", self.public_identifier)
    }

    /// A Sales Navigator lead URL for this person.
    pub fn sales_navigator_lead_url(&self) -> String {
        format!(
            "https://www.linkedin.com/sales/lead/{},NAME_SEARCH,{}",
            self.sales_navigator_id,
            &self.provider_id[self.provider_id.len() - 4..]
        )
    }

    /// First and last name.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// The connection state of a simulated account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// Running.
    Ok,
    /// Credentials lost: every call answers 401 `disconnected_account`.
    Disconnected,
    /// Restricted by LinkedIn: every call answers 403 `account_restricted`.
    Restricted,
}

/// An invite the simulator holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInvite {
    /// Invitation id.
    pub id: String,
    /// Sending account.
    pub account_id: String,
    /// Invitee's classic id.
    pub provider_id: String,
    /// The note.
    pub message: Option<String>,
    /// When sent.
    pub sent_at_ms: Millis,
    /// When accepted.
    pub accepted_at_ms: Option<Millis>,
}

/// A message in a simulated chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// Chat id.
    pub chat_id: String,
    /// Message id.
    pub message_id: String,
    /// Sent by the account (not the prospect).
    pub from_self: bool,
    /// Text.
    pub text: String,
    /// When.
    pub at_ms: Millis,
}

/// An account with what the simulator keeps beside its public face.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub(super) public: SimAccount,
    pub(super) own_number: u64,
    pub(super) state: AccountState,
    pub(super) weekly_invite_quota: u32,
    pub(super) created_at: Millis,
}

#[derive(Debug, Clone)]
pub(super) struct RelationRec {
    pub(super) person: usize,
    pub(super) created_at: Millis,
    pub(super) seq: u64,
}

#[derive(Debug, Clone)]
pub(super) struct Invite {
    pub(super) public: SimInvite,
    pub(super) person: usize,
    pub(super) seq: u64,
}

#[derive(Debug, Clone)]
pub(super) struct Chat {
    pub(super) id: String,
    pub(super) provider_chat_id: String,
    pub(super) account_id: String,
    pub(super) person: usize,
    pub(super) messages: Vec<SimMessage>,
}

impl SimWorld {
    /// A person by provider id (either kind) or slug.
    pub fn person(&self, identifier: &str) -> Option<SimPerson> {
        self.find_person(identifier)
            .map(|i| self.people[i].public.clone())
    }

    pub(super) fn find_person(&self, identifier: &str) -> Option<usize> {
        self.index
            .get(identifier)
            .or_else(|| self.index.get(&identifier.to_lowercase()))
            .copied()
    }

    /// The person changes their vanity slug; the old one still resolves
    /// (LinkedIn redirects it), payloads carry the new one.
    pub fn change_slug(&mut self, identifier: &str, new_slug: &str) -> bool {
        let Some(p) = self.find_person(identifier) else {
            return false;
        };
        self.index.insert(new_slug.to_lowercase(), p);
        self.people[p].public.public_identifier = new_slug.to_string();
        true
    }

    pub(super) fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.public.id == id)
    }

    pub(super) fn account_mut(&mut self, id: &str) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| a.public.id == id)
    }

    pub(super) fn is_relation(&self, account: &str, person: usize) -> bool {
        self.relations
            .get(account)
            .is_some_and(|r| r.iter().any(|r| r.person == person))
    }

    /// Sets an account's weekly invite quota (default 200).
    pub fn set_invite_quota(&mut self, account: &str, weekly: u32) -> bool {
        self.account_mut(account)
            .map(|a| a.weekly_invite_quota = weekly.max(1))
            .is_some()
    }

    /// Makes two people connected as of `created_at` (no webhook).
    pub fn connect(&mut self, account: &str, person: &str, created_at: Millis) -> bool {
        let (Some(_), Some(p)) = (self.account(account), self.find_person(person)) else {
            return false;
        };
        if self.is_relation(account, p) {
            return true;
        }
        let seq = self.next_seq();
        self.relations
            .entry(account.to_string())
            .or_default()
            .push(RelationRec {
                person: p,
                created_at,
                seq,
            });
        true
    }

    /// The accounts.
    pub fn accounts(&self) -> Vec<SimAccount> {
        self.accounts.iter().map(|a| a.public.clone()).collect()
    }

    /// An account's state.
    pub fn account_state(&self, account: &str) -> Option<AccountState> {
        self.account(account).map(|a| a.state)
    }

    /// An account's relations: (classic id, created_at ms), newest first.
    pub fn relations_of(&self, account: &str) -> Vec<(String, Millis)> {
        let mut rows: Vec<_> = self
            .relations
            .get(account)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        rows.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.seq)));
        rows.into_iter()
            .map(|r| {
                (
                    self.people[r.person].public.provider_id.clone(),
                    r.created_at,
                )
            })
            .collect()
    }

    /// Every invite the account sent, oldest first.
    pub fn invites_of(&self, account: &str) -> Vec<SimInvite> {
        self.invites
            .iter()
            .filter(|i| i.public.account_id == account)
            .map(|i| i.public.clone())
            .collect()
    }

    /// The messages between an account and a person, in order.
    pub fn messages_with(&self, account: &str, person: &str) -> Vec<SimMessage> {
        let Some(p) = self.find_person(person) else {
            return Vec::new();
        };
        self.chats
            .iter()
            .filter(|c| c.account_id == account && c.person == p)
            .flat_map(|c| c.messages.iter().cloned())
            .collect()
    }

    /// The classic provider id of the person a chat is with.
    pub fn chat_person(&self, chat_id: &str) -> Option<String> {
        self.chats
            .iter()
            .find(|c| c.id == chat_id)
            .map(|c| self.people[c.person].public.provider_id.clone())
    }

    /// The account of a chat.
    pub fn chat_account(&self, chat_id: &str) -> Option<String> {
        self.chats
            .iter()
            .find(|c| c.id == chat_id)
            .map(|c| c.account_id.clone())
    }
}
