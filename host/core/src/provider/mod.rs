//! The LinkedIn provider: what the host asks of LinkedIn (through Unipile)
//! as one object-safe trait, usable as `Arc<dyn LinkedinProvider>`, with
//! typed, classified errors ([`ProviderError`], [`ErrorClass`]).
//!
//! [`UnipileClient`] implements it over HTTP; the simulator
//! ([`crate::simulator`]) serves the same paths and payloads on loopback.

pub mod error;
pub mod unipile;

pub use error::{ErrorClass, KNOWN_ERRORS, KnownError, ProviderError, classify};
pub use unipile::{ClientConfigError, UnipileClient};

use crate::clock::Millis;
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future (the trait stays object-safe without the
/// async-trait crate).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of a provider call.
pub type ProviderResult<T> = Result<T, ProviderError>;

/// The longest invite note LinkedIn takes, in characters.
pub const MAX_INVITE_NOTE_CHARS: usize = 300;

/// One 1st-degree connection of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The connection's provider id (`ACo…`).
    pub member_id: String,
    /// Vanity slug.
    pub public_identifier: Option<String>,
    /// Profile URL.
    pub public_profile_url: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// When the connection was made, ms (the provider answers seconds or
    /// milliseconds; values under 10^11 are read as seconds).
    pub created_at_ms: Option<Millis>,
}

/// A page of relations, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelationsPage {
    /// The relations.
    pub items: Vec<Relation>,
    /// The cursor of the next page; `None` on the last one.
    pub cursor: Option<String>,
}

/// A LinkedIn profile as seen from the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The classic provider id (`ACo…`), also when looked up by a Sales
    /// Navigator id.
    pub provider_id: String,
    /// Vanity slug.
    pub public_identifier: Option<String>,
    /// Whether the person is a 1st-degree connection, when the provider
    /// says.
    pub is_relationship: Option<bool>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Headline.
    pub headline: Option<String>,
    /// `FIRST_DEGREE`, `SECOND_DEGREE`, `THIRD_DEGREE`, `OUT_OF_NETWORK`, …
    pub network_distance: Option<String>,
}

/// An invite was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteSent {
    /// The provider's invitation id.
    pub invitation_id: String,
    /// Percentage of the provider's invite quota used, reported only past
    /// 50, 75, 90 and 95.
    pub usage: Option<u32>,
}

/// A message was sent (a chat started, or a reply in a chat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSent {
    /// The chat.
    pub chat_id: String,
    /// The message, when the provider names it.
    pub message_id: Option<String>,
}

/// A message of a chat, as the provider records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Message id.
    pub id: String,
    /// Its chat.
    pub chat_id: String,
    /// Sent by the account itself (not the attendee).
    pub is_sender: bool,
    /// Text.
    pub text: Option<String>,
    /// When, ms.
    pub at_ms: Option<Millis>,
}

/// One pending invitation the account sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentInvite {
    /// The invitation id.
    pub id: String,
    /// The invitee's provider id.
    pub invited_user_id: Option<String>,
    /// The invitee's vanity slug.
    pub invited_user_public_id: Option<String>,
    /// The note sent with it.
    pub invitation_text: Option<String>,
    /// When it was sent, ms, when the provider says.
    pub sent_at_ms: Option<Millis>,
}

/// A page of sent invitations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SentInvitesPage {
    /// The invitations.
    pub items: Vec<SentInvite>,
    /// The cursor of the next page; `None` on the last one.
    pub cursor: Option<String>,
}

/// A LinkedIn account connected to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    /// The provider's account id.
    pub id: String,
    /// The account's own member id (`ACo…`).
    pub own_member_id: Option<String>,
    /// `OK`, `STOPPED`, `ERROR`, `CREDENTIALS`, `PERMISSIONS`,
    /// `CONNECTING`: the first source status that is not `OK`, else `OK`.
    pub status: String,
}

impl ProviderAccount {
    /// Whether every source of the account is running.
    pub fn is_ok(&self) -> bool {
        self.status == "OK"
    }
}

