//! The calls the simulator answers: each endpoint's checks and its JSON
//! answer in Unipile's shape, and the log of calls answered. The HTTP
//! layer (`routes`) parses requests and hands them here.

use super::SimWorld;
use super::faults::SimAction;
use super::ids::{splitmix, token};
use super::model::{AccountState, Invite, SimInvite, SimMessage};
use super::people::Action;
use super::wire::{CreatedAtUnit, SimFailure, iso_ms, paginate};
use crate::clock::Millis;
use serde_json::{Value, json};

/// One request the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// HTTP method.
    pub method: String,
    /// The concrete path.
    pub path: String,
    /// The route template (`/api/v1/users/{identifier}`).
    pub route: String,
    /// The account named by the call (query, JSON or form), if any.
    pub account_id: Option<String>,
    /// Simulated time of the call.
    pub at_ms: Millis,
    /// The status answered.
    pub status: u16,
    /// The `cursor` query parameter (which page of a list was asked for).
    pub cursor: Option<String>,
    /// The person the call addressed (invite, message), as a classic
    /// provider id when the simulator knows them.
    pub target: Option<String>,
    /// The error `type` (without `errors/`) when the call failed.
    pub error_type: Option<String>,
}

impl SimWorld {
    /// Records a call.
    pub fn record_call(&mut self, call: CallRecord) {
        self.calls.push(call);
    }

    /// The call log.
    pub fn calls(&self) -> &[CallRecord] {
        &self.calls
    }

    /// Forgets the call log.
    pub fn clear_calls(&mut self) {
        self.calls.clear();
    }

    /// How relations' `created_at` is written.
    pub fn set_created_at_unit(&mut self, unit: CreatedAtUnit) {
        self.created_at_unit = unit;
    }

    /// Refuses calls for an unknown, disconnected or restricted account.
    pub fn check_account(&self, account: &str) -> Result<(), SimFailure> {
        match self.account(account).map(|a| a.state) {
            None => Err(SimFailure::known(
                "invalid_account",
                format!("no account `{account}` in this workspace"),
            )),
            Some(AccountState::Ok) => Ok(()),
            Some(AccountState::Disconnected) => Err(SimFailure::known(
                "disconnected_account",
                "the account's credentials must be refreshed",
            )),
            Some(AccountState::Restricted) => Err(SimFailure::known(
                "account_restricted",
                "LinkedIn restricted this account",
            )),
        }
    }

    /// `GET /api/v1/accounts`.
    pub fn list_accounts(&self) -> Value {
        let items: Vec<Value> = self
            .accounts
            .iter()
            .map(|a| {
                let status = match a.state {
                    AccountState::Ok => "OK",
                    AccountState::Disconnected => "CREDENTIALS",
                    AccountState::Restricted => "ERROR",
                };
                json!({
                    "object": "Account",
                    "id": a.public.id,
                    "type": "LINKEDIN",
                    "name": a.public.name,
                    "created_at": iso_ms(a.created_at),
                    "connection_params": {"im": {
                        "id": a.public.own_member_id,
                        "publicIdentifier": a.public.public_identifier,
                        "username": a.public.name,
                        "premiumId": null,
                        "member_number": a.own_number,
                    }},
                    "sources": [{"id": format!("{}_MESSAGING", a.public.id), "status": status}],
                    "groups": [],
                })
            })
            .collect();
        json!({"object": "AccountList", "items": items, "cursor": null})
    }

    /// `GET /api/v1/users/relations`.
    pub fn list_relations(
        &self,
        account: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let rows = self
            .relations
            .get(account)
            .map(|r| {
                r.iter()
                    .map(|r| (r.created_at, r.seq, (r.person, r.created_at)))
                    .collect()
            })
            .unwrap_or_default();
        let (items, cursor) = paginate(rows, cursor, limit)?;
        let items: Vec<Value> = items
            .into_iter()
            .map(|(p, created_at)| {
                let created_at = match self.created_at_unit {
                    CreatedAtUnit::Millis => created_at,
                    CreatedAtUnit::Seconds => created_at / 1000,
                };
                let person = &self.people[p];
                let id = &person.public.provider_id;
                json!({
                    "object": "UserRelation",
                    "connection_urn": format!("urn:li:fsd_connection:{id}"),
                    "created_at": created_at,
                    "first_name": person.public.first_name,
                    "last_name": person.public.last_name,
                    "member_id": id,
                    "member_urn": format!("urn:li:fsd_profile:{id}"),
                    "headline": person.headline,
                    "public_identifier": person.public.public_identifier,
                    "public_profile_url": person.public.profile_url(),
                    "profile_picture_url": format!("https://media.licdn.com/dms/image/{}", token(person.public.number, 16)),
                })
            })
            .collect();
        Ok(json!({"object": "UserRelationsList", "items": items, "cursor": cursor}))
    }

