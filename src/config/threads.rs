//! How many threads serve requests when `--worker-threads` is 0 (the default): one per core,
//! less one for Redis when Redis runs on this machine.
//!
//! Redis runs every script on one core. Request threads that compete with it for that core, and
//! wake each other across cores for every request, cost more than they serve: on 2 cores with
//! Redis beside taskgate, one request thread instead of two measured +10–12% full cycles/s one
//! task per request, +7–10% batched, +23–29% with one producer and one worker, the same with 32
//! producers and 64 workers, and 15–30% less server CPU per task in each (BENCHMARKS.md).

use std::net::IpAddr;

use super::Config;

impl Config {
    /// The request threads to start on a machine of `cores` cores (see the module's doc).
    pub fn request_threads(&self, cores: usize) -> usize {
        match self.worker_threads {
            0 if redis_is_local(self.redis_url.as_deref()) => cores.saturating_sub(1).max(1),
            0 => cores.max(1),
            threads => threads,
        }
    }
}

/// Whether Redis runs on this machine: no URL (taskgate's own local Redis, or the one its probe
/// finds on this machine), a Unix socket, or a URL whose every host is a loopback address.
fn redis_is_local(url: Option<&str>) -> bool {
    let Some(url) = url else {
        return true;
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if scheme.ends_with("unix") {
        return true;
    }
    let hosts = rest.rfind('@').map_or(rest, |at| &rest[at + 1..]);
    let hosts = hosts.split('/').next().unwrap_or_default();
    let mut hosts = hosts.split(',').filter(|host| !host.is_empty()).peekable();
    hosts.peek().is_some() && hosts.all(is_loopback)
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback(host_and_port: &str) -> bool {
    let host = match host_and_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_and_port.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_on_this_machine_is_told_from_its_url() {
        for local in [
            None,
            Some("redis://127.0.0.1:6379"),
            Some("redis://localhost"),
            Some("rediss://user:p@ss@127.0.0.2:6380/1"),
            Some("redis://[::1]:6379/0"),
            Some("unix:///run/redis.sock"),
            Some("redis+unix:///run/redis.sock"),
            Some("redis+cluster://127.0.0.1:7000,127.0.0.1:7001"),
        ] {
            assert!(redis_is_local(local), "{local:?}");
        }
        for remote in [
            "redis://redis:6379",
            "redis://10.0.0.5",
            "rediss://user:pw@cache.example.com:6380",
            "redis://[2001:db8::1]:6379",
            "redis+cluster://127.0.0.1:7000,10.0.0.6:7001",
            "redis+sentinel://sentinel-a:26379/mymaster",
            "redis://user:127.0.0.1@db.internal",
            "not a url",
        ] {
            assert!(!redis_is_local(Some(remote)), "{remote}");
        }
    }

    #[test]
    fn threads_are_one_per_core_less_one_for_a_local_redis_unless_set() {
        let mut config =
            Config::load_from(["taskgate", "--insecure-no-auth"]).expect("defaults load");
        config.redis_url = Some("redis://127.0.0.1:6379".into());
        assert_eq!(config.request_threads(2), 1);
        assert_eq!(config.request_threads(8), 7);
        assert_eq!(config.request_threads(1), 1);
        config.redis_url = Some("redis://redis:6379".into());
        assert_eq!(config.request_threads(2), 2);
        config.worker_threads = 3;
        assert_eq!(config.request_threads(2), 3);
    }
}
