//! The HTTP edge (axum): Unipile webhooks, the JSON API, the admin API,
//! health and metrics, and the OpenAPI document at `/openapi.json`.

pub mod admin;
pub mod api;
pub mod body;
pub mod caller;
pub mod error;
pub mod health;
pub mod openapi;
pub mod server;
pub mod unread_body;
pub mod webhooks;

// The core's modules under their own names, so a handler reads
// `crate::engine::…` as the core does.
use accord_core::{
    app, clock, domain, engine, ingest, lifecycle, notify, pipeline, policy, store, text,
};

use crate::app::App;
use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use std::sync::Arc;

/// The whole router.
pub fn router(app: Arc<App>) -> Router {
    let webhook_limit = app.config.max_body_bytes;
    let body_timeout = app.config.edge.body_read_timeout;
    Router::new()
        .route(
            "/webhooks/unipile",
            post(webhooks::unipile).layer(from_fn_with_state(
                webhook_limit,
                body::refuse_declared_over,
            )),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .nest("/api", api::router(app.clone()))
        .nest("/admin", admin::router(app.clone()))
        // The dashboard: HTML pages, its own errors (HTML too) and its own
        // guard against cross-site form posts.
        .route("/", get(|| async { axum::response::Redirect::to("/ui") }))
        .route(
            "/ui/",
            get(|| async { axum::response::Redirect::to("/ui") }),
        )
        .nest(
            "/ui",
            accord_web::router().layer(axum::middleware::from_fn(accord_web::same_origin_posts)),
        )
        .fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "route_not_found",
                "no such route",
            )
        })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        .layer(axum::middleware::from_fn(unread_body::finish_unread_bodies))
        .layer(from_fn_with_state(body_timeout, body::bound_body))
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panicked,
        ))
        .with_state(app)
}
