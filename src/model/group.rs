//! Task groups: the tenant, customer, account or resource a task belongs to, which the
//! distribution strategy and the per-group limits work by (README, "Distribution strategies").

use serde::Serialize;
use utoipa::ToSchema;

use super::{FieldError, RateLimit};

/// Longest group name, in characters.
pub const GROUP_NAME_MAX: usize = 128;

/// The pattern of a group name, as the document states it.
pub const GROUP_NAME_PATTERN: &str = "^[A-Za-z0-9._:@-]{1,128}$";

/// A group's name: 1 to 128 characters of `A-Z a-z 0-9 . _ : @ -`. No spaces: the scripts
/// keep a group's ready tasks in one sorted set as "<group> <rank>", and a space sorts below
/// every allowed character, so one group's members never mix with another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = !raw.is_empty()
            && raw.len() <= GROUP_NAME_MAX
            && raw.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-')
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "group",
                "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group's tasks by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct GroupCounts {
    pub ready: u64,
    /// Delayed, or waiting to be retried.
    pub scheduled: u64,
    pub leased: u64,
}

/// Where a group stands in the distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupStanding {
    /// It has ready tasks and takes its turns.
    Turns,
    /// It has ready tasks but a limit holds it (see `held_by`); leases pass it by until the
    /// limit lets go.
    Held,
    /// Nothing ready.
    Idle,
}

/// The limit that holds a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupHold {
    /// The group is paused.
    Paused,
    /// As many of its tasks are leased as its `max_in_flight` allows.
    MaxInFlight,
    /// The queue's groups are ordered and one of its tasks is out (leased, or waiting to be
    /// retried).
    Ordered,
    /// Its rate limit has no token now.
    RateLimit,
}

/// A group's limits in effect: its own values over the queue policy's `groups` defaults.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupLimitsInEffect {
    /// Its share in the `fair` strategy's turns (1 to 1000; default 1).
    pub weight: u32,
    /// Most of its tasks leased at once, or `null` for no limit.
    pub max_in_flight: Option<u64>,
    /// Its leases per second, or `null` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// When true, none of its tasks is leased; the rest of the queue goes on.
    pub paused: bool,
    /// Whether its tasks run one at a time, in order (the queue policy's `groups.ordered`).
    pub ordered: bool,
}

/// A task group of a queue: its tasks, where it stands, its limits and its own overrides.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::group_view)]
pub struct GroupView {
    pub queue: String,
    pub group: String,
    pub counts: GroupCounts,
    /// Its tasks leased now, as its `max_in_flight` counts them.
    pub in_flight: u64,
    /// Its rate tokens now (leases it may be granted at once), or `null` without a rate limit.
    pub tokens: Option<f64>,
    pub state: GroupStanding,
    /// While `state` is `held`: the limit that holds it.
    pub held_by: Option<GroupHold>,
    pub limits: GroupLimitsInEffect,
    /// The limits the group sets itself (`weight`, `max_in_flight`, `rate_limit.per_second`,
    /// `rate_limit.burst`, `paused`); the others are the queue policy's.
    pub overrides: Vec<String>,
    /// Changes on every write of its overrides (and only grows); 0 when it has none. Also the
    /// `ETag` (`"1764896957123"`): send it back as `If-Match` to change them only if nobody
    /// else did.
    pub version: u64,
    /// When its overrides last changed (RFC 3339, Redis clock).
    pub updated_at: Option<String>,
    /// Who changed them last, when known.
    pub updated_by: Option<String>,
}

/// A page of a queue's groups.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::group_page)]
pub struct GroupPage {
    /// The groups that have live tasks (ready, scheduled or leased) or overrides, by name.
    pub groups: Vec<GroupView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_bounded_and_hold_no_space() {
        for good in [
            "acme",
            "tenant:42",
            "a@b.example",
            "x".repeat(128).as_str(),
            "A-b_c.d",
        ] {
            assert!(GroupName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a b",
            "a\tb",
            "x".repeat(129).as_str(),
            "a/b",
            "é",
            "{a}",
        ] {
            assert!(GroupName::parse(bad).is_err(), "{bad}");
        }
    }
}
