//! How the store connects: the pool's settings (the one place that holds the Redis URL, its
//! password included, so `Debug` masks it), and what replicated durability waits for. Known to
//! the connection code and the endpoint alike, so neither imports the other for it.

use std::time::Duration;

/// Settings of the pool and of each connection. `Debug` masks the URL's password.
#[derive(Clone)]
pub struct PoolSettings {
    pub url: String,
    /// PEM certificate authority for `rediss://`; `None` for the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
    pub max_size: usize,
    pub wait_timeout: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

impl std::fmt::Debug for PoolSettings {
    // By hand, so that `{:?}` never shows the password; destructured so that a new field must
    // be placed here.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            url,
            ca_file,
            max_size,
            wait_timeout,
            connect_timeout,
            response_timeout,
        } = self;
        f.debug_struct("PoolSettings")
            .field("url", &crate::redact::url(url))
            .field("ca_file", ca_file)
            .field("max_size", max_size)
            .field("wait_timeout", wait_timeout)
            .field("connect_timeout", connect_timeout)
            .field("response_timeout", response_timeout)
            .finish()
    }
}

/// How many replicas must have a write before it is answered, and how long to wait for them.
#[derive(Debug, Clone, Copy)]
pub struct Replication {
    pub replicas: u32,
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::PoolSettings;

    /// `{:?}` of the pool settings masks the password of every URL form taskgate takes.
    #[test]
    fn debug_of_pool_settings_shows_no_password() {
        const PASSWORD: &str = "pool-pa55-1d9a";
        for url in [
            format!("redis://taskgate:{PASSWORD}@redis.internal:6379/0"),
            format!("rediss://:{PASSWORD}@redis.internal:6380"),
            format!("redis+cluster://taskgate:{PASSWORD}@10.0.0.1:7000,10.0.0.2:7000"),
            format!("redis+sentinel://:{PASSWORD}@10.0.0.1:26379,10.0.0.2:26379/main"),
        ] {
            let settings = PoolSettings {
                url,
                ca_file: None,
                max_size: 4,
                wait_timeout: Duration::from_secs(1),
                connect_timeout: Duration::from_secs(1),
                response_timeout: Duration::from_secs(2),
            };
            for shown in [format!("{settings:?}"), format!("{settings:#?}")] {
                assert!(!shown.contains(PASSWORD), "{shown}");
                assert!(shown.contains("***@"), "{shown}");
            }
        }
    }
}
