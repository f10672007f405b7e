//! Which Redis taskgate talks to, from its URL: one node, a Redis Cluster, or a master found
//! through Redis Sentinel; and how to open a data connection or a pub/sub connection to it.
//!
//! - `redis://`, `rediss://` (TLS), `unix://`: one node.
//! - `redis+cluster://[user:pass@]host:port,host:port,...` (`rediss+cluster://` for TLS): a
//!   Redis Cluster, found from any of the seed nodes. Commands follow `MOVED`/`ASK` and topology
//!   changes (redis-rs's cluster client); every per-queue script runs in its queue's slot.
//! - `redis+sentinel://[user:pass@]host:port,host:port,.../<master name>[/<db>]`
//!   (`rediss+sentinel://` for TLS to the master): the master the sentinels name. The
//!   credentials are the master's; sentinels are asked without them.
//!
//! Errors never include the URL's password.

use std::path::PathBuf;

use deadpool_redis::redis::aio::{MultiplexedConnection, PubSub};
use deadpool_redis::redis::cluster::{ClusterClient, ClusterClientBuilder};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Client, IntoConnectionInfo, RedisError, RedisResult, TlsMode,
};
use tokio::sync::Mutex;

use super::settings::PoolSettings;

/// One open data connection: to a node, or to a whole cluster.
#[derive(Clone)]
pub enum Link {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// Where Redis is.
pub enum Endpoint {
    Node(Client),
    Cluster {
        client: ClusterClient,
        /// One client per seed node, for the pub/sub connection: a cluster relays every
        /// `PUBLISH` to all its nodes, so any node will do; the next is tried when one fails.
        seeds: Vec<Client>,
    },
    Sentinel {
        /// Asked for the master at each new connection, so a failover is followed.
        sentinel: Mutex<Sentinel>,
        master: String,
        node: SentinelNodeConnectionInfo,
    },
}

/// A URL's parts for the multi-host forms: scheme, `user:pass@` (may be empty), hosts, path.
struct MultiHost<'a> {
    tls: bool,
    credentials: &'a str,
    hosts: Vec<&'a str>,
    path: &'a str,
}

fn multi_host<'a>(url: &'a str, kind: &str) -> Option<MultiHost<'a>> {
    let (scheme, rest) = url.split_once("://")?;
    let tls = match scheme.strip_suffix(kind)? {
        "redis+" => false,
        "rediss+" => true,
        _ => return None,
    };
    let (credentials, rest) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let (hosts, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let hosts: Vec<&str> = hosts.split(',').filter(|h| !h.is_empty()).collect();
    Some(MultiHost {
        tls,
        credentials,
        hosts,
        path,
    })
}

impl Endpoint {
    /// The endpoint of the configured URL. Connects to nothing yet.
    pub fn new(settings: &PoolSettings) -> Result<Self, String> {
        // rustls needs a process-wide crypto provider; we build with `ring` only (no C
        // toolchain needed). Installing twice is harmless: the first one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = settings.url.as_str();
        let invalid = |e: RedisError| {
            format!(
                "TASKGATE_REDIS_URL is not a usable Redis URL ({}): {}",
                crate::redact::url(url),
                e.detail().unwrap_or("check its form")
            )
        };
        let certificates = certificates(&settings.ca_file, url)?;
        if let Some(cluster) = multi_host(url, "cluster") {
            let scheme = if cluster.tls { "rediss" } else { "redis" };
            let seeds: Vec<String> = cluster
                .hosts
                .iter()
                .map(|host| format!("{scheme}://{}{host}", cluster.credentials))
                .collect();
            if seeds.is_empty() {
                return Err("TASKGATE_REDIS_URL names no cluster node".into());
            }
            let mut builder = ClusterClientBuilder::new(seeds.clone())
                .connection_timeout(settings.connect_timeout)
                .response_timeout(settings.response_timeout);
            if let Some(certs) = certificates.clone() {
                builder = builder.certs(certs);
            }
            let clients = seeds
                .iter()
                .map(|seed| node_client(seed, certificates.clone()))
                .collect::<RedisResult<Vec<_>>>()
                .map_err(invalid)?;
            return Ok(Self::Cluster {
                client: builder.build().map_err(invalid)?,
                seeds: clients,
            });
        }
        if let Some(sentinel) = multi_host(url, "sentinel") {
            let mut parts = sentinel.path.trim_start_matches('/').split('/');
            let master = parts.next().unwrap_or_default().to_owned();
            if master.is_empty() {
                return Err(
                    "TASKGATE_REDIS_URL: a redis+sentinel:// URL ends with /<master name>".into(),
                );
            }
            let db = parts.next().unwrap_or("0");
            let master_info = format!("redis://{}localhost/{db}", sentinel.credentials)
                .into_connection_info()
                .map_err(invalid)?;
            let mut node = SentinelNodeConnectionInfo::default()
                .set_redis_connection_info(master_info.redis_settings().clone());
            if sentinel.tls {
                node = node.set_tls_mode(TlsMode::Secure);
            }
            let sentinels: Vec<String> = sentinel
                .hosts
                .iter()
                .map(|host| format!("redis://{host}"))
                .collect();
            return Ok(Self::Sentinel {
                sentinel: Mutex::new(Sentinel::build(sentinels).map_err(invalid)?),
                master,
                node,
            });
        }
        let with_ca = certificates.is_some();
        node_client(url, certificates)
            .map(Self::Node)
            .map_err(|e| match with_ca {
                true => format!(
                    "TASKGATE_REDIS_CA_FILE: not a usable PEM certificate, or TASKGATE_REDIS_URL \
                 ({}) not a usable URL: {}",
                    crate::redact::url(url),
                    e.detail().unwrap_or("unreadable")
                ),
                false => invalid(e),
            })
    }

