//! `accord serve`, `accord migrate`, `accord inbox replay`.

use crate::app::{App, AppConfig};
use crate::clock::{SharedClock, SystemClock};
use crate::policy::Limits;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Settings of the host, as flags or `ACCORD_*` environment variables.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// Database: `sqlite://FILE?mode=rwc` (default, created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "ACCORD_DATABASE_URL",
        default_value = "sqlite://accord.db?mode=rwc"
    )]
    pub database_url: String,
    /// Where compiled policies are cached (by sha256).
    #[arg(long, env = "ACCORD_CACHE_DIR", default_value = ".accord/cache")]
    pub cache_dir: PathBuf,
    /// Most fuel a policy decision may get: each module runs under its
    /// own limits (declared at upload, else its kind's defaults), cut to
    /// these maxima. Default 200,000,000.
    #[arg(long, env = "ACCORD_POLICY_FUEL")]
    pub policy_fuel: Option<u64>,
    /// Largest linear memory a policy decision may get, MiB. Default 128.
    #[arg(long, env = "ACCORD_POLICY_MEMORY_MIB")]
    pub policy_memory_mib: Option<usize>,
    /// Longest wall-clock deadline a policy decision may get,
    /// milliseconds. Default 2000.
    #[arg(long, env = "ACCORD_POLICY_DEADLINE_MS")]
    pub policy_deadline_ms: Option<u64>,
    /// Largest output a policy decision may return, KiB. Default 256.
    #[arg(long, env = "ACCORD_POLICY_OUTPUT_KIB")]
    pub policy_output_kib: Option<usize>,
    /// Unipile DSN (base URL), e.g. https://api8.unipile.com:13851.
    #[arg(long, env = "ACCORD_UNIPILE_DSN")]
    pub unipile_dsn: Option<String>,
    /// Unipile API key (sent as X-API-KEY).
    #[arg(long, env = "ACCORD_UNIPILE_API_KEY", hide_env_values = true)]
    pub unipile_api_key: Option<String>,
    /// Run the recurring heal ticks (late accepts, stuck post-accepts).
    #[arg(long, env = "LINKEDIN_RECURRING_HEALS_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub recurring_heals_enabled: bool,
    /// SQLite: process webhooks in the transaction that stores them,
    /// before answering (one commit per group instead of two); `false`
    /// answers once stored and leaves them to the inbox processor.
    /// Ignored on PostgreSQL.
    #[arg(long, env = "ACCORD_INBOX_WRITE_THROUGH", default_value_t = true, action = clap::ArgAction::Set)]
    pub inbox_write_through: bool,
    /// Log every policy decision that changes state (resolve, route,
    /// pre-flight) with its input and output; shadow modules run only
    /// while it is on or a shadow is bound.
    #[arg(long, env = "ACCORD_DECISION_LOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub decision_log: bool,
    /// Days logged decisions are kept (1 to 3650).
    #[arg(long, env = "ACCORD_DECISION_RETENTION_DAYS", default_value_t = 14)]
    pub decision_retention_days: u64,
    /// Uploaded policy modules this instance compiles at once, each on a
    /// core (0 to 64; 0: this instance compiles none, another does).
    #[arg(long, env = "ACCORD_POLICY_COMPILE_CONCURRENCY", default_value_t = 1)]
    pub policy_compile_concurrency: usize,
}

/// `accord serve` settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Database and policy settings.
    #[command(flatten)]
    pub host: HostArgs,
    /// Address to listen on.
    #[arg(long, env = "ACCORD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The static header value Unipile sends back with webhooks.
    #[arg(long, env = "ACCORD_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// The header that carries it.
    #[arg(long, env = "ACCORD_WEBHOOK_HEADER", default_value = "unipile-auth")]
    pub webhook_header: String,
    /// Bearer token for /admin (the admin API is off without it).
    #[arg(long, env = "ACCORD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Bearer token for /api (open when unset: only for local use).
    #[arg(long, env = "ACCORD_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Largest webhook body accepted, bytes.
    #[arg(long, env = "ACCORD_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Longest wait for a request's head (idle keep-alive time included),
    /// milliseconds; the connection is closed past it.
    #[arg(long, env = "ACCORD_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Longest time a request body may take to arrive, milliseconds (408).
    #[arg(long, env = "ACCORD_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_timeout_ms: u64,
    /// Most connections served at once; more are refused with 503.
    #[arg(long, env = "ACCORD_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,
}

/// A setting that stops the start, named.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {reason}")]
pub struct ConfigError {
    /// The flag / environment variable.
    pub setting: &'static str,
    /// Why.
    pub reason: String,
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
}

