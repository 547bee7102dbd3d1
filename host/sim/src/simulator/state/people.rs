//! Scripting the world's inhabitants: adding accounts and people from a
//! [`PersonSpec`], changing how they behave, making them act now, and the
//! schedule of accepts and replies they carry out later. Tests, the demo
//! and the simulation write their stories through these.

use super::ids::{encode_member_id, slugify, splitmix, token};
use super::model::{Account, AccountState, SimAccount, SimPerson};
use super::webhooks::WebhookFate;
use super::{SimTickReport, SimWorld};
use crate::clock::Millis;

/// The scriptable behaviour of a new person.
#[derive(Debug, Clone, Default)]
pub struct PersonSpec {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Vanity slug; derived from the names when `None`.
    pub public_identifier: Option<String>,
    /// Headline.
    pub headline: Option<String>,
    /// Accepts an invite this long after it is sent; never when `None`.
    pub accept_after_ms: Option<Millis>,
    /// Replies this long after accepting, with this text.
    pub reply_after_accept: Option<(Millis, String)>,
    /// Answers each message we send, this long after it, with this text.
    pub reply_to_messages: Option<(Millis, String)>,
    /// Overrides the default fate of this person's `new_relation` webhook.
    pub relation_webhook: Option<WebhookFate>,
}

impl PersonSpec {
    /// A person who never accepts.
    pub fn new(first_name: &str, last_name: &str) -> Self {
        PersonSpec {
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            ..PersonSpec::default()
        }
    }

    /// Sets the vanity slug.
    pub fn slug(mut self, slug: &str) -> Self {
        self.public_identifier = Some(slug.to_string());
        self
    }

    /// Accepts invites `delay_ms` after they are sent.
    pub fn accepts_after(mut self, delay_ms: Millis) -> Self {
        self.accept_after_ms = Some(delay_ms);
        self
    }

    /// Replies `delay_ms` after accepting.
    pub fn replies_after_accept(mut self, delay_ms: Millis, text: &str) -> Self {
        self.reply_after_accept = Some((delay_ms, text.to_string()));
        self
    }

    /// Answers each of our messages `delay_ms` later.
    pub fn replies_to_messages(mut self, delay_ms: Millis, text: &str) -> Self {
        self.reply_to_messages = Some((delay_ms, text.to_string()));
        self
    }

    /// The fate of this person's `new_relation` webhook.
    pub fn relation_webhook(mut self, fate: WebhookFate) -> Self {
        self.relation_webhook = Some(fate);
        self
    }
}

/// A person with the behaviour their spec scripted.
#[derive(Debug, Clone)]
pub(super) struct Person {
    pub(super) public: SimPerson,
    pub(super) headline: String,
    pub(super) accept_after_ms: Option<Millis>,
    pub(super) reply_after_accept: Option<(Millis, String)>,
    pub(super) reply_to_messages: Option<(Millis, String)>,
    pub(super) relation_webhook: Option<WebhookFate>,
}

/// Something a person does later.
#[derive(Debug, Clone)]
pub(super) enum Action {
    Accept {
        invite_id: String,
    },
    Reply {
        account_id: String,
        person: usize,
        text: String,
    },
}

/// An action and when it is due.
#[derive(Debug, Clone)]
pub(super) struct Scheduled {
    pub(super) due: Millis,
    pub(super) seq: u64,
    pub(super) action: Action,
}

impl SimWorld {
    /// Adds an account (with its owner as a person); `id` is generated when
    /// `None`.
    pub fn add_account(&mut self, id: Option<&str>, now: Millis) -> SimAccount {
        let seq = self.next_seq();
        let id = id.map_or_else(|| token(seq ^ 0xACC0, 21), str::to_string);
        let owner = self.add_person(
            PersonSpec::new("Owner", &format!("Account {}", self.accounts.len() + 1)),
            now,
        );
        let public = SimAccount {
            id: id.clone(),
            own_member_id: owner.provider_id.clone(),
            public_identifier: owner.public_identifier.clone(),
            name: owner.full_name(),
        };
        self.accounts.push(Account {
            public: public.clone(),
            own_number: owner.number,
            state: AccountState::Ok,
            weekly_invite_quota: 200,
            created_at: now,
        });
        public
    }