    /// Opens a data connection (through the sentinels' current master, for Sentinel).
    pub async fn connect(&self, config: &AsyncConnectionConfig) -> RedisResult<Link> {
        match self {
            Self::Node(client) => client
                .get_multiplexed_async_connection_with_config(config)
                .await
                .map(Link::Node),
            Self::Cluster { client, .. } => client.get_async_connection().await.map(Link::Cluster),
            Self::Sentinel { .. } => self
                .master()
                .await?
                .get_multiplexed_async_connection_with_config(config)
                .await
                .map(Link::Node),
        }
    }

    /// Opens a pub/sub connection; `attempt` picks the cluster seed to try.
    pub async fn pubsub(&self, attempt: usize) -> RedisResult<PubSub> {
        match self {
            Self::Node(client) => client.get_async_pubsub().await,
            Self::Cluster { seeds, .. } => seeds[attempt % seeds.len()].get_async_pubsub().await,
            Self::Sentinel { .. } => self.master().await?.get_async_pubsub().await,
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// The master the sentinels name now.
    async fn master(&self) -> RedisResult<Client> {
        let Self::Sentinel {
            sentinel,
            master,
            node,
        } = self
        else {
            unreachable!("only for Sentinel endpoints");
        };
        sentinel
            .lock()
            .await
            .async_master_for(master, Some(node))
            .await
    }
}

/// The configured CA, when there is one (and the URL is a TLS one).
fn certificates(
    ca_file: &Option<PathBuf>,
    url: &str,
) -> Result<Option<redis::TlsCertificates>, String> {
    let Some(path) = ca_file else {
        return Ok(None);
    };
    if !url.starts_with("rediss") {
        return Err(
            "TASKGATE_REDIS_CA_FILE is set, but TASKGATE_REDIS_URL is not a \
                    rediss:// (TLS) URL"
                .into(),
        );
    }
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "TASKGATE_REDIS_CA_FILE {}: cannot read it: {e}",
            path.display()
        )
    })?;
    Ok(Some(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

fn node_client(url: &str, certificates: Option<redis::TlsCertificates>) -> RedisResult<Client> {
    match certificates {
        None => Client::open(url),
        Some(certificates) => Client::build_with_tls(url, certificates),
    }
}

/// The Redis Cluster slot of `key`: CRC16 (XMODEM) of its hash tag (the part between the
/// first `{` and the next `}`, when not empty) or of the whole key, modulo 16384.
pub fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = bytes.iter().position(|b| *b == b'{').and_then(|open| {
        let close = bytes[open + 1..].iter().position(|b| *b == b'}')?;
        (close > 0).then(|| &bytes[open + 1..open + 1 + close])
    });
    let mut crc: u16 = 0;
    for byte in tagged.unwrap_or(bytes) {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
    #[test]
    fn slots_are_redis_cluster_slots() {
        assert_eq!(slot("123456789"), 12739);
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(slot("tg:{q:emails}:meta"), slot("q:emails"));
        assert_eq!(slot("foo{}{bar}"), slot("foo{}{bar}"));
    }
}
