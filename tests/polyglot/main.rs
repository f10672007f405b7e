//! Polyglot by proof: what users in other languages and in browsers run, run here against a
//! real taskgate and a real `redis-server` started by the harness. The example workers in
//! Python, Node.js, Java and POSIX shell on a mixed workload; the example producers through a
//! Redis outage; clients generated from the committed OpenAPI document, in Python and
//! TypeScript; the dashboard in headless Chromium.
//!
//! The tools come from `.ci/run`: `node_modules/` (`npm ci`), `openapi-python-client`, `java`,
//! `jq`, `curl` and Debian's `chromium`. A missing one fails its test with the command that
//! installs it.

/// This binary runs against single `redis-server`s.
pub const CLUSTER: bool = false;

#[path = "../api/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../api/redis_cluster.rs"]
#[allow(dead_code)]
mod redis_cluster;
#[path = "../api/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;
#[path = "../api/reply.rs"]
#[allow(dead_code)]
mod reply;

mod clients;
mod dashboard;
mod producers;
mod support;
mod workers;
