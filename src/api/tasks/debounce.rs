//! Debounced submits (README, "Debounce"): a submit with a `debounce` key updates the key's
//! task while it still waits for its run time, instead of adding another, and moves its run
//! time on, within a bound. For a single submit and a batch item alike.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::extract::body::Problems;
use crate::http::extract::body::field::{DelayMs, Int, Text};
use crate::store::tasks::DebounceSpec;

/// Why a submit may not be both debounced and idempotent.
pub(super) const NOT_WITH_IDEMPOTENCY_KEY: &str = "a debounced submit updates its key's task, \
    where an idempotency key replays the first task unchanged: give one or the other";

/// Longest debounce key, in characters.
const DEBOUNCE_KEY_MAX: usize = 255;

type DebounceKey = Text<1, DEBOUNCE_KEY_MAX>;

/// A submit's `debounce`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "reindex-user-42", "delay_ms": 2000, "max_delay_ms": 30000}))]
pub struct Debounce {
    /// Names what is debounced (1 to 255 characters): submits with the same key, while the
    /// task of the first is still waiting for its run time, update that one task.
    #[schema(inline)]
    key: DebounceKey,
    /// The task runs this long (0 to 31536000000 ms) after the latest submit with the key...
    #[schema(inline)]
    delay_ms: DelayMs,
    /// ...but never later than this long after the first (under `delay_ms`, the task runs
    /// then); without it, a steady stream of submits can put the run off for as long as it
    /// lasts.
    #[schema(inline)]
    max_delay_ms: Option<DelayMs>,
}

impl Debounce {
    pub(super) fn spec(self) -> DebounceSpec {
        DebounceSpec {
            key: self.key.0,
            delay_ms: self.delay_ms.get(),
            max_delay_ms: self.max_delay_ms.map(Int::get),
        }
    }
}

/// The rules between `debounce` and the other fields of a submit (or a batch item): it sets
/// the run time itself, and a repeat of it is an update, not a replay.
pub(super) fn debounce_rules(
    debounce: Option<&Debounce>,
    start_given: bool,
    idempotency_key: bool,
    problems: &mut Problems,
) {
    if debounce.is_none() {
        return;
    }
    if start_given {
        problems.fail(
            "debounce",
            "sets the task's run time: give debounce or delay_ms/run_at, not both",
        );
    }
    if idempotency_key {
        problems.fail("debounce", NOT_WITH_IDEMPOTENCY_KEY);
    }
}
