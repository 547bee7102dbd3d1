//! A tiny notification receiver on loopback: the kind of endpoint an n8n
//! or Zapier workflow exposes. It checks each delivery's Standard Webhooks
//! signature and keeps what it received, stamped with simulated time.

use crate::clock::{Millis, SharedClock};
use crate::notify::standard_webhooks;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One delivery the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `webhook-id` (the outbox dedupe key, `li-accept:<account>:<enrollment>`).
    pub id: String,
    /// Simulated time of receipt.
    pub at_ms: Millis,
    /// The event type (`linkedin.invite_accepted`).
    pub event_type: String,
    /// `data.prospect_name`.
    pub prospect_name: String,
    /// `data.source`: the accept path.
    pub source: String,
    /// Whether the signature checked out under the endpoint's secret.
    pub signature_ok: bool,
}

struct Inner {
    clock: SharedClock,
    secret: Mutex<Option<String>>,
    received: Mutex<Vec<Received>>,
}

/// The running receiver.
#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Receiver {
    /// Binds 127.0.0.1 on a free port and serves until the runtime ends.
    pub async fn start(clock: SharedClock) -> anyhow::Result<Receiver> {
        let inner = Arc::new(Inner {
            clock,
            secret: Mutex::new(None),
            received: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/hooks/accord", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "demo receiver stopped");
            }
        });
        Ok(Receiver { addr, inner })
    }

    /// The URL to register as a `webhook` endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/accord", self.addr)
    }

    /// The signing secret the endpoint was given (`whsec_…`).
    pub fn set_secret(&self, secret: &str) {
        *self.inner.secret.lock().unwrap_or_else(|p| p.into_inner()) = Some(secret.to_string());
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let id = header(standard_webhooks::ID_HEADER);
    let timestamp = header(standard_webhooks::TIMESTAMP_HEADER);
    let signature = header(standard_webhooks::SIGNATURE_HEADER);
    let secret = inner
        .secret
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let signature_ok = match (secret, timestamp.parse::<i64>()) {
        (Some(secret), Ok(ts)) => standard_webhooks::sign(&secret, &id, ts, &body)
            .is_ok_and(|expected| signature.split(' ').any(|s| s == expected)),
        _ => false,
    };
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
    let received = Received {
        id,
        at_ms: inner.clock.now_ms(),
        event_type: text(&payload["type"]),
        prospect_name: text(&payload["data"]["prospect_name"]),
        source: text(&payload["data"]["source"]),
        signature_ok,
    };
    inner
        .received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(received);
    if signature_ok {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}
