//! Loading the configuration: the command line and the environment read by clap, then every
//! check clap's types cannot make, each problem named by the flag or environment variable it
//! came from (never repeating a secret's value).

use std::ffi::OsString;

use clap::error::{ContextKind, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use super::Config;
use crate::access::KeyRing;

/// Why the configuration cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    /// `--help` or `--version` was asked for, or clap has its own say: print it and exit.
    Clap(clap::Error),
    /// Settings that are wrong, each naming the flag or environment variable it came from.
    Invalid(Vec<String>),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Clap(err) => write!(f, "{}", err.to_string().trim_end()),
            Self::Invalid(problems) => write!(f, "{}", problems.join("; ")),
        }
    }
}

impl Config {
    /// Reads the command line and the `TASKGATE_*` environment, and checks every setting.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(std::env::args_os())
    }

    /// As `load`, from the given arguments (the first is the program name).
    pub fn load_from<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = Self::command()
            .try_get_matches_from(args)
            .map_err(name_clap_source)?;
        let mut config = Self::from_arg_matches(&matches).map_err(ConfigError::Clap)?;
        let mut problems = Vec::new();
        match config.read_keys() {
            Ok(keys) => config.keys = keys,
            Err(problem) => problems.push(problem),
        }
        problems.extend(config.check());
        if problems.is_empty() {
            return Ok(config);
        }
        Err(ConfigError::Invalid(
            problems
                .into_iter()
                .map(|(id, message)| format!("{}: {message}", origin(&matches, &id)))
                .collect(),
        ))
    }

    /// Every setting clap's types cannot check, as (argument id, problem).
    fn check(&self) -> Vec<(String, String)> {
        let mut problems: Vec<(String, String)> = self
            .default_policy()
            .check()
            .into_iter()
            .map(|e| {
                let id = if e.field == "max_payload_bytes" {
                    e.field
                } else {
                    format!("default_{}", e.field.replace('.', "_"))
                };
                (id, e.message)
            })
            .collect();
        let mut problem = |ok: bool, id: &str, message: &str| {
            if !ok {
                problems.push((id.to_owned(), message.to_owned()));
            }
        };
        problem(
            self.listen_addr().is_ok(),
            "listen",
            "must be host:port, such as 127.0.0.1:8080 or localhost:8080",
        );
        problem(
            self.redis_pool_size > 0,
            "redis_pool_size",
            "must be at least 1",
        );
        problem(
            self.worker_threads <= 1024,
            "worker_threads",
            "must be from 0 (one per core) to 1024",
        );
        problem(
            self.cors_origins.iter().all(|o| {
                o == "*" || axum::http::HeaderValue::from_str(o.trim_end_matches('/')).is_ok()
            }),
            "cors_origins",
            "must be origins such as https://app.example.com, or *",
        );
        problem(
            self.serves_safely(),
            "listen",
            "is not a loopback address and no API keys are configured: anyone who can reach \
             it could submit, lease and delete. Configure keys (TASKGATE_API_KEYS or \
             TASKGATE_API_KEYS_FILE), listen on 127.0.0.1, or start with --insecure-no-auth \
             (TASKGATE_INSECURE_NO_AUTH=true) on a network where every client is trusted",
        );
        problem(
            self.max_concurrent_requests > 0 && self.max_waiting_requests > 0,
            "max_concurrent_requests",
            "must be at least 1 (as must TASKGATE_MAX_WAITING_REQUESTS)",
        );
        problem(
            self.event_stream_max_ms >= 1000,
            "event_stream_max_ms",
            "must be at least 1000",
        );
        problem(
            (1..=u32::MAX as usize).contains(&self.max_connections),
            "max_connections",
            "must be at least 1",
        );
        problem(
            self.header_read_timeout_ms >= 1,
            "header_read_timeout_ms",
            "must be at least 1",
        );
        problem(
            self.idle_timeout_ms >= 1,
            "idle_timeout_ms",
            "must be at least 1",
        );
        problem(
            self.max_json_depth >= 1,
            "max_json_depth",
            "must be at least 1",
        );
        problem(
            self.durable_replicas >= 1,
            "durable_replicas",
            "must be at least 1",
        );
        problem(
            self.max_header_bytes >= 1024,
            "max_header_bytes",
            "must be at least 1024",
        );
        problem(
            crate::model::is_valid_key_prefix(&self.key_prefix),
            "key_prefix",
            "must be 1-64 characters of A-Z a-z 0-9 . _ -",
        );
        problems
    }

    /// The keys of `--api-keys` or `--api-keys-file` (not both), as (argument id, problem).
    fn read_keys(&self) -> Result<KeyRing, (String, String)> {
        match (&self.api_keys, &self.api_keys_file) {
            (None, None) => Ok(KeyRing::default()),
            (Some(_), Some(_)) => Err((
                "api_keys".into(),
                "give keys in TASKGATE_API_KEYS or in TASKGATE_API_KEYS_FILE, not both".into(),
            )),
            (Some(text), None) => KeyRing::parse(text).map_err(|e| ("api_keys".into(), e)),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|text| KeyRing::parse(&text))
                .map_err(|e| ("api_keys_file".into(), e)),
        }
    }

    /// Whether serving as configured is safe: with keys, on loopback, or knowingly open.
    fn serves_safely(&self) -> bool {
        !self.keys.is_empty()
            || self.insecure_no_auth
            || self.command.is_some()
            || self.listen_addr().is_ok_and(|a| a.ip().is_loopback())
    }
}

/// How a problem's setting was given: `TASKGATE_X=value` when it came from the environment,
/// else `--x value`.
fn origin(matches: &ArgMatches, id: &str) -> String {
    let command = Config::command();
    let arg = command.get_arguments().find(|a| a.get_id() == id);
    let value = matches
        .get_raw(id)
        .and_then(|mut values| values.next())
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A secret's value (keys, a URL with a password) is never repeated back.
    if arg.is_some_and(|a| a.is_hide_env_values_set()) {
        return match (arg, matches.value_source(id)) {
            (Some(arg), Some(ValueSource::EnvVariable)) => arg
                .get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => format!("--{}", id.replace('_', "-")),
        };
    }
    match (arg, matches.value_source(id)) {
        (Some(arg), Some(ValueSource::EnvVariable)) => {
            let env = arg
                .get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("{env}={value}")
        }
        (Some(arg), _) => format!("--{} {value}", arg.get_long().unwrap_or(id)),
        (None, _) => id.to_owned(),
    }
}

/// Rewrites clap's "invalid value" errors to name the environment variable the value came
/// from, when it did not come from the command line.
fn name_clap_source(err: clap::Error) -> ConfigError {
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return ConfigError::Clap(err);
    }
    let (Some(arg), Some(value)) = (
        err.get(ContextKind::InvalidArg),
        err.get(ContextKind::InvalidValue),
    ) else {
        return ConfigError::Clap(err);
    };
    let arg = arg.to_string();
    let long = arg
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches("--");
    let command = Config::command();
    let on_command_line =
        std::env::args().any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
    let env = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .filter(|env| std::env::var_os(env).is_some() && !on_command_line);
    let why = std::error::Error::source(&err)
        .map(|source| source.to_string())
        .unwrap_or_else(|| "not a valid value".to_owned());
    let setting = match env {
        Some(env) => format!("{env}={value}"),
        None => format!("--{long} {value}"),
    };
    ConfigError::Invalid(vec![format!("{setting}: {why}")])
}
