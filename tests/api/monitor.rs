//! What Redis was sent, seen through `MONITOR` (`redis-cli monitor` as a child process): how
//! many script calls carried the calls a test made, and that each call travelled exactly once.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::harness::eventually;
use crate::redis_server::RedisServer;

/// `MONITOR` on one server, from when it is started; the child is killed when dropped.
pub struct Monitor {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Monitor {
    /// Starts watching `redis` and returns once `MONITOR` is on.
    pub async fn start(redis: &RedisServer) -> Self {
        let mut child = Command::new("redis-cli")
            .args(["-p", &redis.port.to_string(), "monitor"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli monitor");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        let monitor = Self { child, lines };
        monitor.sync(redis).await;
        monitor
    }

    /// Waits until everything Redis ran before this call has reached the monitor (a marker
    /// command sent after it has come through).
    pub async fn sync(&self, redis: &RedisServer) {
        let marker = format!("monitor-sync-{}", rand_token());
        let lines = &self.lines;
        let marker_ref = &marker;
        eventually("the monitor to see the marker", || async move {
            let _: String = redis.cmd(&["ECHO", marker_ref]).await;
            let seen = lines.lock().expect("lines");
            seen.iter().any(|l| l.contains(marker_ref)).then_some(())
        })
        .await;
    }

    /// The script calls (`FCALL`, or `EVALSHA`/`EVAL` where Redis refused the library, sent by
    /// a client, not commands run inside a script)
    /// that carried at least one of `markers`, and how many times each marker was carried in all.
    pub fn scripts_carrying(&self, markers: &[String]) -> (usize, Vec<usize>) {
        let lines = self.lines.lock().expect("lines");
        let scripts: Vec<&String> = lines
            .iter()
            .filter(|l| {
                !l.contains(" lua]")
                    && ["\"FCALL\"", "\"EVALSHA\"", "\"EVAL\""]
                        .iter()
                        .any(|c| l.contains(c))
            })
            .collect();
        let carrying = scripts
            .iter()
            .filter(|l| markers.iter().any(|m| l.contains(&quoted(m))))
            .count();
        let times = markers
            .iter()
            .map(|m| scripts.iter().map(|l| l.matches(&quoted(m)).count()).sum())
            .collect();
        (carrying, times)
    }

    /// How many commands clients sent that contain `text`.
    pub fn lines_with(&self, text: &str) -> usize {
        let lines = self.lines.lock().expect("lines");
        lines
            .iter()
            .filter(|l| !l.contains(" lua]") && l.contains(text))
            .count()
    }

    /// Forgets what was seen so far.
    pub fn clear(&self) {
        self.lines.lock().expect("lines").clear();
    }
}

/// A marker as one whole argument in a `MONITOR` line.
fn quoted(marker: &str) -> String {
    format!("\"{marker}\"")
}

fn rand_token() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
