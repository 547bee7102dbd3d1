//! The admin API under `/admin`: policies per scope ([`policies`]);
//! inbox replay; held sends; workspace tokens ([`tokens`]).
//!
//! Off (403 `admin_disabled`) unless an admin token is configured; then
//! every request needs `Authorization: Bearer <admin token>` (401
//! `unauthorized` otherwise), except the policy routes, which also take
//! a workspace token for its own workspace's scope (see [`policies`]).

pub mod decisions;
pub mod policies;
pub mod tokens;

use super::api::extract::{JsonBody, Path, Query};
use super::api::{bearer_matches, unauthorized};
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::app::App;
use crate::caller::{ADMIN_ACTOR, Actor, Caller};
use crate::ingest::inbox::ReplayReport;
use crate::store::jobs::{self, Job};
use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Deserialize;
use std::sync::Arc;

/// The `/admin` routes (to be nested under `/admin`): the policy routes
/// behind the admin token or a workspace token, the others behind the
/// admin token.
pub fn router(app: Arc<App>) -> Router<Arc<App>> {
    let policy_routes = Router::new()
        .route("/policies", get(policies::list_policies))
        .route(
            "/policies/modules",
            get(policies::list_modules).post(policies::submit_module),
        )
        .route("/policies/modules/{sha256}", get(policies::get_module))
        .route("/policies/history", get(policies::list_history))
        .route("/policies/rekey-jobs", get(policies::list_rekey_jobs))
        .route(
            "/policies/{slot}",
            put(policies::upload_policy).delete(policies::unassign_policy),
        )
        .route("/policies/{slot}/promote", post(policies::promote_policy))
        .route("/policies/{slot}/rollback", post(policies::rollback_policy))
        .route("/policies/{slot}/shadow", get(decisions::shadow_report))
        .route("/policies/{slot}/replay", post(decisions::replay))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            require_admin_or_workspace_token,
        ));
    Router::new()
        .route("/decisions", get(decisions::list_decisions))
        .route("/decisions/{id}", get(decisions::get_decision))
        .route("/inbox/replay", post(replay_inbox))
        .route("/jobs/held", get(list_held_jobs))
        .route("/jobs/{id}/verdict", post(give_verdict))
        .route(
            "/workspaces/{id}/tokens",
            post(tokens::create_token).get(tokens::list_tokens),
        )
        .route(
            "/workspaces/{id}/tokens/{token_id}",
            delete(tokens::revoke_token),
        )
        .route_layer(middleware::from_fn_with_state(app, require_admin_token))
        .merge(policy_routes)
}

/// The 403 `admin_disabled` of every `/admin` route while no admin token
/// is configured (a workspace token issued earlier included).
fn admin_disabled() -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "admin_disabled",
        "the admin API is disabled: no admin token is configured",
    )
    .into_response()
}

/// Refuses `/admin` requests without the admin token, and hands the
/// handlers [`Caller::Admin`] acting as [`ADMIN_ACTOR`].
async fn require_admin_token(
    State(app): State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = app.config.admin_token.as_deref() else {
        return admin_disabled();
    };
    if !bearer_matches(req.headers(), token) {
        return unauthorized("missing or wrong `Authorization: Bearer <admin token>` header");
    }
    req.extensions_mut().insert(Caller::Admin);
    req.extensions_mut().insert(Actor(ADMIN_ACTOR.to_string()));
    next.run(req).await
}

/// Refuses policy requests without the admin token or an active workspace
/// token, and hands the handlers the [`Caller`] and the [`Actor`]; which
/// scope a workspace token may touch is the handlers' check.
async fn require_admin_or_workspace_token(
    State(app): State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Response {
    if app.config.admin_token.is_none() {
        return admin_disabled();
    }
    let (caller, actor) = match Caller::identify_admin_or_workspace(&app, req.headers()).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return unauthorized(
                "missing or wrong `Authorization: Bearer <admin token or workspace token>` header",
            );
        }
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(actor);
    next.run(req).await
}

/// Query of `POST /admin/inbox/replay`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// Replay every stored webhook, not only pending and failed ones.
    #[serde(default)]
    pub all: bool,
}

/// Processes the inbox again (pending and failed rows, or every row with
/// `all=true`). Idempotent.
#[utoipa::path(
    post, path = "/admin/inbox/replay", tag = "admin",
    params(ReplayQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = ReplayReport),
        (status = 400, description = "Malformed query (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
    )
)]
pub async fn replay_inbox(
    State(app): State<Arc<App>>,
    Query(q): Query<ReplayQuery>,
) -> ApiResult<Json<ReplayReport>> {
    Ok(Json(app.inbox.replay(q.all).await?))
}

/// Send jobs held because their outcome is unknown and the provider's
/// record could not be read, oldest first (at most 500).
#[utoipa::path(
    get, path = "/admin/jobs/held", tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, body = Vec<Job>),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
    )
)]
pub async fn list_held_jobs(State(app): State<Arc<App>>) -> ApiResult<Json<Vec<Job>>> {
    let mut c = app.db.acquire().await?;
    Ok(Json(jobs::held(&mut c, 500).await?))
}

/// An operator's verdict on a held send.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// LinkedIn shows the message or invite: complete the job, send nothing.
    Sent,
    /// LinkedIn shows nothing: send it.
    NotSent,
    /// Read the provider's record again.
    Reconcile,
}

/// The body of `POST /admin/jobs/{id}/verdict`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct VerdictBody {
    /// The verdict.
    pub verdict: Verdict,
}

/// Releases a held send with an operator's verdict; the engine acts on it
/// at the job's next claim, inside the account's envelope.
#[utoipa::path(
    post, path = "/admin/jobs/{id}/verdict", tag = "admin",
    params(("id" = String, Path, description = "The held job")),
    request_body = VerdictBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, body = Job),
        (status = 400, description = "Malformed body (`invalid_json`, `missing_field`, …)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No held job with this id (`not_found`)", body = ErrorBody),
    )
)]
pub async fn give_verdict(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VerdictBody>,
) -> ApiResult<Json<Job>> {
    let verdict = match body.verdict {
        Verdict::Sent => Some("sent"),
        Verdict::NotSent => Some("not_sent"),
        Verdict::Reconcile => None,
    };
    let now = app.clock.now_ms();
    let mut c = app.db.acquire().await?;
    let job = jobs::release_held(&mut c, &id, verdict, now)
        .await?
        .ok_or_else(|| ApiError::not_found("held job", &id))?;
    app.pipeline.wakers().wake_jobs();
    Ok(Json(job))
}
