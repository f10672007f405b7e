//! Cross-cutting HTTP behaviour: the request's span, log line and metrics, CORS, and
//! the guarantee that every error response, including axum's own (unknown route, wrong method,
//! extractor rejections), is a problem+json document.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::http::problem::{ApiError, InternalCause};

/// Runs the request in a span carrying its request id and route, so every line it logs can be
/// found; logs the cause of a `500` once; and, when `access_log` is on, writes one line per
/// request (method, route template, status, duration), at INFO except for the probes
/// (`/healthz`, `/readyz`), which are at DEBUG. Routes are templates
/// (`/v1/queues/{queue}/tasks/{id}`), never raw paths with ids.
pub async fn observe(State(access_log): State<bool>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // Held by reference count, not copied: these run on every request.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("(no route)", MatchedPath::as_str);
    let request_id = request.headers().get("x-request-id").cloned();
    let request_id = request_id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // `key` is filled in by the `Caller` extractor: the key's name, never the key.
    let span = tracing::info_span!(
        "request",
        %method,
        %route,
        %request_id,
        key = tracing::field::Empty
    );
    let response = next.run(request).instrument(span.clone()).await;
    let _inside = span.enter();
    let status = response.status().as_u16();
    crate::metrics::request(&method, route, status, started.elapsed());
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(%cause, "request failed");
    }
    if access_log {
        let duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        // Probes come from orchestrators every few seconds (the image's own HEALTHCHECK every
        // 10 s): below INFO, so that the access log shows traffic.
        if matches!(route, "/healthz" | "/readyz") {
            tracing::debug!(target: "taskgate::access", status, duration_ms, "request");
        } else {
            tracing::info!(target: "taskgate::access", status, duration_ms, "request");
        }
    }
    response
}

/// Rewrites any error response that is not already problem+json (axum's 404 fallback, 405,
/// body-limit and other rejections) into the problem for its status, keeping its headers
/// (such as `Allow` on a 405).
pub async fn problem_errors(request: Request, next: Next) -> Response {
    // Kept by reference count; the text is made only for an error that needs it.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let route = format!("{method} {}", uri.path());
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(format!("no route for {route}")),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("the request body exceeds the server's limit".into())
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::REQUEST_TIMEOUT => ApiError::RequestTimeout,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(String::new()),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ApiError::HeadersTooLarge("the request's headers are too large".into())
        }
        s if s.is_server_error() => ApiError::Internal(format!("{route} answered {s}")),
        _ => ApiError::Malformed(format!("the request was rejected ({status})")),
    };
    let (mut parts, _) = response.into_parts();
    let (problem_parts, body) = error.into_response().into_parts();
    parts.status = problem_parts.status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(problem_parts.headers);
    Response::from_parts(parts, body)
}

/// The answer to a handler that panicked (`CatchPanicLayer`): a problem+json `500` rather than
/// a reset connection. What the panic said is the `500`'s cause, logged by `observe` (never
/// in the body).
pub fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let said = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::Internal(format!("a request handler panicked: {said}")).into_response()
}

fn is_problem(response: &Response) -> bool {
    response.headers().get(header::CONTENT_TYPE)
        == Some(&HeaderValue::from_static("application/problem+json"))
}

/// CORS for web pages on the configured origins (`*` for any): preflights are answered, and
/// the headers a page needs are allowed and exposed. With no origins, none: an `OPTIONS`
/// request is then like any other method a route does not serve (`405`, or `404` off every
/// route).
pub fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    let header = HeaderName::from_static;
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                header("idempotency-key"),
                header("x-request-id"),
            ])
            .expose_headers([
                header::LOCATION,
                header::ETAG,
                header::RETRY_AFTER,
                header("idempotent-replayed"),
                header("x-request-id"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Answers CORS preflights (`OPTIONS`). Installed as a route layer, so it runs only on a
/// path some route serves: a preflight anywhere else is the router's `404`, as any request
/// there is. Other methods pass through (`cors_responses` adds their headers).
pub async fn cors_preflights(
    State(cors): State<tower_http::cors::CorsLayer>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != axum::http::Method::OPTIONS {
        return next.run(request).await;
    }
    with_cors(cors, request, next).await
}

/// Adds the CORS headers to every answer but a preflight's, errors of the outer layers (`503`
/// when shedding load, `408`, `431`) included, so a page can read them.
pub async fn cors_responses(
    State(cors): State<tower_http::cors::CorsLayer>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == axum::http::Method::OPTIONS {
        return next.run(request).await;
    }
    with_cors(cors, request, next).await
}

async fn with_cors(cors: tower_http::cors::CorsLayer, request: Request, next: Next) -> Response {
    use tower::{Layer, ServiceExt};

    match cors.layer(next).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
