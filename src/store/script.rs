//! The Lua scripts, one per atomic operation, compiled into the binary.
//!
//! Each script is put together at compile time (never at run time) from: a shebang with its
//! flags, `local KEY_ROLES = {...}` naming the key roles it is passed, the prelude files (plus,
//! for some, one more prelude piece of their own), and its own file. So a script is one self-contained EVALSHA, and the roles a `ScriptDef` declares
//! here are exactly the keys the script can reach (`K.<role>` in Lua; any other role is an
//! error). `redis::Script` sends EVALSHA and, when Redis answers NOSCRIPT (after a restart,
//! failover or SCRIPT FLUSH), loads the script and retries once.
//!
//! Why the shebang flags (Redis 7+): when Redis is out of memory, a script without
//! `allow-oom` is refused whole before it runs, so a refused call leaves no trace. Only calls
//! that shrink or keep state are `allow-oom`: leasing, heartbeats, an ack without a result, a
//! fail with a short error, the reaper and reads. An ack with a result and a fail with a long
//! error come from the same Lua files without the flag, so a full Redis refuses them (503)
//! instead of growing past `maxmemory`. Leasing adds a little on purpose (the lease's fields on
//! each task, and a `request_id`'s record, ~80 bytes a task, gone when the leases end): refusing
//! it would strand the very work whose acks free memory (README, "When Redis misbehaves").

use std::sync::OnceLock;

use deadpool_redis::redis::Script;

/// One script: its name (its file in `scripts/`), the key roles it is passed, and its source.
pub struct ScriptDef {
    pub name: &'static str,
    pub roles: &'static [&'static str],
    source: &'static str,
    script: OnceLock<Script>,
}

