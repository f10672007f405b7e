//! Redis calls as the metrics see them: how many are in flight (the pool's "in use" gauge)
//! and the label of a plain command.

use std::sync::atomic::{AtomicI64, Ordering};

use deadpool_redis::redis;

/// Redis calls in flight, for the pool's "in use" gauge: the connections are shared, so what
/// is in use is calls, not connections.
#[derive(Default)]
pub struct InFlight(AtomicI64);

/// One call in flight; counted down when dropped, however the call ends.
pub struct Busy<'a>(&'a AtomicI64);

impl InFlight {
    pub fn enter(&self) -> Busy<'_> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Busy(&self.0)
    }

    pub fn now(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The command's name as a metrics label (one of a known few, so labels stay bounded).
pub fn command_name(cmd: &redis::Cmd) -> &'static str {
    const KNOWN: [&str; 12] = [
        "PING", "CONFIG", "HGETALL", "HMGET", "ZCARD", "ZADD", "ZREM", "ZRANGE", "SCAN", "DBSIZE",
        "CLUSTER", "WAIT",
    ];
    let name = match cmd.args_iter().next() {
        Some(redis::Arg::Simple(name)) => name,
        _ => return "command",
    };
    KNOWN
        .into_iter()
        .find(|known| known.as_bytes().eq_ignore_ascii_case(name))
        .unwrap_or("command")
}
