//! Where a workspace's notifications go: Slack incoming webhooks and
//! generic JSON endpoints (n8n, Zapier, …) signed per Standard Webhooks.
//!
//! A signing secret is never serialized: [`Endpoint`] skips it, and only
//! [`CreatedEndpoint`], returned once when an endpoint is created, shows it.

use super::StoreError;
use crate::clock::{Millis, new_id};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// The prefix of a Standard Webhooks signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of key in a generated secret.
pub const GENERATED_SECRET_BYTES: usize = 24;
/// The shortest key a secret may carry (Standard Webhooks: 24 to 64 bytes).
pub const MIN_SECRET_BYTES: usize = 24;
/// The longest key a secret may carry.
pub const MAX_SECRET_BYTES: usize = 64;
/// The longest accepted endpoint URL.
pub const MAX_URL_LEN: usize = 2048;

/// What kind of receiver an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// A Slack incoming webhook: a readable `{"text": …}` message.
    Slack,
    /// A generic JSON endpoint: the outbox payload, signed per Standard
    /// Webhooks.
    Webhook,
}

impl EndpointKind {
    /// The name stored in `notification_endpoints.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Slack => "slack",
            EndpointKind::Webhook => "webhook",
        }
    }

    /// Parses a stored kind.
    pub fn parse(s: &str) -> Option<EndpointKind> {
        match s {
            "slack" => Some(EndpointKind::Slack),
            "webhook" => Some(EndpointKind::Webhook),
            _ => None,
        }
    }
}

/// Why an endpoint cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The signing secret is not a Standard Webhooks `whsec_<base64>`
    /// secret of 24 to 64 bytes.
    #[error("invalid signing secret: {0}")]
    InvalidSecret(String),
    /// The URL is not an absolute `http(s)://` URL.
    #[error("invalid endpoint URL: {0}")]
    InvalidUrl(String),
    /// A Slack endpoint was given a signing secret (Slack does not verify
    /// one; the URL itself is the secret).
    #[error("a slack endpoint takes no signing secret")]
    UnexpectedSecret,
    /// The workspace does not exist.
    #[error("no workspace `{0}`")]
    UnknownWorkspace(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A notification endpoint. The signing secret is never serialized.
#[derive(Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Endpoint {
    /// Id.
    pub id: String,
    /// Its workspace.
    pub workspace_id: String,
    /// `slack` or `webhook`.
    pub kind: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// A label, if one was given.
    pub name: Option<String>,
    /// Standard Webhooks signing secret (`whsec_…`) of a `webhook`
    /// endpoint. Never serialized.
    #[serde(skip_serializing)]
    pub secret: Option<String>,
    /// 1 when new outbox rows get a delivery to it and pending ones are
    /// sent; 0 pauses it.
    pub enabled: i64,
    /// Creation time, ms.
    pub created_at: i64,
    /// When it was deleted, ms (a deleted endpoint is kept for its
    /// deliveries' history, listed no more and never sent to again).
    pub deleted_at: Option<i64>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("name", &self.name)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("enabled", &self.enabled)
            .field("created_at", &self.created_at)
            .field("deleted_at", &self.deleted_at)
            .finish()
    }
}

impl Endpoint {
    /// The kind as an enum.
    pub fn kind(&self) -> Result<EndpointKind, StoreError> {
        EndpointKind::parse(&self.kind).ok_or_else(|| StoreError::Corrupt {
            table: "notification_endpoints",
            reason: format!("kind {}", self.kind),
        })
    }

    /// Whether it is enabled.
    pub fn is_enabled(&self) -> bool {
        self.enabled != 0
    }

    /// Whether it was deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// The answer to creating an endpoint: the endpoint and, this once, its
/// signing secret, for the receiver to verify signatures with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedEndpoint {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The signing secret (`whsec_…`) of a `webhook` endpoint; shown only
    /// here.
    pub signing_secret: Option<String>,
}

impl From<Endpoint> for CreatedEndpoint {
    fn from(endpoint: Endpoint) -> Self {
        let signing_secret = endpoint.secret.clone();
        CreatedEndpoint {
            endpoint,
            signing_secret,
        }
    }
}

/// An endpoint to create.
#[derive(Debug, Clone)]
pub struct NewEndpoint<'a> {
    /// Its workspace.
    pub workspace_id: &'a str,
    /// Slack or generic webhook.
    pub kind: EndpointKind,
    /// Where to POST.
    pub url: &'a str,
    /// A label.
    pub name: Option<&'a str>,
    /// The signing secret of a webhook endpoint; `None` generates one.
    /// Must be `None` for Slack.
    pub secret: Option<&'a str>,
    /// Whether it starts enabled.
    pub enabled: bool,
}

/// A new Standard Webhooks secret: `whsec_` and the base64 of 24 random
/// bytes (from two v4 UUIDs' random bits).
pub fn generate_secret() -> String {
    let a = uuid::Uuid::new_v4().into_bytes();
    let b = uuid::Uuid::new_v4().into_bytes();
    // A v4 UUID is random except the version (byte 6, high nibble) and
    // variant (byte 8, high bits): take all of `a` (122 random bits) and
    // eight fully random bytes of `b`.
    let mut key = Vec::with_capacity(GENERATED_SECRET_BYTES);
    key.extend_from_slice(&a);
    key.extend_from_slice(&b[0..6]);
    key.extend_from_slice(&b[9..11]);
    format!("{SECRET_PREFIX}{}", BASE64.encode(&key))
}

