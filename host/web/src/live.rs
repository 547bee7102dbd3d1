//! The overview's live counts as server-sent events. Every second the
//! stream reads a cheap watermark (the newest audit event, the newest
//! trace); when it moves, or at least every [`REFRESH_EVERY`], it renders
//! the counts again and sends them if they changed. Reading the database
//! rather than listening in-process keeps it right with several instances.

use crate::error::PageResult;
use crate::pages::overview::{live_html, read};
use crate::session::Viewing;
use accord_core::app::App;
use accord_core::store::traces;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// How often the watermark is read.
const TICK: Duration = Duration::from_secs(1);
/// Counts are re-read at least this often (another instance's ids may
/// land behind the newest one, and not every change writes an event).
const REFRESH_EVERY: u32 = 15;

struct Follow {
    app: Arc<App>,
    viewing: Viewing,
    workspace_id: String,
    watermark: Option<(Option<String>, Option<String>)>,
    sent: String,
    ticks: u32,
}

/// `GET /ui/workspaces/{id}/live`: `counts` events carrying the counts'
/// HTML, for the page's script to put in place.
pub async fn events(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
) -> PageResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let sent = live_html(&read(&app, &viewing, &id).await?)?;
    let follow = Follow {
        viewing,
        watermark: None,
        app,
        workspace_id: id,
        sent,
        ticks: 0,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        loop {
            tokio::time::sleep(TICK).await;
            f.ticks += 1;
            match next_counts(&mut f).await {
                Ok(Some(html)) => {
                    return Some((Ok(Event::default().event("counts").data(html)), f));
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "live counts not read; trying again"),
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The counts' HTML if it changed since last sent.
async fn next_counts(f: &mut Follow) -> PageResult<Option<String>> {
    let mark = {
        let mut c = f.app.db.acquire().await?;
        traces::watermark(&mut c).await?
    };
    let moved = f.watermark.as_ref() != Some(&mark);
    f.watermark = Some(mark);
    if !moved && !f.ticks.is_multiple_of(REFRESH_EVERY) {
        return Ok(None);
    }
    let html = live_html(&read(&f.app, &f.viewing, &f.workspace_id).await?)?;
    if html == f.sent {
        return Ok(None);
    }
    f.sent.clone_from(&html);
    Ok(Some(html))
}
