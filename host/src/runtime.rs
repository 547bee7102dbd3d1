//! The background workers of a running host.

use crate::app::App;
use crate::notify::Notifier;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts the workers (inbox processor, notifier, …); each stops when
/// `shutdown` flips to true.
pub fn spawn_workers(app: &Arc<App>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let mut workers = vec![tokio::spawn(app.inbox.clone().run(shutdown.clone()))];
    match Notifier::new(app.db.clone(), app.clock.clone()) {
        Ok(notifier) => {
            let wake = app.pipeline.wakers().outbox.clone();
            workers.push(tokio::spawn(notifier.run(shutdown, wake)));
        }
        Err(e) => tracing::error!(error = %e, "the notifier cannot start; notifications stay in the outbox"),
    }
    workers
}
