//! The provider's errors, typed and classified: every status and `type` of
//! Unipile's error catalogue maps to an [`ErrorClass`] that tells the caller
//! what to do (back off, pause the account, give up on the recipient, treat
//! it as an accept, never retry).

use serde::Deserialize;

/// What a failed provider call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Rate limit, provider or network trouble, timeout: back off and retry
    /// later (429, 5xx, connection errors, timeouts).
    Transient,
    /// The account cannot act: disconnected, restricted, not subscribed, or
    /// out of quota (401, 403, and the account-scoped 422s
    /// `invalid_account`, `payment_error`, `insufficient_credits`,
    /// `limit_exceeded`). Pause the account's jobs; do not blame the
    /// recipient.
    AccountLevel,
    /// This action cannot succeed for this recipient (the other 422s, such
    /// as `invalid_recipient`, `already_invited_recently`,
    /// `cannot_resend_yet`). Do not retry it.
    TerminalForRecipient,
    /// `already_connected` on an invite: the prospect is a 1st-degree
    /// connection, a forensic accept signal.
    AlreadyConnected,
    /// `no_connection_with_recipient` on a message: the prospect is not a
    /// connection. Never retried (the retry storm this prevents).
    NoConnectionWithRecipient,
    /// The request itself is wrong (400, 404, a note over 300 characters,
    /// an unreadable answer): a bug or bad data, not retried.
    Invalid,
}

impl ErrorClass {
    /// The class's stable snake_case name (for logs, metrics and storage).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::AccountLevel => "account_level",
            ErrorClass::TerminalForRecipient => "terminal_for_recipient",
            ErrorClass::AlreadyConnected => "already_connected",
            ErrorClass::NoConnectionWithRecipient => "no_connection_with_recipient",
            ErrorClass::Invalid => "invalid",
        }
    }

    /// Whether the same call may be retried later, after a back-off.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Transient)
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed provider call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider error {kind} ({}, {class}): {title}{}", status_text(*.status), detail_text(.detail))]
pub struct ProviderError {
    /// What the caller should do about it.
    pub class: ErrorClass,
    /// The HTTP status, when an answer came back.
    pub status: Option<u16>,
    /// The provider's `type` without `errors/` (`already_connected`,
    /// `too_many_requests`, …), or a local kind: `network_error`,
    /// `timeout`, `invalid_response`, `too_many_characters` (refused before
    /// calling).
    pub kind: String,
    /// The provider's title, or a short local one.
    pub title: String,
    /// The provider's detail, or a local explanation.
    pub detail: String,
}

fn status_text(status: Option<u16>) -> String {
    status.map_or_else(|| "no answer".to_string(), |s| format!("HTTP {s}"))
}

fn detail_text(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// One entry of Unipile's documented error catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownError {
    /// HTTP status.
    pub status: u16,
    /// The `type` without `errors/`.
    pub kind: &'static str,
    /// A title in Unipile's style.
    pub title: &'static str,
}

const fn known(status: u16, kind: &'static str, title: &'static str) -> KnownError {
    KnownError {
        status,
        kind,
        title,
    }
}

