//! Unipile webhook payloads, read as they arrive, classified and given
//! their natural deduplication key.
//!
//! Only the fields Accord uses are read, each checked for its type: a
//! wrong-typed one is refused naming it ([`WebhookError::InvalidField`]),
//! other fields are never looked at. Text holding a NUL character is
//! refused ([`WebhookError::InvalidText`]); an id over
//! [`MAX_ID_BYTES`](crate::text::MAX_ID_BYTES) or text over
//! [`MAX_TEXT_BYTES`](crate::text::MAX_TEXT_BYTES) makes the delivery
//! [`WebhookEvent::Refused`]: stored and acknowledged (the provider would
//! retry a refusal forever) but never processed.

use crate::text::{self, MAX_ID_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES};
use accord_policy_core::linkedin::{ProfileRef, normalize_slug, parse_profile_url};
use accord_policy_core::{AcceptSignal, SignalSource};
use serde_json::{Map, Value};
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
    /// A field Accord reads has the wrong type.
    #[error("`{event}` event: `{field}` must be {expected}, got {got}")]
    InvalidField {
        /// The event.
        event: String,
        /// The field (a dotted path).
        field: String,
        /// What it must be.
        expected: &'static str,
        /// What it was.
        got: &'static str,
    },
    /// A field Accord reads holds a NUL character (or, in a profile URL
    /// or public identifier, a `%00`).
    #[error("`{event}` event: `{field}` contains a NUL character (U+0000, or %00 in a profile)")]
    InvalidText {
        /// The event.
        event: String,
        /// The field (a dotted path).
        field: String,
    },
}

/// `users.relations.new_relation`.
#[derive(Debug, Clone)]
pub struct NewRelation {
    /// Our account.
    pub account_id: String,
    /// The new connection's provider id.
    pub user_provider_id: String,
    /// Display name.
    pub user_full_name: Option<String>,
    /// Vanity slug.
    pub user_public_identifier: Option<String>,
    /// Profile URL.
    pub user_profile_url: Option<String>,
}

/// `message_received`.
#[derive(Debug, Clone)]
pub struct MessageReceived {
    /// Our account.
    pub account_id: String,
    /// Our own identity on the account.
    pub account_info: Option<AccountInfo>,
    /// Message id (the natural key).
    pub message_id: String,
    /// RFC 3339 time of the message.
    pub timestamp: Option<String>,
    /// Whether we sent it (bool here, 0/1 elsewhere).
    pub is_sender: bool,
    /// Group chat?
    pub is_group: bool,
    /// The sender.
    pub sender: Option<Sender>,
}

/// `account_info` of a messaging event.
#[derive(Debug, Clone)]
pub struct AccountInfo {
    /// Our own provider id.
    pub user_id: Option<String>,
}

/// The sender of a message.
#[derive(Debug, Clone)]
pub struct Sender {
    /// Provider id.
    pub attendee_provider_id: Option<String>,
    /// Display name.
    pub attendee_name: Option<String>,
    /// Profile URL.
    pub attendee_profile_url: Option<String>,
    /// Vanity slug.
    pub attendee_public_identifier: Option<String>,
}

/// `{"AccountStatus": {...}}`.
#[derive(Debug, Clone)]
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
    /// A known event with a value over its bound: stored, acknowledged
    /// (so the provider stops retrying), traced, never processed.
    Refused {
        /// Which field, and its bound.
        reason: String,
    },
}

/// A webhook with its event name and deduplication key.
#[derive(Debug, Clone)]
pub struct Classified {
    /// The event name (`new_relation`, `message_received`, `AccountStatus`,
    /// …), at most [`MAX_NAME_BYTES`] (longer ones are cut, with `…`).
    pub name: String,
    /// The natural key the inbox deduplicates on (short: built from
    /// bounded parts).
    pub natural_key: String,
    /// The typed event.
    pub event: WebhookEvent,
}

impl Classified {
    /// The event name as a metric label: one of a closed set, `other`
    /// for any name Accord does not know.
    pub fn label(&self) -> &'static str {
        event_label(&self.name)
    }

    /// Whether the delivery was refused (stored, never processed).
    pub fn refused(&self) -> bool {
        matches!(self.event, WebhookEvent::Refused { .. })
    }
}

/// The event names Accord knows, as metric labels.
const KNOWN_EVENTS: [&str; 9] = [
    "new_relation",
    "message_received",
    "AccountStatus",
    "message_read",
    "message_reaction",
    "message_edited",
    "message_deleted",
    "message_delivered",
    "unknown",
];

