//! A Unipile-compatible simulator: an HTTP server serving Unipile's paths
//! and payloads (checked `X-API-KEY`, 401 without it) over a scriptable
//! world of accounts, people, relations, invites and chats, that posts
//! webhooks to the host the way Unipile does (static secret header, 5
//! retries with growing delays unless answered 200).
//!
//! Time moves only through the [`SharedClock`] it is given: invited people
//! accept after their configured delay, reply, and webhooks are delivered
//! (late, dropped or twice, as scripted) when [`SimHandle::tick`] runs at or
//! after the time they are due. `accord simulate unipile` runs it with the
//! system clock and a 200 ms ticker; tests start it in-process with a
//! [`ManualClock`](crate::clock::ManualClock).

mod multipart;
mod routes;
pub mod state;

pub use state::{
    AccountState, CallRecord, CreatedAtUnit, DeliveryAttempt, PersonSpec, SimAccount, SimAction,
    SimFailure, SimInvite, SimMessage, SimPerson, SimTickReport, SimWorld, WEBHOOK_RETRY_DELAYS_MS,
    WebhookFate, WebhookKind, encode_member_id,
};

use crate::clock::{Millis, SharedClock};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a webhook receiver has to answer 200.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Where webhooks go, and the static header that authenticates them.
#[derive(Clone)]
pub struct WebhookTarget {
    /// The host's webhook URL (e.g. `http://127.0.0.1:8080/webhooks/unipile`).
    pub url: String,
    /// The header name (e.g. `Unipile-Auth`).
    pub header_name: String,
    /// Its value.
    pub secret: String,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field("header_name", &self.header_name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The simulator's settings.
#[derive(Clone)]
pub struct SimConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The API key clients must send as `X-API-KEY`.
    pub api_key: String,
    /// The clock every behaviour follows.
    pub clock: SharedClock,
    /// Where webhooks go; events are kept undeliverable without it.
    pub webhook: Option<WebhookTarget>,
    /// The `webhook_name` field of the payloads.
    pub webhook_name: String,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("api_key", &"<redacted>")
            .field("webhook", &self.webhook)
            .field("webhook_name", &self.webhook_name)
            .finish()
    }
}

impl SimConfig {
    /// Loopback on a free port, no webhooks.
    pub fn new(api_key: &str, clock: SharedClock) -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: api_key.to_string(),
            clock,
            webhook: None,
            webhook_name: "accord".into(),
        }
    }

    /// Posts webhooks to `url` with `header_name: secret`.
    pub fn webhook(mut self, url: &str, header_name: &str, secret: &str) -> Self {
        self.webhook = Some(WebhookTarget {
            url: url.to_string(),
            header_name: header_name.to_string(),
            secret: secret.to_string(),
        });
        self
    }

    /// Listens on `addr`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
}

