//! Notification endpoints (Slack incoming webhooks, Standard Webhooks
//! endpoints for n8n, Zapier, …) and their deliveries: create, list,
//! enable, disable, delete, send a test event; list an endpoint's
//! deliveries and a workspace's dead letters; retry a dead delivery.
//!
//! Deleting is soft: the endpoint is marked deleted and disabled, its row
//! and every delivery are kept (its history stays readable by id), and
//! its pending deliveries are given up (dead, "endpoint deleted") since
//! nothing will ever send them. A deleted endpoint cannot be enabled,
//! tested or retried again (409 `endpoint_deleted`).

use super::{LifecycleError, required_text};
use crate::app::App;
use crate::clock::new_id;
use crate::notify::{Notifier, TestSend};
use crate::store::deliveries::{self, DeadDelivery, DeliveryView};
use crate::store::endpoints::{
    self, CreatedEndpoint, Endpoint, EndpointError, EndpointKind, NewEndpoint,
};
use crate::store::events::{self, NewEvent};
use crate::store::{Connection, accounts};
use serde::Serialize;

/// The longest page of a list.
pub const MAX_PAGE: i64 = 500;
/// The page size when none is asked for.
pub const DEFAULT_PAGE: i64 = 100;
/// The longest endpoint name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The last error a delivery given up by its endpoint's deletion carries.
pub const DELETED_REASON: &str = "endpoint deleted";

/// An endpoint to create, as an edge received it.
#[derive(Debug, Clone)]
pub struct EndpointRequest<'a> {
    /// `slack` or `webhook`.
    pub kind: &'a str,
    /// Where to POST: an absolute `http(s)://` URL.
    pub url: &'a str,
    /// A label (1 to 200 characters), if any.
    pub name: Option<&'a str>,
    /// Whether it starts enabled (default true).
    pub enabled: Option<bool>,
}

/// A page of an endpoint's deliveries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A page of a workspace's dead letters.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetterPage {
    /// Most recently dead first.
    pub items: Vec<DeadDelivery>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn parse_kind(kind: &str) -> Result<EndpointKind, LifecycleError> {
    EndpointKind::parse(kind.trim()).ok_or_else(|| {
        LifecycleError::invalid(
            "invalid_kind",
            format!(
                "`kind` must be `slack` or `webhook`, got `{}`",
                crate::text::echo(kind, 64)
            ),
        )
    })
}

fn page_limit(limit: Option<i64>) -> Result<i64, LifecycleError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(LifecycleError::invalid(
            "invalid_limit",
            format!("`limit` must be 1 to {MAX_PAGE}, got {limit}"),
        ));
    }
    Ok(limit)
}

fn bad_cursor() -> LifecycleError {
    LifecycleError::invalid(
        "invalid_cursor",
        "`cursor` must be a `next_cursor` this endpoint returned",
    )
}

async fn require_workspace(c: &mut Connection, id: &str) -> Result<(), LifecycleError> {
    match accounts::workspace(c, id).await? {
        Some(_) => Ok(()),
        None => Err(LifecycleError::not_found("workspace", id)),
    }
}

async fn require_endpoint(c: &mut Connection, id: &str) -> Result<Endpoint, LifecycleError> {
    endpoints::get(c, id)
        .await?
        .ok_or_else(|| LifecycleError::not_found("endpoint", id))
}

fn refuse_deleted(endpoint: &Endpoint) -> Result<(), LifecycleError> {
    if endpoint.is_deleted() {
        return Err(LifecycleError::conflict(
            "endpoint_deleted",
            format!("endpoint `{}` was deleted", endpoint.id),
        ));
    }
    Ok(())
}

