//! Outbox delivery against a real HTTP receiver on loopback: Standard Webhooks signatures, Slack text, the retry schedule, dead letters, timeouts, concurrent notifiers, disabled endpoints.

use crate::support::test_dbs;
use accord::clock::{Clock, DAY_MS, HOUR_MS, MINUTE_MS, ManualClock, SharedClock};
use accord::notify::{DeliveryReport, Notifier};
use accord::store::endpoints::{EndpointError, EndpointKind, NewEndpoint};
use accord::store::{Db, accounts, deliveries, endpoints, outbox};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const T0: i64 = 1_791_650_000_000;
const WS: &str = "ws1";

// ---------------------------------------------------------------- receiver

#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Whether the receiver answered 2xx.
    pub(crate) ok: bool,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
pub(crate) struct ReceiverState {
    requests: Mutex<Vec<Recorded>>,
    /// Requests still to answer with a 500.
    fail: AtomicUsize,
    /// Never answer (the sender times out).
    hang: AtomicBool,
    arrived: Notify,
}

/// An HTTP server on 127.0.0.1 that records every request (the
/// integrations tests use it too).
pub(crate) struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, state }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn fail_next(&self, n: usize) {
        self.state.fail.store(n, Ordering::SeqCst);
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits (on real loopback I/O) until `n` requests have arrived.
    pub(crate) async fn wait_for(&self, n: usize) {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let arrived = self.state.arrived.notified();
                if self.state.requests.lock().unwrap().len() >= n {
                    return;
                }
                arrived.await;
            }
        })
        .await
        .expect("requests arrive");
    }
}

async fn handle(
    State(s): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    if s.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let fail = s
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    s.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_string(),
        headers,
        body,
        ok: !fail,
    });
    s.arrived.notify_waiters();
    if fail {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "boom: the receiver was told to fail",
        )
    } else {
        (StatusCode::OK, "ok")
    }
}

// ---------------------------------------------------------------- fixtures

struct Fixture {
    name: &'static str,
    db: Db,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn notifier(&self) -> Notifier {
        let clock: SharedClock = self.clock.clone();
        Notifier::new(self.db.clone(), clock).unwrap()
    }

