//! Dependencies between tasks (SPEC §11): a task submitted with `depends_on` waits until its
//! parents have finished. What a dependency is, what a waiting task does when a parent fails,
//! what it knows of each parent, and the bounds.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// Most parents one submitted task may name.
pub const DEPENDS_ON_MAX: usize = 100;
/// Bytes of its parents' results a task keeps for its lease (all parents together): a result
/// that would go past this is not copied, and the lease says so (`result_omitted`); the child
/// reads it with GET on the parent.
pub const DEPENDENCY_RESULTS_MAX_BYTES: usize = 262_144;
/// How long a new waiting task's links to its parents may stay unconfirmed before the sweep
/// makes them (the submitting instance makes them at once; this covers its death).
pub const DEPENDENCY_LINK_GRACE_MS: u64 = 5_000;
/// How often the sweep re-checks the parents of a task that still waits, as a safety net for a
/// parent whose outcome can no longer reach it (its queue deleted, its keys lost).
pub const DEPENDENCY_RECHECK_MS: u64 = 60_000;
/// How long after a parent finishes the sweep leaves its outcome to the instance that finished
/// it before delivering it itself.
pub const OUTBOX_GRACE_MS: u64 = 500;
/// Children one delivery step reaches per script.
pub const OUTBOX_PAGE: usize = 200;

/// One parent a task waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DependencyRef {
    pub queue: super::QueueName,
    pub id: super::TaskId,
}

/// A task named by its queue and id, as the API shows one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaskRef {
    pub queue: String,
    pub id: String,
}

/// What a waiting task does when a parent ends `dead` or `cancelled` (or is gone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnDependencyFailure {
    /// It goes `dead`, with an entry in its history naming the parent.
    #[default]
    Dead,
    /// It is `cancelled`.
    Cancel,
    /// It runs anyway once every parent has finished, and sees each outcome in its lease.
    Run,
}

impl OnDependencyFailure {
    /// The word the scripts keep (`dfail`): none for the default.
    pub fn stored(self) -> &'static str {
        match self {
            Self::Dead => "",
            Self::Cancel => "cancel",
            Self::Run => "run",
        }
    }

    /// The mode a stored word names (anything else is the default).
    pub fn from_stored(word: Option<&str>) -> Self {
        match word {
            Some("cancel") => Self::Cancel,
            Some("run") => Self::Run,
            _ => Self::Dead,
        }
    }
}

/// What a task knows of one parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyState {
    /// Not finished yet (as far as this task has heard).
    Pending,
    Completed,
    Dead,
    Cancelled,
    /// The parent no longer exists (purged, or its queue deleted) and its outcome never
    /// reached this task: counted as a failure.
    Gone,
}

impl DependencyState {
    /// The state a stored outcome word names.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "completed" => Self::Completed,
            "dead" => Self::Dead,
            "cancelled" => Self::Cancelled,
            "gone" => Self::Gone,
            _ => return None,
        })
    }
}

/// One parent of a task, and what the task knows of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"queue": "thumbnails", "id": "01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e", "state": "completed", "result": {"url": "s3://bucket/thumb-1.png"}}))]
pub struct Dependency {
    pub queue: String,
    pub id: String,
    pub state: DependencyState,
    /// What the parent's worker passed to `ack`, unchanged, when it completed with a result
    /// and the result fitted this task's budget (256 KiB for all parents together).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub result: Option<Box<RawValue>>,
    /// `true` when the parent's result did not fit the budget: read it with GET on the parent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub result_omitted: bool,
}

impl Dependency {
    /// A parent as a task's record holds it: the outcome as delivered (`<state>`,
    /// `<state> <result>`, or `<state>+` for a result left out), or none yet. Read leniently:
    /// an outcome that does not read (a hand-edited field) is shown as pending, a result that
    /// is not JSON as left out, rather than making the whole task unreadable.
    pub fn from_stored(queue: String, id: String, outcome: Option<&str>) -> Self {
        let (word, rest) = match outcome.map(|o| o.split_once(' ').unwrap_or((o, ""))) {
            Some((word, rest)) => (word, (!rest.is_empty()).then_some(rest)),
            None => ("", None),
        };
        let (word, omitted) = match word.strip_suffix('+') {
            Some(word) => (word, true),
            None => (word, false),
        };
        let state = DependencyState::parse(word).unwrap_or(DependencyState::Pending);
        let result = rest.and_then(|text| RawValue::from_string(text.to_owned()).ok());
        Self {
            queue,
            id,
            state,
            result_omitted: omitted || (rest.is_some() && result.is_none()),
            result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_outcomes_read_back() {
        let read = |outcome| Dependency::from_stored("q".into(), "i".into(), outcome);
        assert_eq!(read(None).state, DependencyState::Pending);
        let done = read(Some(r#"completed {"a": 1}"#));
        assert_eq!(done.state, DependencyState::Completed);
        assert_eq!(done.result.unwrap().get(), r#"{"a": 1}"#);
        let big = read(Some("completed+"));
        assert!(big.result_omitted && big.result.is_none());
        assert_eq!(read(Some("gone")).state, DependencyState::Gone);
        assert_eq!(
            read(Some("ready")).state,
            DependencyState::Pending,
            "no outcome"
        );
        let broken = read(Some("completed {"));
        assert_eq!(broken.state, DependencyState::Completed);
        assert!(broken.result_omitted && broken.result.is_none(), "not JSON");
        for mode in [
            OnDependencyFailure::Dead,
            OnDependencyFailure::Cancel,
            OnDependencyFailure::Run,
        ] {
            let word = mode.stored();
            let stored = (!word.is_empty()).then_some(word);
            assert_eq!(OnDependencyFailure::from_stored(stored), mode);
        }
    }
}
