//! What happens to a request body the handler did not read.
//!
//! Several refusals answer without reading the body: a wrong webhook
//! secret or admin token, a declared size over a limit. Left alone, hyper
//! reads at most what already arrived and, when more is on the way, closes
//! the connection after the answer without saying so. A client that keeps
//! connections alive (every HTTP library's default) puts that connection
//! back in its pool, and its next request on it fails with "connection
//! closed before message completed": a request Accord never saw.
//!
//! So after such an answer the rest of the body is read and dropped, up to
//! [`DRAIN_LIMIT`] bytes and [`DRAIN_TIME`], and the connection stays
//! usable. A body over that, one that stalls, or one the client holds
//! back for a `100 Continue` gets `Connection: close` on the answer
//! (RFC 9112, section 9.6) instead, and the client opens a new connection
//! for its next request.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// The most bytes of an unread body read and dropped to keep its
/// connection (the webhook limit's default; a refused upload of a larger
/// policy module closes its connection instead).
pub const DRAIN_LIMIT: u64 = 1 << 20;

/// How long the rest of an unread body may take to arrive.
pub const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Middleware: after an answer given without reading the whole request
/// body, reads the rest (within the limits) or marks the answer
/// `Connection: close`.
pub async fn finish_unread_bodies(req: Request, next: Next) -> Response {
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    let declared = if chunked { None } else { declared_length(&req) };
    let carries_body = chunked || declared.is_some_and(|n| n > 0);
    if !carries_body || req.version() > Version::HTTP_11 {
        return next.run(req).await;
    }
    let drainable = !expects_continue(&req) && declared.is_none_or(|n| n <= DRAIN_LIMIT);
    let leftover = Arc::new(Leftover::default());
    let req = req.map(|inner| {
        Body::new(Tracked {
            inner,
            leftover: leftover.clone(),
        })
    });
    let mut response = next.run(req).await;
    if leftover.read.load(Ordering::Acquire) {
        return response;
    }
    if super::body::closes_connection(&response) {
        super::body::close(&mut response);
        return response;
    }
    let rest = leftover.body.lock().ok().and_then(|mut b| b.take());
    let drained = match rest {
        Some(body) if drainable => drain(body).await,
        _ => false,
    };
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The declared `Content-Length` (none when absent or unparsable).
fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether the client waits for `100 Continue` before sending the body
/// (which it then need not send at all).
fn expects_continue(req: &Request) -> bool {
    req.headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads and drops the rest of a body; true when it ended within the limits.
async fn drain(mut body: Body) -> bool {
    let read_to_end = async {
        let mut seen = 0u64;
        loop {
            match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                None => return true,
                Some(Ok(frame)) => {
                    seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                    if seen > DRAIN_LIMIT {
                        return false;
                    }
                }
                Some(Err(_)) => return false,
            }
        }
    };
    tokio::time::timeout(DRAIN_TIME, read_to_end)
        .await
        .unwrap_or(false)
}

/// What the middleware learns from the handler's side of the body.
#[derive(Default)]
struct Leftover {
    /// The body was read to its end.
    read: AtomicBool,
    /// The unread rest, handed back when the handler dropped the body.
    body: Mutex<Option<Body>>,
}

/// The request body as the handler sees it: it notes reaching the end,
/// and hands an unread rest back to the middleware when dropped.
struct Tracked {
    inner: Body,
    leftover: Arc<Leftover>,
}

impl Tracked {
    fn note_end(&self) {
        self.leftover.read.store(true, Ordering::Release);
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.note_end();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.note_end();
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.leftover.read.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut slot) = self.leftover.body.lock() {
            *slot = Some(std::mem::take(&mut self.inner));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt;

    fn router() -> Router {
        Router::new()
            .route("/ignore", post(|| async { "ignored" }))
            .route(
                "/read",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(axum::middleware::from_fn(finish_unread_bodies))
    }

    /// The `Connection` header of the answer to `req`.
    async fn connection(req: Request) -> Option<String> {
        let Ok(resp) = router().oneshot(req).await;
        resp.headers()
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn post_to(path: &str, len: usize, body: Body) -> Request {
        let mut req = Request::new(body);
        *req.method_mut() = axum::http::Method::POST;
        *req.uri_mut() = path.parse().unwrap_or_default();
        req.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        req
    }

    fn sized(path: &str, len: usize) -> Request {
        post_to(path, len, Body::from(vec![b'x'; len]))
    }

    /// A body whose rest never arrives.
    struct Stalled;

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = axum::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_read_body_keeps_the_connection() {
        assert_eq!(connection(sized("/read", 3)).await, None);
    }

    #[tokio::test]
    async fn an_unread_body_within_the_limit_is_drained() {
        assert_eq!(connection(sized("/ignore", 3)).await, None);
        let whole = usize::try_from(DRAIN_LIMIT).unwrap_or(usize::MAX);
        assert_eq!(connection(sized("/ignore", whole)).await, None);
    }

    #[tokio::test]
    async fn an_unread_body_over_the_limit_closes_the_connection() {
        let over = usize::try_from(DRAIN_LIMIT + 1).unwrap_or(usize::MAX);
        assert_eq!(
            connection(sized("/ignore", over)).await.as_deref(),
            Some("close")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_closes_the_connection_after_the_drain_time() {
        let req = post_to("/ignore", 10, Body::new(Stalled));
        assert_eq!(connection(req).await.as_deref(), Some("close"));
    }

    #[tokio::test]
    async fn a_body_held_back_for_100_continue_closes_the_connection() {
        let mut req = sized("/ignore", 3);
        req.headers_mut()
            .insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        assert_eq!(connection(req).await.as_deref(), Some("close"));
    }

    #[tokio::test]
    async fn no_body_leaves_the_answer_alone() {
        assert_eq!(connection(sized("/ignore", 0)).await, None);
    }
}