/// Why the simulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum SimStartError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A setting is unusable.
    #[error("invalid simulator setting {setting}: {reason}")]
    Config {
        /// The setting.
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// The webhook HTTP client could not be built.
    #[error("cannot build the webhook client: {0}")]
    Http(#[from] reqwest::Error),
}

/// State shared by the server, the ticker and the handle.
pub(crate) struct Shared {
    world: Mutex<SimWorld>,
    clock: SharedClock,
    api_key: String,
    webhook: Option<WebhookTarget>,
    http: reqwest::Client,
    tick_lock: tokio::sync::Mutex<()>,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, SimWorld> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn tick(&self) -> SimTickReport {
        let _one_at_a_time = self.tick_lock.lock().await;
        let now = self.clock.now_ms();
        let mut report = SimTickReport::default();
        let due = self.world().run_due(now, &mut report);
        for delivery in due {
            let (status, error) = match &self.webhook {
                None => (None, Some("no webhook URL configured".to_string())),
                Some(target) => {
                    let sent = self
                        .http
                        .post(&target.url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .header(target.header_name.as_str(), target.secret.as_str())
                        .body(serde_json::to_vec(&delivery.body).unwrap_or_default())
                        .send()
                        .await;
                    match sent {
                        Ok(response) => (Some(response.status().as_u16()), None),
                        Err(e) => (None, Some(e.to_string())),
                    }
                }
            };
            if status != Some(200) {
                tracing::debug!(
                    kind = delivery.kind.as_str(),
                    attempt = delivery.attempt,
                    ?status,
                    ?error,
                    "simulated webhook delivery failed"
                );
            }
            self.world()
                .delivery_done(&delivery, status, error, now, &mut report);
        }
        report
    }
}

/// The simulator.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds and serves; the handle scripts the world and stops the server
    /// when dropped.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimStartError> {
        if config.api_key.is_empty() {
            return Err(SimStartError::Config {
                setting: "api_key",
                reason: "must not be empty".into(),
            });
        }
        if let Some(target) = &config.webhook {
            if reqwest::header::HeaderName::try_from(target.header_name.as_str()).is_err() {
                return Err(SimStartError::Config {
                    setting: "webhook_header",
                    reason: format!("`{}` is not a header name", target.header_name),
                });
            }
            if reqwest::header::HeaderValue::try_from(target.secret.as_str()).is_err() {
                return Err(SimStartError::Config {
                    setting: "webhook_secret",
                    reason: "not a valid header value".into(),
                });
            }
            match reqwest::Url::parse(&target.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return Err(SimStartError::Config {
                        setting: "webhook_url",
                        reason: format!("`{}` is not an http(s) URL", target.url),
                    });
                }
            }
        }
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .user_agent("unipile-simulator")
            .build()?;
        let shared = Arc::new(Shared {
            world: Mutex::new(SimWorld::new(&config.webhook_name)),
            clock: config.clock.clone(),
            api_key: config.api_key.clone(),
            webhook: config.webhook.clone(),
            http,
            tick_lock: tokio::sync::Mutex::new(()),
        });
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimStartError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimStartError::Bind {
                addr: config.listen,
                source,
            })?;
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let app = routes::router(shared.clone());
        let server = tokio::spawn(async move {
            let stopped = async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::warn!(error = %e, "simulator server stopped");
            }
        });
        Ok(SimHandle {
            addr,
            api_key: config.api_key,
            shared,
            stop: stop_tx,
            server: Some(server),
            ticker: Mutex::new(None),
        })
    }
}

/// A running simulator: its address, and the methods tests script it with.
pub struct SimHandle {
    /// The bound address.
    pub addr: SocketAddr,
    /// The API key it expects.
    pub api_key: String,
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}