/// A stored event name as a metric label (`other` outside the closed set).
pub fn event_label(name: &str) -> &'static str {
    KNOWN_EVENTS
        .into_iter()
        .find(|known| *known == name)
        .unwrap_or("other")
}

/// The JSON type of a value, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the fields of one event, each checked for its type, NUL
/// characters and length; notes the first value over its bound.
struct Fields<'a> {
    event: &'a str,
    over: Option<String>,
}

impl Fields<'_> {
    fn invalid(&self, field: String, expected: &'static str, got: &Value) -> WebhookError {
        WebhookError::InvalidField {
            event: self.event.to_string(),
            field,
            expected,
            got: kind(got),
        }
    }

    /// An optional string of at most `max` bytes (absent or null: none).
    fn text(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        max: usize,
    ) -> Result<Option<String>, WebhookError> {
        let field = || format!("{path}{key}");
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                if text::has_nul(s) {
                    return Err(WebhookError::InvalidText {
                        event: self.event.to_string(),
                        field: field(),
                    });
                }
                if s.len() > max && self.over.is_none() {
                    self.over = Some(format!(
                        "`{}` is {} bytes, over the bound of {max}",
                        field(),
                        s.len()
                    ));
                }
                Ok(Some(s.clone()))
            }
            Some(other) => Err(self.invalid(field(), "a string", other)),
        }
    }

    /// A required, non-empty id.
    fn id(&mut self, obj: &Map<String, Value>, key: &'static str) -> Result<String, WebhookError> {
        self.text(obj, "", key, MAX_ID_BYTES)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| WebhookError::MissingField {
                event: self.event.to_string(),
                field: key,
            })
    }

    /// An optional profile URL: text, and the slug or id in it short
    /// enough to be keyed.
    fn profile_url(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Result<Option<String>, WebhookError> {
        let url = self.text(obj, path, key, MAX_TEXT_BYTES)?;
        let profile = url.as_deref().and_then(parse_profile_url);
        self.decoded_nul(profile.as_ref(), path, key)?;
        if let Some(r) = profile
            && text::ref_len(&r) > MAX_ID_BYTES
            && self.over.is_none()
        {
            self.over = Some(format!(
                "the profile in `{path}{key}` is over the bound of {MAX_ID_BYTES} bytes"
            ));
        }
        Ok(url)
    }

    /// An optional public identifier, short enough to be keyed.
    fn slug(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Result<Option<String>, WebhookError> {
        let slug = self.text(obj, path, key, MAX_TEXT_BYTES)?;
        let profile = slug.as_deref().and_then(normalize_slug);
        self.decoded_nul(profile.as_ref(), path, key)?;
        if let Some(r) = profile
            && text::ref_len(&r) > MAX_ID_BYTES
            && self.over.is_none()
        {
            self.over = Some(format!(
                "`{path}{key}` is over the bound of {MAX_ID_BYTES} bytes"
            ));
        }
        Ok(slug)
    }

    /// Refuses a profile whose decoded slug holds a NUL character (`%00`):
    /// it is keyed decoded, and PostgreSQL cannot store or look it up.
    fn decoded_nul(
        &self,
        profile: Option<&ProfileRef>,
        path: &str,
        key: &str,
    ) -> Result<(), WebhookError> {
        match profile {
            Some(r) if text::ref_has_nul(r) => Err(WebhookError::InvalidText {
                event: self.event.to_string(),
                field: format!("{path}{key}"),
            }),
            _ => Ok(()),
        }
    }

    /// An optional object (absent or null: none).
    fn object<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
    ) -> Result<Option<&'v Map<String, Value>>, WebhookError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.invalid(key.to_string(), "an object", other)),
        }
    }

    /// A flag sent as a boolean or as 0/1 (absent or null: false).
    fn flag(&self, obj: &Map<String, Value>, key: &str) -> Result<bool, WebhookError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
            Some(other) => Err(self.invalid(key.to_string(), "a boolean (or 0/1)", other)),
        }
    }
}

