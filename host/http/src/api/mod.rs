//! The JSON API under `/api`: workspaces, LinkedIn accounts, campaigns and
//! their lifecycle, prospect import, live stats, prospect timelines and
//! traces.
//!
//! Every failure is an [`ApiError`] with a stable code: 400 `invalid_json`
//! for a body that does not parse, 404 `not_found` for an unknown id, 422
//! `invalid_<field>` for a value that parses but is not acceptable, 409
//! for a conflict with the stored state. Each state change is one
//! transaction carrying its audit event, so a refused request writes
//! nothing.

pub mod campaigns;
pub mod extract;
pub mod prospects;
pub mod workspaces;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::text::MAX_ID_BYTES;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Largest JSON body the API reads (a 5,000-prospect import fits easily).
pub const API_BODY_LIMIT: usize = 8 << 20;

/// The `/api` routes (to be nested under `/api`), behind the API token.
pub fn router(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/workspaces", post(workspaces::create_workspace))
        .route("/workspaces/{id}", get(workspaces::get_workspace))
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
            post(prospects::import_prospects),
        )
        .route("/prospects/{id}", get(prospects::get_prospect))
        .route(
            "/prospects/{id}/resync",
            post(prospects::resync_prospect).get(prospects::get_resync),
        )
        .route("/traces", get(prospects::list_traces))
        .route_layer(middleware::from_fn_with_state(app, require_api_token))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            API_BODY_LIMIT,
            crate::body::refuse_declared_over,
        ))
}

/// Refuses `/api` requests without the configured bearer token (401
/// `unauthorized`); lets everything through when no token is configured.
async fn require_api_token(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let Some(token) = app.config.api_token.as_deref()
        && !bearer_matches(req.headers(), token)
    {
        return unauthorized("missing or wrong `Authorization: Bearer <token>` header");
    }
    next.run(req).await
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

/// Whether the request carries `Authorization: Bearer <token>`. The
/// comparison is constant-time over the sha256 of both values (so neither
/// the content nor the length of the token leaks); an empty configured
/// token matches nothing.
pub(crate) fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .unwrap_or("");
    let equal: bool = Sha256::digest(given.as_bytes())
        .as_slice()
        .ct_eq(Sha256::digest(token.as_bytes()).as_slice())
        .into();
    equal && !token.is_empty()
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
