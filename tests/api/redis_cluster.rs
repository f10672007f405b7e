//! A real Redis Cluster for the tests: three masters and three replicas, each a `redis-server`
//! of its own on free ports (under the harness's watchdog), joined with
//! `redis-cli --cluster create`. Nodes time out after one second, so a killed master's replica
//! takes over within a few seconds.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use deadpool_redis::redis;

use crate::harness::{TempDir, spawn_redis};
use crate::redis_server::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT, connect_blocking};

/// A running cluster, stopped when dropped.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    nodes: Vec<Option<Child>>,
    /// One connection for the tests' own commands, opened at first use (a cluster connection
    /// reads the topology when it opens, too slow to do per command). It lives on a runtime of
    /// its own: each test has its own runtime, and a connection's driver dies with the runtime
    /// it was opened on.
    connection: tokio::sync::OnceCell<redis::cluster_async::ClusterConnection>,
    runtime: Option<tokio::runtime::Runtime>,
    /// Each node's working directory (its node file, its replica's RDB).
    _dirs: Vec<TempDir>,
}

/// A port that is free, and whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl RedisCluster {
    pub fn start() -> Self {
        let ports: Vec<u16> = (0..6).map(|_| free_cluster_port()).collect();
        let dirs: Vec<TempDir> = ports.iter().map(|_| TempDir::new("cluster-node")).collect();
        let nodes = ports
            .iter()
            .zip(&dirs)
            .map(|(port, dir)| {
                let args = [
                    "--cluster-enabled yes".to_owned(),
                    format!("--cluster-config-file nodes-{port}.conf"),
                    "--cluster-node-timeout 1000".to_owned(),
                ];
                Some(spawn_redis(*port, &dir.0, &args))
            })
            .collect();
        let cluster = Self {
            ports,
            nodes,
            connection: tokio::sync::OnceCell::new(),
            runtime: Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("a runtime for the cluster connection"),
            ),
            _dirs: dirs,
        };
        for port in &cluster.ports {
            wait_for_ping(*port);
        }
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            created.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_ok();
        cluster
    }

    /// `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// A client for the whole cluster, with the tests' timeouts (`redis_server::RESPONSE_TIMEOUT`).
    pub fn client(&self) -> redis::cluster::ClusterClient {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        redis::cluster::ClusterClientBuilder::new(nodes)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()
            .expect("cluster client")
    }

    /// Runs `cmd` on the tests' shared connection to the cluster.
    pub async fn query<T: redis::FromRedisValue + Send + 'static>(
        &self,
        cmd: redis::Cmd,
    ) -> redis::RedisResult<T> {
        let runtime = self.runtime.as_ref().expect("the cluster's runtime");
        let client = self.client();
        let mut conn = self
            .connection
            .get_or_init(|| async {
                runtime
                    .spawn(async move { client.get_async_connection().await })
                    .await
                    .expect("join")
                    .expect("connect to the test cluster")
            })
            .await
            .clone();
        runtime
            .spawn(async move { cmd.query_async(&mut conn).await })
            .await
            .expect("join")
    }

    /// Waits until every live node says the cluster is ok, and every live node is either a
    /// master serving slots or a replica in sync with its master, as both of them see it (so
    /// WAIT can count it). Right after `--cluster create`, a node meant as a replica still
    /// says `role:master` until it is told whom to follow: counting the masters that serve
    /// slots tells it apart.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let live = self.live_ports();
            let all_ok = live.iter().all(|port| {
                node_command(*port, &["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            });
            let replication: Vec<String> = live
                .iter()
                .filter_map(|port| node_command(*port, &["INFO", "replication"]))
                .collect();
            let replicas_in_sync = replication
                .iter()
                .filter(|info| info.contains("master_link_status:up"))
                .count();
            // The master's side too: WAIT counts only the replicas the master sees online.
            let online_at_masters = replication
                .iter()
                .flat_map(|info| info.lines())
                .filter(|line| line.starts_with("slave") && line.contains("state=online"))
                .count();
            if all_ok
                && self.masters_serving_slots() + replicas_in_sync == live.len()
                && online_at_masters == replicas_in_sync
            {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster never became ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many masters, not failed, serve slots (CLUSTER NODES lists a master's slot ranges
    /// from its ninth field on).
    fn masters_serving_slots(&self) -> usize {
        let nodes = node_command(self.live_ports()[0], &["CLUSTER", "NODES"]).unwrap_or_default();
        nodes
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() > 8 && f[2].contains("master") && !f[2].contains("fail"))
            .count()
    }

    fn live_ports(&self) -> Vec<u16> {
        self.ports
            .iter()
            .zip(&self.nodes)
            .filter(|(_, child)| child.is_some())
            .map(|(port, _)| *port)
            .collect()
    }

    /// The port of the master that holds `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let slot = node_command(self.live_ports()[0], &["CLUSTER", "KEYSLOT", key])
            .and_then(|s| s.trim().parse::<u16>().ok())
            .expect("CLUSTER KEYSLOT");
        let nodes = node_command(self.live_ports()[0], &["CLUSTER", "NODES"]).expect("NODES");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !fields.get(2).is_some_and(|f| f.contains("master")) {
                continue;
            }
            let covers = fields
                .iter()
                .skip(8)
                .any(|range| match range.split_once('-') {
                    Some((from, to)) => {
                        (from.parse().unwrap_or(u16::MAX)..=to.parse().unwrap_or(0)).contains(&slot)
                    }
                    None => range.parse::<u16>() == Ok(slot),
                });
            if covers {
                let address = fields[1].split('@').next().expect("address");
                return address
                    .rsplit_once(':')
                    .expect("port")
                    .1
                    .parse()
                    .expect("port");
            }
        }
        panic!("no master holds slot {slot}");
    }

    /// Kills the node on `port` with SIGKILL, as a crash would.
    pub fn kill(&mut self, port: u16) {
        let at = self.ports.iter().position(|p| *p == port).expect("a node");
        let pid = node_command(port, &["INFO", "server"])
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("process_id:"))
                    .map(|p| p.trim().to_owned())
            })
            .expect("process_id");
        let killed = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        if let Some(mut child) = self.nodes[at].take() {
            let _ = child.wait();
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        for (port, child) in self.ports.iter().zip(&mut self.nodes) {
            if let Some(mut child) = child.take() {
                let _ = node_command(*port, &["SHUTDOWN", "NOSAVE"]);
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl RedisCluster {
    /// Moves `key`'s slot from its master to another master, keys and all, the way
    /// `redis-cli --cluster reshard` does: the target imports, the source migrates (clients
    /// get `ASK` meanwhile), the keys move with `MIGRATE`, then every node learns the new owner
    /// (clients get `MOVED`). Returns the new master's port.
    pub fn move_slot_of(&self, key: &str) -> u16 {
        let from = self.master_of(key);
        let to = self
            .masters()
            .into_iter()
            .find(|port| *port != from)
            .expect("another master");
        let slot = node_command(from, &["CLUSTER", "KEYSLOT", key]).expect("KEYSLOT");
        let id = |port: u16| node_command(port, &["CLUSTER", "MYID"]).expect("MYID");
        let (from_id, to_id) = (id(from), id(to));
        assert!(node_command(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]).is_some());
        assert!(node_command(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]).is_some());
        loop {
            let keys = node_keys_in_slot(from, &slot);
            if keys.is_empty() {
                break;
            }
            let mut migrate = vec!["MIGRATE", "127.0.0.1"];
            let to_port = to.to_string();
            migrate.extend([to_port.as_str(), "", "0", "5000", "KEYS"]);
            migrate.extend(keys.iter().map(String::as_str));
            assert!(node_command(from, &migrate).is_some(), "MIGRATE");
        }
        for port in self.live_ports() {
            let _ = node_command(port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
        }
        to
    }

    /// The ports of the masters now.
    pub fn masters(&self) -> Vec<u16> {
        let nodes = node_command(self.live_ports()[0], &["CLUSTER", "NODES"]).expect("NODES");
        nodes
            .lines()
            .filter(|line| {
                line.split_whitespace()
                    .nth(2)
                    .is_some_and(|f| f.contains("master") && !f.contains("fail"))
            })
            .filter_map(|line| {
                let address = line.split_whitespace().nth(1)?.split('@').next()?;
                address.rsplit_once(':')?.1.parse().ok()
            })
            .collect()
    }
}

fn node_keys_in_slot(port: u16, slot: &str) -> Vec<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("client");
    let mut conn = connect_blocking(&client, RESPONSE_TIMEOUT).expect("connect");
    redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(100)
        .query(&mut conn)
        .expect("GETKEYSINSLOT")
}

/// One command to one node, as text (None when it does not answer: no connection within 1 s,
/// or no reply within `RESPONSE_TIMEOUT`).
pub fn node_command(port: u16, args: &[&str]) -> Option<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .ok()?;
    conn.set_read_timeout(Some(RESPONSE_TIMEOUT)).ok()?;
    conn.set_write_timeout(Some(RESPONSE_TIMEOUT)).ok()?;
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    let value: redis::Value = cmd.query(&mut conn).ok()?;
    match value {
        redis::Value::BulkString(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        redis::Value::SimpleString(text) => Some(text),
        redis::Value::VerbatimString { text, .. } => Some(text),
        redis::Value::Int(n) => Some(n.to_string()),
        _ => Some(String::new()),
    }
}

fn wait_for_ping(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while node_command(port, &["PING"]).is_none() {
        assert!(Instant::now() < deadline, "node {port} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}
