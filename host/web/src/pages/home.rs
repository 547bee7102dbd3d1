//! `/ui/`: a workspace token goes straight to its workspace; the admin
//! and API tokens (and open access) choose one from the list.

use super::conn;
use crate::error::PageResult;
use crate::session::Viewing;
use crate::view::Chrome;
use accord_core::app::App;
use accord_core::store::accounts::{self, Workspace};
use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::sync::Arc;

/// Workspaces listed at most (a host serves a handful of teams).
const LISTED: i64 = 500;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    workspaces: Vec<Workspace>,
}

/// `GET /ui/`.
pub async fn home(State(app): State<Arc<App>>, viewing: Viewing) -> PageResult<Response> {
    if let Some(own) = viewing.viewer.workspace() {
        return Ok(Redirect::to(&format!("/ui/workspaces/{own}")).into_response());
    }
    let mut c = conn(&app).await?;
    let page = HomePage {
        chrome: viewing.chrome("Workspaces"),
        workspaces: accounts::workspaces(&mut c, LISTED).await?,
    };
    Ok(Html(page.render()?).into_response())
}
