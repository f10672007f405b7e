//! The unit tests of `script.rs`: every script's declarations against its source.

use std::collections::BTreeSet;

use super::*;
use crate::model;

const ALL: &[&ScriptDef] = crate::store::SCRIPTS;

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
    for (name, value) in [
        ("ERROR_HISTORY_MAX", model::ERROR_HISTORY_MAX.to_string()),
        ("BATCH_ITEMS_MAX", super::super::BATCH_ITEMS_MAX.to_string()),
        ("HISTORY_MINUTES", model::HISTORY_MINUTES.to_string()),
        (
            "REQUIREMENT_SETS_MAX",
            model::REQUIREMENT_SETS_MAX.to_string(),
        ),
        (
            "SCHEDULE_TICK_KEY_MS",
            model::schedule::SCHEDULE_TICK_KEY_MS.to_string(),
        ),
        ("SCHEDULE_RUNS_KEPT", model::schedule::LAST_RUNS.to_string()),
        (
            "WORKERS_PER_QUEUE_MAX",
            model::WORKERS_PER_QUEUE_MAX.to_string(),
        ),
        (
            "DEPENDENCY_RESULTS_MAX_BYTES",
            model::DEPENDENCY_RESULTS_MAX_BYTES.to_string(),
        ),
        (
            "DEPENDENCY_LINK_GRACE_MS",
            model::DEPENDENCY_LINK_GRACE_MS.to_string(),
        ),
        (
            "DEPENDENCY_RECHECK_MS",
            model::DEPENDENCY_RECHECK_MS.to_string(),
        ),
        ("OUTBOX_GRACE_MS", model::OUTBOX_GRACE_MS.to_string()),
        ("FLOW_COMMIT_MS", model::FLOW_COMMIT_MS.to_string()),
    ] {
        assert_eq!(lua_limit(name), value, "{name}");
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
