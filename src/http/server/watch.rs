//! One connection's state, waiting or busy (see `server`'s doc), kept by wrappers around its
//! socket (`Watched`), its service (`ConnectionService`) and its responses' bodies
//! (`WatchedBody`), so the accept loop can tell when a timeout applies.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::http::{Request, Response};
use axum::response::Response as AxumResponse;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tower::Service;

use super::ConnectionLimits;

/// The state of one connection (see the module's doc), shared by its socket, its service and
/// its responses' bodies, which all run in the connection's one task.
pub(super) struct Watch {
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
    pub(super) fn new() -> Self {
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
    pub(super) fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
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
pub(super) struct Watched {
    pub(super) inner: TcpStream,
    pub(super) watch: Arc<Watch>,
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
pub(super) struct ConnectionService {
    pub(super) router: Router,
    pub(super) watch: Arc<Watch>,
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
pub(super) struct Responding {
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
