//! The limits every request meets, in one middleware (`admit`): the size of its headers (`431`),
//! how many API requests run at once (load shedding: `503` with `Retry-After` at once, instead of
//! a growing queue of requests that all time out), and how long it may take (`408`).
//!
//! Concurrency has two classes, each with its own limit. Every API request starts as `short` and holds a short
//! slot while it runs. A request that is about to wait (a long-poll lease, a result wait, an
//! event stream) moves to the `waiting` class with `Slot::wait`: it gives its short slot back
//! first, so any number of waiting requests, up to their own limit, never crowd out short
//! calls. A request that finds its class full is refused at once.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::problem::ApiError;
use crate::metrics;

/// The limits, shared by every request.
#[derive(Debug)]
pub struct Limits {
    max_header_bytes: usize,
    request_timeout: Duration,
    short: Arc<Semaphore>,
    short_limit: usize,
    waiting: Arc<Semaphore>,
    waiting_limit: usize,
}

impl Limits {
    pub fn new(
        max_header_bytes: usize,
        request_timeout: Duration,
        short_limit: usize,
        waiting_limit: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            max_header_bytes,
            request_timeout,
            short: Arc::new(Semaphore::new(short_limit)),
            short_limit,
            waiting: Arc::new(Semaphore::new(waiting_limit)),
            waiting_limit,
        })
    }
}

/// A slot of one class, counted in the in-flight gauge while held.
#[derive(Debug)]
struct Held {
    _permit: OwnedSemaphorePermit,
    class: &'static str,
}

impl Held {
    fn take(semaphore: &Arc<Semaphore>, class: &'static str) -> Option<Self> {
        let permit = semaphore.clone().try_acquire_owned().ok()?;
        metrics::in_flight(class, 1.0);
        Some(Self {
            _permit: permit,
            class,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        metrics::in_flight(self.class, -1.0);
    }
}

/// The request's slot, handed to handlers that may wait. Without the `admit` layer (a bare
/// router in a unit test), a slot that limits nothing.
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<SlotState>);

#[derive(Debug, Default)]
struct SlotState {
    limits: Option<Arc<Limits>>,
    short: Mutex<Option<Held>>,
    /// Milliseconds of waiting the request was granted: its deadline moves out by as much, so a
    /// 60 s result wait is not cut short by a 35 s request timeout.
    granted_wait_ms: AtomicU64,
}

/// A waiting slot: hold it for as long as the request waits (for an event stream, as long as
/// the stream lives).
#[derive(Debug)]
pub struct Waiting(#[allow(dead_code)] Option<Held>);

impl Slot {
    /// Moves this request to the `waiting` class: its short slot is given back, and a waiting
    /// slot taken, or `503` when every waiting slot is taken.
    pub fn wait(&self) -> Result<Waiting, ApiError> {
        self.release_short();
        let Some(limits) = &self.0.limits else {
            return Ok(Waiting(None));
        };
        match Held::take(&limits.waiting, "waiting") {
            Some(held) => Ok(Waiting(Some(held))),
            None => {
                metrics::shed("waiting");
                Err(ApiError::Overloaded(format!(
                    "this server is already holding its limit of {} waiting requests; retry \
                     after the Retry-After delay, or without wait_ms",
                    limits.waiting_limit
                )))
            }
        }
    }
}

impl Slot {
    /// `wait` when the request is to wait at all (`wait` is not zero), else nothing.
    pub fn wait_for(&self, wait: Duration) -> Result<Option<Waiting>, ApiError> {
        if wait.is_zero() {
            return Ok(None);
        }
        let waiting = self.wait()?;
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.0.granted_wait_ms.fetch_add(ms, Ordering::Relaxed);
        Ok(Some(waiting))
    }

    /// How much waiting this request has been granted so far (see `deadline` below).
    pub fn granted_wait(&self) -> Duration {
        Duration::from_millis(self.0.granted_wait_ms.load(Ordering::Relaxed))
    }

    fn release_short(&self) {
        if let Ok(mut short) = self.0.short.lock() {
            short.take();
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Slot {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Slot>().cloned().unwrap_or_default())
    }
}

/// Admits a request: refuses oversized headers (`431`); takes a `short` slot for an API request
/// (a `/v1/` path), or refuses it at once with `503` and `Retry-After` when the class is full;
/// then runs it under its deadline. Probes, metrics and docs are never shed: they are cheap and
/// must answer truthfully under load.
pub async fn admit(
    State(limits): State<Arc<Limits>>,
    mut request: Request,
    next: Next,
) -> Response {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return ApiError::HeadersTooLarge(format!(
            "the request's headers are {header_bytes} bytes; the limit is {}",
            limits.max_header_bytes
        ))
        .into_response();
    }
    let short = if request.uri().path().starts_with("/v1/") {
        let Some(held) = Held::take(&limits.short, "short") else {
            metrics::shed("short");
            return ApiError::Overloaded(format!(
                "this server is handling its limit of {} requests at once; retry after the \
                 Retry-After delay",
                limits.short_limit
            ))
            .into_response();
        };
        Some(held)
    } else {
        None
    };
    let slot = Slot(Arc::new(SlotState {
        limits: Some(limits.clone()),
        short: Mutex::new(short),
        granted_wait_ms: AtomicU64::new(0),
    }));
    request.extensions_mut().insert(slot.clone());
    let response = deadline(limits.request_timeout, &slot, next.run(request)).await;
    // The short slot ends with the handler (an event stream's body holds a waiting slot).
    slot.release_short();
    response
}

/// Abandons `work` that runs past `limit`, plus whatever waiting the request was granted (a
/// long-poll's or a result wait's own `wait_ms`), with `408 request-timeout`. Dropping the
/// handler's future leaves nothing half done in Redis (every store operation is one atomic
/// script, run whole or not at all), but a script already sent may have run: the `408` does not
/// say the call changed nothing. A client repeats it the way that is safe after any lost
/// answer: a submit with the same `Idempotency-Key` (or each task's `idempotency_key`), an
/// ack or fail with the same `lease_id` (answered as a replay), a lease with the same
/// `request_id` (the same leases back).
async fn deadline(limit: Duration, slot: &Slot, work: impl Future<Output = Response>) -> Response {
    let started = tokio::time::Instant::now();
    tokio::pin!(work);
    loop {
        let granted = slot.granted_wait();
        tokio::select! {
            response = &mut work => return response,
            () = tokio::time::sleep_until(started + limit + granted) => {
                // More waiting was granted meanwhile: the deadline moved; sleep again.
                if slot.granted_wait() == granted {
                    return ApiError::RequestTimeout.into_response();
                }
            }
        }
    }
}
