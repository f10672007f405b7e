//! The Redis connection pool: a deadpool managed pool of redis-rs multiplexed connections, built
//! explicitly so its size, wait timeout and response timeout are all set by configuration.
//!
//! Why our own manager and not `deadpool_redis::Manager`: that manager sends `UNWATCH` + `PING`
//! every time a connection is checked out, which doubles the round trips of every operation.
//! taskgate runs no WATCH and every operation is one script call, so recycling here is free;
//! instead, a connection that fails with an I/O error or a timeout is dropped from the pool by
//! the store (see `Store::run`), and the next checkout opens a fresh one.

use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, RecycleResult};
use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{AsyncConnectionConfig, Client, RedisError};

/// Settings of the pool and of each connection.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub url: String,
    pub max_size: usize,
    pub wait_timeout: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

pub type Pool = managed::Pool<ConnectionManager>;
pub type PooledConnection = managed::Object<ConnectionManager>;

/// Opens multiplexed connections with the configured timeouts.
pub struct ConnectionManager {
    client: Client,
    config: AsyncConnectionConfig,
}

impl managed::Manager for ConnectionManager {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<MultiplexedConnection, RedisError> {
        self.client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
    }

    async fn recycle(
        &self,
        _: &mut MultiplexedConnection,
        _: &Metrics,
    ) -> RecycleResult<RedisError> {
        Ok(())
    }
}

/// Builds the pool. Opens no connection yet: the first request does, so the server starts (and
/// answers 503) even while Redis is down.
pub fn build(settings: &PoolSettings) -> Result<Pool, String> {
    let client = Client::open(settings.url.as_str()).map_err(|e| format!("redis url: {e}"))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(Some(settings.response_timeout));
    Pool::builder(ConnectionManager { client, config })
        .max_size(settings.max_size)
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| format!("redis pool: {e}"))
}
