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
//! and making the prelude's hundred functions anew was about as much Redis time as a call's
//! own work (each closure made walks Lua's list of open upvalues; BENCHMARKS.md). A library's text runs once, at load
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

/// A script as a key (a lane, its policy arguments): its address, since every script is a
/// `static`. Variants of one Lua file (with and without `allow-oom`) are different scripts.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScriptId(usize);

impl ScriptId {
    pub fn of(def: &'static ScriptDef) -> Self {
        Self(std::ptr::from_ref(def) as usize)
    }
}

/// One script: its name (its `.lua` file beside its op), what it declares it needs (the key roles it
/// is passed, the policy fields it reads, the prelude pieces it is built with) and its source.
pub struct ScriptDef {
    pub name: &'static str,
    pub roles: &'static [&'static str],
    /// The policy fields it reads (`model::Field` names): their defaults open its ARGV.
    pub policy: &'static [&'static str],
    #[cfg_attr(not(test), allow(dead_code))] // checked by the unit tests (script_tests.rs)
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
        // KEYS and ARGV are the call's (set by `run_calls`); an EVAL script starts from the
        // globals of those names, which a library does not have while it loads. The name is a
        // digest of the whole library text (with `NAME` in its place), so any change to it
        // makes a new library.
        let template = format!(
            "#!lua name=NAME\nlocal KEYS, ARGV, K, POLICY = {{}}, {{}}, {{}}, {{}}\n{body}\n\
             redis.register_function{{function_name = 'NAME', callback = run_calls, \
             flags = {{{flags}}}}}\n"
        );
        let digest = Script::new(&template).get_hash().to_owned();
        let name = format!("tg_{}_{}", self.name, &digest[..16]);
        let eval_text = format!(
            "{shebang}\nlocal KEYS, ARGV, K, POLICY = KEYS, ARGV, {{}}, {{}}\n{body}\n\
             return run_calls(KEYS, ARGV)\n"
        );
        Library {
            text: template
                .replace("name=NAME", &format!("name={name}"))
                .replace(
                    "function_name = 'NAME'",
                    &format!("function_name = '{name}'"),
                ),
            name,
            eval_sha: Script::new(&eval_text).get_hash().to_owned(),
            eval_text,
        }
    }
}

/// A script as Redis keeps it: one library holding one function of the same name; and the
/// same code as an EVAL script, for when Redis refuses the library (`conn::Conn::fcall`: it is
/// full, and `FUNCTION LOAD` is refused at `maxmemory` where `SCRIPT LOAD` is not; or an ACL
/// allows scripts and not functions), so that what a full Redis still lets run, runs.
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
#[path = "script_tests.rs"]
mod tests;
