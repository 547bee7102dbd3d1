//! The dashboard: server-rendered HTML for operators and teams, served by
//! `accord serve` under `/ui`. Pages read through the same lifecycles and
//! store functions as the JSON API and change state only through the
//! lifecycles; templates are checked at compile time (askama), and the
//! few scripts (htmx, the live counters) are embedded in the binary, so
//! there is no front-end build step.
//!
//! Who may see what follows the API's tokens ([`session`]): a workspace
//! token's session sees its workspace only, and another workspace's page
//! answers exactly like a missing one (404).

mod assets;
mod error;
mod live;
mod pages;
mod session;
mod view;

use accord_core::app::App;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

pub use session::{SESSION_COOKIE, same_origin_posts};

/// The dashboard's routes, to be nested under `/ui`.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(pages::home::home))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route("/assets/{name}", get(assets::asset))
        .route("/workspaces/{id}", get(pages::overview::overview))
        .route("/workspaces/{id}/live", get(live::events))
        .route(
            "/workspaces/{id}/counts",
            get(pages::overview::counts_fragment),
        )
        .route(
            "/workspaces/{id}/late-accepts",
            get(pages::lists::late_accepts),
        )
        .route(
            "/workspaces/{id}/bridge-misses",
            get(pages::lists::bridge_misses),
        )
        .route(
            "/workspaces/{id}/orphan-webhooks",
            get(pages::lists::orphan_webhooks),
        )
        .route("/campaigns/{id}", get(pages::campaign::campaign))
        .route("/campaigns/{id}/import", post(pages::campaign::import))
        .route("/campaigns/{id}/{action}", post(pages::campaign::act))
        .route("/prospects/{id}", get(pages::prospect::prospect))
        .route("/prospects/{id}/resync", post(pages::prospect::resync))
        .route(
            "/workspaces/{id}/integrations",
            get(pages::integrations::integrations).post(pages::integrations::create),
        )
        .route("/endpoints/{id}", get(pages::integrations::endpoint))
        .route("/endpoints/{id}/test", post(pages::integrations::test))
        .route("/endpoints/{id}/enable", post(pages::integrations::enable))
        .route(
            "/endpoints/{id}/disable",
            post(pages::integrations::disable),
        )
        .route(
            "/endpoints/{id}/delete",
            get(pages::integrations::confirm_delete).post(pages::integrations::delete),
        )
        .route("/deliveries/{id}/retry", post(pages::integrations::retry))
        .route("/policies", get(pages::policies::policies))
        .route("/policies/upload", post(pages::policies::upload))
        .route("/policies/decisions", get(pages::decisions::log))
        .route("/policies/decisions/{id}", get(pages::decisions::decision))
        .route("/policies/{slot}/shadow", get(pages::decisions::shadow))
        .route(
            "/policies/{slot}/replay",
            get(pages::decisions::replay_form).post(pages::decisions::replay),
        )
        .route("/policies/{slot}/{change}", post(pages::policies::change))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // A CSV import or a policy module is larger than axum's default.
        .layer(axum::extract::DefaultBodyLimit::max(
            pages::policies::MAX_MODULE_BYTES + (1 << 20),
        ))
}