impl ScriptDef {
    const fn new(name: &'static str, roles: &'static [&'static str], source: &'static str) -> Self {
        Self {
            name,
            roles,
            source,
            script: OnceLock::new(),
        }
    }

    /// The script, hashed on first use.
    pub fn script(&self) -> &Script {
        self.script.get_or_init(|| Script::new(self.source))
    }
}

macro_rules! script {
    ($file:literal, $flags:literal, task_keys $(+ [$($extra:literal),* $(,)?])? $(, with $more:literal)?) => {
        script!($file, $flags, [
            "meta", "payload", "result", "errors", "ready", "ready_time", "scheduled", "leased",
            "completed", "dead", "cancelled", "quarantine", "stats", "policy", "events"
            $($(, $extra)*)?
        ] $(, with $more)?)
    };
    ($file:literal, $flags:literal, [$($role:literal),* $(,)?] $(, with $more:literal)?) => {
        ScriptDef::new(
            $file,
            &[$($role),*],
            concat!(
                "#!lua", $flags, "\n",
                "local KEY_ROLES = {", $("'", $role, "', ",)* "}\n",
                include_str!("scripts/prelude/limits.lua"), "\n",
                include_str!("scripts/prelude/base.lua"), "\n",
                include_str!("scripts/prelude/record.lua"), "\n",
                include_str!("scripts/prelude/lifecycle.lua"), "\n",
                $(include_str!(concat!("scripts/prelude/", $more, ".lua")), "\n",)?
                include_str!(concat!("scripts/", $file, ".lua")),
            ),
        )
    };
}

/// Adds data: refused whole when Redis is out of memory.
pub static SUBMIT: ScriptDef = script!(
    "submit",
    "",
    task_keys + ["idempotency", "idempotency_expiry"],
    with "submit_one"
);
pub static SUBMIT_BATCH: ScriptDef = script!(
    "submit_batch",
    "",
    task_keys + ["idempotency", "idempotency_expiry"],
    with "submit_one"
);
/// Settles what is already due, so a read is never stale; writes only to shrink or move.
pub static GET: ScriptDef = script!("get", " flags=allow-oom", task_keys);
/// Reads a task as stored, settling nothing (event streams' periodic re-reads).
pub static PEEK: ScriptDef = script!("peek", " flags=no-writes", task_keys);
pub static LEASE: ScriptDef = script!(
    "lease",
    " flags=allow-oom",
    task_keys + ["requests", "request_expiry"]
);
pub static HEARTBEAT: ScriptDef = script!("heartbeat", " flags=allow-oom", task_keys);
/// An ack without a result only shrinks state.
pub static ACK: ScriptDef = script!("ack", " flags=allow-oom", task_keys, with "ack_one");
/// An ack that stores a result adds data.
pub static ACK_WITH_RESULT: ScriptDef = script!("ack", "", task_keys, with "ack_one");
/// Many acks at once; with no results among them, it only shrinks state.
pub static ACK_BATCH: ScriptDef =
    script!("ack_batch", " flags=allow-oom", task_keys, with "ack_one");
/// Many acks at once, some of them storing results.
pub static ACK_BATCH_WITH_RESULTS: ScriptDef = script!("ack_batch", "", task_keys, with "ack_one");
/// A fail with an error text of at most `SHORT_ERROR_BYTES`.
pub static FAIL: ScriptDef = script!("fail", " flags=allow-oom", task_keys);
/// A fail with a longer error text adds data.
pub static FAIL_WITH_LONG_ERROR: ScriptDef = script!("fail", "", task_keys);
pub static REAP: ScriptDef = script!(
    "reap",
    " flags=allow-oom",
    task_keys
        + [
            "requests",
            "request_expiry",
            "idempotency",
            "idempotency_expiry"
        ]
);
pub static QUARANTINE: ScriptDef = script!("quarantine", " flags=allow-oom", task_keys);
/// Policy writes are small and must work (to pause a queue, say) even when Redis is full.
pub static POLICY: ScriptDef = script!("policy", " flags=allow-oom", task_keys);
pub static STATS: ScriptDef = script!("stats", " flags=no-writes", task_keys);
pub static CANCEL: ScriptDef = script!("cancel", " flags=allow-oom", task_keys);
/// A page of one state's tasks.
pub static LIST: ScriptDef = script!("list", " flags=no-writes", task_keys);
pub static REDRIVE: ScriptDef = script!("redrive", "", task_keys);
pub static PURGE_DEAD: ScriptDef = script!("purge_dead", " flags=allow-oom", task_keys);
pub static DROP: ScriptDef = script!(
    "drop",
    " flags=allow-oom",
    task_keys
        + [
            "requests",
            "request_expiry",
            "idempotency",
            "idempotency_expiry"
        ]
);

/// Longest error text a fail may record while Redis is out of memory.
pub const SHORT_ERROR_BYTES: usize = 256;

#[cfg(test)]
pub(crate) const ALL: [&ScriptDef; 21] = [
    &SUBMIT,
    &SUBMIT_BATCH,
    &GET,
    &PEEK,
    &LEASE,
    &HEARTBEAT,
    &ACK,
    &ACK_WITH_RESULT,
    &ACK_BATCH,
    &ACK_BATCH_WITH_RESULTS,
    &FAIL,
    &FAIL_WITH_LONG_ERROR,
    &REAP,
    &QUARANTINE,
    &POLICY,
    &STATS,
    &CANCEL,
    &LIST,
    &REDRIVE,
    &PURGE_DEAD,
    &DROP,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    /// The value of `local NAME = value` in the Lua limits.
    fn lua_limit(name: &str) -> String {
        let source = include_str!("scripts/prelude/limits.lua");
        source
            .lines()
            .find_map(|line| line.strip_prefix(&format!("local {name} = ")))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("limits.lua has no {name}"))
    }

    #[test]
    fn lua_limits_agree_with_the_model() {
        assert_eq!(
            lua_limit("ERROR_HISTORY_MAX"),
            model::ERROR_HISTORY_MAX.to_string()
        );
        assert_eq!(
            lua_limit("BATCH_ITEMS_MAX"),
            super::super::BATCH_ITEMS_MAX.to_string()
        );
    }

    /// The scripts read the policy defaults from ARGV in the order of `Field::ALL`.
    #[test]
    fn lua_policy_fields_agree_with_the_model() {
        let base = include_str!("scripts/prelude/base.lua");
        let list = base
            .split("local POLICY_FIELDS = {")
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .expect("POLICY_FIELDS in base.lua");
        let lua: Vec<&str> = list
            .split(',')
            .map(|name| name.trim().trim_matches('\''))
            .filter(|name| !name.is_empty())
            .collect();
        let rust: Vec<&str> = model::Field::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(lua, rust);
    }

    #[test]
    fn scripts_declare_only_known_roles_and_use_only_declared_ones() {
        let known: Vec<&str> = super::super::keys::ROLES.iter().map(|(r, _)| *r).collect();
        for def in ALL {
            for role in def.roles {
                assert!(known.contains(role), "{}: unknown role {role}", def.name);
            }
            // Every role the script (prelude included) names as `K.<role>` must be declared.
            for (at, _) in def.source.match_indices("K.") {
                let name: String = def.source[at + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if known.contains(&name.as_str()) {
                    assert!(
                        def.roles.contains(&name.as_str()),
                        "{} uses K.{name} without declaring it",
                        def.name
                    );
                }
            }
        }
    }
}
