//! The engine's plain commands (anything but a script call): sent on a shared connection,
//! observed like a script call.

use std::time::Instant;

use deadpool_redis::redis;

use super::Engine;
use crate::store::StoreError;
use crate::store::in_flight::command_name;

impl Engine {
    /// Whether Redis answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Redis's `maxmemory-policy`, when the server lets us read it.
    pub async fn maxmemory_policy(&self) -> Result<String, StoreError> {
        let pair: Vec<String> = self
            .query(redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy"))
            .await?;
        pair.into_iter()
            .nth(1)
            .ok_or_else(|| StoreError::Corrupt("CONFIG GET returned nothing".into()))
    }

    /// Sends one plain command.
    pub(in crate::store) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = match self.conn().await {
            Ok(mut conn) => {
                let _busy = self.inner.in_flight.enter();
                conn.query(cmd).await
            }
            Err(err) => Err(err),
        };
        self.observe(command_name(cmd), started, result)
    }

    /// Sends one command to one node of a cluster (or to the one node).
    pub(in crate::store) async fn query_node<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        host: &str,
        port: u16,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = match self.conn().await {
            Ok(mut conn) => conn.query_node(cmd, host, port).await,
            Err(err) => Err(err),
        };
        self.observe(command_name(cmd), started, result)
    }
}
