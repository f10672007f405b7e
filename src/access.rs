//! Who may call the API: API keys, their roles and their queue scopes, read from configuration.
//!
//! A key is kept only as its SHA-256 digest, and a presented key is compared with every digest
//! in constant time. Nothing here ever formats a key or a digest: errors and `Debug` output name
//! the key's `name`, the only thing about a key that may be logged. This module knows no HTTP;
//! `api/auth.rs` applies it to requests.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::QueueName;

/// Shortest key accepted in clear: shorter ones can be guessed.
pub const KEY_MIN_CHARS: usize = 16;

/// What a key may do. `admin` may do everything; the rest is listed per operation in the
/// OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Producer,
    Worker,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Producer, Role::Worker, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Self::Producer => "producer",
            Self::Worker => "worker",
            Self::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.name() == raw)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One configured key.
pub struct ApiKey {
    /// Who holds the key, for logs and `updated_by`.
    pub name: String,
    pub role: Role,
    /// Queue-name prefixes the key is limited to; `None` for every queue.
    pub queues: Option<Vec<String>>,
    digest: [u8; 32],
}

impl fmt::Debug for ApiKey {
    // By hand, so that the digest can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Whether the key may use `queue`.
    pub fn allows(&self, queue: &str) -> bool {
        self.queues
            .as_ref()
            .is_none_or(|prefixes| prefixes.iter().any(|p| queue.starts_with(p.as_str())))
    }

    /// The queues the key may use, in words, for a `403`.
    pub fn scope(&self) -> String {
        match &self.queues {
            None => "every queue".to_owned(),
            Some(prefixes) => format!("queues starting with {}", prefixes.join(" or ")),
        }
    }
}

/// The configured keys. Empty means the server runs open (allowed on loopback only).
#[derive(Default, Clone)]
pub struct KeyRing {
    keys: Vec<Arc<ApiKey>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.name))
            .finish()
    }
}

impl KeyRing {
    /// Reads keys from JSON (an array of entries, or `{"keys": [...]}`) or TOML (`[[keys]]`
    /// tables). Errors name the entry (by position and name) and the field, never a key.
    pub fn parse(text: &str) -> Result<Self, String> {
        // Only positions are reported: a parser's message may quote the text, keys and all.
        let document: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(json) => match toml::from_str::<toml::Table>(text) {
                Ok(table) => serde_json::to_value(table).map_err(|e| e.to_string())?,
                Err(toml) => {
                    let toml_line = toml
                        .span()
                        .map_or(1, |span| text[..span.start].lines().count().max(1));
                    return Err(format!(
                        "not valid JSON nor TOML (JSON: line {}, column {}; TOML: line {toml_line})",
                        json.line(),
                        json.column()
                    ));
                }
            },
        };
        let entries = match &document {
            Value::Array(entries) => entries,
            Value::Object(object) => match object.get("keys") {
                Some(Value::Array(entries)) => entries,
                _ => return Err("expected a list of keys (`[[keys]]` in TOML)".into()),
            },
            _ => return Err("expected a list of keys".into()),
        };
        let mut keys: Vec<Arc<ApiKey>> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let key = read_entry(entry).map_err(|why| {
                let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
                format!("key {} {name:?}: {why}", index + 1)
            })?;
            if keys.iter().any(|k| k.name == key.name) {
                return Err(format!(
                    "key {}: the name {:?} is used twice",
                    index + 1,
                    key.name
                ));
            }
            if keys.iter().any(|k| k.digest == key.digest) {
                return Err(format!(
                    "key {} {:?}: the same key is configured twice",
                    index + 1,
                    key.name
                ));
            }
            keys.push(Arc::new(key));
        }
        Ok(Self { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key `presented` is, if it is one of ours. Every configured key is compared, in
    /// constant time, whichever matches: how long this takes says nothing about the keys.
    pub fn identify(&self, presented: &str) -> Option<Arc<ApiKey>> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in &self.keys {
            if same_digest(&key.digest, &digest) {
                found = Some(key.clone());
            }
        }
        found
    }
}

/// Compares two digests without an early exit.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the compiler from turning the fold back into a comparison that stops early.
    std::hint::black_box(difference) == 0
}

const FIELDS: [&str; 5] = ["name", "role", "queues", "key", "key_sha256"];

