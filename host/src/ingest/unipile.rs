//! Unipile webhook payloads, read as they arrive (unknown fields ignored),
//! classified and given their natural deduplication key.

use accord_policy_core::{AcceptSignal, SignalSource};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Why a webhook body was refused (HTTP 400; nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Not JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// JSON, but not an object.
    #[error("the body must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    /// A known event without a field it must have.
    #[error("`{event}` event without a usable `{field}`")]
    MissingField {
        /// The event.
        event: String,
        /// The field.
        field: &'static str,
    },
}

/// `users.relations.new_relation`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewRelation {
    /// Our account.
    pub account_id: String,
    /// The new connection's provider id.
    pub user_provider_id: String,
    /// Display name.
    #[serde(default)]
    pub user_full_name: Option<String>,
    /// Vanity slug.
    #[serde(default)]
    pub user_public_identifier: Option<String>,
    /// Profile URL.
    #[serde(default)]
    pub user_profile_url: Option<String>,
}

/// `message_received`.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageReceived {
    /// Our account.
    pub account_id: String,
    /// Our own identity on the account.
    #[serde(default)]
    pub account_info: Option<AccountInfo>,
    /// Message id (the natural key).
    pub message_id: String,
    /// Chat id.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// RFC 3339 time of the message.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Whether we sent it (bool here, 0/1 elsewhere).
    #[serde(default, deserialize_with = "bool_or_int")]
    pub is_sender: bool,
    /// Group chat?
    #[serde(default, deserialize_with = "bool_or_int")]
    pub is_group: bool,
    /// The sender.
    #[serde(default)]
    pub sender: Option<Sender>,
}

/// `account_info` of a messaging event.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountInfo {
    /// Our own provider id.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// The sender of a message.
#[derive(Debug, Clone, Deserialize)]
pub struct Sender {
    /// Provider id.
    #[serde(default)]
    pub attendee_provider_id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub attendee_name: Option<String>,
    /// Profile URL.
    #[serde(default)]
    pub attendee_profile_url: Option<String>,
    /// Vanity slug.
    #[serde(default)]
    pub attendee_public_identifier: Option<String>,
}

/// `{"AccountStatus": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountStatusEvent {
    /// The account.
    pub account_id: String,
    /// `OK`, `CREDENTIALS`, `ERROR`, ….
    pub message: String,
}

