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
            workers.push(tokio::spawn(notifier.run(shutdown.clone(), wake)));
        }
        Err(e) => {
            tracing::error!(error = %e, "the notifier cannot start; notifications stay in the outbox")
        }
    }
    workers.extend(spawn_listener(app, shutdown.clone()));
    let decisions = app.pipeline.decisions();
    if let Some(shadow) = decisions.shadow().worker(
        app.db.clone(),
        app.policies.runtime().clone(),
        app.clock.clone(),
    ) {
        workers.push(tokio::spawn(shadow.run(shutdown.clone())));
    }
    let retention = crate::decisions::retention::Retention::new(
        app.db.clone(),
        app.clock.clone(),
        decisions.log_config().retention,
    );
    workers.push(tokio::spawn(retention.run(shutdown.clone())));
    workers.push(tokio::spawn(crate::lifecycle::rekey_jobs::worker(
        app.clone(),
        shutdown.clone(),
    )));
    workers.push(tokio::spawn(crate::lifecycle::module_compile::worker(
        app.clone(),
        app.config.module_compile,
        shutdown.clone(),
    )));
    if let Some(engine) = &app.engine {
        workers.push(tokio::spawn(engine.clone().run(shutdown.clone())));
        workers.push(tokio::spawn(
            crate::engine::Ticks::new(engine.clone()).run(shutdown.clone()),
        ));
    } else {
        tracing::warn!(
            "no Unipile API configured (ACCORD_UNIPILE_DSN, ACCORD_UNIPILE_API_KEY): nothing is sent, relations are not polled"
        );
    }
    workers
}

/// On PostgreSQL: listens for job wake-ups, policy activations and ready
/// uploaded modules from the other instances (LISTEN/NOTIFY),
/// reconnecting after failures.
pub fn spawn_listener(
    app: &Arc<App>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if app.db.backend() != crate::store::Backend::Postgres {
        return None;
    }
    let app = app.clone();
    Some(tokio::spawn(async move {
        use crate::store::broadcast::{JOBS_CHANNEL, Listener, MODULES_CHANNEL, POLICIES_CHANNEL};
        loop {
            let listening = async {
                let channels = [JOBS_CHANNEL, POLICIES_CHANNEL, MODULES_CHANNEL];
                let mut listener = Listener::connect(&app.config.database_url, &channels).await?;
                loop {
                    let (channel, payload) = listener.recv_with_payload().await?;
                    if channel == MODULES_CHANNEL {
                        app.compiler.heard_ready(&payload);
                    } else if channel == POLICIES_CHANNEL {
                        if let Err(e) = app.reload_policies().await {
                            tracing::error!(error = %e, "policy reload after a broadcast failed");
                        }
                    } else {
                        app.pipeline.wakers().jobs.notify_one();
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), crate::store::StoreError>(())
            };
            tokio::select! {
                result = listening => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "LISTEN connection lost; reconnecting in 1 s");
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }))
}
