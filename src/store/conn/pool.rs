//! The pools connections come from: a few shared multiplexed ones (`Connections::get`), and
//! those one caller holds alone (`Connections::get_exclusive`, for a replicated write's
//! `WAIT`). deadpool only counts them and replaces broken ones (see `conn.rs` for why not
//! `deadpool_redis::Manager`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, PoolError, RecycleError, RecycleResult};
use deadpool_redis::redis::{AsyncConnectionConfig, RedisError};

use super::{Conn, classify, unavailable};
use crate::store::StoreError;
use crate::store::endpoint::Endpoint;
use crate::store::outage::Cause;
use crate::store::settings::PoolSettings;

/// Opens multiplexed connections with the configured timeouts.
pub struct ConnectionManager {
    endpoint: Arc<Endpoint>,
    config: AsyncConnectionConfig,
}

impl managed::Manager for ConnectionManager {
    type Type = Conn;
    type Error = RedisError;

    async fn create(&self) -> Result<Conn, RedisError> {
        Ok(Conn {
            link: self.endpoint.connect(&self.config).await?,
            health: Arc::default(),
        })
    }

    async fn recycle(&self, conn: &mut Conn, _: &Metrics) -> RecycleResult<RedisError> {
        if conn.health.broken.load(Ordering::Relaxed) {
            return Err(RecycleError::message("connection failed; replacing it"));
        }
        Ok(())
    }
}

/// A few shared connections to one Redis.
pub struct Connections {
    pool: managed::Pool<ConnectionManager>,
}

impl Connections {
    /// Builds the pool. Opens no connection yet: the first request does, so the server starts
    /// (and answers 503) even while Redis is down.
    pub fn new(settings: &PoolSettings, endpoint: Arc<Endpoint>) -> Result<Self, String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.response_timeout))
            // Many requests share one connection: let them queue up without waiting on each
            // other for a place in the send buffer.
            .set_pipeline_buffer_size(4096);
        let pool = managed::Pool::builder(ConnectionManager { endpoint, config })
            .max_size(settings.max_size)
            .wait_timeout(Some(settings.wait_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| format!("redis pool: {e}"))?;
        Ok(Self { pool })
    }

    /// Connections open now.
    pub fn size(&self) -> usize {
        self.pool.status().size
    }

    /// A handle to a working connection, shared with other requests.
    pub async fn get(&self) -> Result<Conn, StoreError> {
        let pooled = self.pool.get().await.map_err(checkout_error)?;
        Ok(Conn::clone(&pooled))
    }

    /// A working connection for this caller alone, for as long as it keeps the `Held`. When
    /// every connection of the pool is open and held (each by a write waiting for replicas),
    /// the wait for one ends in `Overloaded`: Redis itself is fine.
    pub async fn get_exclusive(&self) -> Result<(Conn, Held), StoreError> {
        match self.pool.get().await {
            Ok(pooled) => Ok((Conn::clone(&pooled), Held(pooled))),
            Err(err @ PoolError::Timeout(managed::TimeoutType::Wait)) => {
                let status = self.pool.status();
                Err(if status.size >= status.max_size {
                    StoreError::Overloaded(format!(
                        "all {} connections for replicated writes are waiting for replicas",
                        status.max_size
                    ))
                } else {
                    checkout_error(err)
                })
            }
            Err(err) => Err(checkout_error(err)),
        }
    }
}

/// What a failed checkout means. Whatever stops a connection from opening (refused, timeout, a
/// wrong password or database number) is Redis being unavailable to us.
fn checkout_error(err: PoolError<RedisError>) -> StoreError {
    match err {
        PoolError::Backend(err) => match classify(&err) {
            StoreError::Redis(detail) => unavailable(Cause::Refused, detail),
            other => other,
        },
        PoolError::Timeout(_) => unavailable(Cause::Timeout, "opening a connection".into()),
        other => unavailable(Cause::Unreachable, other.to_string()),
    }
}

/// Keeps a connection out of its pool, for one request alone, until dropped. For replicated
/// writes: `WAIT` blocks the connection it is sent on until the replicas confirm (up to the
/// replica wait), and on a shared connection every other request's command would queue
/// behind it.
pub struct Held(#[allow(dead_code)] managed::Object<ConnectionManager>);