impl SimHandle {
    /// `http://ADDR`, the DSN to give a client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn now(&self) -> Millis {
        self.shared.clock.now_ms()
    }

    /// Runs `f` on the world (any scripting or reading not wrapped here).
    pub fn with_world<R>(&self, f: impl FnOnce(&mut SimWorld) -> R) -> R {
        f(&mut self.shared.world())
    }

    /// Performs everything due at the clock's now: accepts, replies, webhook
    /// deliveries (and their retries).
    pub async fn tick(&self) -> SimTickReport {
        self.shared.tick().await
    }

    /// Ticks every `period` of real time in the background until the handle
    /// is dropped (the CLI uses 200 ms).
    pub fn spawn_ticker(&self, period: Duration) {
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                shared.tick().await;
            }
        });
        if let Some(old) = self
            .ticker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    // ---------------------------------------------------------- scripting

    /// Adds an account with a generated id.
    pub fn add_account(&self) -> SimAccount {
        let now = self.now();
        self.shared.world().add_account(None, now)
    }

    /// Adds an account with the given id.
    pub fn add_account_with_id(&self, id: &str) -> SimAccount {
        let now = self.now();
        self.shared.world().add_account(Some(id), now)
    }

    /// Adds a person.
    pub fn add_person(&self, spec: PersonSpec) -> SimPerson {
        let now = self.now();
        self.shared.world().add_person(spec, now)
    }

    /// A person by either provider id or slug.
    pub fn person(&self, identifier: &str) -> Option<SimPerson> {
        self.shared.world().person(identifier)
    }

    /// The person changes their vanity slug (the old one still resolves).
    pub fn change_slug(&self, person: &str, new_slug: &str) -> bool {
        self.shared.world().change_slug(person, new_slug)
    }

    /// When a person accepts future invites (`None`: never).
    pub fn set_accept_delay(&self, person: &str, delay_ms: Option<Millis>) -> bool {
        self.shared.world().set_accept_delay(person, delay_ms)
    }

    /// A person's reply after accepting.
    pub fn set_reply_after_accept(&self, person: &str, reply: Option<(Millis, &str)>) -> bool {
        self.shared
            .world()
            .set_reply_after_accept(person, reply.map(|(d, t)| (d, t.to_string())))
    }

    /// A person's answer to each of our messages.
    pub fn set_reply_to_messages(&self, person: &str, reply: Option<(Millis, &str)>) -> bool {
        self.shared
            .world()
            .set_reply_to_messages(person, reply.map(|(d, t)| (d, t.to_string())))
    }

    /// The fate of a person's `new_relation` webhooks (`None`: the default).
    pub fn set_relation_webhook(&self, person: &str, fate: Option<WebhookFate>) -> bool {
        self.shared.world().set_relation_webhook(person, fate)
    }

    /// The default fate of a webhook source (`new_relation` 3 s,
    /// `message_received` 1 s, `AccountStatus` at once).
    pub fn set_webhook_fate(&self, kind: WebhookKind, fate: WebhookFate) {
        self.shared.world().set_fate(kind, fate);
    }

    /// Relations' `created_at` in seconds or milliseconds.
    pub fn set_created_at_unit(&self, unit: CreatedAtUnit) {
        self.shared.world().set_created_at_unit(unit);
    }

    /// An account's weekly invite quota (default 200; `usage` and
    /// `limit_exceeded` follow it).
    pub fn set_invite_quota(&self, account: &str, weekly: u32) -> bool {
        self.shared.world().set_invite_quota(account, weekly)
    }

    /// An existing connection made at `created_at_ms` (no webhook).
    pub fn connect(&self, account: &str, person: &str, created_at_ms: Millis) -> bool {
        self.shared.world().connect(account, person, created_at_ms)
    }

    /// The person accepts now (the pending invite, or a connection made
    /// outside any campaign); a `new_relation` webhook follows.
    pub fn accept_now(&self, account: &str, person: &str) -> bool {
        let now = self.now();
        self.shared.world().accept_now(account, person, now)
    }

    /// The person writes to the account now.
    pub fn receive_message(&self, account: &str, person: &str, text: &str) -> bool {
        let now = self.now();
        self.shared
            .world()
            .receive_message(account, person, text, now)
    }

    /// The next `n` calls (on `scope`, if given: a route such as
    /// `/api/v1/users/invite` or `POST /api/v1/chats`, or a concrete path)
    /// answer `status` with its catalogued type (429 `too_many_requests`,
    /// 500 `provider_error`, 503 `service_unavailable`, 504
    /// `request_timeout`, else the first catalogued type of that status).
    pub fn fail_next(&self, n: u32, status: u16, scope: Option<&str>) {
        self.fail_next_after(0, n, status, scope);
    }

    /// Like [`SimHandle::fail_next`], but the first `pass` matching calls
    /// are answered normally (e.g. page 1 of the relations list succeeds,
    /// page 2 fails).
    pub fn fail_next_after(&self, pass: u32, n: u32, status: u16, scope: Option<&str>) {
        let kind = match status {
            429 => "too_many_requests",
            500 => "provider_error",
            503 => "service_unavailable",
            504 => "request_timeout",
            s => state::known_kind_for_status(s).unwrap_or("provider_error"),
        };
        let mut failure = SimFailure::known(kind, "injected by the simulator");
        failure.status = status;
        self.shared.world().add_fault_after(pass, n, failure, scope);
    }

    /// The next `n` calls (on `scope`, if given) answer the catalogued
    /// error `kind`.
    pub fn fail_next_with(&self, n: u32, kind: &str, scope: Option<&str>) {
        self.shared.world().add_fault(
            n,
            SimFailure::known(kind, "injected by the simulator"),
            scope,
        );
    }

    /// The next `n` calls (on `scope`, if given) time out: a 504
    /// `request_timeout` answer. With `after_acting` the call is carried
    /// out first (the message or invite exists at the provider, the caller
    /// just never hears so); without, nothing happened.
    pub fn time_out_next(&self, n: u32, scope: Option<&str>, after_acting: bool) {
        let failure = SimFailure::known("request_timeout", "injected timeout");
        let mut world = self.shared.world();
        if after_acting {
            world.add_fault_after_acting(n, failure, scope);
        } else {
            world.add_fault(n, failure, scope);
        }
    }

    /// Drops every pending injected fault.
    pub fn clear_faults(&self) {
        self.shared.world().clear_faults();
    }

    /// The account loses its credentials: every call for it answers 401
    /// `disconnected_account`, an `AccountStatus` `CREDENTIALS` webhook goes
    /// out, and its other webhooks wait for the reconnection.
    pub fn disconnect_account(&self, account: &str) -> bool {
        let now = self.now();
        self.shared
            .world()
            .set_account_state(account, AccountState::Disconnected, now)
    }

    /// The account is back (`AccountStatus` `OK`); held webhooks follow in
    /// a burst.
    pub fn reconnect_account(&self, account: &str) -> bool {
        let now = self.now();
        self.shared
            .world()
            .set_account_state(account, AccountState::Ok, now)
    }

    /// LinkedIn restricts the account: every call answers 403
    /// `account_restricted` (`AccountStatus` `ERROR`).
    pub fn restrict_account(&self, account: &str) -> bool {
        let now = self.now();
        self.shared
            .world()
            .set_account_state(account, AccountState::Restricted, now)
    }

    /// `action` towards `person` (any identifier; `None`: anyone) answers
    /// the catalogued error `kind` (e.g. `blocked_recipient`) until
    /// [`SimHandle::clear_forced_errors`]. False if the person is unknown.
    pub fn force_error(&self, action: SimAction, person: Option<&str>, kind: &str) -> bool {
        self.shared.world().force_error(action, person, kind)
    }

    /// Removes every forced error.
    pub fn clear_forced_errors(&self) {
        self.shared.world().clear_forced();
    }

    // ------------------------------------------------------------ reading

    /// Every call answered so far.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.world().calls().to_vec()
    }

    /// Calls matching `method` and `route` (template or concrete path).
    pub fn count_calls(&self, method: &str, route: &str) -> usize {
        self.shared
            .world()
            .calls()
            .iter()
            .filter(|c| {
                c.method.eq_ignore_ascii_case(method) && (c.route == route || c.path == route)
            })
            .count()
    }

    /// Forgets the call log.
    pub fn clear_calls(&self) {
        self.shared.world().clear_calls();
    }

    /// Every webhook delivery attempt so far.
    pub fn deliveries(&self) -> Vec<DeliveryAttempt> {
        self.shared.world().attempts().to_vec()
    }

    /// Webhooks not yet acknowledged nor given up.
    pub fn pending_deliveries(&self) -> usize {
        self.shared.world().pending_deliveries()
    }

    /// When the next accept, reply or delivery is due.
    pub fn next_due_ms(&self) -> Option<Millis> {
        self.shared.world().next_due()
    }

    /// The accounts.
    pub fn accounts(&self) -> Vec<SimAccount> {
        self.shared.world().accounts()
    }

    /// An account's relations (classic id, created_at ms), newest first.
    pub fn relations(&self, account: &str) -> Vec<(String, Millis)> {
        self.shared.world().relations_of(account)
    }

    /// Every invite the account sent.
    pub fn invites(&self, account: &str) -> Vec<SimInvite> {
        self.shared.world().invites_of(account)
    }

    /// The messages between an account and a person.
    pub fn messages(&self, account: &str, person: &str) -> Vec<SimMessage> {
        self.shared.world().messages_with(account, person)
    }
}
