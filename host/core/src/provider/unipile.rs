//! [`LinkedinProvider`] over Unipile's REST API: `X-API-KEY` against the
//! account's DSN, JSON or multipart bodies as Unipile expects, every
//! non-2xx answer read into a classified [`ProviderError`].

use super::{
    BoxFuture, ChatMessage, InviteSent, LinkedinProvider, MAX_INVITE_NOTE_CHARS, MessageSent,
    Profile, ProviderAccount, ProviderError, ProviderResult, Relation, RelationsPage, SentInvite,
    SentInvitesPage, created_at_to_ms,
};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    /// The DSN is not an absolute http(s) URL.
    #[error("invalid Unipile base URL `{url}`: {reason}")]
    BaseUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The API key is empty or not a valid header value.
    #[error("invalid Unipile API key: {0}")]
    ApiKey(&'static str),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A Unipile REST client for one workspace (DSN + API key).
#[derive(Clone)]
pub struct UnipileClient {
    base: Url,
    http: reqwest::Client,
}

impl std::fmt::Debug for UnipileClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnipileClient")
            .field("base", &self.base.as_str())
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// Most accounts [`LinkedinProvider::list_accounts`] pages through.
const MAX_ACCOUNT_PAGES: usize = 50;

impl UnipileClient {
    /// A client for the DSN `base_url` (e.g. `https://api8.unipile.com:13851`,
    /// or a simulator's `http://127.0.0.1:PORT`), sending `api_key` as
    /// `X-API-KEY`; each call fails with a transient `timeout` after
    /// `timeout`.
    pub fn new(
        base_url: &str,
        api_key: &str,
        timeout: Duration,
    ) -> Result<Self, ClientConfigError> {
        let mut base = Url::parse(base_url.trim()).map_err(|e| ClientConfigError::BaseUrl {
            url: base_url.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientConfigError::BaseUrl {
                url: base_url.to_string(),
                reason: "must be an http:// or https:// URL".into(),
            });
        }
        base.set_query(None);
        base.set_fragment(None);
        if api_key.trim().is_empty() {
            return Err(ClientConfigError::ApiKey("empty"));
        }
        let mut key = HeaderValue::from_str(api_key)
            .map_err(|_| ClientConfigError::ApiKey("not a valid header value"))?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("X-API-KEY", key);
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("accord/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(UnipileClient { base, http })
    }

    /// The DSN this client calls.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// `base/api/v1/<segments…>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> ProviderResult<T> {
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport_error)?;
        if !(200..300).contains(&status) {
            return Err(ProviderError::from_response(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| ProviderError::invalid_response(status, e.to_string()))
    }

    /// Posts `text` into an existing chat
    /// (`POST /api/v1/chats/{chat_id}/messages`, multipart).
    pub async fn send_in_chat(&self, chat_id: &str, text: &str) -> ProviderResult<MessageSent> {
        check_text(text)?;
        let form = reqwest::multipart::Form::new().text("text", text.to_string());
        let wire: MessageSentWire = self
            .send(
                self.http
                    .post(self.url(&["chats", chat_id, "messages"]))
                    .multipart(form),
            )
            .await?;
        Ok(MessageSent {
            chat_id: chat_id.to_string(),
            message_id: wire.message_id,
        })
    }
}

fn transport_error(e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::timeout(e.to_string())
    } else if e.is_connect() {
        ProviderError::unreachable(error_chain(&e))
    } else if e.is_decode() {
        ProviderError::network(format!("reading the answer: {e}"))
    } else {
        ProviderError::network(error_chain(&e))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn check_text(text: &str) -> ProviderResult<()> {
    if text.trim().is_empty() {
        return Err(ProviderError::refused(
            "invalid_message",
            "the message text is empty",
        ));
    }
    Ok(())
}

fn check_id(what: &str, id: &str) -> ProviderResult<()> {
    if id.trim().is_empty() {
        return Err(ProviderError::refused(
            "invalid_parameters",
            format!("{what} is empty"),
        ));
    }
    Ok(())
}

// ------------------------------------------------------------- wire shapes

#[derive(Deserialize)]
struct RelationsWire {
    #[serde(default)]
    items: Vec<RelationWire>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct RelationWire {
    member_id: String,
    #[serde(default)]
    public_identifier: Option<String>,
    #[serde(default)]
    public_profile_url: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    created_at: Option<serde_json::Value>,
}

/// `created_at` as a number (seconds or ms), a numeric string, or RFC 3339.
fn created_at(value: Option<&serde_json::Value>) -> Option<i64> {
    match value? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(created_at_to_ms),
        serde_json::Value::String(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .map(created_at_to_ms)
            .or_else(|| rfc3339_ms(s)),
        _ => None,
    }
}

fn rfc3339_ms(s: &str) -> Option<i64> {
    s.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

#[derive(Deserialize)]
struct ProfileWire {
    provider_id: String,
    #[serde(default)]
    public_identifier: Option<String>,
    #[serde(default)]
    is_relationship: Option<serde_json::Value>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    headline: Option<String>,
    #[serde(default)]
    network_distance: Option<String>,
}

fn bool_like(value: Option<&serde_json::Value>) -> Option<bool> {
    match value? {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::Number(n) => n.as_i64().map(|n| n != 0),
        serde_json::Value::String(s) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Deserialize)]
struct InviteWire {
    invitation_id: String,
    #[serde(default)]
    usage: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChatStartedWire {
    chat_id: String,
    #[serde(default)]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct MessageSentWire {
    #[serde(default)]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct MessagesWire {
    #[serde(default)]
    items: Vec<MessageWire>,
}

#[derive(Deserialize)]
struct MessageWire {
    id: String,
    #[serde(default)]
    chat_id: String,
    /// An int 0/1 on REST, a bool in webhooks: both are read.
    #[serde(default)]
    is_sender: serde_json::Value,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct InvitationsWire {
    #[serde(default)]
    items: Vec<InvitationWire>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct InvitationWire {
    id: String,
    #[serde(default)]
    invited_user_id: Option<String>,
    #[serde(default)]
    invited_user_public_id: Option<String>,
    #[serde(default)]
    invitation_text: Option<String>,
    #[serde(default)]
    parsed_datetime: Option<String>,
}

#[derive(Deserialize)]
struct AccountsWire {
    #[serde(default)]
    items: Vec<AccountWire>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct AccountWire {
    id: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    connection_params: Option<serde_json::Value>,
    #[serde(default)]
    sources: Vec<SourceWire>,
}

#[derive(Deserialize)]
struct SourceWire {
    #[serde(default)]
    status: Option<String>,
}

impl AccountWire {
    fn into_account(self) -> ProviderAccount {
        let own_member_id = self
            .connection_params
            .as_ref()
            .and_then(|p| p.pointer("/im/id"))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let statuses: Vec<String> = self.sources.into_iter().filter_map(|s| s.status).collect();
        let status = statuses
            .iter()
            .find(|s| s.as_str() != "OK")
            .or(statuses.first())
            .cloned()
            .unwrap_or_else(|| "OK".to_string());
        ProviderAccount {
            id: self.id,
            own_member_id,
            status,
        }
    }
}

// ------------------------------------------------------------ the provider

impl LinkedinProvider for UnipileClient {
    fn list_relations<'a>(
        &'a self,
        account_id: &'a str,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, ProviderResult<RelationsPage>> {
        Box::pin(async move {
            check_id("account_id", account_id)?;
            let mut url = self.url(&["users", "relations"]);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("account_id", account_id);
                if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
                    q.append_pair("cursor", cursor);
                }
                q.append_pair("limit", &limit.clamp(1, 1000).to_string());
            }
            let wire: RelationsWire = self.send(self.http.get(url)).await?;
            Ok(RelationsPage {
                items: wire
                    .items
                    .into_iter()
                    .map(|r| Relation {
                        created_at_ms: created_at(r.created_at.as_ref()),
                        member_id: r.member_id,
                        public_identifier: r.public_identifier,
                        public_profile_url: r.public_profile_url,
                        first_name: r.first_name,
                        last_name: r.last_name,
                    })
                    .collect(),
                cursor: wire.cursor.filter(|c| !c.is_empty()),
            })
        })
    }

    fn get_profile<'a>(
        &'a self,
        account_id: &'a str,
        identifier: &'a str,
        sales_navigator: bool,
    ) -> BoxFuture<'a, ProviderResult<Profile>> {
        Box::pin(async move {
            check_id("account_id", account_id)?;
            check_id("identifier", identifier)?;
            let mut url = self.url(&["users", identifier]);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("account_id", account_id);
                if sales_navigator {
                    q.append_pair("linkedin_api", "sales_navigator");
                }
            }
            let wire: ProfileWire = self.send(self.http.get(url)).await?;
            Ok(Profile {
                provider_id: wire.provider_id,
                public_identifier: wire.public_identifier,
                is_relationship: bool_like(wire.is_relationship.as_ref()),
                first_name: wire.first_name,
                last_name: wire.last_name,
                headline: wire.headline,
                network_distance: wire.network_distance,
            })
        })
    }

    fn send_invite<'a>(
        &'a self,
        account_id: &'a str,
        provider_id: &'a str,
        message: Option<&'a str>,
    ) -> BoxFuture<'a, ProviderResult<InviteSent>> {
        Box::pin(async move {
            check_id("account_id", account_id)?;
            check_id("provider_id", provider_id)?;
            let mut body = serde_json::json!({
                "provider_id": provider_id,
                "account_id": account_id,
            });
            if let Some(message) = message.filter(|m| !m.is_empty()) {
                let chars = message.chars().count();
                if chars > MAX_INVITE_NOTE_CHARS {
                    return Err(ProviderError::refused(
                        "too_many_characters",
                        format!(
                            "the invite note has {chars} characters; LinkedIn takes at most {MAX_INVITE_NOTE_CHARS}"
                        ),
                    ));
                }
                body["message"] = serde_json::Value::String(message.to_string());
            }
            let wire: InviteWire = self
                .send(self.http.post(self.url(&["users", "invite"])).json(&body))
                .await?;
            Ok(InviteSent {
                invitation_id: wire.invitation_id,
                usage: wire
                    .usage
                    .as_ref()
                    .and_then(|u| u.as_u64().or_else(|| u.as_f64().map(|f| f as u64)))
                    .and_then(|u| u32::try_from(u).ok()),
            })
        })
    }

    fn send_message<'a>(
        &'a self,
        account_id: &'a str,
        attendee_provider_id: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, ProviderResult<MessageSent>> {
        Box::pin(async move {
            check_id("account_id", account_id)?;
            check_id("attendee_provider_id", attendee_provider_id)?;
            check_text(text)?;
            let form = reqwest::multipart::Form::new()
                .text("account_id", account_id.to_string())
                .text("attendees_ids", attendee_provider_id.to_string())
                .text("text", text.to_string());
            let wire: ChatStartedWire = self
                .send(self.http.post(self.url(&["chats"])).multipart(form))
                .await?;
            Ok(MessageSent {
                chat_id: wire.chat_id,
                message_id: wire.message_id,
            })
        })
    }

    fn list_sent_invites<'a>(
        &'a self,
        account_id: &'a str,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, ProviderResult<SentInvitesPage>> {
        Box::pin(async move {
            check_id("account_id", account_id)?;
            let mut url = self.url(&["users", "invite", "sent"]);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("account_id", account_id);
                if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
                    q.append_pair("cursor", cursor);
                }
            }
            let wire: InvitationsWire = self.send(self.http.get(url)).await?;
            Ok(SentInvitesPage {
                items: wire
                    .items
                    .into_iter()
                    .map(|i| SentInvite {
                        sent_at_ms: i.parsed_datetime.as_deref().and_then(rfc3339_ms),
                        id: i.id,
                        invited_user_id: i.invited_user_id,
                        invited_user_public_id: i.invited_user_public_id,
                        invitation_text: i.invitation_text,
                    })
                    .collect(),
                cursor: wire.cursor.filter(|c| !c.is_empty()),
            })
        })
    }

    fn list_attendee_messages<'a>(
        &'a self,
        account_id: &'a str,
        attendee_provider_id: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Vec<ChatMessage>>> {
        Box::pin(async move {
            check_id("account_id", account_id)?;
            check_id("attendee_provider_id", attendee_provider_id)?;
            let mut url = self.url(&["chat_attendees", attendee_provider_id, "messages"]);
            url.query_pairs_mut()
                .append_pair("account_id", account_id)
                .append_pair("limit", "100");
            let wire: MessagesWire = self.send(self.http.get(url)).await?;
            Ok(wire
                .items
                .into_iter()
                .map(|m| ChatMessage {
                    is_sender: m.is_sender.as_bool().unwrap_or(false)
                        || m.is_sender.as_i64() == Some(1),
                    at_ms: m.timestamp.as_deref().and_then(rfc3339_ms),
                    id: m.id,
                    chat_id: m.chat_id,
                    text: m.text,
                })
                .collect())
        })
    }

    fn list_accounts<'a>(&'a self) -> BoxFuture<'a, ProviderResult<Vec<ProviderAccount>>> {
        Box::pin(async move {
            let mut accounts = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..MAX_ACCOUNT_PAGES {
                let mut url = self.url(&["accounts"]);
                if let Some(c) = &cursor {
                    url.query_pairs_mut().append_pair("cursor", c);
                }
                let wire: AccountsWire = self.send(self.http.get(url)).await?;
                accounts.extend(
                    wire.items
                        .into_iter()
                        .filter(|a| {
                            a.kind
                                .as_deref()
                                .is_none_or(|k| k.eq_ignore_ascii_case("LINKEDIN"))
                        })
                        .map(AccountWire::into_account),
                );
                cursor = wire.cursor.filter(|c| !c.is_empty());
                if cursor.is_none() {
                    break;
                }
            }
            Ok(accounts)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_segments_and_keep_a_base_path() {
        let c = UnipileClient::new(
            "https://api8.unipile.com:13851/",
            "k",
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.url(&["users", "jean é/x"]).as_str(),
            "https://api8.unipile.com:13851/api/v1/users/jean%20%C3%A9%2Fx"
        );
        let c = UnipileClient::new("http://127.0.0.1:9/proxy", "k", Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.url(&["accounts"]).as_str(),
            "http://127.0.0.1:9/proxy/api/v1/accounts"
        );
        assert!(UnipileClient::new("ftp://x", "k", Duration::from_secs(1)).is_err());
        assert!(UnipileClient::new("http://x", " ", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn created_at_forms() {
        let v = serde_json::json!(1_782_818_741);
        assert_eq!(created_at(Some(&v)), Some(1_782_818_741_000));
        let v = serde_json::json!(1_782_818_741_123_i64);
        assert_eq!(created_at(Some(&v)), Some(1_782_818_741_123));
        let v = serde_json::json!("2026-07-06T09:43:27.002Z");
        assert!(created_at(Some(&v)).is_some());
        assert_eq!(created_at(None), None);
    }
}