/// A classified webhook.
#[derive(Debug, Clone)]
pub enum WebhookEvent {
    /// A new connection: an accept signal.
    NewRelation(NewRelation),
    /// A message: maybe a reply-inferred accept.
    MessageReceived(MessageReceived),
    /// The account's connection state changed.
    AccountStatus(AccountStatusEvent),
    /// Anything else: stored, acknowledged, ignored.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// A webhook with its event name and deduplication key.
#[derive(Debug, Clone)]
pub struct Classified {
    /// The event name (`new_relation`, `message_received`, `AccountStatus`, …).
    pub name: String,
    /// The natural key the inbox deduplicates on.
    pub natural_key: String,
    /// The typed event.
    pub event: WebhookEvent,
}

/// Reads and classifies a webhook body.
pub fn classify(body: &[u8]) -> Result<Classified, WebhookError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::MalformedJson {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let object = match &value {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Array(_) => return Err(WebhookError::NotAnObject("an array")),
        serde_json::Value::String(_) => return Err(WebhookError::NotAnObject("a string")),
        serde_json::Value::Number(_) => return Err(WebhookError::NotAnObject("a number")),
        serde_json::Value::Bool(_) => return Err(WebhookError::NotAnObject("a boolean")),
        serde_json::Value::Null => return Err(WebhookError::NotAnObject("null")),
    };
    if let Some(status) = object.get("AccountStatus") {
        let event: AccountStatusEvent = typed("AccountStatus", status.clone(), "account_id")?;
        return Ok(Classified {
            name: "AccountStatus".into(),
            // Status changes repeat (OK → CREDENTIALS → OK): never deduplicated.
            natural_key: format!(
                "account_status:{}:{}",
                event.account_id,
                crate::clock::new_id()
            ),
            event: WebhookEvent::AccountStatus(event),
        });
    }
    let name = object
        .get("event")
        .and_then(|e| e.as_str())
        .unwrap_or("")
        .to_string();
    match name.as_str() {
        "new_relation" => {
            let event: NewRelation = typed(&name, value.clone(), "user_provider_id")?;
            if event.user_provider_id.is_empty() || event.account_id.is_empty() {
                return Err(WebhookError::MissingField {
                    event: name,
                    field: "user_provider_id",
                });
            }
            Ok(Classified {
                natural_key: format!("relation:{}:{}", event.account_id, event.user_provider_id),
                name,
                event: WebhookEvent::NewRelation(event),
            })
        }
        "message_received" => {
            let event: MessageReceived = typed(&name, value.clone(), "message_id")?;
            if event.message_id.is_empty() {
                return Err(WebhookError::MissingField {
                    event: name,
                    field: "message_id",
                });
            }
            Ok(Classified {
                natural_key: format!("message:{}", event.message_id),
                name,
                event: WebhookEvent::MessageReceived(event),
            })
        }
        _ => {
            let reason = if name.is_empty() {
                "no `event` field".to_string()
            } else {
                format!("`{name}` needs no action")
            };
            let id = object
                .get("message_id")
                .and_then(|m| m.as_str())
                .unwrap_or("");
            Ok(Classified {
                natural_key: format!(
                    "{}:{id}:{}",
                    if name.is_empty() { "unknown" } else { &name },
                    body_hash(body)
                ),
                name: if name.is_empty() {
                    "unknown".into()
                } else {
                    name
                },
                event: WebhookEvent::Ignored { reason },
            })
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(
    event: &str,
    value: serde_json::Value,
    key_field: &'static str,
) -> Result<T, WebhookError> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        let field = ["account_id", "user_provider_id", "message_id", "message"]
            .into_iter()
            .find(|f| text.contains(&format!("`{f}`")))
            .unwrap_or(key_field);
        WebhookError::MissingField {
            event: event.to_string(),
            field,
        }
    })
}

fn body_hash(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body)[..12])
}

fn bool_or_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(0) != 0,
        _ => false,
    })
}

impl NewRelation {
    /// The accept signal, observed at `received_at` (the webhook carries no
    /// accept time; it may arrive hours late).
    pub fn signal(&self, received_at: i64) -> AcceptSignal {
        AcceptSignal {
            source: SignalSource::Webhook,
            linkedin_account_id: self.account_id.clone(),
            member_id: Some(self.user_provider_id.clone()),
            public_identifier: self.user_public_identifier.clone(),
            profile_url: self.user_profile_url.clone(),
            full_name: self.user_full_name.clone(),
            observed_at: received_at,
        }
    }
}

/// Why a message is not a reply from a prospect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAReply {
    /// Our own message echoed back.
    Echo,
    /// A group chat proves no 1st-degree connection.
    Group,
    /// No sender id to match.
    NoSender,
}

impl MessageReceived {
    /// The reply-inferred accept signal, unless this is our own echo, a
    /// group message, or has no sender.
    pub fn reply_signal(&self, received_at: i64) -> Result<AcceptSignal, NotAReply> {
        let sender = self.sender.as_ref().ok_or(NotAReply::NoSender)?;
        let sender_id = sender
            .attendee_provider_id
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or(NotAReply::NoSender)?;
        let own = self
            .account_info
            .as_ref()
            .and_then(|a| a.user_id.as_deref());
        if self.is_sender || own == Some(sender_id.as_str()) {
            return Err(NotAReply::Echo);
        }
        if self.is_group {
            return Err(NotAReply::Group);
        }
        let observed_at = self
            .timestamp
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or(received_at, |t| t.as_millisecond());
        Ok(AcceptSignal {
            source: SignalSource::ReplyInferred,
            linkedin_account_id: self.account_id.clone(),
            member_id: Some(sender_id),
            public_identifier: sender.attendee_public_identifier.clone(),
            profile_url: sender.attendee_profile_url.clone(),
            full_name: sender.attendee_name.clone(),
            observed_at,
        })
    }
}

