//! `POST /webhooks/unipile`: the raw body goes to the inbox before the 200.

use super::error::{ApiError, ApiResult};
use crate::app::App;
use crate::ingest::inbox::{IngestError, Receipt};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Receives any Unipile webhook.
#[utoipa::path(
    post, path = "/webhooks/unipile", tag = "webhooks",
    request_body(content = String, description = "A Unipile webhook body, verbatim", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (or a duplicate of a stored delivery); `refused: true` when a value is over its bound: stored and traced, never processed", body = Receipt),
        (status = 400, description = "Malformed JSON (`invalid_json`), a known event without its key field (`missing_field`), a field Accord reads of the wrong type (`invalid_field`) or holding a NUL character (`invalid_text`)", body = super::error::ErrorBody),
        (status = 408, description = "The body did not arrive in time (`body_timeout`)", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong secret header", body = super::error::ErrorBody),
        (status = 413, description = "Body over the limit", body = super::error::ErrorBody),
        (status = 503, description = "No secret configured, or the database is down (Unipile retries)", body = super::error::ErrorBody),
    )
)]
pub async fn unipile(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Receipt>> {
    authenticate(&app, &headers)?;
    let limit = app.config.max_body_bytes;
    let bytes = super::body::read_limited(body, limit)
        .await
        .inspect_err(|e| {
            let outcome = if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "unreadable"
            };
            metrics::counter!("accord_webhooks_total", "event" => "unknown", "outcome" => outcome)
                .increment(1);
        })?;
    match app.inbox.receive(&bytes).await {
        Ok(receipt) => Ok(Json(receipt)),
        Err(IngestError::Invalid(e)) => {
            metrics::counter!("accord_webhooks_total", "event" => "unknown", "outcome" => "invalid").increment(1);
            let code = match e {
                crate::ingest::unipile::WebhookError::MalformedJson { .. } => "invalid_json",
                crate::ingest::unipile::WebhookError::NotAnObject(_) => "invalid_payload",
                crate::ingest::unipile::WebhookError::MissingField { .. } => "missing_field",
                crate::ingest::unipile::WebhookError::InvalidField { .. } => "invalid_field",
                crate::ingest::unipile::WebhookError::InvalidText { .. } => "invalid_text",
            };
            Err(ApiError::bad_request(code, e.to_string()))
        }
        Err(IngestError::Store(e)) => Err(e.into()),
    }
}

fn authenticate(app: &App, headers: &HeaderMap) -> ApiResult<()> {
    let Some(secret) = &app.config.webhook_secret else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook_secret_unset",
            "ACCORD_WEBHOOK_SECRET is not configured; webhooks are refused",
        ));
    };
    let given = headers
        .get(app.config.webhook_header.as_str())
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if given.ct_eq(secret.as_bytes()).into() {
        return Ok(());
    }
    metrics::counter!("accord_webhooks_total", "event" => "unknown", "outcome" => "unauthorized")
        .increment(1);
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        format!("missing or wrong `{}` header", app.config.webhook_header),
    ))
}

/// Whether `name` can be the webhook secret's header (checked when the
/// host is configured, so a typo fails at start, not at every delivery).
pub fn is_header_name(name: &str) -> bool {
    axum::http::HeaderName::try_from(name).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_are_checked_as_http_does() {
        assert!(super::is_header_name("x-unipile-secret"));
        assert!(super::is_header_name("Authorization"));
        assert!(!super::is_header_name("bad header"));
        assert!(!super::is_header_name(""));
        assert!(!super::is_header_name("é"));
    }
}