    /// `GET /api/v1/users/invite/sent`.
    pub fn list_sent_invites(
        &self,
        account: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let rows = self
            .invites
            .iter()
            .enumerate()
            .filter(|(_, i)| i.public.account_id == account && i.public.accepted_at_ms.is_none())
            .map(|(n, i)| (i.public.sent_at_ms, i.seq, n))
            .collect();
        let (items, cursor) = paginate(rows, cursor, limit)?;
        let items: Vec<Value> = items
            .into_iter()
            .map(|n| {
                let invite = &self.invites[n];
                let person = &self.people[invite.person];
                json!({
                    "object": "UserInvitation",
                    "id": invite.public.id,
                    "date": iso_ms(invite.public.sent_at_ms),
                    "parsed_datetime": iso_ms(invite.public.sent_at_ms),
                    "invitation_text": invite.public.message,
                    "invited_user": person.public.full_name(),
                    "invited_user_id": person.public.provider_id,
                    "invited_user_public_id": person.public.public_identifier,
                    "invited_user_description": person.headline,
                    "specifics": {"provider": "LINKEDIN"},
                })
            })
            .collect();
        Ok(json!({"object": "InvitationList", "items": items, "cursor": cursor}))
    }

    /// `GET /api/v1/chat_attendees/{attendee}/messages`: the messages of
    /// the account's chats with that person, newest first.
    pub fn list_attendee_messages(
        &self,
        account: &str,
        attendee: &str,
        limit: usize,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let Some(p) = self.find_person(attendee) else {
            return Err(SimFailure::other(
                404,
                "resource_not_found",
                "Resource not found",
                format!("no attendee `{attendee}`"),
            ));
        };
        let mut messages: Vec<&SimMessage> = self
            .chats
            .iter()
            .filter(|c| c.account_id == account && c.person == p)
            .flat_map(|c| c.messages.iter())
            .collect();
        messages.sort_by_key(|m| std::cmp::Reverse(m.at_ms));
        let items: Vec<Value> = messages
            .into_iter()
            .take(limit)
            .map(|m| {
                json!({
                    "object": "Message",
                    "id": m.message_id,
                    "chat_id": m.chat_id,
                    "text": m.text,
                    "is_sender": i64::from(m.from_self),
                    "timestamp": iso_ms(m.at_ms),
                })
            })
            .collect();
        Ok(json!({"object": "MessageList", "items": items, "cursor": null}))
    }

    /// `GET /api/v1/users/{identifier}`.
    pub fn get_profile(
        &self,
        account: &str,
        identifier: &str,
        sales_navigator: bool,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let person = self.find_person(identifier);
        self.forced_error(SimAction::Profile, person)?;
        let Some(p) = person else {
            return Err(SimFailure::known(
                "invalid_recipient",
                format!("no LinkedIn member `{identifier}`"),
            ));
        };
        if identifier.starts_with("ACw") && !sales_navigator {
            return Err(SimFailure::known(
                "invalid_recipient",
                "a Sales Navigator id needs linkedin_api=sales_navigator",
            ));
        }
        let own = self.account(account).map(|a| a.own_number) == Some(self.people[p].public.number);
        let connected = self.is_relation(account, p);
        let pending = self.invites.iter().any(|i| {
            i.public.account_id == account && i.person == p && i.public.accepted_at_ms.is_none()
        });
        let person = &self.people[p];
        Ok(json!({
            "object": "UserProfile",
            "provider": "LINKEDIN",
            "provider_id": person.public.provider_id,
            "public_identifier": person.public.public_identifier,
            "first_name": person.public.first_name,
            "last_name": person.public.last_name,
            "headline": person.headline,
            "member_urn": format!("urn:li:member:{}", person.public.number),
            "is_self": own,
            "is_relationship": connected,
            "network_distance": if own { "SELF" } else if connected { "FIRST_DEGREE" } else { "SECOND_DEGREE" },
            "invitation": if pending { json!({"type": "SENT", "status": "PENDING"}) } else { Value::Null },
            "public_profile_url": person.public.profile_url(),
        }))
    }

