//! The workspaces a caller may see, with their sizes: the dashboard's
//! first page.

use super::LifecycleError;
use super::pages::{self, id_cursor};
use crate::app::App;
use crate::store::accounts::{self, WorkspaceSummary};
use serde::Serialize;

/// The cursor's prefix, so a cursor of another list is refused.
const CURSOR: &str = "w.";

/// A page of workspaces, in id order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkspacePage {
    /// The workspaces.
    pub items: Vec<WorkspaceSummary>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A page of workspaces after `cursor`; only `only` when given (a
/// workspace token's view) (`invalid_limit`, `invalid_cursor`).
pub async fn list(
    app: &App,
    only: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<WorkspacePage, LifecycleError> {
    let limit = pages::limit(limit)?;
    let after = cursor.map(|c| id_cursor(c, CURSOR)).transpose()?;
    let mut c = app.db.acquire().await?;
    let items = accounts::workspace_summaries(&mut c, only, after.unwrap_or(""), limit).await?;
    let next_cursor = pages::next(&items, limit, |w| format!("{CURSOR}{}", w.id));
    Ok(WorkspacePage { items, next_cursor })
}