fn read_entry(entry: &Value) -> Result<ApiKey, String> {
    let Value::Object(entry) = entry else {
        return Err("must be an object with name, role and key (or key_sha256)".into());
    };
    if let Some(unknown) = entry.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field {unknown:?} (known: {})",
            FIELDS.join(", ")
        ));
    }
    let name = text(entry, "name")?.ok_or("name is required")?;
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err("name must be 1-64 printable characters".into());
    }
    let role = text(entry, "role")?.ok_or("role is required")?;
    let role = Role::parse(role).ok_or("role must be producer, worker or admin")?;
    let queues = match entry.get("queues") {
        None | Some(Value::Null) => None,
        Some(Value::Array(prefixes)) if !prefixes.is_empty() => Some(
            prefixes
                .iter()
                .map(|p| match p.as_str() {
                    Some(p) if QueueName::parse(p).is_ok() => Ok(p.to_owned()),
                    _ => Err(
                        "queues must list queue-name prefixes (1-128 characters of A-Z a-z 0-9 . _ -)"
                            .to_owned(),
                    ),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(
                "queues must be a non-empty list of queue-name prefixes; leave it out for every queue"
                    .into(),
            );
        }
    };
    let digest = match (text(entry, "key")?, text(entry, "key_sha256")?) {
        (Some(key), None) => {
            if key.chars().count() < KEY_MIN_CHARS || key.chars().any(char::is_whitespace) {
                return Err(format!(
                    "key must be at least {KEY_MIN_CHARS} characters with no spaces \
                     (make one with `openssl rand -hex 32`)"
                ));
            }
            Sha256::digest(key.as_bytes()).into()
        }
        (None, Some(hex)) => parse_digest(hex)
            .ok_or("key_sha256 must be 64 hexadecimal digits (`printf %s \"$KEY\" | sha256sum`)")?,
        (Some(_), Some(_)) => return Err("give key or key_sha256, not both".into()),
        (None, None) => return Err("key or key_sha256 is required".into()),
    };
    Ok(ApiKey {
        name: name.to_owned(),
        role,
        queues,
        digest,
    })
}

/// A string field, if present. The error never quotes the value.
fn text<'a>(entry: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, String> {
    match entry.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(digest)
}

/// What the server lets through: its keys and whether `/metrics` is open to anyone.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub keys: KeyRing,
    pub metrics_open: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = "web-key-0123456789abcdef";

    fn sha256_hex(text: &str) -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn json_and_toml_describe_the_same_keys() {
        let hash = sha256_hex("ops-key-0123456789abcdef");
        let json = format!(
            r#"[{{"name": "web", "role": "producer", "queues": ["billing."], "key": "{WEB}"}},
                {{"name": "ops", "role": "admin", "key_sha256": "{hash}"}}]"#
        );
        let toml = format!(
            "[[keys]]\nname = \"web\"\nrole = \"producer\"\nqueues = [\"billing.\"]\nkey = \"{WEB}\"\n\n\
             [[keys]]\nname = \"ops\"\nrole = \"admin\"\nkey_sha256 = \"{}\"\n",
            hash.to_uppercase()
        );
        for text in [json, toml] {
            let ring = KeyRing::parse(&text).expect("valid keys");
            let web = ring.identify(WEB).expect("web key");
            assert_eq!((web.name.as_str(), web.role), ("web", Role::Producer));
            assert!(web.allows("billing.invoices") && !web.allows("emails"));
            let ops = ring.identify("ops-key-0123456789abcdef").expect("ops key");
            assert_eq!((ops.name.as_str(), ops.role), ("ops", Role::Admin));
            assert!(ops.allows("anything"));
            assert!(ring.identify("ops-key-0123456789abcdeX").is_none());
            assert!(ring.identify("").is_none());
        }
    }

    /// Configuration errors say which entry and field is wrong, and never echo key material.
    #[test]
    fn errors_name_the_entry_and_never_the_key() {
        let secret = "sekrit-sekrit-sekrit";
        for (text, expected) in [
            (
                format!(r#"[{{"name": "a", "role": "boss", "key": "{secret}"}}]"#),
                "key 1 \"a\": role must be",
            ),
            (
                format!(
                    r#"[{{"name": "a", "role": "admin", "key": "{secret}", "key_sha256": "{secret}"}}]"#
                ),
                "not both",
            ),
            (
                format!(r#"[{{"name": "a", "role": "admin", "key_sha256": "{secret}"}}]"#),
                "64 hexadecimal digits",
            ),
            (
                format!(r#"[{{"name": "a", "role": "admin", "kee": "{secret}"}}]"#),
                "unknown field \"kee\"",
            ),
            (
                r#"[{"name": "a", "role": "admin", "key": "short"}]"#.to_owned(),
                "at least 16",
            ),
            (
                format!(r#"[{{"name": "a", "role": "admin", "key": "{secret}", "queues": []}}]"#),
                "non-empty list",
            ),
            (
                format!(
                    r#"[{{"name": "a", "role": "admin", "key": "{secret}"}}, {{"name": "a", "role": "worker", "key": "{secret}x"}}]"#
                ),
                "used twice",
            ),
            (
                format!(
                    r#"[{{"name": "a", "role": "admin", "key": "{secret}"}}, {{"name": "b", "role": "worker", "key": "{secret}"}}]"#
                ),
                "configured twice",
            ),
            (
                format!(r#"[{{"name": "a", "key": {secret:?}"#),
                "not valid JSON nor TOML",
            ),
            (
                format!("[[keys]]\nname = \"a\"\nkey = \"{secret}"),
                "not valid JSON nor TOML",
            ),
        ] {
            let err = KeyRing::parse(&text).expect_err(&text);
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
            assert!(!err.contains("sekrit"), "{err:?} quotes the key");
        }
    }

    #[test]
    fn debug_output_shows_names_only() {
        let ring = KeyRing::parse(&format!(
            r#"[{{"name": "web", "role": "producer", "key": "{WEB}"}}]"#
        ))
        .expect("valid");
        let shown = format!("{ring:?} {:?}", ring.identify(WEB));
        assert!(shown.contains("web") && !shown.contains(WEB) && !shown.contains("digest"));
    }
}