    async fn endpoint(&self, kind: EndpointKind, url: &str, enabled: bool) -> endpoints::Endpoint {
        let mut tx = self.db.begin().await.unwrap();
        let e = endpoints::insert(
            &mut tx,
            &NewEndpoint {
                workspace_id: WS,
                kind,
                url,
                name: None,
                secret: None,
                enabled,
            },
            self.clock.now_ms(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        e
    }

    /// Records an accept in the outbox (with its deliveries); returns the
    /// outbox id and dedupe key.
    async fn accept(&self, enrollment: &str) -> (String, String) {
        self.accept_of(enrollment, "Julien Crépieux").await
    }

    /// Like [`Fixture::accept`], naming the prospect.
    async fn accept_of(&self, enrollment: &str, prospect: &str) -> (String, String) {
        let key = outbox::accept_key("SDF4tGaPSPSzNe1D1xsOs", enrollment);
        let payload = serde_json::json!({
            "type": "linkedin.invite_accepted",
            "timestamp": "2026-10-09T10:33:20Z",
            "data": {
                "workspace_id": WS,
                "linkedin_account_id": "acc1",
                "provider_account_id": "SDF4tGaPSPSzNe1D1xsOs",
                "account_name": "Sales – Anna",
                "enrollment_id": enrollment,
                "campaign_id": "c1",
                "campaign_name": "Q4 founders",
                "prospect_id": "p1",
                "prospect_name": prospect,
                "profile_url": "https://www.linkedin.com/in/julien-crepieux/",
                "accepted_at": T0,
                "source": "webhook",
                "strategy": "invite-bridge"
            }
        });
        let mut tx = self.db.begin().await.unwrap();
        let row = outbox::NewOutbox::new(
            WS,
            "linkedin.invite_accepted",
            &key,
            &payload,
            self.clock.now_ms(),
        );
        let id = row.id().to_string();
        tx.defer_outbox(row);
        tx.commit().await.unwrap();
        (id, key)
    }

    async fn deliveries_of(&self, outbox_id: &str) -> Vec<deliveries::Delivery> {
        let mut c = self.db.pool().acquire().await.unwrap();
        deliveries::of_outbox(&mut c, outbox_id).await.unwrap()
    }

    async fn dead(&self, workspace_id: &str) -> Vec<deliveries::DeadDelivery> {
        let mut c = self.db.pool().acquire().await.unwrap();
        deliveries::dead_of_workspace(&mut c, workspace_id, 100)
            .await
            .unwrap()
    }
}

/// One fixture per database: a workspace `ws1` and a clock at T0.
async fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for (name, db, dir) in test_dbs().await {
        let mut c = db.pool().acquire().await.unwrap();
        for id in [WS, "ws2"] {
            accounts::insert_workspace(
                &mut c,
                &accounts::Workspace {
                    id: id.into(),
                    name: format!("Workspace {id}"),
                    created_at: T0,
                },
            )
            .await
            .unwrap();
        }
        out.push(Fixture {
            name,
            db,
            clock: ManualClock::new(T0),
            _dir: dir,
        });
    }
    out
}

/// Standard Webhooks verification, written independently of the host.
pub(crate) fn verify(secret: &str, r: &Recorded) -> bool {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = r.header("webhook-id").unwrap();
    let ts = r.header("webhook-timestamp").unwrap();
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(&signed);
    let expected = BASE64.encode(mac.finalize().into_bytes());
    r.header("webhook-signature")
        .unwrap()
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_signed_per_standard_webhooks() {
    for f in fixtures().await {
        let rx = Receiver::start().await;
        let ep = f
            .endpoint(EndpointKind::Webhook, &rx.url("/n8n"), true)
            .await;
        let secret = ep.secret.clone().expect("a generated secret");
        assert!(secret.starts_with("whsec_"), "{}", f.name);
        let (outbox_id, key) = f.accept("e1").await;
        f.clock.advance(1_500);

        let report = f.notifier().deliver_due(10).await.unwrap();
        assert_eq!(
            report,
            DeliveryReport {
                claimed: 1,
                delivered: 1,
                ..DeliveryReport::default()
            },
            "{}",
            f.name
        );
        let reqs = rx.requests();
        assert_eq!(reqs.len(), 1, "{}", f.name);
        let r = &reqs[0];
        assert_eq!(r.path, "/n8n");
        assert_eq!(r.header("webhook-id"), Some(key.as_str()), "{}", f.name);
        assert_eq!(
            r.header("webhook-timestamp"),
            Some(((T0 + 1_500) / 1000).to_string().as_str())
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(verify(&secret, r), "{}: signature verifies", f.name);
        assert!(
            !verify(&endpoints::generate_secret(), r),
            "another secret does not verify"
        );
        // The body is the stored payload, byte for byte.
        let mut c = f.db.pool().acquire().await.unwrap();
        let row = outbox::by_dedupe_key(&mut c, &key).await.unwrap();
        assert_eq!(r.body.as_ref(), row[0].payload.as_bytes());
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["type"], "linkedin.invite_accepted");
        assert_eq!(body["data"]["enrollment_id"], "e1");

        let d = f.deliveries_of(&outbox_id).await;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].status, "delivered");
        assert_eq!(d[0].attempts, 1);
        assert_eq!(d[0].delivered_at, Some(T0 + 1_500));
        assert_eq!(d[0].last_status_code, Some(200));
        // Delivered once: nothing more to claim.
        f.clock.advance(DAY_MS);
        assert_eq!(f.notifier().deliver_due(10).await.unwrap().claimed, 0);
        assert_eq!(rx.requests().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_message_names_prospect_campaign_and_account() {
    for f in fixtures().await {
        let rx = Receiver::start().await;
        let ep = f
            .endpoint(EndpointKind::Slack, &rx.url("/services/T0/B0/x"), true)
            .await;
        assert!(ep.secret.is_none());
        f.accept("e1").await;
        let report = f.notifier().deliver_due(10).await.unwrap();
        assert_eq!(report.delivered, 1, "{}", f.name);
        let reqs = rx.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].header("content-type"), Some("application/json"));
        assert!(reqs[0].header("webhook-signature").is_none());
        let body: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
        let text = body["text"].as_str().expect("a text field");
        for part in [
            "Julien Crépieux",
            "accepted your LinkedIn invite",
            "Q4 founders",
            "Sales – Anna",
            "webhook / invite-bridge",
            "https://www.linkedin.com/in/julien-crepieux/",
        ] {
            assert!(
                text.contains(part),
                "{}: `{part}` missing from {text}",
                f.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_retry_on_the_backoff_schedule_then_die_and_are_listed() {
    const SCHEDULE: [i64; 7] = [
        5_000,
        5 * MINUTE_MS,
        30 * MINUTE_MS,
        2 * HOUR_MS,
        5 * HOUR_MS,
        10 * HOUR_MS,
        24 * HOUR_MS,
    ];
    for f in fixtures().await {
        let rx = Receiver::start().await;
        rx.fail_next(usize::MAX);
        f.endpoint(EndpointKind::Webhook, &rx.url("/zap"), true)
            .await;
        let (outbox_id, key) = f.accept("e1").await;
        let notifier = f.notifier();

        let first = notifier.deliver_due(10).await.unwrap();
        assert_eq!((first.claimed, first.retried), (1, 1), "{}", f.name);
        let d = &f.deliveries_of(&outbox_id).await[0];
        assert_eq!(d.status, "pending");
        assert_eq!(d.attempts, 1);
        assert_eq!(d.next_attempt_at, T0 + 5_000);
        assert_eq!(d.last_status_code, Some(500));
        let error = d.last_error.as_deref().unwrap();
        assert!(error.contains("500") && error.contains("boom"), "{error}");
        assert!(d.lease_expires_at.is_none(), "the lease is released");

        for (retry, wait) in SCHEDULE.iter().enumerate() {
            f.clock.advance(wait - 1);
            assert_eq!(
                notifier.deliver_due(10).await.unwrap().claimed,
                0,
                "{}: retry {} is not due 1 ms early",
                f.name,
                retry + 1
            );
            f.clock.advance(1);
            let r = notifier.deliver_due(10).await.unwrap();
            assert_eq!(r.claimed, 1, "{}: retry {} due on time", f.name, retry + 1);
            if retry + 1 < SCHEDULE.len() {
                assert_eq!(r.retried, 1);
            } else {
                assert_eq!(r.dead, 1, "{}: dead after the last retry", f.name);
            }
        }
        assert_eq!(rx.requests().len(), 8, "{}: 8 attempts in all", f.name);
        assert!(
            rx.requests()
                .iter()
                .all(|r| r.header("webhook-id") == Some(key.as_str())),
            "every attempt carries the same webhook-id"
        );

        // Dead: never claimed again, listed for its workspace only.
        f.clock.advance(30 * DAY_MS);
        assert_eq!(notifier.deliver_due(10).await.unwrap().claimed, 0);
        let dead = f.dead(WS).await;
        assert_eq!(dead.len(), 1, "{}", f.name);
        assert_eq!(dead[0].outbox_id, outbox_id);
        assert_eq!(dead[0].event_type, "linkedin.invite_accepted");
        assert_eq!(dead[0].dedupe_key, key);
        assert_eq!(dead[0].endpoint_kind, "webhook");
        assert_eq!(dead[0].attempts, 8);
        assert_eq!(dead[0].last_status_code, Some(500));
        assert!(dead[0].last_error.as_deref().unwrap().contains("boom"));
        let died_at = T0 + SCHEDULE.iter().sum::<i64>();
        assert_eq!(dead[0].dead_at, died_at);
        assert!(f.dead("ws2").await.is_empty());

        // An admin retry: another workspace cannot, the owner can.
        let mut c = f.db.pool().acquire().await.unwrap();
        let now = f.clock.now_ms();
        assert!(
            !deliveries::requeue(&mut c, "ws2", &dead[0].id, now)
                .await
                .unwrap()
        );
        assert!(
            deliveries::requeue(&mut c, WS, &dead[0].id, now)
                .await
                .unwrap()
        );
        assert!(
            !deliveries::requeue(&mut c, WS, &dead[0].id, now)
                .await
                .unwrap(),
            "only a dead delivery is requeued"
        );
        drop(c);
        rx.fail_next(0);
        let r = notifier.deliver_due(10).await.unwrap();
        assert_eq!(r.delivered, 1, "{}", f.name);
        assert!(f.dead(WS).await.is_empty());
        assert_eq!(rx.requests().len(), 9);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_refused_connections_are_failures() {
    for f in fixtures().await {
        // A port nobody listens on.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let refused = f
            .endpoint(
                EndpointKind::Webhook,
                &format!("http://{closed}/hook"),
                true,
            )
            .await;
        let rx = Receiver::start().await;
        rx.state.hang.store(true, Ordering::SeqCst);
        let hanging = f
            .endpoint(EndpointKind::Slack, &rx.url("/slow"), true)
            .await;
        let (outbox_id, _) = f.accept("e1").await;

        let notifier = f.notifier().with_timeout(Duration::from_millis(300));
        let r = notifier.deliver_due(10).await.unwrap();
        assert_eq!((r.claimed, r.retried, r.delivered), (2, 2, 0), "{}", f.name);
        let ds = f.deliveries_of(&outbox_id).await;
        let of = |id: &str| ds.iter().find(|d| d.endpoint_id == id).unwrap().clone();
        let d = of(&refused.id);
        assert_eq!((d.status.as_str(), d.attempts), ("pending", 1));
        assert_eq!(d.next_attempt_at, T0 + 5_000);
        assert_eq!(d.last_status_code, None);
        let error = d.last_error.unwrap();
        assert!(!error.is_empty());
        assert!(
            !error.contains(&closed.to_string()),
            "no URL in the error: {error}"
        );
        let d = of(&hanging.id);
        assert_eq!((d.status.as_str(), d.attempts), ("pending", 1));
        assert_eq!(d.last_status_code, None);
        assert!(
            d.last_error.as_deref().unwrap().contains("timed out"),
            "{:?}",
            d.last_error
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_notifiers_deliver_each_delivery_exactly_once() {
    for f in fixtures().await {
        let rx = Receiver::start().await;
        f.endpoint(EndpointKind::Webhook, &rx.url("/a"), true).await;
        f.endpoint(EndpointKind::Webhook, &rx.url("/b"), true).await;
        f.endpoint(EndpointKind::Slack, &rx.url("/c"), true).await;
        const ACCEPTS: usize = 25;
        for i in 0..ACCEPTS {
            f.accept_of(&format!("e{i}"), &format!("Prospect {i}"))
                .await;
        }
        let total = ACCEPTS * 3;

        let pass = |n: Notifier| async move {
            let mut delivered = 0;
            loop {
                let r = n.deliver_due(7).await.unwrap();
                if r.claimed == 0 {
                    return delivered;
                }
                assert_eq!(r.delivered, r.claimed);
                delivered += r.delivered;
            }
        };
        let (a, b) = tokio::join!(
            tokio::spawn(pass(f.notifier())),
            tokio::spawn(pass(f.notifier()))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a + b, total, "{}: {a} + {b}", f.name);

        let reqs = rx.requests();
        assert_eq!(reqs.len(), total, "{}: one request per delivery", f.name);
        let distinct: HashSet<(String, String)> = reqs
            .iter()
            .map(|r| {
                let id = match r.header("webhook-id") {
                    Some(id) => id.to_string(),
                    None => serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["text"]
                        .to_string(),
                };
                (r.path.clone(), id)
            })
            .collect();
        assert_eq!(distinct.len(), total, "{}: no delivery twice", f.name);
        let mut c = f.db.pool().acquire().await.unwrap();
        assert_eq!(
            deliveries::count(&mut c, "delivered").await.unwrap(),
            total as i64
        );
        assert_eq!(deliveries::count(&mut c, "pending").await.unwrap(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_endpoint_gets_no_delivery() {
    for f in fixtures().await {
        let rx = Receiver::start().await;
        let on = f
            .endpoint(EndpointKind::Webhook, &rx.url("/on"), true)
            .await;
        let off = f
            .endpoint(EndpointKind::Webhook, &rx.url("/off"), false)
            .await;
        let (outbox_id, _) = f.accept("e1").await;
        let ds = f.deliveries_of(&outbox_id).await;
        assert_eq!(ds.len(), 1, "{}", f.name);
        assert_eq!(ds[0].endpoint_id, on.id);

        // Disabling pauses pending deliveries; enabling resumes them.
        let mut c = f.db.pool().acquire().await.unwrap();
        assert!(endpoints::set_enabled(&mut c, &on.id, false).await.unwrap());
        drop(c);
        assert_eq!(f.notifier().deliver_due(10).await.unwrap().claimed, 0);
        let (outbox2, _) = f.accept("e2").await;
        assert!(f.deliveries_of(&outbox2).await.is_empty());
        let mut c = f.db.pool().acquire().await.unwrap();
        assert!(endpoints::set_enabled(&mut c, &on.id, true).await.unwrap());
        assert!(!endpoints::set_enabled(&mut c, "nope", true).await.unwrap());
        let got = endpoints::get(&mut c, &off.id).await.unwrap().unwrap();
        assert!(!got.is_enabled());
        drop(c);
        assert_eq!(f.notifier().deliver_due(10).await.unwrap().delivered, 1);
        let paths: Vec<String> = rx.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/on"], "{}", f.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_validate_secrets_and_never_list_them() {
    for f in fixtures().await {
        let mut c = f.db.pool().acquire().await.unwrap();
        let new = |secret: Option<&'static str>, kind| NewEndpoint {
            workspace_id: WS,
            kind,
            url: "https://example.com/hook",
            name: None,
            secret,
            enabled: true,
        };
        for bad in ["nope", "whsec_***", "whsec_c2hvcnQ="] {
            let e = endpoints::insert(&mut c, &new(Some(bad), EndpointKind::Webhook), T0).await;
            assert!(matches!(e, Err(EndpointError::InvalidSecret(_))), "{bad}");
        }
        let e = endpoints::insert(
            &mut c,
            &new(
                Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                EndpointKind::Slack,
            ),
            T0,
        )
        .await;
        assert!(matches!(e, Err(EndpointError::UnexpectedSecret)));
        let mut bad_url = new(None, EndpointKind::Slack);
        bad_url.url = "file:///etc/passwd";
        assert!(matches!(
            endpoints::insert(&mut c, &bad_url, T0).await,
            Err(EndpointError::InvalidUrl(_))
        ));
        let mut other = new(None, EndpointKind::Slack);
        other.workspace_id = "missing";
        assert!(matches!(
            endpoints::insert(&mut c, &other, T0).await,
            Err(EndpointError::UnknownWorkspace(_))
        ));

        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let created = endpoints::insert(&mut c, &new(Some(secret), EndpointKind::Webhook), T0)
            .await
            .unwrap();
        let shown =
            serde_json::to_value(endpoints::CreatedEndpoint::from(created.clone())).unwrap();
        assert_eq!(shown["signing_secret"], secret, "shown once at creation");
        assert_eq!(shown["id"], created.id.as_str());

        let listed = endpoints::of_workspace(&mut c, WS).await.unwrap();
        assert_eq!(listed.len(), 1, "{}", f.name);
        assert_eq!(listed[0].secret.as_deref(), Some(secret));
        let json = serde_json::to_string(&listed).unwrap();
        assert!(!json.contains("whsec_"), "{json}");
        assert!(!format!("{:?}", listed[0]).contains("whsec_"));
        assert!(
            endpoints::of_workspace(&mut c, "ws2")
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_delivers_when_woken_and_stops_on_shutdown() {
    for f in fixtures().await {
        let rx = Receiver::start().await;
        f.endpoint(EndpointKind::Webhook, &rx.url("/hook"), true)
            .await;
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(f.notifier().run(shutdown, wake.clone()));
        f.accept("e1").await;
        wake.notify_one();
        rx.wait_for(1).await;
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("run stops on shutdown")
            .unwrap();
        assert_eq!(rx.requests().len(), 1, "{}", f.name);
        assert!(rx.requests()[0].ok);
    }
}
