//! Worker labels and task requirements (README, "Routing and diagnosis"): small maps of
//! string to string. A task that `requires` some labels is leased only by a worker whose
//! `labels` include every one of them, with the same value.
//!
//! Both travel to the scripts in one canonical text, "k=v,k=v" sorted by name: names and values
//! hold no `=`, `,` or space, so the text is unambiguous, and one set of requirements always
//! has one spelling (the scripts index ready tasks by it).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, de};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

/// Most labels one lease call may carry.
pub const LABELS_MAX: usize = 32;
/// Most requirements one task may carry.
pub const REQUIRES_MAX: usize = 8;
/// Most distinct requirement sets the live tasks of one queue may carry: a lease reads one
/// index entry per set its worker satisfies, so this bounds its work.
pub const REQUIREMENT_SETS_MAX: u64 = 64;
/// Longest label name, in characters.
pub const LABEL_NAME_MAX: usize = 64;
/// Longest label value, in characters.
pub const LABEL_VALUE_MAX: usize = 128;

/// The pattern of a label name, as the document states it.
pub const LABEL_NAME_PATTERN: &str = "^[A-Za-z0-9._/-]{1,64}$";
/// The pattern of a label value, as the document states it.
pub const LABEL_VALUE_PATTERN: &str = "^[A-Za-z0-9._:@/-]{1,128}$";

/// A checked label map with at most `MAX` entries, kept sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelMap<const MAX: usize>(BTreeMap<String, String>);

/// A worker's labels (`labels` on a lease call).
pub type Labels = LabelMap<LABELS_MAX>;
/// A task's requirements (`requires` at submit).
pub type Requires = LabelMap<REQUIRES_MAX>;

impl<const MAX: usize> LabelMap<MAX> {
    /// Checks a map: at most `MAX` entries, each name and value of the allowed characters.
    pub fn parse(map: BTreeMap<String, String>) -> Result<Self, String> {
        if map.len() > MAX {
            return Err(format!("must have at most {MAX} entries"));
        }
        for (name, value) in &map {
            if !allowed(name, LABEL_NAME_MAX, b"._/-") {
                return Err(format!(
                    "name {name:?} must be 1-{LABEL_NAME_MAX} characters of A-Z a-z 0-9 . _ / -"
                ));
            }
            if !allowed(value, LABEL_VALUE_MAX, b"._:@/-") {
                return Err(format!(
                    "value of {name:?} must be 1-{LABEL_VALUE_MAX} characters of A-Z a-z 0-9 . _ : @ / -"
                ));
            }
        }
        Ok(Self(map))
    }

    /// Reads a canonical text back (`k=v,k=v`); entries that are not `k=v` are skipped.
    pub fn from_canonical(text: &str) -> Self {
        let map = text
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self(map)
    }

    /// The canonical text the scripts index by: "k=v,k=v", sorted by name.
    pub fn canonical(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join(",")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }

    /// Whether these labels include every requirement of `rset` (a canonical text) with the
    /// same value. An empty `rset` is satisfied by anyone.
    pub fn satisfy(&self, rset: &str) -> bool {
        rset.split(',')
            .filter(|pair| !pair.is_empty())
            .all(|pair| match pair.split_once('=') {
                Some((k, v)) => self.0.get(k).is_some_and(|have| have == v),
                None => false,
            })
    }
}

/// Whether `text` is 1 to `max` characters of ASCII letters, digits and `extra`.
fn allowed(text: &str, max: usize, extra: &[u8]) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

impl<'de, const MAX: usize> Deserialize<'de> for LabelMap<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MapOfText::<MAX>)
    }
}

/// Reads a JSON object of strings, refusing a name given twice (JSON leaves duplicates
/// undefined; "the last one wins" would route a task by a value the client did not mean).
struct MapOfText<const MAX: usize>;

impl<'de, const MAX: usize> de::Visitor<'de> for MapOfText<MAX> {
    type Value = LabelMap<MAX>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((name, value)) = entries.next_entry::<String, String>()? {
            if map.contains_key(&name) {
                return Err(de::Error::custom(format!("names {name:?} twice")));
            }
            map.insert(name, value);
        }
        LabelMap::parse(map).map_err(de::Error::custom)
    }
}

impl<const MAX: usize> PartialSchema for LabelMap<MAX> {
    fn schema() -> RefOr<Schema> {
        let value = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some(LABEL_VALUE_PATTERN))
            .build();
        let mut schema = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .pattern(Some(LABEL_NAME_PATTERN))
                    .build(),
            ))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
                value,
            )))))
            .max_properties(Some(MAX))
            .build();
        schema.example = Some(serde_json::json!({"gpu": "a100", "region": "eu"}));
        RefOr::T(Schema::Object(schema))
    }
}

impl<const MAX: usize> ToSchema for LabelMap<MAX> {
    /// `Labels` and `Requires` differ only in their bound: each gets its own schema.
    fn name() -> std::borrow::Cow<'static, str> {
        if MAX == LABELS_MAX {
            "Labels".into()
        } else {
            "Requires".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_canonical_text_is_sorted_and_reads_back() {
        let labels = Labels::parse(map(&[("region", "eu"), ("gpu", "a100")])).expect("valid");
        assert_eq!(labels.canonical(), "gpu=a100,region=eu");
        assert_eq!(Labels::from_canonical(&labels.canonical()), labels);
        assert_eq!(Labels::default().canonical(), "");
    }

    #[test]
    fn labels_satisfy_only_requirements_they_include_exactly() {
        let labels = Labels::parse(map(&[("gpu", "a100"), ("region", "eu")])).expect("valid");
        assert!(labels.satisfy(""));
        assert!(labels.satisfy("gpu=a100"));
        assert!(labels.satisfy("gpu=a100,region=eu"));
        assert!(!labels.satisfy("gpu=h100"));
        assert!(!labels.satisfy("gpu=a100,zone=b"));
        assert!(!Labels::default().satisfy("gpu=a100"));
    }

    #[test]
    fn a_name_given_twice_is_refused() {
        let twice: Result<Requires, _> = serde_json::from_str(r#"{"gpu": "a", "gpu": "b"}"#);
        let error = twice.expect_err("a duplicate name").to_string();
        assert!(error.contains("twice"), "{error}");
        let once: Requires = serde_json::from_str(r#"{"gpu": "a"}"#).expect("valid");
        assert_eq!(once.canonical(), "gpu=a");
    }

    #[test]
    fn names_values_and_counts_are_bounded() {
        assert!(Requires::parse(map(&[("gpu", "a=b")])).is_err());
        assert!(Requires::parse(map(&[("g,pu", "x")])).is_err());
        assert!(Requires::parse(map(&[("gpu", "")])).is_err());
        assert!(Requires::parse(map(&[("gpu", "a b")])).is_err());
        assert!(Requires::parse(map(&[("k8s.io/zone", "eu-west:1@b")])).is_ok());
        let nine: BTreeMap<String, String> =
            (0..9).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(Requires::parse(nine.clone()).is_err());
        assert!(Labels::parse(nine).is_ok());
        let long = "x".repeat(LABEL_NAME_MAX + 1);
        assert!(Labels::parse(map(&[(long.as_str(), "v")])).is_err());
    }
}
