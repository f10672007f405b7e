//! HTTP shapes that need no Redis, tested in process: the app (`taskgate::app`) called with
//! `tower::ServiceExt::oneshot`, with no Redis anywhere. Bad bodies, unknown routes, wrong
//! methods, CORS, auth refusals and request limits are all decided before the store is asked:
//! a request that gets past them reaches a store with no Redis behind it and is answered `503`,
//! which the bounds tests use as their proof that a body was read whole. What Redis is the subject of
//! (state, outages, "nothing was written") is tested in `tests/api`, over real sockets.

#[path = "../api/reply.rs"]
mod reply;

mod bodies;
mod bounds;
mod edges;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::Value;
use tower::ServiceExt;

pub use reply::Reply;

/// The app, built as the server builds it, against a Redis address where nothing listens.
#[derive(Clone)]
pub struct InProcess {
    router: axum::Router,
}

impl Default for InProcess {
    fn default() -> Self {
        Self::with(&[])
    }
}

impl InProcess {
    pub fn new() -> Self {
        Self::default()
    }

    /// The app with extra flags in `--name=value` form.
    pub fn with(flags: &[&str]) -> Self {
        // Port 9 (discard): no Redis answers there, and nothing here may need one.
        let mut args = vec![
            "taskgate",
            "--redis-url=redis://127.0.0.1:9",
            "--reaper-interval-ms=0",
        ];
        args.extend_from_slice(flags);
        let config = taskgate::config::Config::load_from(args).expect("valid test config");
        let state = taskgate::state_from_config(&config).expect("state");
        let router = taskgate::app(state, taskgate::HttpSettings::from_config(&config));
        Self { router }
    }

    /// Sends one request; `body` is sent as is, with the content type given in `headers`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router always answers");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        Reply::from_parts(parts.status, parts.headers, &bytes)
    }

    /// Sends `body` as JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], None).await
    }
}

/// The fields a validation problem names, in order.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("a validation problem lists its errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or("").to_owned())
        .collect()
}
