//! The JSON API under `/api`: workspaces, LinkedIn accounts, campaigns and
//! their lifecycle, prospect import, live stats, prospect timelines,
//! traces, notification endpoints with their deliveries, and the
//! dashboard's reads (overview, prospects table, late accepts, bridge
//! misses).
//!
//! Every route takes the API token, the admin token, or a workspace token
//! (see [`crate::caller`]): with a workspace token, another workspace's
//! object is a 404 exactly like a missing one, lists show its workspace
//! only, and creating a workspace is a 403
//! `forbidden_for_workspace_token`.
//!
//! Every failure is an [`ApiError`] with a stable code: 400 `invalid_json`
//! for a body that does not parse, 404 `not_found` for an unknown id, 422
//! `invalid_<field>` for a value that parses but is not acceptable, 409
//! for a conflict with the stored state. Each state change is one
//! transaction carrying its audit event, so a refused request writes
//! nothing.

pub mod campaigns;
pub mod dashboard;
pub mod extract;
pub mod integrations;
pub mod prospects;
pub mod workspaces;

use crate::app::App;
use crate::caller::{Caller, bearer, token_matches};
use crate::error::{ApiError, ApiResult};
use crate::text::MAX_ID_BYTES;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// Largest JSON body the API reads (a 5,000-prospect import fits easily).
pub const API_BODY_LIMIT: usize = 8 << 20;

/// The `/api` routes (to be nested under `/api`), behind the API token,
/// the admin token or a workspace token.
pub fn router(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route(
            "/workspaces",
            post(workspaces::create_workspace).get(dashboard::list_workspaces),
        )
        .route("/workspaces/{id}", get(workspaces::get_workspace))
        .route(
            "/workspaces/{id}/overview",
            get(dashboard::workspace_overview),
        )
        .route(
            "/workspaces/{id}/late-accepts",
            get(dashboard::late_accepts),
        )
        .route(
            "/workspaces/{id}/bridge-misses",
            get(dashboard::bridge_misses),
        )
        .route(
            "/workspaces/{id}/accounts",
            post(workspaces::create_account).get(workspaces::list_accounts),
        )
        .route("/accounts/{id}", get(workspaces::get_account))
        .route(
            "/accounts/{id}/status",
            post(workspaces::set_account_status),
        )
        .route(
            "/workspaces/{id}/campaigns",
            post(campaigns::create_campaign).get(campaigns::list_campaigns),
        )
        .route("/campaigns/{id}", get(campaigns::get_campaign))
        .route("/campaigns/{id}/start", post(campaigns::start_campaign))
        .route("/campaigns/{id}/pause", post(campaigns::pause_campaign))
        .route("/campaigns/{id}/resume", post(campaigns::resume_campaign))
        .route("/campaigns/{id}/stop", post(campaigns::stop_campaign))
        .route("/campaigns/{id}/stats", get(campaigns::campaign_stats))
        .route(
            "/campaigns/{id}/prospects",
            post(prospects::import_prospects).get(dashboard::campaign_prospects),
        )
        .route("/prospects/{id}", get(prospects::get_prospect))
        .route(
            "/prospects/{id}/timeline",
            get(dashboard::prospect_timeline),
        )
        .route(
            "/prospects/{id}/resync",
            post(prospects::resync_prospect).get(prospects::get_resync),
        )
        .route("/traces", get(prospects::list_traces))
        .route(
            "/workspaces/{id}/endpoints",
            post(integrations::create_endpoint).get(integrations::list_endpoints),
        )
        .route(
            "/endpoints/{id}",
            get(integrations::get_endpoint).delete(integrations::delete_endpoint),
        )
        .route(
            "/endpoints/{id}/disable",
            post(integrations::disable_endpoint),
        )
        .route(
            "/endpoints/{id}/enable",
            post(integrations::enable_endpoint),
        )
        .route("/endpoints/{id}/test", post(integrations::test_endpoint))
        .route(
            "/endpoints/{id}/deliveries",
            get(integrations::list_deliveries),
        )
        .route(
            "/workspaces/{id}/dead-letters",
            get(integrations::list_dead_letters),
        )
        .route("/deliveries/{id}", get(integrations::get_delivery))
        .route("/deliveries/{id}/retry", post(integrations::retry_delivery))
        .route_layer(middleware::from_fn_with_state(app, require_api_caller))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            API_BODY_LIMIT,
            crate::body::refuse_declared_over,
        ))
}

/// Identifies the caller of an `/api` request and hands it to the
/// handlers (the [`Caller`] extractor): the admin token and the API token
/// open everything, a workspace token its workspace; anything else is a
/// 401 `unauthorized`. Without a configured API token the API is open
/// (anyone is the API token), except to a workspace token that is unknown
/// or revoked: its holder is told it no longer opens anything.
async fn require_api_caller(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let caller = match Caller::identify(&app, req.headers()).await {
        Ok(Some(caller)) => caller,
        Ok(None) if app.config.api_token.is_none() && !presents_workspace_token(req.headers()) => {
            Caller::ApiToken
        }
        Ok(None) => {
            return unauthorized("missing or wrong `Authorization: Bearer <token>` header");
        }
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Whether the request's bearer has the shape of a workspace token.
fn presents_workspace_token(headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|t| t.starts_with(crate::lifecycle::tokens::TOKEN_PREFIX))
}

/// A 401 `unauthorized` with a `WWW-Authenticate: Bearer` challenge.
pub(crate) fn unauthorized(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Whether the request carries `Authorization: Bearer <token>` (compared
/// in constant time, see [`token_matches`]).
pub(crate) fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    bearer(headers).is_some_and(|given| token_matches(given, Some(token)))
}

/// A pooled connection for reads.
pub(crate) async fn conn(app: &App) -> ApiResult<crate::store::PooledConnection> {
    Ok(app.db.acquire().await?)
}

/// A 422 `code` naming the field.
pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// Checks a required text field: trimmed, 1 to `max` characters (the
/// lifecycles' own check).
pub(crate) fn required_text(
    code: &'static str,
    field: &str,
    value: &str,
    max: usize,
) -> ApiResult<String> {
    Ok(crate::lifecycle::required_text(code, field, value, max)?)
}

/// Checks a required id: trimmed, 1 to [`MAX_ID_BYTES`] bytes, the bound
/// webhooks put on the ids they carry (an id the API took over it would
/// make every webhook naming it refused).
pub(crate) fn required_id(code: &'static str, field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        return Err(invalid(
            code,
            format!(
                "`{field}` must be 1 to {MAX_ID_BYTES} bytes, got {}",
                value.len()
            ),
        ));
    }
    Ok(value.to_string())
}

pub(crate) use crate::lifecycle::optional_text;