/// Every error type listed in Unipile's documentation (`unipile.md`).
pub const KNOWN_ERRORS: &[KnownError] = &[
    known(400, "too_many_characters", "Too many characters"),
    known(401, "disconnected_account", "Disconnected account"),
    known(401, "missing_credentials", "Missing credentials"),
    known(403, "account_restricted", "Account restricted"),
    known(403, "feature_not_subscribed", "Feature not subscribed"),
    known(422, "invalid_account", "Invalid account"),
    known(422, "invalid_recipient", "Invalid recipient"),
    known(
        422,
        "no_connection_with_recipient",
        "No connection with recipient",
    ),
    known(422, "blocked_recipient", "Blocked recipient"),
    known(422, "user_unreachable", "User unreachable"),
    known(422, "unprocessable_entity", "Unprocessable entity"),
    known(422, "payment_error", "Payment error"),
    known(422, "action_already_performed", "Action already performed"),
    known(422, "invalid_message", "Invalid message"),
    known(422, "invalid_post", "Invalid post"),
    known(422, "not_allowed_inmail", "InMail not allowed"),
    known(422, "insufficient_credits", "Insufficient credits"),
    known(422, "cannot_resend_yet", "Cannot resend yet"),
    known(
        422,
        "cannot_resend_within_24hrs",
        "Cannot resend within 24 hours",
    ),
    known(422, "limit_exceeded", "Limit exceeded"),
    known(
        422,
        "already_invited_recently",
        "Should delay new invitation to this recipient",
    ),
    known(422, "already_connected", "Already connected"),
    known(422, "cannot_invite_attendee", "Cannot invite attendee"),
    known(422, "comments_disabled", "Comments disabled"),
    known(422, "insufficient_job_slot", "Insufficient job slot"),
    known(429, "too_many_requests", "Too many requests"),
    known(500, "provider_error", "Provider error"),
    known(503, "network_down", "Network down"),
    known(503, "service_unavailable", "Service unavailable"),
    known(504, "request_timeout", "Request timeout"),
];

/// The catalogue entry of a `type` (with or without `errors/`).
pub fn known_error(kind: &str) -> Option<&'static KnownError> {
    let kind = kind.strip_prefix("errors/").unwrap_or(kind);
    KNOWN_ERRORS.iter().find(|e| e.kind == kind)
}

/// The 422 types that concern the sending account rather than the
/// recipient: repeating them with another recipient fails the same way, so
/// they pause the account instead of failing prospect after prospect.
const ACCOUNT_SCOPED_422: &[&str] = &[
    "invalid_account",
    "payment_error",
    "insufficient_credits",
    "limit_exceeded",
];

/// Classifies an answer by its status and `type` (without `errors/`);
/// `None` status means no answer (network error, timeout).
pub fn classify(status: Option<u16>, kind: &str) -> ErrorClass {
    let kind = kind.strip_prefix("errors/").unwrap_or(kind);
    let Some(status) = status else {
        return ErrorClass::Transient;
    };
    match kind {
        "already_connected" => return ErrorClass::AlreadyConnected,
        "no_connection_with_recipient" => return ErrorClass::NoConnectionWithRecipient,
        _ => {}
    }
    match status {
        401 | 403 => ErrorClass::AccountLevel,
        408 | 429 => ErrorClass::Transient,
        422 if ACCOUNT_SCOPED_422.contains(&kind) => ErrorClass::AccountLevel,
        422 => ErrorClass::TerminalForRecipient,
        500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Invalid,
    }
}

/// Unipile's error body, read leniently.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

impl ProviderError {
    /// An error with an explicit class.
    pub fn new(
        class: ErrorClass,
        status: Option<u16>,
        kind: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        ProviderError {
            class,
            status,
            kind: kind.into(),
            title: title.into(),
            detail: detail.into(),
        }
    }

