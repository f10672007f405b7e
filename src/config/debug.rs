//! `Debug` for the configuration, by hand, so that one `?config` in a log line cannot leak a
//! secret: the Redis URL keeps its host but not its password, and the API keys' text (keys in
//! clear, or their digests) is left out; the key ring itself shows only the keys' names.
//!
//! The struct is destructured field by field, so a field added to `Config` does not compile
//! until it is placed here, where whoever adds it decides whether it is a secret.

use std::fmt;

use super::Config;

/// Stands for a secret in `Debug` output.
struct Hidden;

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            command,
            listen,
            redis_url,
            redis_ca_file,
            local_redis_probe,
            data_dir,
            redis_server,
            api_keys,
            api_keys_file,
            insecure_no_auth,
            metrics_access,
            metrics_max_queues,
            metrics_queue_idle_ms,
            key_prefix,
            redis_pool_size,
            redis_wait_timeout_ms,
            redis_connect_timeout_ms,
            redis_response_timeout_ms,
            request_timeout_ms,
            max_header_bytes,
            max_concurrent_requests,
            max_waiting_requests,
            event_stream_max_ms,
            max_connections,
            header_read_timeout_ms,
            idle_timeout_ms,
            max_json_depth,
            durable_replicas,
            replica_wait_ms,
            worker_threads,
            shutdown_timeout_ms,
            max_payload_bytes,
            reaper_interval_ms,
            log_format,
            cors_origins,
            access_log,
            defaults,
            keys,
        } = self;
        f.debug_struct("Config")
            .field("command", command)
            .field("listen", listen)
            .field("redis_url", &redis_url.as_deref().map(crate::redact::url))
            .field("redis_ca_file", redis_ca_file)
            .field("local_redis_probe", local_redis_probe)
            .field("data_dir", data_dir)
            .field("redis_server", redis_server)
            .field("api_keys", &api_keys.as_ref().map(|_| Hidden))
            .field("api_keys_file", api_keys_file)
            .field("insecure_no_auth", insecure_no_auth)
            .field("metrics_access", metrics_access)
            .field("metrics_max_queues", metrics_max_queues)
            .field("metrics_queue_idle_ms", metrics_queue_idle_ms)
            .field("key_prefix", key_prefix)
            .field("redis_pool_size", redis_pool_size)
            .field("redis_wait_timeout_ms", redis_wait_timeout_ms)
            .field("redis_connect_timeout_ms", redis_connect_timeout_ms)
            .field("redis_response_timeout_ms", redis_response_timeout_ms)
            .field("request_timeout_ms", request_timeout_ms)
            .field("max_header_bytes", max_header_bytes)
            .field("max_concurrent_requests", max_concurrent_requests)
            .field("max_waiting_requests", max_waiting_requests)
            .field("event_stream_max_ms", event_stream_max_ms)
            .field("max_connections", max_connections)
            .field("header_read_timeout_ms", header_read_timeout_ms)
            .field("idle_timeout_ms", idle_timeout_ms)
            .field("max_json_depth", max_json_depth)
            .field("durable_replicas", durable_replicas)
            .field("replica_wait_ms", replica_wait_ms)
            .field("worker_threads", worker_threads)
            .field("shutdown_timeout_ms", shutdown_timeout_ms)
            .field("max_payload_bytes", max_payload_bytes)
            .field("reaper_interval_ms", reaper_interval_ms)
            .field("log_format", log_format)
            .field("cors_origins", cors_origins)
            .field("access_log", access_log)
            .field("defaults", defaults)
            .field("keys", keys)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    const PASSWORD: &str = "pa55-in-the-url-7f3c";
    const KEY: &str = "key-in-clear-0123456789abcdef";
    const DIGEST: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    /// Neither `{:?}` nor `{:#?}` of a configuration shows the Redis password, a key in clear
    /// or a key's digest; the host and the keys' names are still there to debug with.
    #[test]
    fn debug_of_the_config_shows_no_password_and_no_key() {
        let keys = format!(
            r#"[{{"name": "web", "role": "producer", "key": "{KEY}"}},
                {{"name": "ops", "role": "admin", "key_sha256": "{DIGEST}"}}]"#
        );
        let url = format!("redis://taskgate:{PASSWORD}@redis.internal:6379/2");
        let config = Config::load_from(["taskgate", "--redis-url", &url, "--api-keys", &keys])
            .expect("a valid configuration");
        for shown in [format!("{config:?}"), format!("{config:#?}")] {
            for secret in [PASSWORD, KEY, DIGEST] {
                assert!(!shown.contains(secret), "{secret} shown in {shown}");
            }
            assert!(shown.contains("redis.internal:6379/2"), "{shown}");
            assert!(
                shown.contains("\"web\"") && shown.contains("\"ops\""),
                "{shown}"
            );
        }
    }
}
