//! The Lua scripts, one per atomic operation, compiled into the binary.
//!
//! Each op declares its script next to itself (`dispatch/lease.rs` declares `LEASE`, built
//! from `dispatch/lease.lua`) with the `script!` macro: the key roles it is passed, the policy
//! fields it reads and the prelude pieces (`prelude/`) it needs. Its source is put together at
//! compile time from a shebang with its flags, `local POLICY_FIELDS = {...}`, the pieces, and
//! its own file (run once per call it carries: concurrent calls travel together, see
//! `store/lanes.rs`). Redis keeps it as a function library of its own (`Library`), called with
//! `FCALL`, that can reach exactly the keys it declares (`K.<role>` in Lua). When Redis does
//! not have the library (the first call, a restart without persistence, a new primary,
//! `FUNCTION FLUSH`), the call loads it and tries again once (`conn::Conn::fcall`).
//!
//! Why functions rather than `EVALSHA`: Redis runs a script's whole text on every `EVALSHA`,
//! and with the prelude's hundred functions that was most of a call's Redis time (making each
//! closure walks Lua's list of open upvalues). A library's text runs once, at load
//! (prelude/base.lua says what is made again for each call).
//!
//! Why the flags (Redis 7+; the shebang's become the function's): when Redis is out of
//! memory, a script without
//! `allow-oom` is refused whole before it runs, so a refused call leaves no trace. Only calls
//! that shrink or keep state are `allow-oom`: leasing, heartbeats, an ack without a result, a
//! fail with a short error, the reaper and reads. An ack with a result and a fail with a long
//! error come from the same Lua files without the flag, so a full Redis refuses them (503)
//! instead of growing past `maxmemory`. Leasing adds a little on purpose (the lease's fields on
//! each task, and a `request_id`'s record, ~80 bytes a task, gone when the leases end): refusing
//! it would strand the very work whose acks free memory (README, "When Redis misbehaves").

use std::sync::OnceLock;

use deadpool_redis::redis::Script;

/// One script: its name (its `.lua` file beside its op), what it declares it needs (the key roles it
/// is passed, the policy fields it reads, the prelude pieces it is built with) and its source.
pub struct ScriptDef {
    pub name: &'static str,
    pub roles: &'static [&'static str],
    /// The policy fields it reads (`model::Field` names): their defaults open its ARGV.
    pub policy: &'static [&'static str],
    #[cfg_attr(not(test), allow(dead_code))] // checked by the unit tests below
    pieces: &'static [&'static str],
    source: &'static str,
    library: OnceLock<Library>,
}

impl ScriptDef {
    pub(crate) const fn new(
        name: &'static str,
        roles: &'static [&'static str],
        policy: &'static [&'static str],
        pieces: &'static [&'static str],
        source: &'static str,
    ) -> Self {
        Self {
            name,
            roles,
            policy,
            pieces,
            source,
            library: OnceLock::new(),
        }
    }

    /// The script as a Redis function library, put together on first use.
    pub fn library(&self) -> &Library {
        self.library.get_or_init(|| self.build_library())
    }

    /// The library text: `#!lua name=<name>`; the per-call `KEYS`, `ARGV`, `K` and `POLICY`;
    /// `frame_tables`, which makes `K` and `POLICY` for a call as table constructors naming
    /// this script's roles and fields (a constructor with constant keys is one presized table:
    /// filling one in a loop cost ~3 us a call for the 42 roles of a task script); the source
    /// (pieces, body, `run_calls`); and the registration of `run_calls` under the library's
    /// name, with the shebang's flags. The name carries a digest of all that, so two versions
    /// of taskgate on one Redis never call each other's code.
    fn build_library(&self) -> Library {
        use std::fmt::Write;

        let (shebang, rest) = self.source.split_once('\n').expect("a shebang line");
        let flags = shebang
            .split_once("flags=")
            .map(|(_, flags)| {
                flags
                    .split(',')
                    .map(|f| format!("'{}'", f.trim()))
                    .collect()
            })
            .unwrap_or_else(Vec::new)
            .join(", ");
        let mut body = String::with_capacity(self.source.len() + 2048);
        body.push_str("local function frame_tables()\n  K = {");
        for (i, role) in self.roles.iter().enumerate() {
            let _ = write!(body, "{role} = KEYS[{}], ", i + 1);
        }
        body.push_str("}\n  POLICY = {");
        for (i, field) in self.policy.iter().enumerate() {
            let _ = write!(body, "['{field}'] = tonumber(ARGV[{}]), ", i + 1);
        }
        body.push_str("}\nend\n");
        body.push_str(rest);
        let digest = Script::new(&format!("{flags}\n{body}"))
            .get_hash()
            .to_owned();
        let name = format!("tg_{}_{}", self.name, &digest[..16]);
        // KEYS and ARGV are the call's (set by `run_calls`); an EVAL script starts from the
        // globals of those names, which a library does not have while it loads.
        let text = format!(
            "#!lua name={name}\nlocal KEYS, ARGV, K, POLICY = {{}}, {{}}, {{}}, {{}}\n{body}\n\
             redis.register_function{{function_name = '{name}', callback = run_calls, \
             flags = {{{flags}}}}}\n"
        );
        let eval_text = format!(
            "{shebang}\nlocal KEYS, ARGV, K, POLICY = KEYS, ARGV, {{}}, {{}}\n{body}\n\
             return run_calls(KEYS, ARGV)\n"
        );
        Library {
            name,
            text,
            eval_sha: Script::new(&eval_text).get_hash().to_owned(),
            eval_text,
        }
    }
}

