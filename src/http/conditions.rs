//! The preconditions of a versioned write (a queue's policy, a group's limits): `If-Match` and
//! `If-None-Match` read from the request and checked against the resource's version.

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::http::problem::ApiError;

/// A version as its `ETag`: `"3"`.
pub(crate) fn etag(version: u64) -> HeaderValue {
    HeaderValue::try_from(format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The preconditions of a policy write (RFC 9110 §13.1): `If-Match` and `If-None-Match`, each
/// `*` or a list of entity tags, on one header line or several. Our entity tags are versions
/// (`"3"`). A queue's policy exists once it has been written (version 1 and up, kept through
/// resets until the queue is deleted); version 0 is the defaults of a queue that never set one.
/// A group's limits exist while it has overrides; version 0 is a group without any.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Conditions {
    if_match: Option<Tags>,
    if_none_match: Option<Tags>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tags {
    Any,
    List(Vec<Tag>),
}

#[derive(Debug, Clone, PartialEq)]
struct Tag {
    weak: bool,
    /// `None` for a tag that is not one of ours: it matches no version.
    version: Option<u64>,
}

impl Conditions {
    pub(crate) fn read(headers: &HeaderMap) -> Self {
        Self {
            if_match: Tags::read(headers, header::IF_MATCH),
            if_none_match: Tags::read(headers, header::IF_NONE_MATCH),
        }
    }

    /// Whether a write may apply to the policy at `version`. `If-Match` compares strongly (a
    /// weak tag never matches), `If-None-Match` weakly (`W/"3"` is `"3"`).
    pub(crate) fn hold_at(&self, version: u64) -> bool {
        let exists = version > 0;
        let matched = match &self.if_match {
            None => true,
            Some(Tags::Any) => exists,
            Some(Tags::List(tags)) => tags.iter().any(|t| !t.weak && t.version == Some(version)),
        };
        let not_excluded = match &self.if_none_match {
            None => true,
            Some(Tags::Any) => !exists,
            Some(Tags::List(tags)) => tags.iter().all(|t| t.version != Some(version)),
        };
        matched && not_excluded
    }

    /// The one version the write may apply at, when the headers name it (checked by the write
    /// script itself, atomically): one strong tag in `If-Match`, or `If-None-Match: *` (version
    /// 0: no policy yet). `Err` when reading the version first is needed.
    pub(crate) fn expected_version(&self) -> Result<Option<u64>, ()> {
        match (&self.if_match, &self.if_none_match) {
            (None, None) => Ok(None),
            (Some(Tags::List(tags)), None) => match tags.as_slice() {
                [
                    Tag {
                        weak: false,
                        version: Some(version),
                    },
                ] => Ok(Some(*version)),
                _ => Err(()),
            },
            (None, Some(Tags::Any)) => Ok(Some(0)),
            _ => Err(()),
        }
    }

    /// The version a write may apply at, for its script to check atomically (`None`: any).
    /// When the headers name it (one strong `If-Match` tag, or `If-None-Match: *`) nothing is
    /// read; otherwise (a list of tags, or both headers) the write is decided on the version
    /// `current` reads now, and applies only if it is still that one. `Err` is the `412` for
    /// preconditions that already fail.
    pub(crate) async fn version_to_expect(
        &self,
        subject: &Subject<'_>,
        current: impl Future<Output = Result<u64, ApiError>>,
    ) -> Result<Result<Option<u64>, Response>, ApiError> {
        if let Ok(expected) = self.expected_version() {
            return Ok(Ok(expected));
        }
        let version = current.await?;
        if !self.hold_at(version) {
            return Ok(Err(self.refused(subject, version)));
        }
        Ok(Ok(Some(version)))
    }

    /// The `412` for a write whose preconditions fail with `subject` at `version`, with that
    /// version's `ETag`.
    pub(crate) fn refused(&self, subject: &Subject<'_>, version: u64) -> Response {
        let mut response =
            ApiError::PreconditionFailed(self.refusal(subject, version)).into_response();
        response.headers_mut().insert(header::ETAG, etag(version));
        response
    }

    /// Why a write was refused with `subject` at `version`.
    fn refusal(&self, subject: &Subject<'_>, version: u64) -> String {
        let Subject { owner, thing, some } = subject;
        let only_match = Self {
            if_match: self.if_match.clone(),
            if_none_match: None,
        };
        if !only_match.hold_at(version) {
            return if self.if_match == Some(Tags::Any) {
                format!(
                    "{owner} has no {thing} of its own yet, and If-Match: * writes only an \
                     existing one"
                )
            } else {
                format!(
                    "the {thing} of {owner} is at version {version}, not the one in \
                     If-Match: read it again and re-apply your change"
                )
            };
        }
        match &self.if_none_match {
            Some(Tags::Any) if version > 0 => format!(
                "{owner} already has {some} (version {version}), and If-None-Match: * \
                 writes only {some} that does not exist yet"
            ),
            Some(Tags::List(_)) if !self.hold_at(version) => format!(
                "the {thing} of {owner} is at version {version}, which If-None-Match \
                 excludes"
            ),
            _ => format!(
                "the {thing} of {owner} changed while this write was checked (it is now at \
                 version {version}): read it again and re-apply your change"
            ),
        }
    }
}

/// What a versioned write is about, for the words of a refusal: `owner` ("queue emails"),
/// `thing` ("policy") and `some` ("a policy").
pub(crate) struct Subject<'a> {
    pub owner: String,
    pub thing: &'a str,
    pub some: &'a str,
}

impl Tags {
    /// The entity tags of header `name` over all its lines; `None` when it is absent.
    fn read(headers: &HeaderMap, name: header::HeaderName) -> Option<Self> {
        let mut lines = headers.get_all(name).iter().peekable();
        lines.peek()?;
        let mut tags = Vec::new();
        for line in lines {
            let mut rest = line.to_str().unwrap_or("");
            loop {
                rest = rest.trim_start_matches([' ', '\t', ',']);
                if rest.is_empty() {
                    break;
                }
                if rest.starts_with('*') {
                    return Some(Self::Any);
                }
                let (weak, tag) = match rest.strip_prefix("W/") {
                    Some(tag) => (true, tag),
                    None => (false, rest),
                };
                // A quoted tag ends at its closing quote (it may hold commas); an unquoted one,
                // accepted for leniency, at the next comma.
                let (opaque, after) = match tag.strip_prefix('"') {
                    Some(quoted) => match quoted.find('"') {
                        Some(end) => (&quoted[..end], &quoted[end + 1..]),
                        None => (quoted, ""),
                    },
                    None => {
                        let end = tag.find(',').unwrap_or(tag.len());
                        (tag[..end].trim(), &tag[end..])
                    }
                };
                // Tags compare as text: `"03"` is not `"3"`.
                let version = opaque
                    .parse()
                    .ok()
                    .filter(|v: &u64| v.to_string() == opaque);
                tags.push(Tag { weak, version });
                rest = after;
            }
        }
        Some(Self::List(tags))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn conditions(lines: &[(&'static str, &'static str)]) -> Conditions {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(*name, HeaderValue::from_static(value));
        }
        Conditions::read(&headers)
    }

    #[test]
    fn if_match_holds_when_any_strong_tag_is_the_version() {
        let list = conditions(&[("if-match", r#""999", "3""#)]);
        assert!(list.hold_at(3) && list.hold_at(999) && !list.hold_at(4));
        let lines = conditions(&[("if-match", r#""1""#), ("if-match", r#""3""#)]);
        assert!(lines.hold_at(3));
        let weak = conditions(&[("if-match", r#"W/"3""#)]);
        assert!(!weak.hold_at(3), "If-Match compares strongly");
        let padded = conditions(&[("if-match", r#""03""#)]);
        assert!(!padded.hold_at(3), "tags compare as text");
        let comma = conditions(&[("if-match", r#""a,b", "3""#)]);
        assert!(comma.hold_at(3));
        let star = conditions(&[("if-match", "*")]);
        assert!(star.hold_at(1) && !star.hold_at(0));
    }

    #[test]
    fn if_none_match_star_holds_only_without_a_policy() {
        let star = conditions(&[("if-none-match", "*")]);
        assert!(star.hold_at(0) && !star.hold_at(1));
        assert_eq!(star.expected_version(), Ok(Some(0)));
        let weak = conditions(&[("if-none-match", r#"W/"3", "5""#)]);
        assert!(!weak.hold_at(3) && !weak.hold_at(5) && weak.hold_at(4));
    }

    #[test]
    fn only_one_strong_tag_is_checked_by_the_script_alone() {
        assert_eq!(conditions(&[]).expected_version(), Ok(None));
        let one = conditions(&[("if-match", r#""7""#)]);
        assert_eq!(one.expected_version(), Ok(Some(7)));
        for needs_a_read in [
            conditions(&[("if-match", r#""7", "8""#)]),
            conditions(&[("if-match", r#"W/"7""#)]),
            conditions(&[("if-match", "*")]),
            conditions(&[("if-match", r#""7""#), ("if-none-match", "*")]),
            conditions(&[("if-none-match", r#""7""#)]),
        ] {
            assert_eq!(needs_a_read.expected_version(), Err(()), "{needs_a_read:?}");
        }
    }
}
