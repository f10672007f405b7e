//! The body of a schedule's `PUT` (and what a `PATCH` merges into): its cadence, the task it
//! submits, its window and catch-up rule, checked into a `ScheduleDef`.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::extract::body::field::{
    DelayMs, Flag, Group, Int, JsonText, LeaseMs, MaxAttempts, Priority, StartWithinMs, Time,
};
use crate::http::extract::body::{Check, Problems};
use crate::http::state::BodyLimits;
use crate::model::schedule::{
    CatchUp, EVERY_MS_MAX, EVERY_MS_MIN, SCHEDULE_PAYLOAD_MAX, ScheduleDef, TaskTemplate,
};
use crate::model::{Cron, Requires, Zone};

type EveryMs = Int<{ EVERY_MS_MIN as i64 }, { EVERY_MS_MAX as i64 }>;

/// A schedule: when it runs (`cron`, with `timezone`, or `every_ms`) and the task each run
/// submits.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::schedule_request)]
pub struct ScheduleRequest {
    /// A cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 with
    /// seconds first, or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`; at most 256
    /// characters (README, "Schedules"). Not with `every_ms`.
    #[schema(value_type = Option<String>, example = "30 2 * * *")]
    pub(super) cron: Option<CronText>,
    /// The IANA time zone `cron` reads its times in (`Europe/Berlin`); default `UTC`. Only
    /// with `cron`. Daylight saving: a time the clocks skip runs once, shifted by the skip; a
    /// time that happens twice runs at its first occurrence.
    #[schema(value_type = Option<String>, example = "Europe/Berlin")]
    pub(super) timezone: Option<ZoneText>,
    /// Run every this many ms (1000 to 31536000000), counted from `start_at`, or from when
    /// the cadence was set. Not with `cron`.
    #[schema(inline)]
    pub(super) every_ms: Option<EveryMs>,
    /// The task each run submits.
    pub(super) task: ScheduleTask,
    /// A paused schedule does not run (a trigger still does); on resume it runs at its next
    /// tick from then, not the ticks it passed while paused. Default `false`.
    #[schema(inline, value_type = Option<bool>, default = false)]
    pub(super) paused: Option<Flag>,
    /// No run before this RFC 3339 time.
    #[schema(inline)]
    pub(super) start_at: Option<Time>,
    /// No run after this RFC 3339 time; after it, the schedule has ended (kept until deleted).
    #[schema(inline)]
    pub(super) end_at: Option<Time>,
    /// Ticks missed while no instance (or no Redis) was up: `skip` runs none of them, `latest`
    /// runs one, for the newest. A tick is on time when it runs before the tick after it comes
    /// due and within 60 s of its time; when the sweep finds several ticks due, they were all
    /// missed. Default `skip`.
    pub(super) catch_up: Option<CatchUp>,
}

/// The task a schedule submits on each run: a submit's fields, without `run_at`, `debounce`
/// and `Idempotency-Key` (each tick's task is idempotent by the tick).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::schedule_task)]
pub struct ScheduleTask {
    /// Any JSON value, stored and submitted exactly as sent: at most 65536 bytes, and at most
    /// the policy's `max_payload_bytes` when each run submits it (a run over it fails, and is
    /// counted).
    #[schema(inline)]
    pub(super) payload: JsonText,
    /// -1000 to 1000, default 0.
    #[schema(inline, default = 0)]
    pub(super) priority: Option<Priority>,
    /// Each run's task becomes ready this long (0 to 31536000000 ms) after the run submits it
    /// (at its tick, within the sweep's interval).
    #[schema(inline)]
    pub(super) delay_ms: Option<DelayMs>,
    /// Attempts allowed (1 to 1000); default the queue policy's.
    #[schema(inline)]
    pub(super) max_attempts: Option<MaxAttempts>,
    /// Lease length (1000 to 86400000 ms) when the worker asks for none.
    #[schema(inline)]
    pub(super) lease_ms: Option<LeaseMs>,
    /// The task's group (`A-Z a-z 0-9 . _ : @ -`, 1 to 128 characters).
    #[schema(inline)]
    pub(super) group: Option<Group>,
    /// Start deadline (1 to 31536000000 ms).
    #[schema(inline)]
    pub(super) start_within_ms: Option<StartWithinMs>,
    /// Labels a worker must have to lease the task.
    pub(super) requires: Option<Requires>,
}

/// A `PATCH` of a schedule (a JSON merge patch): any of a `PUT`'s fields, each checked as a
/// `PUT` checks it; `null` removes one. The merged result is then checked as a `PUT` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"paused": true}))]
#[allow(dead_code)] // read to check each member; the patch itself is merged as text
pub struct SchedulePatch {
    #[schema(value_type = Option<String>, example = "0 9 * * MON-FRI")]
    cron: Option<CronText>,
    #[schema(value_type = Option<String>, example = "America/New_York")]
    timezone: Option<ZoneText>,
    #[schema(inline)]
    every_ms: Option<EveryMs>,
    task: Option<TaskPatch>,
    #[schema(inline, value_type = Option<bool>)]
    paused: Option<Flag>,
    #[schema(inline)]
    start_at: Option<Time>,
    #[schema(inline)]
    end_at: Option<Time>,
    catch_up: Option<CatchUp>,
}

