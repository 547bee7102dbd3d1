//! The listener `accord serve` runs: the router behind bounds on slow
//! clients and on connections, answering in JSON even where the HTTP
//! layer refuses a request itself.
//!
//! - A request head (request line and headers) must arrive within
//!   [`EdgeConfig::header_read_timeout`], counted from the moment the
//!   connection waits for it, idle keep-alive time included; past it the
//!   connection is closed without an answer (a client that has not sent
//!   its request cannot be told anything useful).
//! - A request body must arrive within [`EdgeConfig::body_read_timeout`]
//!   of its head (408 `body_timeout`, see [`super::body`]).
//! - At most [`EdgeConfig::max_connections`] connections are served at
//!   once; the next ones get a 503 `too_many_connections` with
//!   `Retry-After: 1` and are closed at once, so the process never runs
//!   out of file descriptors and every client is told why.
//! - hyper answers a request it cannot parse (a malformed line or header,
//!   a bad or conflicting Content-Length, a head over ~400 KiB or with
//!   more than 100 headers, a URI over 64 KiB) itself, with an empty
//!   body; [`JsonRefusals`] replaces that answer on its way to the socket
//!   with the same status and a JSON error body.

use crate::app::App;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub use crate::app::EdgeConfig;

/// How long connections in flight may finish after shutdown is asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Refusals of connections over the cap written at once; beyond that a
/// connection is closed without an answer (each one holds a descriptor).
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// Serves the router on `listener` until `shutdown` resolves, then lets
/// the connections in flight finish (at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let edge = app.config.edge;
    let router = super::router(app);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(edge.header_read_timeout)
        // A client that closes its write side after its request still
        // gets the answer (hyper otherwise drops the connection at the
        // EOF, answered or not); a body cut short by it is `invalid_body`.
        .half_close(true)
        // One flat buffer per write, so JsonRefusals sees hyper's own
        // answers whole.
        .writev(false);
    let slots = Arc::new(Semaphore::new(edge.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(stream, &refusals, edge.max_connections);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(JsonRefusals::new(stream));
        let conn = http.serve_connection(io, TowerToHyperService::new(router.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                connection_failed(&e);
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after shutdown; closing them");
    }
    Ok(())
}

/// An accept that failed: a connection reset before it was accepted is
/// nothing; anything else (out of file descriptors) is logged and the
/// loop pauses a little rather than spinning.
async fn accept_failed(e: &io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    metrics::counter!("accord_http_refusals_total", "reason" => "accept_failed").increment(1);
    if warn_now() {
        tracing::warn!(error = %e, "accepting a connection failed; pausing 50 ms");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Counts why hyper ended a connection early (the label is a closed set).
fn connection_failed(e: &hyper::Error) {
    let reason = if e.is_timeout() {
        "header_timeout"
    } else if e.is_parse_too_large() {
        "headers_too_large"
    } else if e.is_parse() || e.is_parse_status() {
        "malformed_request"
    } else if e.is_incomplete_message() {
        "incomplete"
    } else {
        "other"
    };
    metrics::counter!("accord_http_refusals_total", "reason" => reason).increment(1);
    tracing::debug!(error = %e, reason, "connection ended early");
}

/// Whether a warning about refused connections may be logged now: at
/// most one per 10 s, so a flood of connections does not flood the log
/// (the counters count every one).
fn warn_now() -> bool {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    now >= last + 10
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Refuses a connection over the cap: a 503 JSON answer, then close.
fn refuse(stream: TcpStream, refusals: &Arc<Semaphore>, cap: usize) {
    metrics::counter!("accord_http_refusals_total", "reason" => "too_many_connections")
        .increment(1);
    if warn_now() {
        tracing::warn!(
            max_connections = cap,
            "refusing connections over ACCORD_MAX_CONNECTIONS with 503"
        );
    }
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let answer = json_answer(
            503,
            "too_many_connections",
            &format!("the server is at its limit of {cap} connections; retry in a moment"),
            &["retry-after: 1"],
        );
        let _ =
            tokio::time::timeout(Duration::from_millis(500), lingering_close(stream, answer)).await;
        drop(permit);
    });
}

/// Writes `answer`, ends the write side, and reads what the client sent
/// until it closes (bounded by the caller): closing with unread bytes
/// would reset the connection, and the client could lose the answer.
async fn lingering_close(mut stream: TcpStream, answer: Vec<u8>) {
    if stream.write_all(&answer).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let mut read = 0usize;
    while read < 64 << 10 {
        match stream.read(&mut sink).await {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}

/// A whole HTTP/1.1 answer with a JSON error body that closes its
/// connection.
fn json_answer(status: u16, code: &str, message: &str, extra: &[&str]) -> Vec<u8> {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The JSON answer that replaces hyper's own (empty) answer with `status`.
fn refusal_for(status: u16) -> Option<Vec<u8>> {
    let (code, message) = match status {
        400 => (
            "malformed_request",
            "the request is not valid HTTP/1.1: a malformed request line or header, or a bad or conflicting Content-Length",
        ),
        414 => ("uri_too_long", "the request URI is over 64 KiB"),
        431 => (
            "headers_too_large",
            "the request head is too large: over ~400 KiB, or more than 100 headers",
        ),
        _ => return None,
    };
    Some(json_answer(status, code, message, &[]))
}

/// Where hyper's own refusal starts in `buf`, and its status: a head at
/// the very end of the buffer with status 400, 414 or 431 and no headers
/// but `connection`, `content-length: 0` and `date`. Every answer the
/// router gives carries a `content-type`, so none looks like this.
fn hyper_refusal(buf: &[u8]) -> Option<(usize, u16)> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let tail_from = buf.len().saturating_sub(512);
    let tail = &buf[tail_from..];
    let start = tail
        .windows(7)
        .rposition(|w| w == b"HTTP/1.")
        .map(|i| tail_from + i)?;
    let head = std::str::from_utf8(&buf[start..buf.len() - 4]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.get(9..12)?.parse().ok()?;
    if !matches!(status, 400 | 414 | 431) {
        return None;
    }
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        let known = match name.to_ascii_lowercase().as_str() {
            "content-length" => value == "0",
            "connection" => value.eq_ignore_ascii_case("close"),
            "date" => true,
            _ => false,
        };
        if !known {
            return None;
        }
    }
    Some((start, status))
}

/// A connection's stream that rewrites hyper's own refusals (see the
/// module's documentation) into JSON answers.
pub struct JsonRefusals<S> {
    inner: S,
    /// Bytes accepted from hyper but not yet written (after a rewrite).
    pending: Vec<u8>,
    written: usize,
}

impl<S> JsonRefusals<S> {
    /// Wraps a connection's stream.
    pub fn new(inner: S) -> Self {
        JsonRefusals {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> JsonRefusals<S> {
    /// Writes what a rewrite left pending.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonRefusals<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some((start, status)) = hyper_refusal(buf)
            && let Some(answer) = refusal_for(status)
        {
            this.pending = [&buf[..start], &answer[..]].concat();
            this.written = 0;
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hyper_refusals_at_the_end_only() {
        let own = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Thu, 01 Oct 2026 10:00:00 GMT\r\n\r\n";
        assert_eq!(hyper_refusal(own), Some((0, 431)));
        let after = [&b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"[..], own].concat();
        assert_eq!(hyper_refusal(&after), Some((40, 431)));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_refusal(ours), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_refusal(ok), None);
        assert_eq!(hyper_refusal(b"{\"a\":1}"), None);
    }
}
