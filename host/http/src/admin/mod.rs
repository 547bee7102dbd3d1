//! The admin API under `/admin`: the active policy per slot, hot-swapping
//! a slot's module (upload or back to the built-in default, with a re-key
//! of every prospect when the match policy changes), inbox replay, held
//! sends, and workspace tokens ([`tokens`]).
//!
//! Off (403 `admin_disabled`) unless an admin token is configured; then
//! every request needs `Authorization: Bearer <admin token>` (401
//! `unauthorized` otherwise).

pub mod tokens;

use super::api::extract::{JsonBody, Path, Query};
use super::api::{bearer_matches, unauthorized};
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::app::App;
use crate::caller::Caller;
use crate::ingest::inbox::ReplayReport;
use crate::lifecycle::LifecycleError;
use crate::lifecycle::policies::{self, PolicySwap};
use crate::policy::{PolicyModule, Slot, builtin};
use crate::store::jobs::{self, Job};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Largest policy module accepted, bytes.
pub const MAX_MODULE_BYTES: usize = 16 << 20;

/// The `/admin` routes (to be nested under `/admin`), behind the admin token.
pub fn router(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/policies", get(list_policies))
        .route("/policies/{slot}", put(upload_policy).delete(reset_policy))
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
}

/// Refuses `/admin` requests without the admin token, and hands the
/// handlers [`Caller::Admin`].
async fn require_admin_token(
    State(app): State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = app.config.admin_token.as_deref() else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is disabled: no admin token is configured",
        )
        .into_response();
    };
    if !bearer_matches(req.headers(), token) {
        return unauthorized("missing or wrong `Authorization: Bearer <admin token>` header");
    }
    req.extensions_mut().insert(Caller::Admin);
    next.run(req).await
}

/// The module active in one slot.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivePolicy {
    /// `match`, `routing` or `preflight`.
    pub slot: String,
    /// The WIT world it implements.
    pub world: String,
    /// Hex sha256 of the module: its identity.
    pub sha256: String,
    /// Where it came from (`builtin:…`, `upload`, a path).
    pub origin: String,
    /// Whether it is the embedded default.
    pub builtin: bool,
}

fn describe(module: &PolicyModule) -> ActivePolicy {
    let slot = module.slot();
    ActivePolicy {
        slot: slot.as_str().to_string(),
        world: slot.world().to_string(),
        sha256: module.sha256().to_string(),
        origin: module.origin().to_string(),
        builtin: module.origin() == builtin::for_slot(slot).1,
    }
}

/// The active module of every slot.
#[utoipa::path(
    get, path = "/admin/policies", tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, body = Vec<ActivePolicy>),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
    )
)]
pub async fn list_policies(State(app): State<Arc<App>>) -> Json<Vec<ActivePolicy>> {
    Json(
        Slot::ALL
            .into_iter()
            .map(|slot| describe(&app.policies.active(slot)))
            .collect(),
    )
}

fn parse_slot(s: &str) -> ApiResult<Slot> {
    s.parse::<Slot>()
        .map_err(|e| ApiError::bad_request("invalid_slot", e))
}

/// Uploads a module (the raw `.wasm` component as the body), validates it
/// against the slot's world, stores and assigns it in one transaction,
/// activates it, and for the match slot re-keys every prospect: a match
/// module that fails on most prospects' keys is refused before anything
/// changes, and each prospect's old keys stay until its new ones are in.
#[utoipa::path(
    put, path = "/admin/policies/{slot}", tag = "admin",
    params(("slot" = String, Path, description = "`match`, `routing` or `preflight`")),
    request_body(content = Vec<u8>, description = "A WebAssembly component built for wasm32-wasip2 implementing the slot's world (at most 16 MiB)", content_type = "application/wasm"),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Active", body = PolicySwap),
        (status = 400, description = "Unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
        (status = 413, description = "Module over 16 MiB (`payload_too_large`)", body = ErrorBody),
        (status = 422, description = "Not a valid module for the slot (`invalid_policy`, with the loader's reason), or a match module that fails on most prospects' keys (`rekey_failed`)", body = ErrorBody),
    )
)]
pub async fn upload_policy(
    State(app): State<Arc<App>>,
    Path(slot): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<PolicySwap>> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a policy module is at most {MAX_MODULE_BYTES} bytes"),
        )
    };
    // Refuse a declared oversize body before reading any of it.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_MODULE_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = super::body::read_limited(body, MAX_MODULE_BYTES)
        .await
        .map_err(|e| {
            if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                e
            }
        })?;
    // Checked after the read: an answer given before the body is read
    // costs a large upload its connection (see `http::unread_body`).
    let slot = parse_slot(&slot)?;
    let swap = policies::upload(app.policy_host(), slot, bytes.to_vec())
        .await
        .map_err(LifecycleError::from)?;
    Ok(Json(swap))
}

/// Puts a slot back on its built-in default (and re-keys every prospect
/// for the match slot).
#[utoipa::path(
    delete, path = "/admin/policies/{slot}", tag = "admin",
    params(("slot" = String, Path, description = "`match`, `routing` or `preflight`")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The built-in default is active", body = PolicySwap),
        (status = 400, description = "Unknown slot (`invalid_slot`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
    )
)]
pub async fn reset_policy(
    State(app): State<Arc<App>>,
    Path(slot): Path<String>,
) -> ApiResult<Json<PolicySwap>> {
    let slot = parse_slot(&slot)?;
    let swap = policies::reset(app.policy_host(), slot)
        .await
        .map_err(LifecycleError::from)?;
    Ok(Json(swap))
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
