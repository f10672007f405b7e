//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs/`), served from the binary:
//! no CDN, and no outside validator badge (Swagger UI's default would send the document's
//! address to validator.swagger.io). `/` leads to the docs.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use utoipa_swagger_ui::Config;

/// The page title Swagger UI shows.
const TITLE: &str = "taskgate API";

/// The docs routes, serving `document` (the pretty JSON of the OpenAPI document).
pub fn routes(document: String) -> Router {
    let config = Arc::new(
        Config::new(["/openapi.json"])
            .validator_url("none")
            .try_it_out_enabled(true)
            .display_request_duration(true),
    );
    let index = swagger_file("index.html", &config).map(|(html, _)| {
        String::from_utf8_lossy(&html).replace(
            "<title>Swagger UI</title>",
            &format!("<title>{TITLE}</title>"),
        )
    });
    let index = Arc::new(index.unwrap_or_default());
    let document = Arc::new(document);
    Router::new()
        .route("/", get(|| async { Redirect::to("/docs/") }))
        .route("/docs", get(|| async { Redirect::to("/docs/") }))
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        (*document).clone(),
                    )
                }
            }),
        )
        .route(
            "/docs/",
            get(move || {
                let index = index.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        (*index).clone(),
                    )
                }
            }),
        )
        .route(
            "/docs/{*file}",
            get(move |Path(file): Path<String>| {
                let config = config.clone();
                async move { serve_file(&file, &config) }
            }),
        )
}

fn serve_file(file: &str, config: &Arc<Config<'static>>) -> Response {
    if file == "index.html" {
        return Redirect::to("/docs/").into_response();
    }
    match swagger_file(file, config) {
        Some((bytes, content_type)) => {
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// One file of the vendored Swagger UI, with its initializer pointed at our document.
fn swagger_file(file: &str, config: &Arc<Config<'static>>) -> Option<(Vec<u8>, String)> {
    let found = utoipa_swagger_ui::serve(file, config.clone()).ok()??;
    Some((found.bytes.into_owned(), found.content_type))
}
