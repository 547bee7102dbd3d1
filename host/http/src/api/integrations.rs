//! Notification endpoints and their deliveries over HTTP: every handler
//! checks the caller (another workspace's endpoint or delivery is a 404
//! like a missing one) and calls [`crate::lifecycle::integrations`].

use super::conn;
use super::extract::{JsonBody, Path, Query};
use super::workspaces::guard_workspace;
use crate::app::App;
use crate::caller::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::lifecycle::LifecycleError;
use crate::lifecycle::integrations::{
    self as lifecycle, DeadLetterPage, DeliveryPage, EndpointRequest,
};
use crate::notify::TestSend;
use crate::store::deliveries::{self, DeliveryView};
use crate::store::endpoints::{self, CreatedEndpoint, Endpoint};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;

/// Body of `POST /api/workspaces/{id}/endpoints`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointBody {
    /// `slack` (a Slack incoming webhook URL) or `webhook` (a generic
    /// JSON endpoint signed per Standard Webhooks: n8n, Zapier, …).
    pub kind: String,
    /// Where to POST: an absolute `http://` or `https://` URL, at most
    /// 2,048 bytes.
    pub url: String,
    /// A label, 1 to 200 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether it starts enabled (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Query of the paginated lists.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many (default 100, at most 500).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The endpoint `id`, or 404 when it does not exist or the caller may not
/// see its workspace (the lifecycle's own `not_found`, so both read the
/// same).
async fn load_endpoint(
    c: &mut crate::store::Connection,
    caller: &Caller,
    id: &str,
) -> ApiResult<Endpoint> {
    endpoints::get(c, id)
        .await?
        .filter(|e| caller.may_see(&e.workspace_id))
        .ok_or_else(|| LifecycleError::not_found("endpoint", id).into())
}

/// Refuses, as missing (404), an endpoint a workspace token may not see,
/// before a lifecycle acts on it.
async fn guard_endpoint(app: &App, caller: &Caller, id: &str) -> ApiResult<()> {
    if caller.workspace().is_none() {
        return Ok(());
    }
    let mut c = conn(app).await?;
    load_endpoint(&mut c, caller, id).await.map(drop)
}

/// Refuses, as missing (404), a delivery a workspace token may not see.
async fn guard_delivery(app: &App, caller: &Caller, id: &str) -> ApiResult<()> {
    if caller.workspace().is_none() {
        return Ok(());
    }
    let mut c = conn(app).await?;
    deliveries::view(&mut c, id)
        .await?
        .filter(|d| caller.may_see(&d.workspace_id))
        .map(drop)
        .ok_or_else(|| LifecycleError::not_found("delivery", id).into())
}

