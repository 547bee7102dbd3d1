//! What happens in the world: an invite accepted, a relation made, a
//! message added to a chat, an account's state changed, each with the
//! webhook payload Unipile sends for it. The API calls, the schedule and
//! the scripts all come through here, so each event has one shape.

use super::SimWorld;
use super::ids::token;
use super::model::{AccountState, Chat, RelationRec, SimMessage};
use super::people::Action;
use super::webhooks::WebhookKind;
use super::wire::iso_ms;
use crate::clock::Millis;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

impl SimWorld {
    /// Changes an account's state, emitting the `AccountStatus` webhook
    /// (`CREDENTIALS` on disconnect, `OK` on reconnect, `ERROR` on
    /// restriction).
    pub fn set_account_state(&mut self, account: &str, state: AccountState, now: Millis) -> bool {
        let Some(a) = self.account_mut(account) else {
            return false;
        };
        if a.state == state {
            return true;
        }
        a.state = state;
        let message = match state {
            AccountState::Ok => "OK",
            AccountState::Disconnected => "CREDENTIALS",
            AccountState::Restricted => "ERROR",
        };
        let body = json!({"AccountStatus": {
            "account_id": account,
            "account_type": "LINKEDIN",
            "message": message,
        }});
        self.emit(WebhookKind::AccountStatus, account, body, None, now);
        true
    }

    pub(super) fn make_relation(&mut self, account: &str, p: usize, now: Millis) {
        let seq = self.next_seq();
        self.relations
            .entry(account.to_string())
            .or_default()
            .push(RelationRec {
                person: p,
                created_at: now,
                seq,
            });
        let person = &self.people[p].public;
        let body = json!({
            "event": "new_relation",
            "account_id": account,
            "account_type": "LINKEDIN",
            "webhook_name": self.webhook_name,
            "user_full_name": person.full_name(),
            "user_provider_id": person.provider_id,
            "user_public_identifier": person.public_identifier,
            "user_profile_url": person.profile_url(),
            "user_picture_url": format!("https://media.licdn.com/dms/image/{}", token(person.number, 16)),
        });
        let fate = self.people[p].relation_webhook;
        self.emit(WebhookKind::NewRelation, account, body, fate, now);
        if let Some((delay, text)) = self.people[p].reply_after_accept.clone() {
            self.schedule(
                now + delay.max(0),
                Action::Reply {
                    account_id: account.to_string(),
                    person: p,
                    text,
                },
            );
        }
    }

    pub(super) fn accept(&mut self, invite_id: &str, now: Millis) -> bool {
        let Some(invite) = self
            .invites
            .iter_mut()
            .find(|i| i.public.id == invite_id && i.public.accepted_at_ms.is_none())
        else {
            return false;
        };
        invite.public.accepted_at_ms = Some(now);
        let (account, p) = (invite.public.account_id.clone(), invite.person);
        if self.is_relation(&account, p) {
            return false;
        }
        self.make_relation(&account, p, now);
        true
    }

    fn chat_for(&mut self, account: &str, p: usize) -> usize {
        if let Some(i) = self
            .chats
            .iter()
            .position(|c| c.account_id == account && c.person == p)
        {
            return i;
        }
        let seq = self.next_seq();
        self.chats.push(Chat {
            id: token(seq ^ 0xC4A7, 22),
            provider_chat_id: format!("2-{}", URL_SAFE_NO_PAD.encode(token(seq ^ 0x9C, 24))),
            account_id: account.to_string(),
            person: p,
            messages: Vec::new(),
        });
        self.chats.len() - 1
    }

    /// Adds a message to the chat and emits its `message_received`.
    fn add_message(
        &mut self,
        account: &str,
        p: usize,
        text: &str,
        from_self: bool,
        now: Millis,
    ) -> (String, String) {
        let c = self.chat_for(account, p);
        let seq = self.next_seq();
        let message_id = token(seq ^ 0x3E55, 22);
        let provider_message_id = format!("2-{}", URL_SAFE_NO_PAD.encode(token(seq ^ 0x77, 30)));
        let chat_id = self.chats[c].id.clone();
        self.chats[c].messages.push(SimMessage {
            chat_id: chat_id.clone(),
            message_id: message_id.clone(),
            from_self,
            text: text.to_string(),
            at_ms: now,
        });
        let own_number = self.account(account).map_or(0, |a| a.own_number);
        let own_id = self
            .account(account)
            .map_or_else(String::new, |a| a.public.own_member_id.clone());
        let (sender_id, sender_name, sender_number) = if from_self {
            (
                own_id.clone(),
                self.account(account)
                    .map_or_else(String::new, |a| a.public.name.clone()),
                own_number,
            )
        } else {
            let person = &self.people[p].public;
            (
                person.provider_id.clone(),
                person.full_name(),
                person.number,
            )
        };
        let body = json!({
            "event": "message_received",
            "account_id": account,
            "account_type": "LINKEDIN",
            "account_info": {"type": "LINKEDIN", "feature": "classic", "user_id": own_id},
            "webhook_name": self.webhook_name,
            "chat_id": chat_id,
            "message_id": message_id,
            "message": text,
            "timestamp": iso_ms(now),
            "is_sender": from_self,
            "sender": {
                "attendee_id": token(sender_number ^ 0xA77E, 22),
                "attendee_provider_id": sender_id,
                "attendee_name": sender_name,
                "attendee_profile_url": format!("https://www.linkedin.com/in/{sender_id}"),
                "attendee_specifics": {
                    "provider": "LINKEDIN",
                    "member_urn": format!("urn:li:member:{sender_number}"),
                    "network_distance": if from_self { "SELF" } else { "DISTANCE_1" },
                },
                "attendee_public_identifier": null,
            },
            "attendees": [],
            "attachments": [],
            "provider_chat_id": self.chats[c].provider_chat_id,
            "provider_message_id": provider_message_id,
            "message_type": "MESSAGE",
            "is_group": false,
            "folder": ["INBOX", "INBOX_LINKEDIN_CLASSIC"],
            "subject": null,
            "quoted": null,
            "reply_to": null,
            "is_event": 0,
            "chat_pinned": 0,
            "event_type": null,
        });
        self.emit(WebhookKind::MessageReceived, account, body, None, now);
        (chat_id, message_id)
    }

    pub(super) fn outbound(
        &mut self,
        account: &str,
        p: usize,
        text: &str,
        now: Millis,
    ) -> (String, String) {
        let ids = self.add_message(account, p, text, true, now);
        if let Some((delay, reply)) = self.people[p].reply_to_messages.clone() {
            self.schedule(
                now + delay.max(0),
                Action::Reply {
                    account_id: account.to_string(),
                    person: p,
                    text: reply,
                },
            );
        }
        ids
    }

    pub(super) fn inbound(&mut self, account: &str, p: usize, text: &str, now: Millis) {
        self.add_message(account, p, text, false, now);
    }
}