/// Reads and classifies a webhook body.
pub fn classify(body: &[u8]) -> Result<Classified, WebhookError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| WebhookError::MalformedJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let object = match &value {
        Value::Object(map) => map,
        other => return Err(WebhookError::NotAnObject(kind(other))),
    };
    let refused = |name: &str, reason: String| Classified {
        natural_key: format!("refused:{}:{}", event_label(name), body_hash(body)),
        name: name.to_string(),
        event: WebhookEvent::Refused { reason },
    };
    if let Some(status) = object.get("AccountStatus") {
        let name = "AccountStatus";
        let mut f = Fields {
            event: name,
            over: None,
        };
        let Value::Object(status) = status else {
            return Err(f.invalid(name.to_string(), "an object", status));
        };
        let account_id = f.id(status, "account_id")?;
        let message = f.text(status, "", "message", MAX_ID_BYTES)?;
        let message = message.ok_or_else(|| WebhookError::MissingField {
            event: name.into(),
            field: "message",
        })?;
        if let Some(reason) = f.over {
            return Ok(refused(name, reason));
        }
        return Ok(Classified {
            name: name.into(),
            // Status changes repeat (OK → CREDENTIALS → OK): never deduplicated.
            natural_key: format!("account_status:{account_id}:{}", crate::clock::new_id()),
            event: WebhookEvent::AccountStatus(AccountStatusEvent {
                account_id,
                message,
            }),
        });
    }
    let raw_name = match object.get("event") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(WebhookError::InvalidField {
                event: "unknown".into(),
                field: "event".into(),
                expected: "a string",
                got: kind(other),
            });
        }
    };
    if text::has_nul(raw_name) {
        return Err(WebhookError::InvalidText {
            event: "unknown".into(),
            field: "event".into(),
        });
    }
    let name = if raw_name.is_empty() {
        "unknown".to_string()
    } else {
        text::echo(raw_name, MAX_NAME_BYTES)
    };
    let mut f = Fields {
        event: &name,
        over: None,
    };
    match raw_name {
        "new_relation" => {
            let account_id = f.id(object, "account_id")?;
            let user_provider_id = f.id(object, "user_provider_id")?;
            let event = NewRelation {
                user_full_name: f.text(object, "", "user_full_name", MAX_TEXT_BYTES)?,
                user_public_identifier: f.slug(object, "", "user_public_identifier")?,
                user_profile_url: f.profile_url(object, "", "user_profile_url")?,
                account_id,
                user_provider_id,
            };
            if let Some(reason) = f.over {
                return Ok(refused(&name, reason));
            }
            Ok(Classified {
                natural_key: format!("relation:{}:{}", event.account_id, event.user_provider_id),
                name,
                event: WebhookEvent::NewRelation(event),
            })
        }
        "message_received" => {
            let account_id = f.id(object, "account_id")?;
            let message_id = f.id(object, "message_id")?;
            let account_info = match f.object(object, "account_info")? {
                Some(info) => Some(AccountInfo {
                    user_id: f.text(info, "account_info.", "user_id", MAX_ID_BYTES)?,
                }),
                None => None,
            };
            let sender = match f.object(object, "sender")? {
                Some(s) => Some(Sender {
                    attendee_provider_id: f.text(
                        s,
                        "sender.",
                        "attendee_provider_id",
                        MAX_ID_BYTES,
                    )?,
                    attendee_name: f.text(s, "sender.", "attendee_name", MAX_TEXT_BYTES)?,
                    attendee_profile_url: f.profile_url(s, "sender.", "attendee_profile_url")?,
                    attendee_public_identifier: f.slug(
                        s,
                        "sender.",
                        "attendee_public_identifier",
                    )?,
                }),
                None => None,
            };
            let event = MessageReceived {
                timestamp: f.text(object, "", "timestamp", MAX_TEXT_BYTES)?,
                is_sender: f.flag(object, "is_sender")?,
                is_group: f.flag(object, "is_group")?,
                account_id,
                account_info,
                message_id,
                sender,
            };
            if let Some(reason) = f.over {
                return Ok(refused(&name, reason));
            }
            Ok(Classified {
                natural_key: format!("message:{}", event.message_id),
                name,
                event: WebhookEvent::MessageReceived(event),
            })
        }
        _ => {
            let reason = if raw_name.is_empty() {
                "no `event` field".to_string()
            } else {
                format!("`{name}` needs no action")
            };
            // Part of the key only when it is a short string: the body's
            // hash tells deliveries apart anyway.
            let id = object
                .get("message_id")
                .and_then(|m| m.as_str())
                .filter(|m| m.len() <= MAX_ID_BYTES && !text::has_nul(m))
                .unwrap_or("");
            let key_name = if raw_name.len() <= MAX_NAME_BYTES {
                name.as_str()
            } else {
                "other"
            };
            Ok(Classified {
                natural_key: format!("{key_name}:{id}:{}", body_hash(body)),
                name,
                event: WebhookEvent::Ignored { reason },
            })
        }
    }
}

fn body_hash(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body)[..12])
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
