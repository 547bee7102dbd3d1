//! One module per page (or family of pages): each handler parses, reads
//! through the store or calls a lifecycle, and renders its template.

pub mod campaign;
pub mod decisions;
pub mod home;
pub mod integrations;
pub mod lists;
pub mod overview;
pub mod policies;
pub mod prospect;

use crate::error::PageResult;
use accord_core::app::App;
use accord_core::store::PooledConnection;

/// A connection from the pool.
pub(crate) async fn conn(app: &App) -> PageResult<PooledConnection> {
    Ok(app.db.acquire().await?)
}