impl HostArgs {
    /// Checks the settings and builds the app configuration.
    pub fn config(&self) -> Result<AppConfig, ConfigError> {
        let url = &self.database_url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "ACCORD_DATABASE_URL",
                format!(
                    "`{}` is neither sqlite:… nor postgres://…",
                    crate::store::redact(url)
                ),
            ));
        }
        let mut limits = Limits::default();
        if let Some(fuel) = self.policy_fuel {
            if fuel < 10_000 {
                return Err(invalid("ACCORD_POLICY_FUEL", "at least 10000"));
            }
            limits.fuel = fuel;
        }
        if let Some(mib) = self.policy_memory_mib {
            if !(1..=1024).contains(&mib) {
                return Err(invalid("ACCORD_POLICY_MEMORY_MIB", "1 to 1024"));
            }
            limits.memory_bytes = mib << 20;
        }
        if let Some(kib) = self.policy_output_kib {
            if !(1..=16_384).contains(&kib) {
                return Err(invalid("ACCORD_POLICY_OUTPUT_KIB", "1 to 16384"));
            }
            limits.max_output_bytes = kib << 10;
            // Each call may pass four times its output cap to the host.
            limits.max_transfer_bytes = limits.max_transfer_bytes.max(kib << 12);
        }
        if let Some(ms) = self.policy_deadline_ms {
            if !(10..=60_000).contains(&ms) {
                return Err(invalid("ACCORD_POLICY_DEADLINE_MS", "10 to 60000"));
            }
            limits.deadline_ms = ms;
        }
        let mut config = AppConfig::new(url.clone());
        config.cache_dir = Some(self.cache_dir.clone());
        config.limits = limits;
        config.engine.heals_enabled = self.recurring_heals_enabled;
        config.inbox_write_through = self.inbox_write_through;
        if !(1..=3650).contains(&self.decision_retention_days) {
            return Err(invalid("ACCORD_DECISION_RETENTION_DAYS", "1 to 3650"));
        }
        if self.policy_compile_concurrency > 64 {
            return Err(invalid("ACCORD_POLICY_COMPILE_CONCURRENCY", "0 to 64"));
        }
        config.module_compile.concurrency = self.policy_compile_concurrency;
        config.decision_log.enabled = self.decision_log;
        config.decision_log.retention =
            std::time::Duration::from_secs(self.decision_retention_days * 24 * 3600);
        config.unipile = match (&self.unipile_dsn, &self.unipile_api_key) {
            (Some(dsn), Some(key)) if !key.trim().is_empty() => Some((dsn.clone(), key.clone())),
            (Some(_), _) => {
                return Err(invalid(
                    "ACCORD_UNIPILE_API_KEY",
                    "required with ACCORD_UNIPILE_DSN",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "ACCORD_UNIPILE_DSN",
                    "required with ACCORD_UNIPILE_API_KEY",
                ));
            }
            (None, None) => None,
        };
        Ok(config)
    }
}

impl ServeArgs {
    /// Checks every setting; returns the listen address and app config.
    pub fn config(&self) -> Result<(SocketAddr, AppConfig), ConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|e| {
            invalid(
                "ACCORD_LISTEN",
                format!("`{}` is not HOST:PORT ({e})", self.listen),
            )
        })?;
        let mut config = self.host.config()?;
        let non_empty = |setting, v: &Option<String>| match v {
            Some(s) if s.trim().is_empty() => Err(invalid(setting, "must not be empty when set")),
            _ => Ok(v.clone()),
        };
        config.webhook_secret = non_empty("ACCORD_WEBHOOK_SECRET", &self.webhook_secret)?;
        config.admin_token = non_empty("ACCORD_ADMIN_TOKEN", &self.admin_token)?;
        config.api_token = non_empty("ACCORD_API_TOKEN", &self.api_token)?;
        if !accord_http::webhooks::is_header_name(&self.webhook_header) {
            return Err(invalid(
                "ACCORD_WEBHOOK_HEADER",
                format!("`{}` is not a header name", self.webhook_header),
            ));
        }
        config.webhook_header = self.webhook_header.to_ascii_lowercase();
        if !(1024..=64 << 20).contains(&self.max_body_bytes) {
            return Err(invalid("ACCORD_MAX_BODY_BYTES", "1024 to 67108864"));
        }
        config.max_body_bytes = self.max_body_bytes;
        if !(100..=600_000).contains(&self.header_timeout_ms) {
            return Err(invalid("ACCORD_HEADER_TIMEOUT_MS", "100 to 600000"));
        }
        if !(100..=3_600_000).contains(&self.body_timeout_ms) {
            return Err(invalid("ACCORD_BODY_TIMEOUT_MS", "100 to 3600000"));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(invalid("ACCORD_MAX_CONNECTIONS", "1 to 1000000"));
        }
        config.edge = crate::app::EdgeConfig {
            header_read_timeout: std::time::Duration::from_millis(self.header_timeout_ms),
            body_read_timeout: std::time::Duration::from_millis(self.body_timeout_ms),
            max_connections: self.max_connections,
        };
        Ok((listen, config))
    }
}

/// Runs the host until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (listen, config) = args.config()?;
    let clock: SharedClock = Arc::new(SystemClock);
    let app = App::start(config, clock).await?;
    if app.config.webhook_secret.is_none() {
        tracing::warn!(
            "ACCORD_WEBHOOK_SECRET is unset: /webhooks/unipile answers 503 until it is configured"
        );
    }
    if app.config.api_token.is_none() {
        tracing::warn!(
            "ACCORD_API_TOKEN is unset: the JSON API is open to anyone who can reach {listen}"
        );
    }
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let workers = crate::workers::spawn_workers(&app, shutdown_rx.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("ACCORD_LISTEN: cannot listen on {listen}: {e}"))?;
    tracing::info!(%listen, database = %crate::store::redact(&app.config.database_url), "accord is serving");
    eprintln!(
        "accord serving on http://{listen} (database {})",
        crate::store::redact(&app.config.database_url)
    );
    crate::http::server::serve(listener, app.clone(), async move {
        shutdown_signal().await;
        let _ = shutdown_tx.send(true);
    })
    .await?;
    for worker in workers {
        let _ = worker.await;
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `accord migrate`.
pub async fn migrate(args: HostArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let db = crate::store::Db::connect(&config.database_url).await?;
    db.migrate().await?;
    println!("migrated {}", crate::store::redact(&config.database_url));
    Ok(())
}

/// `accord inbox replay`.
pub async fn replay(args: HostArgs, all: bool) -> anyhow::Result<()> {
    let config = args.config()?;
    let app = App::start(config, Arc::new(SystemClock)).await?;
    let report = app.inbox.replay(all).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