/// A script as Redis keeps it: one library holding one function of the same name; and the
/// same code as an EVAL script, for when Redis refuses to load the library (it is full:
/// `FUNCTION LOAD` is refused at `maxmemory` where `SCRIPT LOAD` is not; or an ACL allows
/// scripts and not functions), so that what a full Redis still lets run, runs.
pub struct Library {
    pub name: String,
    pub text: String,
    pub eval_text: String,
    pub eval_sha: String,
}

/// Builds a `ScriptDef` at compile time from what the script declares:
///
/// - `keys`: the key roles it is passed (`task_keys` is the roles every task record spans);
/// - `policy`: the policy fields it reads, `lifecycle` being those the task lifecycle reads;
/// - `prelude`: the pieces of `prelude/` it needs, after `limits` and `base`.
///
/// Its source is: shebang and flags, `local POLICY_FIELDS`, the pieces,
/// `<dir>/<name>.lua` (under `src/store/`) as the body of `local function call()`, and
/// `prelude/calls.lua`, which runs that body once per call the script call carries. Unit tests check that it uses no key role, policy field or prelude
/// function it does not declare.
macro_rules! script {
    ($name:literal in $dir:literal, $flags:literal, keys: task_keys $(+ [$($extra:literal),* $(,)?])?, $($rest:tt)*) => {
        $crate::store::script::script!($name in $dir, $flags, keys: [
            "meta", "payload", "result", "progress", "errors", "ready", "ready_time", "scheduled",
            "deadlines", "leased", "completed", "dead", "cancelled", "quarantine", "stats", "policy", "events",
            "gready", "gheads", "gturn", "gstate", "gleased", "grate", "gwait", "ghold", "gconf",
            "glive", "gnames", "workers", "wstats", "rready", "rheads", "rturn", "rsets", "wlabels", "debounce",
            "outbox", "parents", "depres", "dlink"
            $($(, $extra)*)?
        ], $($rest)*)
    };
    ($name:literal in $dir:literal, $flags:literal, keys: [$($role:literal),* $(,)?],
     policy: lifecycle $(+ [$($more:literal),* $(,)?])?, $($rest:tt)*) => {
        $crate::store::script::script!($name in $dir, $flags, keys: [$($role),*], policy: [
            "lease_ms", "max_attempts", "backoff.initial_ms", "backoff.multiplier",
            "backoff.max_ms", "backoff.jitter", "completed_ttl_ms", "dead_ttl_ms",
            "groups.max_in_flight", "groups.rate_limit.per_second", "groups.rate_limit.burst",
            "groups.ordered", "start_ttl_ms", "workers_window_ms"
            $($(, $more)*)?
        ], $($rest)*)
    };
    ($name:literal in $dir:literal, $flags:literal, keys: [$($role:literal),* $(,)?],
     policy: [$($field:literal),* $(,)?], prelude: [$($piece:literal),* $(,)?] $(,)?) => {
        $crate::store::script::ScriptDef::new(
            $name,
            &[$($role),*],
            &[$($field),*],
            &[$($piece),*],
            concat!(
                "#!lua", $flags, "\n",
                "local POLICY_FIELDS = {", $("'", $field, "', ",)* "}\n",
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/prelude/limits.lua")),
                "\n",
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/prelude/base.lua")),
                "\n",
                $(include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"), "/src/store/prelude/", $piece, ".lua"
                )), "\n",)*
                "local function call()\n",
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/", $dir, "/", $name, ".lua")),
                "\nend\n",
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/prelude/calls.lua")),
            ),
        )
    };
}
pub(crate) use script;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every script, for the tests here. A new script is one more line here.
    const ALL: &[&ScriptDef] = &[
        &super::super::tasks::SUBMIT,
        &super::super::tasks::SUBMIT_BATCH,
        &super::super::tasks::GET,
        &super::super::tasks::PEEK,
        &super::super::dispatch::LEASE,
        &super::super::dispatch::HEARTBEAT,
        &super::super::dispatch::HEARTBEAT_WITH_PROGRESS,
        &super::super::dispatch::ACK,
        &super::super::dispatch::ACK_WITH_RESULT,
        &super::super::dispatch::ACK_BATCH,
        &super::super::dispatch::ACK_BATCH_WITH_RESULTS,
        &super::super::dispatch::FAIL,
        &super::super::dispatch::FAIL_WITH_LONG_ERROR,
        &super::super::sweep::REAP,
        &super::super::quarantine::QUARANTINE,
        &super::super::policies::POLICY,
        &super::super::queues::STATS,
        &super::super::queues::HISTORY,
        &super::super::queues::NOTE_HISTORY,
        &super::super::queues::WORKERS,
        &super::super::tasks::CANCEL,
        &super::super::tasks::EXPLAIN,
        &super::super::tasks::LIST,
        &super::super::queues::REDRIVE,
        &super::super::queues::PURGE_DEAD,
        &super::super::queues::DROP,
        &super::super::groups::VIEW,
        &super::super::groups::WRITE,
        &super::super::schedules::READ,
        &super::super::schedules::LIST,
        &super::super::schedules::WRITE,
        &super::super::schedules::WRITE_IN_PLACE,
        &super::super::schedules::DELETE,
        &super::super::schedules::DUE,
        &super::super::schedules::FIRE,
        &super::super::deps::EXISTS,
        &super::super::deps::LINK,
        &super::super::deps::LINKED,
        &super::super::deps::RESOLVE,
        &super::super::deps::RESOLVE_WITH_RESULT,
        &super::super::deps::OUTBOX,
        &super::super::deps::DELIVERED,
        &super::super::deps::DUE,
        &super::super::flows::BEGIN,
        &super::super::flows::COMMIT,
        &super::super::flows::FORGET,
        &super::super::flows::ABORT,
        &super::super::flows::DISCARD,
        &super::super::flows::READ,
        &super::super::flows::DUE,
        &super::super::flows::STATES,
    ];
    use crate::model;

    /// Every prelude piece a script may declare, with its source.
    const PIECES: [(&str, &str); 16] = [
        ("record", include_str!("prelude/record.lua")),
        ("groups_conf", include_str!("prelude/groups_conf.lua")),
        ("groups", include_str!("prelude/groups.lua")),
        ("group_view", include_str!("prelude/group_view.lua")),
        ("groups_mend", include_str!("prelude/groups_mend.lua")),
        ("requires", include_str!("prelude/requires.lua")),
        ("choice", include_str!("prelude/choice.lua")),
        ("workers", include_str!("prelude/workers.lua")),
        ("lifecycle", include_str!("prelude/lifecycle.lua")),
        ("counts", include_str!("prelude/counts.lua")),
        ("history", include_str!("prelude/history.lua")),
        ("submit_one", include_str!("prelude/submit_one.lua")),
        ("ack_one", include_str!("prelude/ack_one.lua")),
        ("deps", include_str!("prelude/deps.lua")),
        ("base", include_str!("prelude/base.lua")),
        ("calls", include_str!("prelude/calls.lua")),
    ];

    /// The value of `local NAME = value` in the Lua limits.
    fn lua_limit(name: &str) -> String {
        let source = include_str!("prelude/limits.lua");
        source
            .lines()
            .find_map(|line| line.strip_prefix(&format!("local {name} = ")))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("limits.lua has no {name}"))
    }

    /// The identifiers that follow `prefix` in `source` (`K.` gives the key roles named).
    fn names_after(source: &str, prefix: &str) -> BTreeSet<String> {
        source
            .match_indices(prefix)
            .map(|(at, _)| {
                source[at + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                    .collect::<String>()
            })
            .filter(|name| !name.is_empty())
            .collect()
    }

    /// The policy fields a source reads: `POLICY.name` and `POLICY['dotted.name']`.
    fn policy_reads(source: &str) -> BTreeSet<String> {
        let mut fields = names_after(source, "POLICY.");
        fields.extend(names_after(source, "POLICY['"));
        fields
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
        assert_eq!(
            lua_limit("HISTORY_MINUTES"),
            model::HISTORY_MINUTES.to_string()
        );
        assert_eq!(
            lua_limit("REQUIREMENT_SETS_MAX"),
            model::REQUIREMENT_SETS_MAX.to_string()
        );
        assert_eq!(
            lua_limit("SCHEDULE_TICK_KEY_MS"),
            model::schedule::SCHEDULE_TICK_KEY_MS.to_string()
        );
        assert_eq!(
            lua_limit("SCHEDULE_RUNS_KEPT"),
            model::schedule::LAST_RUNS.to_string()
        );
        assert_eq!(
            lua_limit("WORKERS_PER_QUEUE_MAX"),
            model::WORKERS_PER_QUEUE_MAX.to_string()
        );
        for (name, value) in [
            (
                "DEPENDENCY_RESULTS_MAX_BYTES",
                model::DEPENDENCY_RESULTS_MAX_BYTES as u64,
            ),
            ("DEPENDENCY_LINK_GRACE_MS", model::DEPENDENCY_LINK_GRACE_MS),
            ("DEPENDENCY_RECHECK_MS", model::DEPENDENCY_RECHECK_MS),
            ("OUTBOX_GRACE_MS", model::OUTBOX_GRACE_MS),
            ("FLOW_COMMIT_MS", model::FLOW_COMMIT_MS),
        ] {
            assert_eq!(lua_limit(name), value.to_string(), "{name}");
        }
    }

    /// Each script's POLICY_FIELDS are model fields; the policy write names all of them, in the
    /// model's order (its arguments may set any).
    #[test]
    fn declared_policy_fields_are_model_fields() {
        for def in ALL {
            for name in def.policy {
                assert!(
                    model::Field::from_name(name).is_some(),
                    "{}: {name}",
                    def.name
                );
            }
        }
        let all: Vec<&str> = model::Field::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(super::super::policies::POLICY.policy, all.as_slice());
    }

    /// A script reads exactly the policy fields it declares (and so receives in ARGV): none
    /// it does not (it would read nil), none it does not use (a wasted argument and lookup).
    #[test]
    fn scripts_read_exactly_the_policy_fields_they_declare() {
        for def in ALL.iter().filter(|def| def.name != "policy") {
            let declared: BTreeSet<String> = def.policy.iter().map(|f| f.to_string()).collect();
            assert_eq!(policy_reads(def.source), declared, "{}", def.name);
        }
    }

    #[test]
    fn scripts_declare_only_known_roles_and_use_only_declared_ones() {
        let known: Vec<&str> = super::super::keys::ROLES.iter().map(|(r, _)| *r).collect();
        for def in ALL {
            for role in def.roles {
                assert!(known.contains(role), "{}: unknown role {role}", def.name);
            }
            // Every role the script (prelude included) names as `K.<role>` must be declared;
            // the frame's own uses (`K.policy`, `K.events`) are guarded: used when declared.
            let base = include_str!("prelude/base.lua");
            for name in names_after(&def.source.replace(base, ""), "K.") {
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

    /// A script calls only prelude functions of the pieces it includes (and each piece only
    /// those of the pieces before it), so a piece can be left out wherever it is not needed.
    #[test]
    fn scripts_use_only_the_prelude_functions_they_include() {
        let defined_in = |source: &str| names_after(source, "local function ");
        let every: BTreeSet<String> = PIECES.iter().flat_map(|(_, s)| defined_in(s)).collect();
        for def in ALL {
            for piece in def.pieces {
                assert!(
                    PIECES.iter().any(|(p, _)| p == piece),
                    "{}: no piece {piece}",
                    def.name
                );
            }
            let defined = defined_in(def.source);
            for function in &every {
                let called = def.source.contains(&format!("{function}("));
                assert!(
                    !called || defined.contains(function),
                    "{} calls {function} without including the piece that defines it",
                    def.name
                );
            }
        }
    }
}