    /// `POST /api/v1/users/invite`.
    pub fn send_invite(
        &mut self,
        account: &str,
        provider_id: &str,
        message: Option<&str>,
        now: Millis,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let person = self.find_person(provider_id);
        self.forced_error(SimAction::Invite, person)?;
        if let Some(m) = message {
            let chars = m.chars().count();
            if chars > crate::provider::MAX_INVITE_NOTE_CHARS {
                return Err(SimFailure::known(
                    "too_many_characters",
                    format!("the message has {chars} characters, at most 300 are allowed"),
                ));
            }
        }
        let Some(p) = person.filter(|_| !provider_id.starts_with("ACw")) else {
            return Err(SimFailure::known(
                "invalid_recipient",
                format!("`{provider_id}` is not a classic provider id of a LinkedIn member"),
            ));
        };
        let Some(acc) = self.account(account) else {
            return Err(SimFailure::known("invalid_account", "unknown account"));
        };
        if acc.own_number == self.people[p].public.number {
            return Err(SimFailure::known(
                "cannot_invite_attendee",
                "an account cannot invite itself",
            ));
        }
        let quota = acc.weekly_invite_quota;
        if self.is_relation(account, p) {
            return Err(SimFailure::known(
                "already_connected",
                "the recipient is already a 1st-degree connection",
            ));
        }
        if self.invites.iter().any(|i| {
            i.public.account_id == account && i.person == p && i.public.accepted_at_ms.is_none()
        }) {
            return Err(SimFailure::known(
                "already_invited_recently",
                "an invitation to this recipient is pending",
            ));
        }
        let week_ago = now - 7 * crate::clock::DAY_MS;
        let used = self
            .invites
            .iter()
            .filter(|i| i.public.account_id == account && i.public.sent_at_ms > week_ago)
            .count() as u64;
        if used >= u64::from(quota) {
            return Err(SimFailure::known(
                "limit_exceeded",
                "the weekly invitation limit is reached",
            ));
        }
        let seq = self.next_seq();
        let id = format!(
            "{}",
            7_300_000_000_000_000_000u64 + splitmix(seq) % 99_999_999_999_999
        );
        self.invites.push(Invite {
            public: SimInvite {
                id: id.clone(),
                account_id: account.to_string(),
                provider_id: self.people[p].public.provider_id.clone(),
                message: message.filter(|m| !m.is_empty()).map(str::to_string),
                sent_at_ms: now,
                accepted_at_ms: None,
            },
            person: p,
            seq,
        });
        if let Some(delay) = self.people[p].accept_after_ms {
            self.schedule(
                now + delay.max(0),
                Action::Accept {
                    invite_id: id.clone(),
                },
            );
        }
        let percent = (used + 1) * 100 / u64::from(quota);
        let usage = if percent >= 50 {
            json!(percent)
        } else {
            Value::Null
        };
        Ok(json!({"object": "UserInvitationSent", "invitation_id": id, "usage": usage}))
    }

    /// `POST /api/v1/chats`.
    pub fn start_chat(
        &mut self,
        account: &str,
        attendees: &[String],
        text: &str,
        now: Millis,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let [attendee] = attendees else {
            return Err(SimFailure::bad_request(
                "exactly one attendees_ids value is expected",
            ));
        };
        let person = self.find_person(attendee);
        self.forced_error(SimAction::Message, person)?;
        let Some(p) = person else {
            return Err(SimFailure::known(
                "invalid_recipient",
                format!("no LinkedIn member `{attendee}`"),
            ));
        };
        if text.trim().is_empty() {
            return Err(SimFailure::known("invalid_message", "the text is empty"));
        }
        if !self.is_relation(account, p) {
            return Err(SimFailure::known(
                "no_connection_with_recipient",
                "the recipient is not a 1st-degree connection",
            ));
        }
        let (chat_id, message_id) = self.outbound(account, p, text, now);
        Ok(json!({"object": "ChatStarted", "chat_id": chat_id, "message_id": message_id}))
    }

    /// `POST /api/v1/chats/{chat_id}/messages`.
    pub fn send_in_chat(
        &mut self,
        chat_id: &str,
        text: &str,
        now: Millis,
    ) -> Result<Value, SimFailure> {
        let Some(chat) = self.chats.iter().find(|c| c.id == chat_id) else {
            return Err(SimFailure::other(
                404,
                "resource_not_found",
                "Resource not found",
                format!("no chat `{chat_id}`"),
            ));
        };
        let (account, p) = (chat.account_id.clone(), chat.person);
        self.check_account(&account)?;
        self.forced_error(SimAction::Message, Some(p))?;
        if text.trim().is_empty() {
            return Err(SimFailure::known("invalid_message", "the text is empty"));
        }
        if !self.is_relation(&account, p) {
            return Err(SimFailure::known(
                "no_connection_with_recipient",
                "the recipient is not a 1st-degree connection",
            ));
        }
        let (_, message_id) = self.outbound(&account, p, text, now);
        Ok(json!({"object": "MessageSent", "message_id": message_id}))
    }
}
