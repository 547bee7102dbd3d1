//! The assembled host: database, policies, clock, pipeline, inbox, and the
//! settings the HTTP edge needs. Built once by `accord serve` (or a test).

use crate::clock::SharedClock;
use crate::engine::{Engine, EngineConfig, Resyncer};
use crate::ingest::inbox::Inbox;
use crate::pipeline::{Pipeline, Wakers};
use crate::policy::{Limits, LoadError, PolicyRegistry, PolicyRuntime};
use crate::provider::LinkedinProvider;
use crate::provider::unipile::UnipileClient;
use crate::store::{Db, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What the host needs to start.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// PostgreSQL schema (tests); `None` for the default.
    pub database_schema: Option<String>,
    /// At most this many database connections; `None`: the store's
    /// default (see [`Db::connect_with`]).
    pub database_connections: Option<u32>,
    /// The static header value Unipile sends with webhooks.
    pub webhook_secret: Option<String>,
    /// The header carrying it.
    pub webhook_header: String,
    /// Bearer token of the admin API; the admin API is off without it.
    pub admin_token: Option<String>,
    /// Bearer token of the JSON API; open when unset (local use).
    pub api_token: Option<String>,
    /// Largest webhook body accepted, bytes.
    pub max_body_bytes: usize,
    /// Bounds of the HTTP edge (slow clients, connections).
    pub edge: EdgeConfig,
    /// Where compiled policies are cached.
    pub cache_dir: Option<PathBuf>,
    /// Policy sandbox limits.
    pub limits: Limits,
    /// The Unipile API (DSN base URL and API key); without it the host
    /// detects and stamps accepts but sends nothing and does not poll.
    pub unipile: Option<(String, String)>,
    /// Send-engine settings.
    pub engine: EngineConfig,
    /// On SQLite, process each group of webhooks in the transaction that
    /// stores it, before answering (default); off, every webhook is
    /// answered once stored and processed by the inbox processor.
    /// PostgreSQL always uses the processor.
    pub inbox_write_through: bool,
    /// The decision log: on or off, retention, the shadow queue's bound.
    pub decision_log: crate::decisions::DecisionLogConfig,
    /// A write-through group that takes longer than this pauses
    /// write-through for 30 s (see [`crate::ingest::writer::WriteThrough`]).
    pub inbox_write_through_budget: std::time::Duration,
    /// How match re-key jobs page, and how many pages a policy change
    /// runs before it answers.
    pub rekey: crate::lifecycle::rekey_jobs::RekeyConfig,
    /// How many uploaded policy modules this instance compiles at once.
    pub module_compile: crate::lifecycle::module_compile::CompileConfig,
}

impl AppConfig {
    /// Defaults for a database URL (no secrets, no cache).
    pub fn new(database_url: impl Into<String>) -> Self {
        AppConfig {
            database_url: database_url.into(),
            database_schema: None,
            database_connections: None,
            webhook_secret: None,
            webhook_header: "unipile-auth".into(),
            admin_token: None,
            api_token: None,
            max_body_bytes: 1 << 20,
            edge: EdgeConfig::default(),
            cache_dir: None,
            limits: Limits::default(),
            unipile: None,
            engine: EngineConfig::default(),
            inbox_write_through: true,
            decision_log: crate::decisions::DecisionLogConfig::default(),
            inbox_write_through_budget: std::time::Duration::from_millis(250),
            rekey: crate::lifecycle::rekey_jobs::RekeyConfig::default(),
            module_compile: crate::lifecycle::module_compile::CompileConfig::default(),
        }
    }
}

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The policies.
    #[error("policy: {0}")]
    Policy(#[from] LoadError),
    /// The provider client.
    #[error("provider: {0}")]
    Provider(String),
    /// The built-in match module's keys could not be computed at start.
    #[error("re-key at start: {0}")]
    Rekey(String),
}

impl From<crate::lifecycle::policies::SyncError> for StartError {
    fn from(e: crate::lifecycle::policies::SyncError) -> Self {
        use crate::lifecycle::policies::SyncError;
        match e {
            SyncError::Store(e) => StartError::Store(e),
            SyncError::Policy(e) => StartError::Policy(e),
        }
    }
}