/// The HMAC key of a `whsec_<base64>` secret, or why it is not one.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, EndpointError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
        EndpointError::InvalidSecret(format!("must start with `{SECRET_PREFIX}`"))
    })?;
    let key = BASE64
        .decode(encoded)
        .map_err(|e| EndpointError::InvalidSecret(format!("not base64 after the prefix: {e}")))?;
    if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
        return Err(EndpointError::InvalidSecret(format!(
            "the key is {} bytes, expected {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}",
            key.len()
        )));
    }
    Ok(key)
}

/// Checks that `url` is an absolute `http://` or `https://` URL with a
/// host.
pub fn validate_url(url: &str) -> Result<(), EndpointError> {
    if url.len() > MAX_URL_LEN {
        return Err(EndpointError::InvalidUrl(format!(
            "longer than {MAX_URL_LEN} bytes"
        )));
    }
    let parsed =
        url::Url::parse(url).map_err(|e| EndpointError::InvalidUrl(format!("{url}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(EndpointError::InvalidUrl(format!(
            "{url}: the scheme must be http or https"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(EndpointError::InvalidUrl(format!("{url}: no host")));
    }
    Ok(())
}

const COLUMNS: &str = "id, workspace_id, kind, url, name, secret, enabled, created_at, deleted_at";

/// Creates an endpoint after validating its URL and secret; a webhook
/// endpoint without a secret gets a generated one. Returns the row, secret
/// included (show it once with [`CreatedEndpoint`]).
pub async fn insert(
    c: &mut AnyConnection,
    e: &NewEndpoint<'_>,
    now: Millis,
) -> Result<Endpoint, EndpointError> {
    validate_url(e.url)?;
    let secret = match (e.kind, e.secret) {
        (EndpointKind::Slack, Some(_)) => return Err(EndpointError::UnexpectedSecret),
        (EndpointKind::Slack, None) => None,
        (EndpointKind::Webhook, Some(s)) => {
            secret_key(s)?;
            Some(s.to_string())
        }
        (EndpointKind::Webhook, None) => Some(generate_secret()),
    };
    if super::accounts::workspace(&mut *c, e.workspace_id)
        .await?
        .is_none()
    {
        return Err(EndpointError::UnknownWorkspace(e.workspace_id.to_string()));
    }
    let row = Endpoint {
        id: new_id(),
        workspace_id: e.workspace_id.to_string(),
        kind: e.kind.as_str().to_string(),
        url: e.url.to_string(),
        name: e.name.map(str::to_string),
        secret,
        enabled: i64::from(e.enabled),
        created_at: now,
        deleted_at: None,
    };
    sqlx::query(super::sql(format!(
        "INSERT INTO notification_endpoints ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )))
    .bind(&row.id)
    .bind(&row.workspace_id)
    .bind(&row.kind)
    .bind(&row.url)
    .bind(row.name.as_deref())
    .bind(row.secret.as_deref())
    .bind(row.enabled)
    .bind(row.created_at)
    .bind(row.deleted_at)
    .execute(c)
    .await
    .map_err(StoreError::from)?;
    Ok(row)
}

/// A workspace's endpoints that are not deleted, oldest first.
pub async fn of_workspace(
    c: &mut AnyConnection,
    workspace_id: &str,
) -> Result<Vec<Endpoint>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM notification_endpoints WHERE workspace_id = $1 AND deleted_at IS NULL \
         ORDER BY created_at, id"
    )))
    .bind(workspace_id)
    .fetch_all(c)
    .await?)
}

/// An endpoint by id.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<Endpoint>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM notification_endpoints WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// Enables or disables an endpoint. A disabled endpoint gets no delivery
/// for new outbox rows and its pending deliveries wait, unsent, until it
/// is enabled again. Returns whether the endpoint exists and is not
/// deleted.
pub async fn set_enabled(
    c: &mut AnyConnection,
    id: &str,
    enabled: bool,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE notification_endpoints SET enabled = $1 WHERE id = $2 AND deleted_at IS NULL",
    )
    .bind(i64::from(enabled))
    .bind(id)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes an endpoint softly: it is disabled and marked deleted, its row
/// kept for the history of its deliveries. Returns `false` when it does
/// not exist or was already deleted.
pub async fn soft_delete(c: &mut AnyConnection, id: &str, now: Millis) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE notification_endpoints SET enabled = 0, deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_valid_and_distinct() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert_eq!(secret_key(&a).map(|k| k.len()).ok(), Some(24));
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(matches!(
            secret_key("abc"),
            Err(EndpointError::InvalidSecret(_))
        ));
        assert!(matches!(
            secret_key("whsec_!!!"),
            Err(EndpointError::InvalidSecret(_))
        ));
        // 16 bytes: too short.
        assert!(matches!(
            secret_key(&format!("whsec_{}", BASE64.encode([7u8; 16]))),
            Err(EndpointError::InvalidSecret(_))
        ));
        assert!(secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    }

    #[test]
    fn urls_must_be_http() {
        assert!(validate_url("https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(validate_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(validate_url("ftp://example.com/").is_err());
        assert!(validate_url("not a url").is_err());
    }
}
