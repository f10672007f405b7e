//! The Lua scripts, one per atomic operation, compiled into the binary.
//!
//! Each script is `scripts/prelude.lua` followed by its own file, joined at compile time (never
//! built at run time), so a script is one self-contained EVALSHA. `redis::Script` sends EVALSHA
//! and, when Redis answers NOSCRIPT (after a restart, failover or SCRIPT FLUSH), loads the
//! script and retries once.

use deadpool_redis::redis::Script;

macro_rules! script {
    ($name:literal) => {
        Script::new(concat!(
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
            submit: script!("submit"),
            get: script!("get"),
            lease: script!("lease"),
            heartbeat: script!("heartbeat"),
            ack: script!("ack"),
            fail: script!("fail"),
            reap: script!("reap"),
        }
    }
}
