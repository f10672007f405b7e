//! Who is calling, and may they: the `Caller` extractor that every protected handler takes
//! first, so that `401` and `403` are answered before the body is read or Redis is asked.
//!
//! Which roles an operation needs is declared once, in its OpenAPI `security` requirement
//! (`security(("bearer" = ["worker", "admin"]))`, or `security(())` for an open one). The rules
//! enforced here are read from that same document, so the document cannot promise what the
//! server refuses, and an operation that declares nothing is admin-only.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use axum::http::{Method, header};
use serde_json::Value;
use utoipa::openapi::OpenApi;

use crate::access::{Access, ApiKey, Role};
use crate::http::problem::ApiError;
use crate::model::QueueName;

/// The name of the security scheme in the OpenAPI document.
pub const SCHEME: &str = "bearer";

/// The route whose access is configurable (`--metrics-access`).
pub const METRICS_ROUTE: &str = "/metrics";

/// What one operation requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, key or not.
    Open,
    /// A key with one of these roles (an admin key always; none listed: admins only).
    Roles(Vec<Role>),
}

/// Every operation's rule, by route template and method.
#[derive(Debug, Default)]
pub struct Rules(HashMap<String, Vec<(Method, Rule)>>);

impl Rules {
    /// Reads each operation's `security` requirement. `[{}]` (no scheme) is open; the bearer
    /// scheme's list names the roles; no requirement at all means admin only.
    pub fn from_document(document: &OpenApi) -> Self {
        let document = serde_json::to_value(document).unwrap_or_default();
        let mut rules: HashMap<String, Vec<(Method, Rule)>> = HashMap::new();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                rules
                    .entry(served_path(path))
                    .or_default()
                    .push((method, rule_of(operation)));
            }
        }
        Self(rules)
    }

    /// The rule of (method, route); admin only for anything the document does not list.
    pub fn get(&self, method: &Method, route: &str) -> &Rule {
        static ADMIN_ONLY: Rule = Rule::Roles(Vec::new());
        self.0
            .get(route)
            .and_then(|methods| methods.iter().find(|(m, _)| m == method))
            .map_or(&ADMIN_ONLY, |(_, rule)| rule)
    }
}

/// The route a documented path is served on: the path itself, or for an operation whose path
/// ends in a verb after a parameter (`…/{name}:trigger`), the path without the verb (see
/// `api::verb_route`).
pub fn served_path(documented: &str) -> String {
    match documented.rsplit_once("}:") {
        Some((head, verb)) if !verb.contains('/') => format!("{head}}}"),
        _ => documented.to_owned(),
    }
}

fn rule_of(operation: &Value) -> Rule {
    let Some(requirements) = operation["security"].as_array() else {
        return Rule::Roles(Vec::new());
    };
    if requirements
        .iter()
        .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
    {
        return Rule::Open;
    }
    let roles: Vec<Role> = requirements
        .iter()
        .filter_map(|r| r[SCHEME].as_array())
        .flatten()
        .filter_map(|role| role.as_str().and_then(Role::parse))
        .collect();
    Rule::Roles(roles)
}

/// Who is calling: a checked key, or nobody in particular when the operation is open or the
/// server runs without keys.
#[derive(Debug, Clone)]
pub struct Caller {
    key: Option<Arc<ApiKey>>,
}

impl Caller {
    /// The key's name, for logs and `updated_by`; `None` without a key.
    pub fn name(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.name.as_str())
    }

    /// Whether the caller may use `queue`.
    pub fn sees(&self, queue: &str) -> bool {
        self.key.as_ref().is_none_or(|k| k.allows(queue))
    }

    /// `403` unless the caller may use `queue`.
    pub fn check_queue(&self, queue: &QueueName) -> Result<(), ApiError> {
        match &self.key {
            Some(key) if !key.allows(queue.as_str()) => Err(out_of_scope(key, queue.as_str())),
            _ => Ok(()),
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Access>: FromRef<S>,
    Arc<Rules>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (access, rules) = (
            Arc::<Access>::from_ref(state),
            Arc::<Rules>::from_ref(state),
        );
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or("", MatchedPath::as_str);
        let anyone = Self { key: None };
        let roles = match rules.get(&parts.method, route) {
            Rule::Open => return Ok(anyone),
            _ if route == METRICS_ROUTE && access.metrics_open => return Ok(anyone),
            _ if access.keys.is_empty() => return Ok(anyone),
            Rule::Roles(roles) => roles,
        };
        let key = bearer_key(parts)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "this operation needs an API key, sent as `Authorization: Bearer <key>`".into(),
                )
            })
            .and_then(|presented| {
                access.keys.identify(presented).ok_or_else(|| {
                    ApiError::Unauthorized("the API key is not one this server knows".into())
                })
            })?;
        tracing::Span::current().record("key", key.name.as_str());
        // An admin may do everything; an empty list (an operation the document does not list)
        // is for admins only.
        if !roles.contains(&key.role) && key.role != Role::Admin {
            let needed: Vec<&str> = roles
                .iter()
                .map(|r| r.name())
                .chain(roles.is_empty().then_some("admin"))
                .collect();
            return Err(ApiError::Forbidden(format!(
                "the key {:?} has role {}; this operation needs {}",
                key.name,
                key.role,
                needed.join(" or ")
            )));
        }
        if let Ok(params) = RawPathParams::from_request_parts(parts, state).await {
            if let Some((_, queue)) = params.iter().find(|(name, _)| *name == "queue") {
                if !key.allows(queue) {
                    return Err(out_of_scope(&key, queue));
                }
            }
        }
        Ok(Self { key: Some(key) })
    }
}

fn out_of_scope(key: &ApiKey, queue: &str) -> ApiError {
    ApiError::Forbidden(format!(
        "the key {:?} may use {}, not queue {queue}",
        key.name,
        key.scope()
    ))
}

/// The key of an `Authorization: Bearer <key>` header (the scheme in any case).
fn bearer_key(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation says who may call it: a forgotten declaration would silently make an
    /// operation admin-only (safe, but surely not what was meant).
    #[test]
    fn every_operation_declares_its_roles() {
        let document = serde_json::to_value(crate::openapi()).expect("document");
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} declares no security requirement"
                );
            }
        }
    }

    #[test]
    fn the_rules_follow_the_spec_table() {
        use Role::*;
        let rules = Rules::from_document(&crate::openapi());
        let rule = |method: Method, route: &str| rules.get(&method, route).clone();
        assert_eq!(rule(Method::GET, "/healthz"), Rule::Open);
        assert_eq!(
            rule(Method::POST, "/v1/queues/{queue}/tasks"),
            Rule::Roles(vec![Producer, Admin])
        );
        assert_eq!(
            rule(Method::POST, "/v1/leases"),
            Rule::Roles(vec![Worker, Admin])
        );
        assert_eq!(
            rule(Method::GET, "/v1/queues/{queue}/tasks/{id}"),
            Rule::Roles(vec![Producer, Worker, Admin])
        );
        assert_eq!(
            rule(Method::DELETE, "/v1/queues/{queue}"),
            Rule::Roles(vec![Admin])
        );
        assert_eq!(rule(Method::GET, "/no/such/route"), Rule::Roles(vec![]));
    }
}