/// What the host asks of LinkedIn. Every call is one provider request
/// (except [`LinkedinProvider::list_accounts`], which follows the cursor).
pub trait LinkedinProvider: Send + Sync {
    /// One page of the account's relations, newest first.
    fn list_relations<'a>(
        &'a self,
        account_id: &'a str,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, ProviderResult<RelationsPage>>;

    /// A profile by slug or provider id; `sales_navigator` looks up an
    /// `ACw…` id through the Sales Navigator API, which answers with the
    /// classic `ACo…` provider id.
    fn get_profile<'a>(
        &'a self,
        account_id: &'a str,
        identifier: &'a str,
        sales_navigator: bool,
    ) -> BoxFuture<'a, ProviderResult<Profile>>;

    /// Sends a connection invite, with an optional note of at most
    /// [`MAX_INVITE_NOTE_CHARS`] characters (a longer one is refused with
    /// `too_many_characters` before any call).
    fn send_invite<'a>(
        &'a self,
        account_id: &'a str,
        provider_id: &'a str,
        message: Option<&'a str>,
    ) -> BoxFuture<'a, ProviderResult<InviteSent>>;

    /// Starts a chat with a 1st-degree connection with a first message (or
    /// posts into the existing chat).
    fn send_message<'a>(
        &'a self,
        account_id: &'a str,
        attendee_provider_id: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, ProviderResult<MessageSent>>;

    /// One page of the account's pending sent invitations.
    fn list_sent_invites<'a>(
        &'a self,
        account_id: &'a str,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, ProviderResult<SentInvitesPage>>;

    /// The newest messages where `attendee_provider_id` is involved
    /// (`GET /api/v1/chat_attendees/{id}/messages`): one read that tells
    /// whether a message whose answer was lost reached the chat.
    fn list_attendee_messages<'a>(
        &'a self,
        account_id: &'a str,
        attendee_provider_id: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Vec<ChatMessage>>>;

    /// Every LinkedIn account of the provider workspace.
    fn list_accounts<'a>(&'a self) -> BoxFuture<'a, ProviderResult<Vec<ProviderAccount>>>;
}

/// Reads a `created_at`: values under 10^11 are seconds, others
/// milliseconds.
pub fn created_at_to_ms(value: i64) -> Millis {
    if value.abs() < 100_000_000_000 {
        value.saturating_mul(1000)
    } else {
        value
    }
}

/// The Sales Navigator lead id of a lead URL
/// (`https://www.linkedin.com/sales/lead/ACw…,NAME_SEARCH,xxxx`): the part
/// before the first comma.
pub fn sales_navigator_lead_id(url: &str) -> Option<&str> {
    let rest = url
        .split("/sales/lead/")
        .nth(1)
        .or_else(|| url.split("/sales/people/").nth(1))?;
    let id = rest.split([',', '/', '?', '#']).next()?;
    accord_policy_core::linkedin::id_kind(id).map(|_| id)
}

/// The numeric member id inside an `ACo…`/`ACw…` id (bytes 2..8 of the
/// base64url decoding; observed, not documented).
pub fn member_number(provider_id: &str) -> Option<u64> {
    accord_policy_core::linkedin::decode_member_number(provider_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at_units() {
        assert_eq!(created_at_to_ms(1_782_818_741), 1_782_818_741_000);
        assert_eq!(created_at_to_ms(1_782_818_741_000), 1_782_818_741_000);
    }

    #[test]
    fn lead_urls() {
        assert_eq!(
            sales_navigator_lead_id(
                "https://www.linkedin.com/sales/lead/ACwAAAAdaooBxyz,NAME_SEARCH,abcd"
            ),
            Some("ACwAAAAdaooBxyz")
        );
        assert_eq!(
            sales_navigator_lead_id("https://www.linkedin.com/in/x/"),
            None
        );
        assert_eq!(member_number("ACwAAAAdaooBxyz"), Some(1_927_818));
    }
}
