//! Load shedding: how many API requests run at once, so that an overload turns into fast `503`s
//! with `Retry-After` instead of a growing queue of requests that all time out.
//!
//! Two classes, each with its own limit. Every API request starts as `short` and holds a short
//! slot while it runs. A request that is about to wait (a long-poll lease, a result wait, an
//! event stream) moves to the `waiting` class with `Slot::wait`: it gives its short slot back
//! first, so any number of waiting requests, up to their own limit, never crowd out short
//! calls. A request that finds its class full is refused at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::metrics;

/// The two limits.
#[derive(Debug)]
pub struct Load {
    short: Arc<Semaphore>,
    short_limit: usize,
    waiting: Arc<Semaphore>,
    waiting_limit: usize,
}

impl Load {
    pub fn new(short_limit: usize, waiting_limit: usize) -> Arc<Self> {
        Arc::new(Self {
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

/// The request's slot, handed to handlers that may wait. Without the shedding layer (a bare
/// router in a unit test), a slot that limits nothing.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    load: Option<Arc<Load>>,
    short: Arc<Mutex<Option<Held>>>,
    /// Milliseconds of waiting the request was granted: its deadline moves out by as much, so a
    /// 60 s result wait is not cut short by a 35 s request timeout.
    granted_wait_ms: Arc<AtomicU64>,
}

/// A waiting slot: hold it for as long as the request waits (for an event stream, as long as
/// the stream lives).
#[derive(Debug)]
pub struct Waiting(#[allow(dead_code)] Option<Held>);

impl Slot {
    /// Moves this request to the `waiting` class: its short slot is given back, and a waiting
    /// slot taken, or `503` when every waiting slot is taken.
    pub fn wait(&self) -> Result<Waiting, ApiError> {
        if let Ok(mut short) = self.short.lock() {
            short.take();
        }
        let Some(load) = &self.load else {
            return Ok(Waiting(None));
        };
        match Held::take(&load.waiting, "waiting") {
            Some(held) => Ok(Waiting(Some(held))),
            None => {
                metrics::shed("waiting");
                Err(ApiError::Overloaded(format!(
                    "this server is already holding its limit of {} waiting requests; retry \
                     after the Retry-After delay, or without wait_ms",
                    load.waiting_limit
                )))
            }
        }
    }
}

impl Slot {
    /// `wait` when the request is to wait at all (`wait` is not zero), else nothing.
    pub fn wait_for(&self, wait: std::time::Duration) -> Result<Option<Waiting>, ApiError> {
        if wait.is_zero() {
            return Ok(None);
        }
        let waiting = self.wait()?;
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.granted_wait_ms.fetch_add(ms, Ordering::Relaxed);
        Ok(Some(waiting))
    }

    /// How much waiting this request has been granted so far (see `middleware::deadline`).
    pub fn granted_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.granted_wait_ms.load(Ordering::Relaxed))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Slot {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Slot>().cloned().unwrap_or_default())
    }
}

/// Admits an API request (a `/v1/` path) into the `short` class, or refuses it at once with `503` and
/// `Retry-After` when the class is full.
pub async fn shed(State(load): State<Arc<Load>>, mut request: Request, next: Next) -> Response {
    // Probes, metrics and docs are cheap and must answer truthfully under load.
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    let Some(held) = Held::take(&load.short, "short") else {
        metrics::shed("short");
        return ApiError::Overloaded(format!(
            "this server is handling its limit of {} requests at once; retry after the \
             Retry-After delay",
            load.short_limit
        ))
        .into_response();
    };
    let slot = Slot {
        load: Some(load.clone()),
        short: Arc::new(Mutex::new(Some(held))),
        granted_wait_ms: Arc::default(),
    };
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    // The short slot ends with the handler (the body of an event stream holds a waiting slot).
    if let Ok(mut short) = slot.short.lock() {
        short.take();
    }
    response
}
