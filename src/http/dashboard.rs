//! The web dashboard at `/ui`: static files compiled into the binary, so it works offline and
//! needs nothing beside taskgate. Its sources are `dashboard/` (plain TypeScript compiled by
//! `tsc` into `dashboard/dist/`, which is committed so that building taskgate needs no Node).
//! The dashboard calls only the public API, with the key its user enters; serving its files
//! needs no key (they hold no data).

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Every file of the dashboard: name under `/ui/`, content type, content.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        HTML,
        include_str!("../../dashboard/index.html"),
    ),
    ("style.css", CSS, include_str!("../../dashboard/style.css")),
    ("main.js", JS, include_str!("../../dashboard/dist/main.js")),
    ("api.js", JS, include_str!("../../dashboard/dist/api.js")),
    (
        "charts.js",
        JS,
        include_str!("../../dashboard/dist/charts.js"),
    ),
    ("dom.js", JS, include_str!("../../dashboard/dist/dom.js")),
    ("flow.js", JS, include_str!("../../dashboard/dist/flow.js")),
    (
        "groups.js",
        JS,
        include_str!("../../dashboard/dist/groups.js"),
    ),
    (
        "queue.js",
        JS,
        include_str!("../../dashboard/dist/queue.js"),
    ),
    (
        "queues.js",
        JS,
        include_str!("../../dashboard/dist/queues.js"),
    ),
    (
        "schedules.js",
        JS,
        include_str!("../../dashboard/dist/schedules.js"),
    ),
    (
        "submit.js",
        JS,
        include_str!("../../dashboard/dist/submit.js"),
    ),
    ("task.js", JS, include_str!("../../dashboard/dist/task.js")),
    (
        "workers.js",
        JS,
        include_str!("../../dashboard/dist/workers.js"),
    ),
    (
        "types.js",
        JS,
        include_str!("../../dashboard/dist/types.js"),
    ),
];
const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Only this origin's own files and API: no inline script, no third party, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|| async { file("index.html") }))
        .route(
            "/ui/{file}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

fn file(name: &str) -> Response {
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, content)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                // Small files; always revalidated, so a new taskgate serves its own dashboard.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *content,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::FILES;

    /// A module added to `dashboard/src` must be embedded too, or the page would miss it.
    #[test]
    fn every_built_file_is_embedded() {
        let dist = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard/dist");
        let mut built: Vec<String> = std::fs::read_dir(dist)
            .expect("dashboard/dist")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        built.sort();
        let mut embedded: Vec<String> = FILES
            .iter()
            .filter(|(name, _, _)| name.ends_with(".js"))
            .map(|(name, _, _)| (*name).to_owned())
            .collect();
        embedded.sort();
        assert_eq!(built, embedded);
    }
}