/// Creates a notification endpoint. A `webhook` endpoint's signing secret
/// (`whsec_…`) is in this answer only, as `signing_secret`: keep it to
/// verify signatures, it is never shown again.
#[utoipa::path(
    post, path = "/api/workspaces/{id}/endpoints", tag = "integrations",
    params(("id" = String, Path, description = "Workspace id")),
    request_body = NewEndpointBody,
    security(("api_token" = [])),
    responses(
        (status = 201, description = "Created; `signing_secret` shown this once", body = CreatedEndpoint),
        (status = 400, description = "Malformed JSON (`invalid_json`, `invalid_field`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "Unknown workspace (`not_found`)", body = ErrorBody),
        (status = 422, description = "`invalid_kind` (not `slack` or `webhook`), `invalid_url` (not an absolute http(s) URL with a host, or over 2,048 bytes), `invalid_name` (not 1 to 200 characters), `invalid_text`", body = ErrorBody),
    )
)]
pub async fn create_endpoint(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(workspace_id): Path<String>,
    JsonBody(body): JsonBody<NewEndpointBody>,
) -> ApiResult<(StatusCode, Json<CreatedEndpoint>)> {
    guard_workspace(&app, &caller, &workspace_id).await?;
    let request = EndpointRequest {
        kind: &body.kind,
        url: &body.url,
        name: body.name.as_deref(),
        enabled: body.enabled,
    };
    let created = lifecycle::create(&app, &workspace_id, &request, "api").await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A workspace's notification endpoints (deleted ones left out), oldest
/// first. No secret is ever shown.
#[utoipa::path(
    get, path = "/api/workspaces/{id}/endpoints", tag = "integrations",
    params(("id" = String, Path, description = "Workspace id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = Vec<Endpoint>),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn list_endpoints(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(workspace_id): Path<String>,
) -> ApiResult<Json<Vec<Endpoint>>> {
    guard_workspace(&app, &caller, &workspace_id).await?;
    Ok(Json(lifecycle::list(&app, &workspace_id).await?))
}

/// A notification endpoint (a deleted one too, with its `deleted_at`).
#[utoipa::path(
    get, path = "/api/endpoints/{id}", tag = "integrations",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = Endpoint),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn get_endpoint(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Endpoint>> {
    let mut c = conn(&app).await?;
    Ok(Json(load_endpoint(&mut c, &caller, &id).await?))
}

/// Disables an endpoint: new events get no delivery to it and its pending
/// deliveries wait, unsent, until it is enabled again.
#[utoipa::path(
    post, path = "/api/endpoints/{id}/disable", tag = "integrations",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "The endpoint, disabled (unchanged if it was)", body = Endpoint),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_deleted`", body = ErrorBody),
    )
)]
pub async fn disable_endpoint(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Endpoint>> {
    guard_endpoint(&app, &caller, &id).await?;
    Ok(Json(lifecycle::set_enabled(&app, &id, false, "api").await?))
}

/// Enables an endpoint: new events get a delivery to it, and the
/// deliveries that waited while it was disabled are sent.
#[utoipa::path(
    post, path = "/api/endpoints/{id}/enable", tag = "integrations",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "The endpoint, enabled (unchanged if it was)", body = Endpoint),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_deleted`", body = ErrorBody),
    )
)]
pub async fn enable_endpoint(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Endpoint>> {
    guard_endpoint(&app, &caller, &id).await?;
    Ok(Json(lifecycle::set_enabled(&app, &id, true, "api").await?))
}

/// Deletes an endpoint (204, again 204). The delete is soft: the endpoint
/// is no longer listed and gets nothing more, its pending deliveries are
/// given up (dead, `endpoint deleted`), and it and its deliveries stay
/// readable by id.
#[utoipa::path(
    delete, path = "/api/endpoints/{id}", tag = "integrations",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("api_token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn delete_endpoint(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    guard_endpoint(&app, &caller, &id).await?;
    lifecycle::delete(&app, &id, "api").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a sample `accord.test` event to the endpoint now, the way real
/// deliveries are sent (Slack text, or the JSON signed per Standard
/// Webhooks), enabled or not, and reports what it answered. Nothing is
/// stored: the answer is the only record.
#[utoipa::path(
    post, path = "/api/endpoints/{id}/test", tag = "integrations",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Sent; `ok` says whether the endpoint answered 2xx, `error` why not", body = TestSend),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_deleted`", body = ErrorBody),
    )
)]
pub async fn test_endpoint(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TestSend>> {
    guard_endpoint(&app, &caller, &id).await?;
    Ok(Json(lifecycle::send_test(&app, &id).await?))
}

/// An endpoint's deliveries, newest first: status (`pending`,
/// `delivered`, `dead`), attempts, the last error and HTTP status, when
/// the next attempt is due.
#[utoipa::path(
    get, path = "/api/endpoints/{id}/deliveries", tag = "integrations",
    params(("id" = String, Path, description = "Endpoint id"), PageQuery),
    security(("api_token" = [])),
    responses(
        (status = 200, body = DeliveryPage),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_limit` (not 1 to 500), `invalid_cursor`", body = ErrorBody),
    )
)]
pub async fn list_deliveries(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<DeliveryPage>> {
    guard_endpoint(&app, &caller, &id).await?;
    Ok(Json(
        lifecycle::deliveries(&app, &id, q.cursor.as_deref(), q.limit).await?,
    ))
}

/// A workspace's dead letters: deliveries that failed their last retry,
/// most recently dead first (those of deleted endpoints left out).
#[utoipa::path(
    get, path = "/api/workspaces/{id}/dead-letters", tag = "integrations",
    params(("id" = String, Path, description = "Workspace id"), PageQuery),
    security(("api_token" = [])),
    responses(
        (status = 200, body = DeadLetterPage),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_limit` (not 1 to 500), `invalid_cursor`", body = ErrorBody),
    )
)]
pub async fn list_dead_letters(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(workspace_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<DeadLetterPage>> {
    guard_workspace(&app, &caller, &workspace_id).await?;
    Ok(Json(
        lifecycle::dead_letters(&app, &workspace_id, q.cursor.as_deref(), q.limit).await?,
    ))
}

/// A delivery.
#[utoipa::path(
    get, path = "/api/deliveries/{id}", tag = "integrations",
    params(("id" = String, Path, description = "Delivery id")),
    security(("api_token" = [])),
    responses(
        (status = 200, body = DeliveryView),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn get_delivery(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryView>> {
    guard_delivery(&app, &caller, &id).await?;
    Ok(Json(lifecycle::delivery(&app, &id).await?))
}

/// Retries a dead delivery: it is pending again, due now with a fresh
/// retry schedule, and the notifier is woken (a disabled endpoint's
/// delivery waits until the endpoint is enabled).
#[utoipa::path(
    post, path = "/api/deliveries/{id}/retry", tag = "integrations",
    params(("id" = String, Path, description = "Delivery id")),
    security(("api_token" = [])),
    responses(
        (status = 200, description = "Pending again", body = DeliveryView),
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`not_dead` (pending or delivered), `endpoint_deleted`", body = ErrorBody),
    )
)]
pub async fn retry_delivery(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryView>> {
    guard_delivery(&app, &caller, &id).await?;
    Ok(Json(lifecycle::retry(&app, &id, "api").await?))
}