/// Creates an endpoint of a workspace (`invalid_kind`, `invalid_url`,
/// `invalid_name`; `not_found` for the workspace) with a
/// `notification_endpoint_created` audit event in the same transaction.
/// A `webhook` endpoint gets a generated Standard Webhooks secret,
/// returned here and never again.
pub async fn create(
    app: &App,
    workspace_id: &str,
    request: &EndpointRequest<'_>,
    source: &'static str,
) -> Result<CreatedEndpoint, LifecycleError> {
    let kind = parse_kind(request.kind)?;
    let url = request.url.trim();
    endpoints::validate_url(url).map_err(endpoint_error)?;
    let name = request
        .name
        .map(|n| required_text("invalid_name", "name", n, MAX_NAME_CHARS))
        .transpose()?;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    require_workspace(&mut tx, workspace_id).await?;
    let new = NewEndpoint {
        workspace_id,
        kind,
        url,
        name: name.as_deref(),
        secret: None,
        enabled: request.enabled.unwrap_or(true),
    };
    let endpoint = endpoints::insert(&mut tx, &new, now)
        .await
        .map_err(endpoint_error)?;
    let event = NewEvent {
        workspace_id,
        kind: "notification_endpoint_created",
        source: Some(source),
        detail: Some(serde_json::json!({
            "endpoint_id": endpoint.id, "kind": endpoint.kind, "name": endpoint.name,
            "enabled": endpoint.is_enabled(),
        })),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(CreatedEndpoint::from(endpoint))
}

/// The refusal of the store's endpoint checks, as a lifecycle error.
fn endpoint_error(e: EndpointError) -> LifecycleError {
    match e {
        EndpointError::InvalidUrl(m) => LifecycleError::invalid(
            "invalid_url",
            format!(
                "`url` must be an absolute http:// or https:// URL with a host: {}",
                crate::text::echo(&m, 300)
            ),
        ),
        EndpointError::InvalidSecret(m) => LifecycleError::invalid("invalid_secret", m),
        EndpointError::UnexpectedSecret => {
            LifecycleError::invalid("invalid_secret", "a slack endpoint takes no signing secret")
        }
        EndpointError::UnknownWorkspace(id) => LifecycleError::not_found("workspace", &id),
        EndpointError::Store(s) => LifecycleError::Store(s),
    }
}

/// A workspace's endpoints, deleted ones left out, oldest first
/// (`not_found` for the workspace). Secrets are never shown.
pub async fn list(app: &App, workspace_id: &str) -> Result<Vec<Endpoint>, LifecycleError> {
    let mut c = app.db.acquire().await?;
    require_workspace(&mut c, workspace_id).await?;
    Ok(endpoints::of_workspace(&mut c, workspace_id).await?)
}

/// An endpoint, deleted or not (`not_found`).
pub async fn get(app: &App, id: &str) -> Result<Endpoint, LifecycleError> {
    let mut c = app.db.acquire().await?;
    require_endpoint(&mut c, id).await
}

/// Enables or disables an endpoint (409 `endpoint_deleted` for a deleted
/// one); a change records `notification_endpoint_enabled` or `…_disabled`
/// in its transaction, and enabling wakes the notifier for the deliveries
/// that waited. Returns the endpoint after the change.
pub async fn set_enabled(
    app: &App,
    id: &str,
    enabled: bool,
    source: &'static str,
) -> Result<Endpoint, LifecycleError> {
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let before = require_endpoint(&mut tx, id).await?;
    refuse_deleted(&before)?;
    let changed = before.is_enabled() != enabled;
    if changed {
        endpoints::set_enabled(&mut tx, id, enabled).await?;
        let kind = if enabled {
            "notification_endpoint_enabled"
        } else {
            "notification_endpoint_disabled"
        };
        let event = NewEvent {
            workspace_id: &before.workspace_id,
            kind,
            source: Some(source),
            detail: Some(serde_json::json!({"endpoint_id": id})),
            ..NewEvent::default()
        };
        events::record(&mut tx, event, now).await?;
    }
    let after = require_endpoint(&mut tx, id).await?;
    tx.commit().await?;
    if changed && enabled {
        app.pipeline.wakers().outbox.notify_one();
    }
    Ok(after)
}

/// Deletes an endpoint softly (see the module's text); deleting it again
/// changes nothing. The first deletion records
/// `notification_endpoint_deleted` (with how many pending deliveries were
/// given up) in its transaction.
pub async fn delete(app: &App, id: &str, source: &'static str) -> Result<(), LifecycleError> {
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let endpoint = require_endpoint(&mut tx, id).await?;
    if !endpoints::soft_delete(&mut tx, id, now).await? {
        return Ok(());
    }
    let given_up =
        deliveries::give_up_pending_of_endpoint(&mut tx, id, DELETED_REASON, now).await?;
    let event = NewEvent {
        workspace_id: &endpoint.workspace_id,
        kind: "notification_endpoint_deleted",
        source: Some(source),
        detail: Some(serde_json::json!({"endpoint_id": id, "pending_given_up": given_up})),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Sends a sample event ([`crate::notify::TEST_EVENT_TYPE`]) to an
/// endpoint now through the notifier's own send path, enabled or not (409
/// `endpoint_deleted` for a deleted one), and reports the answer. Nothing
/// is stored.
pub async fn send_test(app: &App, id: &str) -> Result<TestSend, LifecycleError> {
    let endpoint = get(app, id).await?;
    refuse_deleted(&endpoint)?;
    let notifier = Notifier::new(app.db.clone(), app.clock.clone())
        .map_err(|e| LifecycleError::Internal(e.to_string()))?;
    let webhook_id = format!("test:{}:{}", endpoint.id, new_id());
    Ok(notifier.send_test(&endpoint, &webhook_id).await)
}

/// A page of an endpoint's deliveries (deleted endpoints included),
/// newest first, after `cursor` (`invalid_limit`, `invalid_cursor`;
/// `not_found` for the endpoint).
pub async fn deliveries(
    app: &App,
    endpoint_id: &str,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<DeliveryPage, LifecycleError> {
    let limit = page_limit(limit)?;
    let cursor = cursor.map(str::trim);
    if cursor.is_some_and(str::is_empty) {
        return Err(bad_cursor());
    }
    let mut c = app.db.acquire().await?;
    require_endpoint(&mut c, endpoint_id).await?;
    let items = deliveries::of_endpoint(&mut c, endpoint_id, cursor, limit).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|d| d.id.clone()))
        .flatten();
    Ok(DeliveryPage { items, next_cursor })
}

/// A page of a workspace's dead letters (the dead deliveries of its
/// endpoints that are not deleted), most recently dead first, after
/// `cursor` (`invalid_limit`, `invalid_cursor`; `not_found` for the
/// workspace).
pub async fn dead_letters(
    app: &App,
    workspace_id: &str,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<DeadLetterPage, LifecycleError> {
    let limit = page_limit(limit)?;
    let before = match cursor.map(str::trim) {
        None => None,
        Some(c) => {
            let (at, id) = c.split_once('_').ok_or_else(bad_cursor)?;
            let at: i64 = at.parse().map_err(|_| bad_cursor())?;
            if id.is_empty() {
                return Err(bad_cursor());
            }
            Some((at, id))
        }
    };
    let mut c = app.db.acquire().await?;
    require_workspace(&mut c, workspace_id).await?;
    let items = deliveries::dead_page(&mut c, workspace_id, before, limit).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|d| format!("{}_{}", d.dead_at, d.id)))
        .flatten();
    Ok(DeadLetterPage { items, next_cursor })
}

/// A delivery with its event (`not_found`).
pub async fn delivery(app: &App, id: &str) -> Result<DeliveryView, LifecycleError> {
    let mut c = app.db.acquire().await?;
    deliveries::view(&mut c, id)
        .await?
        .ok_or_else(|| LifecycleError::not_found("delivery", id))
}

/// Puts a dead delivery back in the queue, due now with a fresh retry
/// schedule, and wakes the notifier (409 `not_dead` for a delivery that is
/// pending or delivered, `endpoint_deleted` when its endpoint was
/// deleted; `not_found`). A disabled endpoint's delivery waits until the
/// endpoint is enabled. Records `notification_delivery_retried` in the
/// same transaction; returns the delivery after the change.
pub async fn retry(
    app: &App,
    id: &str,
    source: &'static str,
) -> Result<DeliveryView, LifecycleError> {
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let before = deliveries::view(&mut tx, id)
        .await?
        .ok_or_else(|| LifecycleError::not_found("delivery", id))?;
    if before.status != "dead" {
        return Err(LifecycleError::conflict(
            "not_dead",
            format!(
                "delivery `{id}` is {}; only a dead delivery can be retried",
                before.status
            ),
        ));
    }
    let endpoint = require_endpoint(&mut tx, &before.endpoint_id).await?;
    refuse_deleted(&endpoint)?;
    if !deliveries::requeue(&mut tx, &before.workspace_id, id, now).await? {
        return Err(LifecycleError::Internal(format!(
            "dead delivery `{id}` was not requeued"
        )));
    }
    let event = NewEvent {
        workspace_id: &before.workspace_id,
        kind: "notification_delivery_retried",
        source: Some(source),
        detail: Some(serde_json::json!({
            "delivery_id": id, "endpoint_id": before.endpoint_id,
            "attempts_before": before.attempts, "last_error": before.last_error,
        })),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    let after = deliveries::view(&mut tx, id)
        .await?
        .ok_or_else(|| LifecycleError::not_found("delivery", id))?;
    tx.commit().await?;
    app.pipeline.wakers().outbox.notify_one();
    Ok(after)
}
