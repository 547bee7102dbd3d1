//! Workspace tokens under `/admin/workspaces/{id}/tokens`: issue one (its
//! secret is in that answer only), list them (never a secret), revoke one.
//! A workspace token opens `/api` for its workspace only (see
//! [`crate::caller`]).

use crate::api::extract::{JsonBody, Path};
use crate::app::App;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::lifecycle::LifecycleError;
use crate::lifecycle::tokens::{self, IssuedToken};
use crate::store::tokens::WorkspaceToken;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;

/// Body of `POST /admin/workspaces/{id}/tokens`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspaceToken {
    /// A label, 1-200 characters (who or what uses it).
    pub name: String,
}

/// The lifecycle's refusals with the codes of these routes: an unknown
/// workspace is `workspace_not_found`, an unknown token `token_not_found`.
fn token_error(e: LifecycleError) -> ApiError {
    match e {
        LifecycleError::NotFound {
            what: "workspace",
            id,
        } => ApiError::new(
            StatusCode::NOT_FOUND,
            "workspace_not_found",
            format!("no workspace with id `{id}`"),
        ),
        LifecycleError::NotFound { what, id } => ApiError::new(
            StatusCode::NOT_FOUND,
            "token_not_found",
            format!("no {what} with id `{id}`"),
        ),
        e => e.into(),
    }
}

/// Issues a workspace token. The answer carries the secret (`token`):
/// it is shown this once, and only its sha256 is stored.
#[utoipa::path(
    post, path = "/admin/workspaces/{id}/tokens", tag = "admin",
    params(("id" = String, Path, description = "Workspace id")),
    request_body = NewWorkspaceToken,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Issued; `token` is shown only here", body = IssuedToken),
        (status = 400, description = "Malformed body (`invalid_json`, `invalid_field`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
        (status = 404, description = "Unknown workspace (`workspace_not_found`)", body = ErrorBody),
        (status = 422, description = "`invalid_name`: not 1 to 200 characters", body = ErrorBody),
    )
)]
pub async fn create_token(
    State(app): State<Arc<App>>,
    Path(workspace_id): Path<String>,
    JsonBody(body): JsonBody<NewWorkspaceToken>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let issued = tokens::issue(&app, &workspace_id, &body.name, "admin")
        .await
        .map_err(token_error)?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// A workspace's tokens, revoked ones included, oldest first (never a
/// secret).
#[utoipa::path(
    get, path = "/admin/workspaces/{id}/tokens", tag = "admin",
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = Vec<WorkspaceToken>),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
        (status = 404, description = "Unknown workspace (`workspace_not_found`)", body = ErrorBody),
    )
)]
pub async fn list_tokens(
    State(app): State<Arc<App>>,
    Path(workspace_id): Path<String>,
) -> ApiResult<Json<Vec<WorkspaceToken>>> {
    Ok(Json(
        tokens::list(&app, &workspace_id)
            .await
            .map_err(token_error)?,
    ))
}

/// Revokes a workspace token: from now on it is refused (401). Revoking
/// a revoked token changes nothing (still `204`).
#[utoipa::path(
    delete, path = "/admin/workspaces/{id}/tokens/{token_id}", tag = "admin",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("token_id" = String, Path, description = "Token id"),
    ),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Revoked (now or before)"),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
        (status = 404, description = "Unknown workspace (`workspace_not_found`), or no such token in it (`token_not_found`)", body = ErrorBody),
    )
)]
pub async fn revoke_token(
    State(app): State<Arc<App>>,
    Path((workspace_id, token_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    tokens::revoke(&app, &workspace_id, &token_id, "admin")
        .await
        .map_err(token_error)?;
    Ok(StatusCode::NO_CONTENT)
}
