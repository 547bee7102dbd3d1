//! The notifier: delivers the outbox to each workspace's endpoints.
//!
//! Slack endpoints get a readable `{"text": …}` message ([`slack`]);
//! generic webhook endpoints (n8n, Zapier, …) get the outbox payload as
//! is, signed per Standard Webhooks ([`standard_webhooks`]) with
//! `webhook-id` set to the outbox dedupe key, so receivers can dedupe.
//!
//! Delivery is at least once: a delivery is claimed under a lease
//! ([`deliveries::claim_due`]), sent with a timeout, then marked delivered
//! on a 2xx or rescheduled per [`deliveries::BACKOFF_MS`] on anything else
//! (non-2xx, timeout, connection error), and dead after the last retry.
//! A notifier that crashes mid-send leaves a lease that expires, after
//! which the delivery is sent again.

pub mod slack;
pub mod standard_webhooks;

use crate::clock::{Clock, Millis, SharedClock};
use crate::store::deliveries::{self, Claimed, FailureOutcome};
use crate::store::endpoints::{Endpoint, EndpointKind};
use crate::store::{Db, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// How long one delivery attempt may take, connection to last body byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim holds a delivery. Well above the send timeout, so a
/// live notifier always records its outcome before another may reclaim.
pub const LEASE_MS: Millis = 60_000;
/// How often [`Notifier::run`] looks for due deliveries when not woken.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Deliveries claimed per pass by [`Notifier::run`] (sent concurrently).
pub const DELIVERIES_PER_ROUND: usize = 32;
/// The longest excerpt of a failed response's body kept as the reason.
pub const BODY_EXCERPT_CHARS: usize = 200;

/// The event type of a test send (`POST /api/endpoints/{id}/test`): never
/// in the outbox, so receivers can tell it from a real event.
pub const TEST_EVENT_TYPE: &str = "accord.test";

/// What one test send to an endpoint got.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TestSend {
    /// Whether the endpoint answered 2xx.
    pub ok: bool,
    /// The HTTP status it answered, if it answered.
    pub status_code: Option<u16>,
    /// Time from sending to the answer (or the failure), ms.
    pub latency_ms: u64,
    /// Why it failed (the status and a body excerpt, a timeout, a refused
    /// connection); `null` when `ok`.
    pub error: Option<String>,
    /// The event type sent, [`TEST_EVENT_TYPE`].
    pub event_type: String,
    /// The `webhook-id` sent (unique per test send).
    pub webhook_id: String,
    /// The JSON sent as the body of a webhook endpoint (a Slack endpoint
    /// gets its one-line rendering).
    pub payload: serde_json::Value,
}

/// The notifier's errors.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Deliveries claimed (and attempted).
    pub claimed: usize,
    /// Delivered (2xx).
    pub delivered: usize,
    /// Failed, retry scheduled.
    pub retried: usize,
    /// Failed for the last time: now dead.
    pub dead: usize,
    /// Outcome not recorded because the claim was lost (lease taken over).
    pub stale: usize,
}

/// Delivers the outbox.
#[derive(Clone)]
pub struct Notifier {
    db: Db,
    clock: SharedClock,
    http: reqwest::Client,
    timeout: Duration,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("backend", &self.db.backend())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The result of one attempt.
enum Attempt {
    Delivered { status: u16 },
    Failed { reason: String, status: Option<u16> },
}

impl Notifier {
    /// A notifier with its own HTTP client (no redirects followed, a
    /// redirect is a failure) and the [`DEFAULT_TIMEOUT`].
    pub fn new(db: Db, clock: SharedClock) -> Result<Notifier, NotifyError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("accord/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(NotifyError::Client)?;
        Ok(Notifier::with_client(db, clock, http))
    }