/// The running host's shared state.
pub struct App {
    /// Settings.
    pub config: AppConfig,
    /// Database.
    pub db: Db,
    /// Active policies.
    pub policies: Arc<PolicyRegistry>,
    /// The clock.
    pub clock: SharedClock,
    /// The accept pipeline.
    pub pipeline: Pipeline,
    /// The webhook inbox.
    pub inbox: Inbox,
    /// Prometheus rendering.
    pub metrics: PrometheusHandle,
    /// The send engine, when a provider is configured.
    pub engine: Option<Engine>,
    /// Coalescing resync, when a provider is configured.
    pub resync: Option<Arc<Resyncer>>,
    /// This instance's queue of uploaded modules to compile.
    pub compiler: crate::lifecycle::module_compile::ModuleCompiler,
}

impl App {
    /// Connects, migrates, loads the policies (built-in defaults, then the
    /// assignments stored in the database).
    pub async fn start(config: AppConfig, clock: SharedClock) -> Result<Arc<App>, StartError> {
        let provider: Option<Arc<dyn LinkedinProvider>> = match &config.unipile {
            Some((dsn, key)) => Some(Arc::new(
                UnipileClient::new(dsn, key, std::time::Duration::from_secs(30))
                    .map_err(|e| StartError::Provider(e.to_string()))?,
            )),
            None => None,
        };
        Self::start_with_provider(config, clock, provider).await
    }

    /// Like [`App::start`] with an explicit provider (tests, the demo).
    pub async fn start_with_provider(
        config: AppConfig,
        clock: SharedClock,
        provider: Option<Arc<dyn LinkedinProvider>>,
    ) -> Result<Arc<App>, StartError> {
        let metrics = metrics_handle();
        let db = Db::connect_with(
            &config.database_url,
            config.database_schema.as_deref(),
            config.database_connections,
        )
        .await?;
        db.migrate().await?;
        let runtime = Arc::new(PolicyRuntime::new(config.limits, config.cache_dir.clone())?);
        let policies = Arc::new(PolicyRegistry::with_defaults(runtime.clone())?);
        crate::lifecycle::policies::sync(&db, &policies).await?;
        let pipeline = Pipeline::new(
            db.clone(),
            policies.clone(),
            clock.clone(),
            Wakers::for_db(&db),
        )
        .with_sabotage(config.engine.sabotage)
        .with_decision_log(config.decision_log);
        let inbox = Inbox::new(
            pipeline.clone(),
            config
                .inbox_write_through
                .then_some(config.inbox_write_through_budget),
        );
        let engine = provider.map(|p| Engine::new(pipeline.clone(), p, config.engine.clone()));
        let resync = engine.clone().map(|e| Arc::new(Resyncer::new(e)));
        let app = Arc::new(App {
            config,
            db,
            policies,
            clock,
            pipeline,
            inbox,
            metrics,
            engine,
            resync,
            compiler: crate::lifecycle::module_compile::ModuleCompiler::new(),
        });
        crate::lifecycle::rekey_jobs::startup(app.policy_host())
            .await
            .map_err(|e| StartError::Rekey(e.to_string()))?;
        Ok(app)
    }
}

impl App {
    /// The parts the policy lifecycle works on.
    pub fn policy_host(&self) -> crate::lifecycle::policies::PolicyHost<'_> {
        crate::lifecycle::policies::PolicyHost {
            db: &self.db,
            decisions: self.pipeline.decisions(),
            clock: &self.clock,
            rekey: self.config.rekey,
            compiler: &self.compiler,
        }
    }

    /// Makes the active modules match the assignments stored in the
    /// database (after another instance activated a policy); slots without
    /// an assignment return to the built-in default.
    pub async fn reload_policies(&self) -> Result<(), StartError> {
        Ok(crate::lifecycle::policies::sync(&self.db, &self.policies).await?)
    }
}

/// The process-wide Prometheus recorder (installed once; later calls share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| {
                    metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder()
                });
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then
            // this handle renders nothing, which is all we can do.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Bounds of the HTTP edge (read by `accord-http`'s listener; here so
/// the host's configuration is one struct).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Longest wait for a whole request head, idle keep-alive time included.
    pub header_read_timeout: Duration,
    /// Longest time a request body may take to arrive, from its head.
    pub body_read_timeout: Duration,
    /// Most connections served at once; more are refused.
    pub max_connections: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

impl crate::lifecycle::policies::HoldsPolicies for App {
    fn policy_host(&self) -> crate::lifecycle::policies::PolicyHost<'_> {
        App::policy_host(self)
    }
}