    /// Reads a non-2xx answer: the `{"status","type","title","detail"}`
    /// body when there is one, else a kind derived from the status.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let kind = parsed
            .kind
            .as_deref()
            .map(|k| k.strip_prefix("errors/").unwrap_or(k).to_string())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| kind_for_status(status).to_string());
        let title = parsed
            .title
            .or_else(|| known_error(&kind).map(|k| k.title.to_string()))
            .unwrap_or_else(|| format!("HTTP {status}"));
        let detail = parsed.detail.unwrap_or_else(|| {
            if parsed.kind.is_none() && !body.is_empty() {
                String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
            } else {
                String::new()
            }
        });
        ProviderError {
            class: classify(Some(status), &kind),
            status: Some(status),
            kind,
            title,
            detail,
        }
    }

    /// A catalogued error as the provider would answer it.
    pub fn known(kind: &str, detail: impl Into<String>) -> Option<Self> {
        let k = known_error(kind)?;
        Some(ProviderError {
            class: classify(Some(k.status), k.kind),
            status: Some(k.status),
            kind: k.kind.to_string(),
            title: k.title.to_string(),
            detail: detail.into(),
        })
    }

    /// No answer: the connection failed or broke.
    pub fn network(detail: impl Into<String>) -> Self {
        Self::new(
            ErrorClass::Transient,
            None,
            "network_error",
            "Network error",
            detail,
        )
    }

    /// The connection could not be made: the request never left, so the
    /// provider did nothing.
    pub fn unreachable(detail: impl Into<String>) -> Self {
        Self::new(
            ErrorClass::Transient,
            None,
            "connect_error",
            "Provider unreachable",
            detail,
        )
    }

    /// Whether the provider may have acted although no success came back:
    /// a gateway timeout (504), or no answer after the request left (a
    /// timeout, a broken connection). Repeating such a send blindly can
    /// send twice.
    pub fn outcome_unknown(&self) -> bool {
        match self.status {
            Some(status) => status == 504,
            None => matches!(self.kind.as_str(), "timeout" | "network_error"),
        }
    }

    /// No answer within the client's timeout.
    pub fn timeout(detail: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, None, "timeout", "Timeout", detail)
    }

    /// A 2xx answer the client could not read.
    pub fn invalid_response(status: u16, detail: impl Into<String>) -> Self {
        Self::new(
            ErrorClass::Invalid,
            Some(status),
            "invalid_response",
            "Unreadable provider answer",
            detail,
        )
    }

    /// A request refused before it was sent (status `None`, class
    /// [`ErrorClass::Invalid`]).
    pub fn refused(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        let kind = kind.into();
        let title = known_error(&kind).map_or("Invalid request", |k| k.title);
        Self::new(ErrorClass::Invalid, None, kind, title, detail)
    }

    /// Whether retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class.is_retryable()
    }
}

/// The kind of an answer without a readable `type`.
fn kind_for_status(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        408 => "request_timeout",
        422 => "unprocessable_entity",
        429 => "too_many_requests",
        500 => "provider_error",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "request_timeout",
        _ => "http_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogued_type_has_a_class() {
        for k in KNOWN_ERRORS {
            let class = classify(Some(k.status), k.kind);
            let expected = match (k.status, k.kind) {
                (_, "already_connected") => ErrorClass::AlreadyConnected,
                (_, "no_connection_with_recipient") => ErrorClass::NoConnectionWithRecipient,
                (400, _) => ErrorClass::Invalid,
                (401 | 403, _) => ErrorClass::AccountLevel,
                (422, k) if ACCOUNT_SCOPED_422.contains(&k) => ErrorClass::AccountLevel,
                (422, _) => ErrorClass::TerminalForRecipient,
                _ => ErrorClass::Transient,
            };
            assert_eq!(class, expected, "{}", k.kind);
        }
    }

    #[test]
    fn reads_bodies_and_bare_statuses() {
        let e = ProviderError::from_response(
            422,
            br#"{"status":422,"type":"errors/already_invited_recently","title":"Should delay","detail":"d"}"#,
        );
        assert_eq!(e.kind, "already_invited_recently");
        assert_eq!(e.class, ErrorClass::TerminalForRecipient);
        assert_eq!(e.title, "Should delay");
        let e = ProviderError::from_response(502, b"<html>bad gateway</html>");
        assert_eq!(e.kind, "bad_gateway");
        assert_eq!(e.class, ErrorClass::Transient);
        assert!(e.detail.contains("bad gateway"));
        let e = ProviderError::from_response(429, b"");
        assert_eq!(e.kind, "too_many_requests");
        assert_eq!(e.title, "Too many requests");
        assert_eq!(classify(None, "anything"), ErrorClass::Transient);
        assert_eq!(classify(Some(404), "not_found"), ErrorClass::Invalid);
    }
}