/// The account status a provider status message means.
pub fn account_status(message: &str) -> Option<accord_policy_core::AccountStatus> {
    use accord_policy_core::AccountStatus::*;
    match message {
        "OK" | "RECONNECTED" | "CREATION_SUCCESS" | "SYNC_SUCCESS" => Some(Connected),
        "CREDENTIALS" | "ERROR" | "STOPPED" | "DELETED" => Some(Disconnected),
        "PERMISSIONS" => Some(Restricted),
        "CONNECTING" => Some(Connecting),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_payloads() {
        let relation = r#"{"event":"new_relation","account_id":"SDF4tGaPSPSzNe1D1xsOs","account_type":"LINKEDIN",
            "webhook_name":"","user_full_name":"Julien Crépieux",
            "user_provider_id":"ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM",
            "user_public_identifier":"julien-crepieux",
            "user_profile_url":"https://www.linkedin.com/in/julien-crepieux/",
            "user_picture_url":"https://media.licdn.com/...","an_unknown_field":{"x":1}}"#;
        let c = classify(relation.as_bytes()).unwrap();
        assert_eq!(
            c.natural_key,
            "relation:SDF4tGaPSPSzNe1D1xsOs:ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM"
        );
        assert!(matches!(c.event, WebhookEvent::NewRelation(_)));

        let status = br#"{"AccountStatus":{"account_id":"a1","account_type":"LINKEDIN","message":"CREDENTIALS"}}"#;
        assert!(matches!(
            classify(status).unwrap().event,
            WebhookEvent::AccountStatus(_)
        ));
        let read = br#"{"event":"message_read","account_id":"a1","message_id":"m1"}"#;
        assert!(matches!(
            classify(read).unwrap().event,
            WebhookEvent::Ignored { .. }
        ));
    }

    #[test]
    fn refuses_bad_bodies_with_reasons() {
        assert!(matches!(
            classify(b"{nope"),
            Err(WebhookError::MalformedJson { .. })
        ));
        assert_eq!(
            classify(b"[1]").unwrap_err(),
            WebhookError::NotAnObject("an array")
        );
        let e = classify(br#"{"event":"new_relation","account_id":"a"}"#).unwrap_err();
        assert_eq!(
            e,
            WebhookError::MissingField {
                event: "new_relation".into(),
                field: "user_provider_id"
            }
        );
    }

    #[test]
    fn tells_echoes_from_replies() {
        let msg = |sender: &str, is_sender: &str| {
            let body = format!(
                r#"{{"event":"message_received","account_id":"a1","account_info":{{"type":"LINKEDIN","user_id":"ACoAAown"}},
                "message_id":"m1","timestamp":"2026-07-06T09:43:27.002Z","is_sender":{is_sender},
                "sender":{{"attendee_provider_id":"{sender}","attendee_name":"P"}},"is_group":false}}"#
            );
            match classify(body.as_bytes()).unwrap().event {
                WebhookEvent::MessageReceived(m) => m,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            msg("ACoAAown", "false").reply_signal(0).unwrap_err(),
            NotAReply::Echo
        );
        assert_eq!(
            msg("ACoAAprospect", "1").reply_signal(0).unwrap_err(),
            NotAReply::Echo
        );
        let s = msg("ACoAAprospect", "false").reply_signal(0).unwrap();
        assert_eq!(s.observed_at, 1_783_331_007_002);
        assert_eq!(s.source, SignalSource::ReplyInferred);
    }
}
