//! The accept loop: every client connection, the limits on what one may cost, and how each
//! ends on shutdown. It serves the router HTTP/1.1 through hyper and knows nothing of the API.
//!
//! A connection is in one of two states, watched by the task that serves it:
//!
//! - **waiting** for a request: just accepted, or kept alive after a response. A new connection
//!   must deliver a whole request head within `header_read_timeout` of being accepted; a
//!   kept-alive one may stay quiet for `idle_timeout`, and once the first byte of its next
//!   request comes, the head must follow within `header_read_timeout`. Past that, the
//!   connection is closed. (hyper's own `header_read_timeout` starts when hyper begins waiting
//!   for a head, idle time included, so it cannot tell a quiet kept-alive connection from a
//!   slow one; this loop measures both itself.)
//! - **busy** with a request, from its complete head until the last byte of its response. No
//!   timeout of this module applies: a long-poll, a result wait or an event stream lasts as
//!   long as its own limits say, and a request's work is bounded by the request deadline.
//!
//! At most `max_connections` are open at once; one more is refused as it is accepted (a
//! best-effort `503`, then closed) before it costs more than a socket.
//!
//! Shutdown: the listener is closed at once (new connections are refused), a waiting connection
//! is closed at once, and a busy one finishes its request and then closes. `serve` waits for
//! all of them; the caller bounds that wait with the shutdown timeout.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::http::{Request, Response};
use axum::response::Response as AxumResponse;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::Service;

/// What one connection may cost: how many may be open, and how long one may wait for a request.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            max_connections: config.max_connections,
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms),
        }
    }
}

/// Serves `router` on `listener` until `stopping` is cancelled, then until every connection has
/// ended (see the module's doc for how each ends).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stopping: CancellationToken,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let mut refused = Refusals::default();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    accept_failed(err, &stopping).await;
                    continue;
                }
            },
            () = stopping.cancelled() => break,
        };
        // The permit lives as long as the connection's task: the count of open connections.
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refused.refuse(stream, limits.max_connections);
            continue;
        };
        let connection = serve_connection(stream, router.clone(), limits, stopping.clone());
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    }
    // No new connections from here on: a client trying one is refused by the kernel.
    drop(listener);
    // Every permit back means every connection has ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
}

/// After an accept error: a connection that failed before it was accepted is nothing to worry
/// about; anything else (out of file descriptors, say) is logged and accepting pauses for a
/// second, as hyper's and axum's servers do, so the loop does not spin while it lasts.
async fn accept_failed(err: io::Error, stopping: &CancellationToken) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "cannot accept connections; retrying in 1 s");
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
        () = stopping.cancelled() => {}
    }
}

/// Connections refused at the limit, logged at most every 10 s.
#[derive(Default)]
struct Refusals {
    since_log: u64,
    logged: Option<Instant>,
}

/// Said to a connection refused at the limit, if it listens (nothing is read from it): the
/// `503` problem any overloaded request gets.
fn refusal(limit: usize) -> String {
    let problem = crate::http::problem::ApiError::Overloaded(format!(
        "this server has its limit of {limit} connections open; retry after the Retry-After \
         delay"
    ))
    .problem();
    let body = serde_json::to_string(&problem).unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nx-request-id: {}\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        uuid::Uuid::new_v4(),
        body.len()
    )
}

impl Refusals {
    fn refuse(&mut self, stream: TcpStream, limit: usize) {
        // Never waits: a client that does not read gets the close alone.
        let _ = stream.try_write(refusal(limit).as_bytes());
        drop(stream);
        self.since_log += 1;
        let now = Instant::now();
        if self
            .logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(10))
        {
            tracing::warn!(
                refused = self.since_log,
                max_connections = limit,
                "connections refused: the server has its limit of connections open \
                 (TASKGATE_MAX_CONNECTIONS)"
            );
            self.since_log = 0;
            self.logged = Some(now);
        }
    }
}

