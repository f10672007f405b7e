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

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

mod watch;

use watch::{ConnectionService, Watch, Watched};

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
