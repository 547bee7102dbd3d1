//! One host instance as a process would hold it: the app on the shared
//! database, its HTTP server on a fixed address, its engine, ticks and
//! notifier, and the crash switch in front of its provider. A crash drops
//! all of it; a rebuild starts a new one on the same database and address.

use super::faults::{CrashSwitch, Crashable};
use crate::app::{App, AppConfig};
use crate::clock::SharedClock;
use crate::engine::{Engine, Ticks};
use crate::notify::Notifier;
use crate::provider::LinkedinProvider;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A running instance.
pub struct Host {
    /// The app.
    pub app: Arc<App>,
    /// Its engine.
    pub engine: Engine,
    /// Its ticks.
    pub ticks: Arc<Ticks>,
    /// Its notifier.
    pub notifier: Arc<Notifier>,
    /// Its crash switch.
    pub switch: Arc<CrashSwitch>,
    /// Where its HTTP server listens.
    pub addr: SocketAddr,
    server: JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Host {
    /// Starts an instance serving on `listener`.
    pub async fn start(
        config: AppConfig,
        clock: SharedClock,
        provider: Arc<dyn LinkedinProvider>,
        listener: tokio::net::TcpListener,
    ) -> anyhow::Result<Host> {
        let switch = Arc::new(CrashSwitch::default());
        let provider: Arc<dyn LinkedinProvider> =
            Arc::new(Crashable::new(provider, switch.clone()));
        let app = App::start_with_provider(config, clock.clone(), Some(provider)).await?;
        let engine = app
            .engine
            .clone()
            .context("the host has no engine: no provider configured")?;
        let ticks = Arc::new(Ticks::new(engine.clone()));
        let notifier = Arc::new(Notifier::new(app.db.clone(), clock)?);
        let addr = listener.local_addr()?;
        let router = crate::http::router(app.clone());
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "simulated host server stopped");
            }
        });
        Ok(Host {
            app,
            engine,
            ticks,
            notifier,
            switch,
            addr,
            server,
            stop,
        })
    }

    /// Stops the server (open connections close) and the database pool;
    /// whatever was in flight is already dropped.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(10), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
        self.app.db.close().await;
    }
}