    /// A notifier using `http`.
    pub fn with_client(db: Db, clock: SharedClock, http: reqwest::Client) -> Notifier {
        Notifier {
            db,
            clock,
            http,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same notifier with another per-attempt timeout (tests).
    pub fn with_timeout(mut self, timeout: Duration) -> Notifier {
        self.timeout = timeout;
        self
    }

    /// One pass: claims up to `limit` due deliveries, sends them
    /// concurrently (each with the timeout), records each outcome.
    ///
    /// Fails when claiming fails, or when an outcome could not be recorded
    /// (after recording the others); an unrecorded delivery is sent again
    /// once its lease expires.
    pub async fn deliver_due(&self, limit: usize) -> Result<DeliveryReport, NotifyError> {
        let mut report = DeliveryReport::default();
        if limit == 0 {
            return Ok(report);
        }
        let now = self.clock.now_ms();
        // The claim is one statement: it needs no transaction around it.
        let mut w = self.db.sole_write().await?;
        let claims = deliveries::claim_due(
            &mut w,
            self.db.backend(),
            now,
            LEASE_MS,
            i64::try_from(limit).unwrap_or(i64::MAX),
        )
        .await?;
        drop(w);
        report.claimed = claims.len();
        if claims.is_empty() {
            return Ok(report);
        }

        let mut sends = JoinSet::new();
        for claim in claims {
            let http = self.http.clone();
            let clock = self.clock.clone();
            let timeout = self.timeout;
            sends.spawn(async move {
                let attempt = send(&http, clock.as_ref(), &claim, timeout).await;
                (claim, attempt)
            });
        }
        let mut first_error = None;
        while let Some(joined) = sends.join_next().await {
            let (claim, attempt) = match joined {
                Ok(done) => done,
                Err(e) => {
                    // Its lease expires and the delivery is sent again.
                    tracing::error!(error = %e, "a delivery task failed");
                    continue;
                }
            };
            if let Err(e) = self.record(&claim, attempt, &mut report).await {
                tracing::error!(delivery = %claim.id, error = %e, "cannot record a delivery outcome");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(report),
        }
    }

    /// Sends one sample event to `endpoint` now, the way a delivery is
    /// sent (the same Slack formatting, Standard Webhooks signing, client
    /// and timeout), and reports what it got. Nothing is stored: no outbox
    /// row, no delivery.
    pub async fn send_test(&self, endpoint: &Endpoint, webhook_id: &str) -> TestSend {
        let now = self.clock.now_ms();
        let timestamp = jiff::Timestamp::from_millisecond(now)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let payload = serde_json::json!({
            "type": TEST_EVENT_TYPE,
            "timestamp": timestamp,
            "data": {
                "test": true,
                "workspace_id": endpoint.workspace_id,
                "endpoint_id": endpoint.id,
                "message": "A test notification from Accord: this endpoint receives Accord's events.",
            }
        });
        // A claim nobody holds: `send` reads only the message and the
        // endpoint from it.
        let claim = Claimed {
            id: webhook_id.to_string(),
            attempts: 0,
            lease_expires_at: 0,
            outbox_id: webhook_id.to_string(),
            workspace_id: endpoint.workspace_id.clone(),
            event_type: TEST_EVENT_TYPE.to_string(),
            dedupe_key: webhook_id.to_string(),
            payload: payload.to_string(),
            endpoint_id: endpoint.id.clone(),
            kind: endpoint.kind.clone(),
            url: endpoint.url.clone(),
            secret: endpoint.secret.clone(),
        };
        let started = std::time::Instant::now();
        let attempt = send(&self.http, self.clock.as_ref(), &claim, self.timeout).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let kind = EndpointKind::parse(&endpoint.kind).map_or("unknown", EndpointKind::as_str);
        let (ok, status_code, error) = match attempt {
            Attempt::Delivered { status } => (true, Some(status), None),
            Attempt::Failed { reason, status } => (false, status, Some(reason)),
        };
        let outcome = if ok { "delivered" } else { "failed" };
        metrics::counter!("accord_notification_tests_total", "kind" => kind, "outcome" => outcome)
            .increment(1);
        TestSend {
            ok,
            status_code,
            latency_ms,
            error,
            event_type: TEST_EVENT_TYPE.to_string(),
            webhook_id: webhook_id.to_string(),
            payload,
        }
    }

    async fn record(
        &self,
        claim: &Claimed,
        attempt: Attempt,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let kind = EndpointKind::parse(&claim.kind).map_or("unknown", EndpointKind::as_str);
        let now = self.clock.now_ms();
        let mut conn = self.db.acquire().await?;
        let outcome = match attempt {
            Attempt::Delivered { status } => {
                if deliveries::mark_delivered(&mut conn, claim, Some(i64::from(status)), now)
                    .await?
                {
                    tracing::debug!(delivery = %claim.id, endpoint = %claim.endpoint_id, kind, status, "delivered");
                    report.delivered += 1;
                    "delivered"
                } else {
                    report.stale += 1;
                    "stale"
                }
            }
            Attempt::Failed { reason, status } => {
                let code = status.map(i64::from);
                match deliveries::record_failure(&mut conn, claim, &reason, code, now).await? {
                    FailureOutcome::Retry(at) => {
                        tracing::info!(
                            delivery = %claim.id, endpoint = %claim.endpoint_id, kind,
                            attempt = claim.attempts + 1, retry_at = at, reason = %reason,
                            "delivery failed, will retry"
                        );
                        report.retried += 1;
                        "retry"
                    }
                    FailureOutcome::Dead => {
                        tracing::warn!(
                            delivery = %claim.id, endpoint = %claim.endpoint_id, kind,
                            attempts = claim.attempts + 1, reason = %reason,
                            "delivery failed for the last time: dead"
                        );
                        report.dead += 1;
                        "dead"
                    }
                    FailureOutcome::Stale => {
                        report.stale += 1;
                        "stale"
                    }
                }
            }
        };
        if outcome == "stale" {
            tracing::warn!(delivery = %claim.id, "claim lost before the outcome was recorded");
        }
        metrics::counter!("accord_notifications_total", "kind" => kind, "outcome" => outcome)
            .increment(1);
        Ok(())
    }

    /// Delivers until `shutdown` turns true (or its sender is dropped): a
    /// pass, then another at once if the batch was full, else a wait for
    /// `wake` (use `notify_one` after committing an outbox row) or
    /// [`POLL_INTERVAL`]. A failed pass is logged and retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>, wake: Arc<Notify>) {
        loop {
            if *shutdown.borrow_and_update() {
                break;
            }
            let full = match self.deliver_due(DELIVERIES_PER_ROUND).await {
                Ok(report) => report.claimed >= DELIVERIES_PER_ROUND,
                Err(e) => {
                    tracing::error!(error = %e, "outbox delivery pass failed");
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }
}

/// Sends one delivery.
async fn send(
    http: &reqwest::Client,
    clock: &dyn Clock,
    claim: &Claimed,
    timeout: Duration,
) -> Attempt {
    let failed = |reason: String| Attempt::Failed {
        reason,
        status: None,
    };
    let request = match EndpointKind::parse(&claim.kind) {
        Some(EndpointKind::Slack) => http.post(&claim.url).json(&slack::message(
            &claim.event_type,
            &claim.dedupe_key,
            &claim.payload,
        )),
        Some(EndpointKind::Webhook) => {
            let Some(secret) = claim.secret.as_deref() else {
                return failed("the endpoint has no signing secret".into());
            };
            let timestamp = clock.now_ms().div_euclid(1000);
            let signature = match standard_webhooks::sign(
                secret,
                &claim.dedupe_key,
                timestamp,
                claim.payload.as_bytes(),
            ) {
                Ok(s) => s,
                Err(e) => return failed(e.to_string()),
            };
            http.post(&claim.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(standard_webhooks::ID_HEADER, &claim.dedupe_key)
                .header(standard_webhooks::TIMESTAMP_HEADER, timestamp.to_string())
                .header(standard_webhooks::SIGNATURE_HEADER, signature)
                .body(claim.payload.clone())
        }
        None => return failed(format!("unknown endpoint kind `{}`", claim.kind)),
    };
    match request.timeout(timeout).send().await {
        Ok(response) if response.status().is_success() => Attempt::Delivered {
            status: response.status().as_u16(),
        },
        Ok(response) => {
            let status = response.status();
            let excerpt = body_excerpt(response).await;
            let reason = if excerpt.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {excerpt}")
            };
            Attempt::Failed {
                reason,
                status: Some(status.as_u16()),
            }
        }
        Err(e) => failed(describe(e, timeout)),
    }
}

/// The first [`BODY_EXCERPT_CHARS`] characters of a response body, on one
/// line (what could be read before the timeout).
async fn body_excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < BODY_EXCERPT_CHARS * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(BODY_EXCERPT_CHARS)
        .collect()
}

/// A send error with its causes, without the URL (a Slack webhook URL is
/// itself a secret).
fn describe(e: reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
