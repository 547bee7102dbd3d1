//! The background workers of a running host.

use crate::app::App;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts the workers (inbox processor, notifier, …); each stops when
/// `shutdown` flips to true.
pub fn spawn_workers(app: &Arc<App>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![tokio::spawn(app.inbox.clone().run(shutdown))]
}
