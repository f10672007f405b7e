//! JSON merge patch (RFC 7396) over JSON text: members the patch leaves alone keep their exact
//! text (a payload's key order, big numbers and all), where a merge over parsed values would
//! rewrite them. For resources stored whole, such as a schedule, whose `PATCH` is "merge, then
//! check the result as a `PUT` body".

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::http::extract::body::{Check, ReadBody, read};
use crate::http::problem::ApiError;
use crate::http::state::BodyLimits;

/// A merge-patch body, as text, whose members were each checked as `T` reads them (`T` being
/// the patch's shape: every field optional, `null` allowed), so a bad value is refused, naming
/// its field, before anything is read or merged.
pub struct MergePatch<T> {
    pub text: Box<RawValue>,
    pub checked: T,
}

impl<T> ReadBody for MergePatch<T>
where
    T: serde::de::DeserializeOwned + utoipa::PartialSchema + Check,
{
    fn read_body(bytes: &[u8], limits: &BodyLimits) -> Result<Self, ApiError> {
        let checked = read::<T>(bytes, limits)?;
        let text = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::Malformed(format!("the body is not valid JSON ({e})")))?;
        Ok(Self { text, checked })
    }
}

/// `patch` merged into `target` (RFC 7396 §2): an object patch sets its members (recursively),
/// `null` removes one; anything else replaces the target whole.
pub fn merge(target: Option<&RawValue>, patch: &RawValue) -> Result<Box<RawValue>, ApiError> {
    let Some(patch_members) = members(patch) else {
        return Ok(patch.to_owned());
    };
    let mut merged = target.and_then(members).unwrap_or_default();
    for (name, value) in patch_members {
        if value.get().trim() == "null" {
            merged.remove(&name);
        } else {
            let value = merge(merged.get(&name).map(AsRef::as_ref), &value)?;
            merged.insert(name, value);
        }
    }
    serde_json::value::to_raw_value(&merged).map_err(|e| ApiError::Internal(e.to_string()))
}

/// An object's members as text, or `None` for anything but an object.
fn members(value: &RawValue) -> Option<BTreeMap<String, Box<RawValue>>> {
    if !value.get().trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(value.get()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("json")
    }

    #[test]
    fn merges_as_rfc_7396_says_and_keeps_untouched_text() {
        let target = raw(r#"{"a":"b","c":{"d":"e","f":"g"},"p":{"n":12345678901234567890}}"#);
        let patch = raw(r#"{"a":"z","c":{"f":null}}"#);
        let merged = merge(Some(&target), &patch).expect("merge");
        assert_eq!(
            merged.get(),
            r#"{"a":"z","c":{"d":"e"},"p":{"n":12345678901234567890}}"#
        );
        let replaced = merge(Some(&target), &raw("[1]")).expect("merge");
        assert_eq!(replaced.get(), "[1]");
        let onto_nothing = merge(None, &raw(r#"{"x":{"y":null,"z":1}}"#)).expect("merge");
        assert_eq!(onto_nothing.get(), r#"{"x":{"z":1}}"#);
    }
}