    /// Adds a person.
    pub fn add_person(&mut self, spec: PersonSpec, _now: Millis) -> SimPerson {
        let seq = self.next_seq();
        let number = 100_000_000 + seq * 7_919 + (splitmix(seq) % 7_000);
        let base = spec
            .public_identifier
            .clone()
            .unwrap_or_else(|| slugify(&spec.first_name, &spec.last_name));
        let mut slug = base.clone();
        let mut n = 1;
        while self.index.contains_key(&slug.to_lowercase()) {
            n += 1;
            slug = format!("{base}-{n}");
        }
        let public = SimPerson {
            number,
            provider_id: encode_member_id(false, number),
            sales_navigator_id: encode_member_id(true, number),
            public_identifier: slug.clone(),
            first_name: spec.first_name.clone(),
            last_name: spec.last_name.clone(),
        };
        let idx = self.people.len();
        self.index.insert(public.provider_id.clone(), idx);
        self.index.insert(public.sales_navigator_id.clone(), idx);
        self.index.insert(slug.to_lowercase(), idx);
        self.people.push(Person {
            headline: spec
                .headline
                .clone()
                .unwrap_or_else(|| format!("Head of Things at Company {}", seq % 97)),
            public: public.clone(),
            accept_after_ms: spec.accept_after_ms,
            reply_after_accept: spec.reply_after_accept,
            reply_to_messages: spec.reply_to_messages,
            relation_webhook: spec.relation_webhook,
        });
        public
    }

    fn person_mut(&mut self, identifier: &str) -> Option<&mut Person> {
        let i = self.find_person(identifier)?;
        self.people.get_mut(i)
    }

    /// Changes when a person accepts future invites (`None`: never).
    pub fn set_accept_delay(&mut self, person: &str, delay: Option<Millis>) -> bool {
        self.person_mut(person)
            .map(|p| p.accept_after_ms = delay)
            .is_some()
    }

    /// Changes a person's reply after accepting.
    pub fn set_reply_after_accept(
        &mut self,
        person: &str,
        reply: Option<(Millis, String)>,
    ) -> bool {
        self.person_mut(person)
            .map(|p| p.reply_after_accept = reply)
            .is_some()
    }

    /// Changes a person's answer to our messages.
    pub fn set_reply_to_messages(&mut self, person: &str, reply: Option<(Millis, String)>) -> bool {
        self.person_mut(person)
            .map(|p| p.reply_to_messages = reply)
            .is_some()
    }

    /// Overrides the fate of a person's `new_relation` webhooks.
    pub fn set_relation_webhook(&mut self, person: &str, fate: Option<WebhookFate>) -> bool {
        self.person_mut(person)
            .map(|p| p.relation_webhook = fate)
            .is_some()
    }

    /// The person accepts the account's pending invite now, or connects
    /// without one; a `new_relation` webhook follows. False if unknown or
    /// already connected.
    pub fn accept_now(&mut self, account: &str, person: &str, now: Millis) -> bool {
        let Some(p) = self.find_person(person) else {
            return false;
        };
        if self.account(account).is_none() || self.is_relation(account, p) {
            return false;
        }
        let invite = self
            .invites
            .iter()
            .find(|i| {
                i.public.account_id == account && i.person == p && i.public.accepted_at_ms.is_none()
            })
            .map(|i| i.public.id.clone());
        match invite {
            Some(invite_id) => self.accept(&invite_id, now),
            None => {
                self.make_relation(account, p, now);
                true
            }
        }
    }

    /// The person writes to the account now (a `message_received` webhook).
    pub fn receive_message(
        &mut self,
        account: &str,
        person: &str,
        text: &str,
        now: Millis,
    ) -> bool {
        let Some(p) = self.find_person(person) else {
            return false;
        };
        if self.account(account).is_none() {
            return false;
        }
        self.inbound(account, p, text, now);
        true
    }

    pub(super) fn schedule(&mut self, due: Millis, action: Action) {
        let seq = self.next_seq();
        self.scheduled.push(Scheduled { due, seq, action });
    }

    /// Performs the accepts and replies due at `now`, in order, including
    /// those they schedule for no later than `now`.
    pub(super) fn run_scheduled(&mut self, now: Millis, report: &mut SimTickReport) {
        loop {
            let mut due: Vec<Scheduled> = Vec::new();
            self.scheduled.retain(|s| {
                if s.due <= now {
                    due.push(s.clone());
                    false
                } else {
                    true
                }
            });
            if due.is_empty() {
                break;
            }
            due.sort_by_key(|s| (s.due, s.seq));
            for s in due {
                match s.action {
                    Action::Accept { invite_id } => {
                        if self.accept(&invite_id, s.due) {
                            report.accepted += 1;
                        }
                    }
                    Action::Reply {
                        account_id,
                        person,
                        text,
                    } => {
                        self.inbound(&account_id, person, &text, s.due);
                        report.replies += 1;
                    }
                }
            }
        }
    }
}