/// Serves one connection until the client closes it, a timeout of the waiting state closes it,
/// or shutdown does.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    stopping: CancellationToken,
) {
    let watch = Arc::new(Watch::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        watch: watch.clone(),
    });
    let service = ConnectionService {
        router,
        watch: watch.clone(),
    };
    let connection = hyper::server::conn::http1::Builder::new()
        // This loop measures the waiting state itself (see the module's doc).
        .header_read_timeout(None)
        .serve_connection(io, service);
    let mut connection = pin!(connection);
    let mut stopped = pin!(stopping.cancelled());
    let mut timer: Pin<&mut Sleep> = pin!(tokio::time::sleep(limits.header_read_timeout));
    let mut shutting_down = false;
    // One task polls the connection and its timer together, so every change of state (made
    // while hyper is polled: a request's head parsed, a response's last byte written) is seen
    // right after it happens and the timer follows it; nothing else needs waking.
    poll_fn(|cx| {
        if connection.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if !shutting_down && stopped.as_mut().poll(cx).is_ready() {
            shutting_down = true;
            if watch.deadline(&limits).is_some() {
                // Waiting for a request: nothing is lost by closing now.
                return Poll::Ready(());
            }
            // Busy: hyper finishes this request, then closes the connection.
            connection.as_mut().graceful_shutdown();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(deadline) = watch.deadline(&limits) {
            if shutting_down {
                return Poll::Ready(());
            }
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await;
}

/// The state of one connection (see the module's doc), shared by its socket, its service and
/// its responses' bodies, which all run in the connection's one task.
struct Watch {
    state: Mutex<State>,
}

#[derive(Clone, Copy)]
enum State {
    Waiting {
        /// Accepted, or the last response ended.
        since: Instant,
        /// Whether a request has been served on this connection (then `since` starts idle time).
        kept_alive: bool,
        /// When the first byte of the next request came.
        first_byte: Option<Instant>,
    },
    Busy,
}

impl Watch {
    fn new() -> Self {
        Self {
            state: Mutex::new(State::Waiting {
                since: Instant::now(),
                kept_alive: false,
                first_byte: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When the connection is to be closed if no request has come by then; `None` when busy.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        match *self.state() {
            State::Busy => None,
            State::Waiting {
                since,
                kept_alive: false,
                ..
            } => Some(since + limits.header_read_timeout),
            State::Waiting {
                first_byte: Some(first),
                ..
            } => Some(first + limits.header_read_timeout),
            State::Waiting { since, .. } => Some(since + limits.idle_timeout),
        }
    }

    fn bytes_read(&self) {
        if let State::Waiting { first_byte, .. } = &mut *self.state() {
            first_byte.get_or_insert_with(Instant::now);
        }
    }

    fn request_began(&self) {
        *self.state() = State::Busy;
    }

    fn response_ended(&self) {
        *self.state() = State::Waiting {
            since: Instant::now(),
            kept_alive: true,
            first_byte: None,
        };
    }
}

/// The socket, noting when bytes arrive while the connection waits for a request.
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The router, as hyper calls it for each request of one connection: marks the connection busy
/// from the request's head until its response's body has ended (or was dropped).
struct ConnectionService {
    router: Router,
    watch: Arc<Watch>,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<WatchedBody>;
    type Error = Infallible;
    type Future = Responding;

    fn call(&self, request: Request<Incoming>) -> Responding {
        self.watch.request_began();
        Responding {
            // A clone of the router is one reference count: the route table is shared.
            inner: self.router.clone().call(request),
            busy: Some(Busy(self.watch.clone())),
        }
    }
}

/// Marks the connection waiting again when dropped: with the response's body, after its last
/// byte was written, or with the request if it was abandoned.
struct Busy(Arc<Watch>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.response_ended();
    }
}

/// The router's answer to one request, its body watched.
struct Responding {
    inner: axum::routing::future::RouteFuture<Infallible>,
    busy: Option<Busy>,
}

impl Future for Responding {
    type Output = Result<Response<WatchedBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Poll::Ready(Ok(response)) = Pin::new(&mut this.inner).poll(cx) else {
            return Poll::Pending;
        };
        let busy = this.busy.take();
        Poll::Ready(Ok(AxumResponse::map(response, |inner| WatchedBody {
            inner,
            _busy: busy,
        })))
    }
}

/// A response body that keeps its connection marked busy until it ends.
pub struct WatchedBody {
    inner: Body,
    _busy: Option<Busy>,
}

impl HttpBody for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
