//! The Lua scripts, one per atomic operation, compiled into the binary.
//!
//! Each script is a shebang line, then `scripts/prelude.lua`, then its own file, joined at
//! compile time (never built at run time), so a script is one self-contained EVALSHA.
//! `redis::Script` sends EVALSHA and, when Redis answers NOSCRIPT (after a restart, failover or
//! SCRIPT FLUSH), loads the script and retries once.
//!
//! Why the shebang flags (Redis 7+): when Redis is out of memory, a flagless script is refused
//! whole before it runs, so a refused submit leaves no trace. Everything that lets the queue
//! drain — leasing, heartbeats, acks, fails and the reaper's purge — is `allow-oom`, so a full
//! Redis still empties instead of stranding work. Reading is `no-writes`.

use deadpool_redis::redis::Script;

macro_rules! script {
    ($name:literal, $shebang:literal) => {
        Script::new(concat!(
            $shebang,
            "\n",
            include_str!("scripts/prelude.lua"),
            "\n",
            include_str!(concat!("scripts/", $name, ".lua"))
        ))
    };
}

/// Every script, hashed once at start-up.
pub struct Scripts {
    pub submit: Script,
    pub get: Script,
    pub lease: Script,
    pub heartbeat: Script,
    pub ack: Script,
    pub fail: Script,
    pub reap: Script,
}

impl Scripts {
    pub fn load() -> Self {
        Self {
            submit: script!("submit", "#!lua"),
            get: script!("get", "#!lua flags=no-writes"),
            lease: script!("lease", "#!lua flags=allow-oom"),
            heartbeat: script!("heartbeat", "#!lua flags=allow-oom"),
            ack: script!("ack", "#!lua flags=allow-oom"),
            fail: script!("fail", "#!lua flags=allow-oom"),
            reap: script!("reap", "#!lua flags=allow-oom"),
        }
    }
}