/// A `PATCH` of a schedule's task: any of its fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"priority": 9}))]
#[allow(dead_code)] // read to check each member, as `SchedulePatch`
pub struct TaskPatch {
    #[schema(inline)]
    payload: Option<JsonText>,
    #[schema(inline)]
    priority: Option<Priority>,
    #[schema(inline)]
    delay_ms: Option<DelayMs>,
    #[schema(inline)]
    max_attempts: Option<MaxAttempts>,
    #[schema(inline)]
    lease_ms: Option<LeaseMs>,
    #[schema(inline)]
    group: Option<Group>,
    #[schema(inline)]
    start_within_ms: Option<StartWithinMs>,
    requires: Option<Requires>,
}

impl Check for SchedulePatch {}

/// A cron expression, parsed when read (its problem names the cron field that is wrong).
pub struct CronText(String);

impl<'de> Deserialize<'de> for CronText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = crate::http::extract::body::field::AnyText::deserialize(d)?.0;
        let cron = Cron::parse(&text).map_err(serde::de::Error::custom)?;
        // The calendar repeats every 400 years: no tick in them is no tick ever.
        let utc = Zone::parse("UTC").map_err(serde::de::Error::custom)?;
        if cron.next_after(0, &utc).is_none() {
            return Err(serde::de::Error::custom(
                "matches no date in the 400-year cycle of the calendar: it would never run",
            ));
        }
        Ok(Self(cron.as_str().to_owned()))
    }
}

/// An IANA time zone name, looked up when read.
pub struct ZoneText(String);

impl<'de> Deserialize<'de> for ZoneText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = crate::http::extract::body::field::AnyText::deserialize(d)?.0;
        Zone::parse(&text)
            .map(|_| Self(text))
            .map_err(serde::de::Error::custom)
    }
}

impl Check for ScheduleRequest {
    // The payload's depth is checked in `check` (it sits inside `task`, which `DEEP` cannot
    // name without also taking `task` out of the member-by-member reading of a bad body).
    fn check(&self, limits: &BodyLimits, problems: &mut Problems) {
        match (&self.cron, &self.every_ms) {
            (Some(_), Some(_)) => {
                problems.fail("cron", "give cron or every_ms, not both");
                problems.fail("every_ms", "give cron or every_ms, not both");
            }
            (None, None) => {
                problems.fail("cron", "give cron (or every_ms): when the schedule runs");
                problems.fail(
                    "every_ms",
                    "give every_ms (or cron): when the schedule runs",
                );
            }
            _ => {}
        }
        if self.timezone.is_some() && self.cron.is_none() {
            problems.fail("timezone", "is for cron's times: give it only with cron");
        }
        if let (Some(start), Some(end)) = (self.start_at, self.end_at) {
            if end.0 <= start.0 {
                problems.fail("end_at", "must be after start_at");
            }
        }
        problems.depth("task", self.task.payload.0.as_ref(), limits);
        let bytes = self.task.payload.0.get().len();
        if bytes > SCHEDULE_PAYLOAD_MAX {
            problems.fail(
                "task.payload",
                format!(
                    "is {bytes} bytes of JSON; a schedule's payload may be at most \
                     {SCHEDULE_PAYLOAD_MAX} (it is kept as long as the schedule is)"
                ),
            );
        }
    }
}

impl ScheduleRequest {
    /// The schedule this body asks for.
    pub(super) fn into_def(self) -> ScheduleDef {
        let task = self.task;
        ScheduleDef {
            cron: self.cron.map(|c| c.0),
            timezone: self.timezone.map(|z| z.0),
            every_ms: self.every_ms.map(|e| e.get()),
            task: TaskTemplate {
                payload: task.payload.0,
                priority: task.priority.map_or(0, Int::get),
                delay_ms: task.delay_ms.map(Int::get),
                max_attempts: task.max_attempts.map(Int::get),
                lease_ms: task.lease_ms.map(Int::get),
                group: task.group.map(|g| g.0.as_str().to_owned()),
                start_within_ms: task.start_within_ms.map(Int::get),
                requires: task
                    .requires
                    .filter(|r| !r.is_empty())
                    .map(|r| r.canonical()),
            },
            paused: self.paused.is_some_and(|p| p.0),
            start_at: self.start_at.map(|t| t.0),
            end_at: self.end_at.map(|t| t.0),
            catch_up: self.catch_up.unwrap_or_default(),
        }
    }
}
