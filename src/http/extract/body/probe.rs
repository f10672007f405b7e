//! Finding every problem of a body that did not read: each member read alone (so one field's
//! problem hides no other's), then what is missing, then what is unknown, in the words a `422`
//! shows. Only a body with a problem pays for this.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use serde::de::{Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use super::Problems;
use crate::http::state::BodyLimits;

/// The properties of `T`'s schema, in declaration order, and the required ones.
fn shape<T: utoipa::PartialSchema>() -> (Vec<String>, Vec<String>) {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => (
            object.properties.keys().cloned().collect(),
            object.required.clone(),
        ),
        _ => (Vec::new(), Vec::new()),
    }
}

/// Every problem of a body that `T` could not read, each named with its field.
pub(super) fn find_problems<T>(
    bytes: &[u8],
    deep: &[&str],
    limits: &BodyLimits,
    problems: &mut Problems,
) where
    T: DeserializeOwned + utoipa::PartialSchema,
{
    let Ok(members) = serde_json::from_slice::<Members<'_>>(bytes) else {
        problems.fail("body", "must be a JSON object");
        return;
    };
    let (properties, required) = shape::<T>();
    for name in &properties {
        match members.values.get(name.as_str()) {
            None if required.contains(name) => problems.fail(name, "is required"),
            None => {}
            Some(_) if members.repeated.contains(name) => problems.fail(name, REPEATED),
            Some(raw) if deep.contains(&name.as_str()) => problems.depth(name, raw, limits),
            Some(raw) => probe::<T>(name, raw, problems),
        }
    }
    let known = properties.join(", ");
    for name in members.values.keys().filter(|n| !properties.contains(n)) {
        if problems.is_full() {
            break;
        }
        problems.fail(
            name,
            format!("is not a field of this request (known: {known})"),
        );
    }
}

pub(crate) const REPEATED: &str = "is given more than once; send each field once (which of the values \
                        would count is not defined in JSON)";

/// Reads a body of the one member `name` as `T`, and records what is wrong with that member
/// (what is missing elsewhere is not its problem). An object member is also read member by
/// member, so each of its problems is named, not only the first.
fn probe<T: DeserializeOwned>(name: &str, raw: &RawValue, problems: &mut Problems) {
    let key = serde_json::to_string(name).unwrap_or_default();
    let alone = format!("{{{key}:{}}}", raw.get());
    let Some((path, message)) = first_problem::<T>(&alone) else {
        return;
    };
    if path.is_empty() {
        // `T` itself misses its other fields: not this member's problem.
        return;
    }
    record(&path, &message, problems);
    if !path.contains('.') {
        return;
    }
    // A problem inside an object: read its members one by one, to name each problem.
    if let Ok(inner) = serde_json::from_str::<Members<'_>>(raw.get()) {
        for repeated in &inner.repeated {
            problems.fail(&format!("{name}.{repeated}"), REPEATED);
        }
        for (member, value) in &inner.values {
            let member_key = serde_json::to_string(member).unwrap_or_default();
            let body = format!("{{{key}:{{{member_key}:{}}}}}", value.get());
            if let Some((path, message)) = first_problem::<T>(&body) {
                if path.contains('.') && !message.starts_with("missing field") {
                    record(&path, &message, problems);
                }
            }
        }
    }
}

/// The path and message of the first problem of `body` as `T`, if it has one.
fn first_problem<T: DeserializeOwned>(body: &str) -> Option<(String, String)> {
    let mut deserializer = serde_json::Deserializer::from_str(body);
    let error = serde_path_to_error::deserialize::<_, T>(&mut deserializer).err()?;
    let path = error.path().to_string();
    let path = if path == "." { String::new() } else { path };
    Some((path, without_position(&error.into_inner().to_string())))
}

/// Records serde's word for a problem at `path` in ours.
fn record(path: &str, message: &str, problems: &mut Problems) {
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(field) = quoted("missing field `") {
        problems.fail(&format!("{path}.{field}"), "is required");
    } else if let Some(field) = quoted("duplicate field `") {
        problems.fail(&format!("{path}.{field}"), REPEATED);
    } else if message.starts_with("number out of range") {
        problems.fail(path, "is a number out of range");
    } else if let Some(field) = quoted("unknown field `") {
        // The path of an unknown field already ends with it.
        let path = path.strip_suffix(&format!(".{field}")).unwrap_or(path);
        let known = message
            .split_once("expected ")
            .map(|(_, rest)| rest.replace('`', "").replace("one of ", ""))
            .unwrap_or_default();
        problems.fail(
            &format!("{path}.{field}"),
            format!("is not a field of this request (known: {known})"),
        );
    } else {
        problems.fail(path, message);
    }
}

/// A `serde_json` message without its " at line 1 column 9".
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message[..at].to_owned(),
        _ => message.to_owned(),
    }
}

/// A JSON object's members, each kept as its JSON text, and the keys given more than once.
pub(crate) struct Members<'a> {
    pub(crate) values: BTreeMap<String, &'a RawValue>,
    pub(crate) repeated: BTreeSet<String>,
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Members {
                    values: BTreeMap::new(),
                    repeated: BTreeSet::new(),
                };
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<&'de RawValue>()?;
                    match members.values.entry(key) {
                        Entry::Vacant(slot) => {
                            slot.insert(value);
                        }
                        Entry::Occupied(slot) => {
                            members.repeated.insert(slot.key().clone());
                        }
                    }
                }
                Ok(members)
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}
