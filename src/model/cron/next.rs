//! Finding the next tick, in two steps kept apart:
//!
//! 1. a search over wall-clock times (to the second) for the next one the expression matches,
//!    field by field: month, then day, hour, minute, second. Each step jumps to the next allowed
//!    value of one field, so a search costs a few steps per skipped month or day, never one per
//!    second, and the horizon bounds it;
//! 2. the mapping of each wall-clock time onto an instant in the zone, where daylight saving
//!    makes some wall-clock times missing (a gap, clocks forward) and some double (a fold,
//!    clocks back).
//!
//! The rules: a wall-clock time in a gap runs at the instant the same time would be on the old
//! clock, i.e. shifted forward by the gap's length (jiff's and RFC 5545's "compatible"
//! disambiguation); a wall-clock time in a fold runs at its first occurrence only. Ticks are the
//! set of these instants, so two wall-clock times that land on one instant are one tick.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};

use super::{CRON_HORIZON_YEARS, Cron, DayRule};

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// jiff's civil times end with year 9999.
const MAX_YEAR: i32 = 9_999;
/// A termination guarantee for [`next_after`]'s loop, not a limit that real data reaches: with
/// the jumps below, a search takes one pass plus two or three per transition it meets.
const MAX_PASSES: usize = 1_000;

/// A valid wall-clock time to the second. The fields are in this order so that the derived
/// ordering is chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Civil {
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Civil {
    fn midnight(year: i32, month: u8, day: u8) -> Civil {
        Civil {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }

    /// Seconds since 1970-01-01 00:00:00 on the same wall clock. An instant is this minus the
    /// zone's offset (in seconds) at that moment.
    fn local(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * DAY
            + i64::from(self.hour) * HOUR
            + i64::from(self.minute) * MINUTE
            + i64::from(self.second)
    }

    fn from_local(local: i64) -> Civil {
        let (year, month, day) = civil_from_days(local.div_euclid(DAY));
        let secs = local.rem_euclid(DAY);
        Civil {
            year,
            month,
            day,
            hour: (secs / HOUR) as u8,
            minute: (secs % HOUR / MINUTE) as u8,
            second: (secs % MINUTE) as u8,
        }
    }

    /// The start of the next minute, hour or day (`unit` in seconds).
    fn start_of_next(self, unit: i64) -> Civil {
        Civil::from_local((self.local().div_euclid(unit) + 1) * unit)
    }

    fn start_of_next_month(self) -> Civil {
        if self.month == 12 {
            Civil::midnight(self.year + 1, 1, 1)
        } else {
            Civil::midnight(self.year, self.month + 1, 1)
        }
    }

    fn to_jiff(self) -> Option<DateTime> {
        let narrow = |v: u8| i8::try_from(v).ok();
        DateTime::new(
            i16::try_from(self.year).ok()?,
            narrow(self.month)?,
            narrow(self.day)?,
            narrow(self.hour)?,
            narrow(self.minute)?,
            narrow(self.second)?,
            0,
        )
        .ok()
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u8;
    let year = (year_of_era + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Sunday = 0.
fn weekday(year: i32, month: u8, day: u8) -> u8 {
    // 1970-01-01 was a Thursday.
    (days_from_civil(year, month, day) + 4).rem_euclid(7) as u8
}

/// The smallest value `>= from` whose bit is set.
fn next_bit(bits: u64, from: u8) -> Option<u8> {
    let rest = bits.checked_shr(u32::from(from))?;
    (rest != 0).then(|| from + rest.trailing_zeros() as u8)
}

impl Cron {
    fn day_matches(&self, year: i32, month: u8, day: u8) -> bool {
        let by_date = self.days & (1 << day) != 0;
        let by_weekday = self.weekdays & (1 << weekday(year, month, day)) != 0;
        match self.day_rule {
            DayRule::Both => by_date && by_weekday,
            DayRule::Either => by_date || by_weekday,
        }
    }

    fn next_day(&self, year: i32, month: u8, from: u8) -> Option<u8> {
        (from..=days_in_month(year, month)).find(|&d| self.day_matches(year, month, d))
    }

    /// The first wall-clock time `>= from` that the expression matches, up to the end of
    /// `last_year`. Each pass either returns or moves to the start of a later month, day, hour
    /// or minute; a pass for a day costs at most 31 checks, so even an expression that never
    /// matches costs a few thousand steps over 400 years.
    fn next_civil(&self, from: Civil, last_year: i32) -> Option<Civil> {
        let mut c = from;
        loop {
            if c.year > last_year {
                return None;
            }
            match next_bit(self.months, c.month) {
                None => {
                    c = Civil::midnight(c.year + 1, 1, 1);
                    continue;
                }
                Some(m) if m != c.month => c = Civil::midnight(c.year, m, 1),
                Some(_) => {}
            }
            match self.next_day(c.year, c.month, c.day) {
                None => {
                    c = c.start_of_next_month();
                    continue;
                }
                Some(d) if d != c.day => c = Civil::midnight(c.year, c.month, d),
                Some(_) => {}
            }
            match next_bit(self.hours, c.hour) {
                None => {
                    c = c.start_of_next(DAY);
                    continue;
                }
                Some(h) if h != c.hour => {
                    c = Civil {
                        hour: h,
                        minute: 0,
                        second: 0,
                        ..c
                    }
                }
                Some(_) => {}
            }
            match next_bit(self.minutes, c.minute) {
                None => {
                    c = c.start_of_next(HOUR);
                    continue;
                }
                Some(m) if m != c.minute => {
                    c = Civil {
                        minute: m,
                        second: 0,
                        ..c
                    }
                }
                Some(_) => {}
            }
            match next_bit(self.seconds, c.second) {
                None => c = c.start_of_next(MINUTE),
                Some(s) => return Some(Civil { second: s, ..c }),
            }
        }
    }
}

/// What a wall-clock time is in the zone, and the instant (seconds since the epoch) it runs at.
enum Mapped {
    /// It happens once.
    Once(i64),
    /// The clocks skipped it. It runs at `at`, the instant it would be on the old clock (so
    /// shifted forward by the gap's length); `end` is the first wall-clock time after the gap.
    Gap { at: i64, end: Civil },
    /// It happens twice. It runs at its first occurrence, `at`; the second occurrence is on the
    /// new clock, which starts at the instant `transition`; `end` is the first wall-clock time
    /// after the repeated stretch.
    Fold {
        at: i64,
        transition: i64,
        end: Civil,
    },
}

fn secs(offset: Offset) -> i64 {
    i64::from(offset.seconds())
}

/// The first transition of the zone after the instant `at`.
fn transition_after(tz: &TimeZone, at: i64) -> Option<i64> {
    let next = tz.following(Timestamp::from_second(at).ok()?).next()?;
    Some(next.timestamp().as_second())
}

fn map(tz: &TimeZone, c: Civil) -> Option<Mapped> {
    let local = c.local();
    Some(match tz.to_ambiguous_timestamp(c.to_jiff()?).offset() {
        AmbiguousOffset::Unambiguous { offset } => Mapped::Once(local - secs(offset)),
        AmbiguousOffset::Gap { before, after } => {
            // For the transition T, the gap is the wall-clock times [T + before, T + after);
            // read with the new offset, `c` is an instant just before T, so the next transition
            // from there is T.
            let t = transition_after(tz, local - secs(after))?;
            Mapped::Gap {
                at: local - secs(before),
                end: Civil::from_local(t + secs(after)),
            }
        }
        AmbiguousOffset::Fold { before, .. } => {
            // The repeated wall-clock times are [T + after, T + before); their first occurrence
            // is on the old clock, just before T.
            let first = local - secs(before);
            let t = transition_after(tz, first)?;
            Mapped::Fold {
                at: first,
                transition: t,
                end: Civil::from_local(t + secs(before)),
            }
        }
    })
}

/// Where the search over wall-clock times starts, and the wall-clock time at `after` itself.
fn start(tz: &TimeZone, after: i64) -> Option<(Civil, Civil)> {
    let offset = tz.to_offset(Timestamp::from_second(after).ok()?);
    let here = Civil::from_local(after + secs(offset));
    // Why look back: just after the clocks went forward, the skipped wall-clock times are still
    // to come as instants. With a gap from 02:00 to 03:00, 02:30 runs at 03:30; at 03:10 it is
    // still ahead, though 02:30 is behind on the wall. So the search starts from `after` read on
    // the old clock (02:10) while `after` is less than the gap's length past the transition.
    if let Some(tr) = tz.preceding(Timestamp::from_second(after + 1).ok()?).next() {
        let t = tr.timestamp().as_second();
        let new = secs(tr.offset());
        let old = secs(tz.to_offset(Timestamp::from_second(t - 1).ok()?));
        if t <= after && new > old && after < t + (new - old) {
            return Some((Civil::from_local(after + old), here));
        }
    }
    Some((here, here))
}

pub(super) fn next_after(cron: &Cron, after_ms: i64, tz: &TimeZone) -> Option<i64> {
    // Ticks fall on whole seconds, so "strictly after `after_ms`" is "strictly after the second
    // that `after_ms` falls in".
    let after = after_ms.div_euclid(1_000);
    let (mut from, here) = start(tz, after)?;
    let last_year = here.year.saturating_add(CRON_HORIZON_YEARS).min(MAX_YEAR);
    // The wall-clock order of matching times is their order as instants, except across a gap:
    // a skipped time runs shifted forward, after some of the wall-clock times that follow the
    // gap. So a skipped time is only a candidate (`best`) until the first match after the gap
    // has been seen.
    let mut best: Option<i64> = None;
    let keep = |best: Option<i64>, at: i64| Some(best.map_or(at, |b| b.min(at)));
    for _ in 0..MAX_PASSES {
        let Some(c) = cron.next_civil(from, last_year) else {
            break;
        };
        let Some(mapped) = map(tz, c) else {
            break;
        };
        match mapped {
            // Past the gaps, wall-clock order is instant order: nothing later can be earlier.
            Mapped::Once(at) | Mapped::Fold { at, .. } if at > after => {
                best = keep(best, at);
                break;
            }
            Mapped::Gap { at, end } if at > after => {
                best = keep(best, at);
                // The rest of the gap runs later still; the first match after it may not.
                from = end.max(here);
            }
            // `after` is in the repeated stretch on the new clock: every repeated time already
            // ran at its first occurrence, so none of them runs again.
            Mapped::Fold {
                transition, end, ..
            } if after >= transition => from = end,
            // At or before `after` on the current clock: so is every match up to `here`.
            Mapped::Once(_) => from = Civil::from_local(c.local() + 1).max(here),
            // At or before `after`, but the rest of a gap or a fold may not be.
            Mapped::Gap { .. } | Mapped::Fold { .. } => from = Civil::from_local(c.local() + 1),
        }
    }
    best.map(|at| at * 1_000)
}

#[cfg(test)]
pub(super) mod reference {
    //! Slow, obviously-right versions for the tests to compare against.
    use super::*;

    /// Does the expression match this wall-clock time?
    pub fn matches(cron: &Cron, local: i64) -> bool {
        let c = Civil::from_local(local);
        let bit = |bits: u64, v: u8| bits & (1 << v) != 0;
        bit(cron.seconds, c.second)
            && bit(cron.minutes, c.minute)
            && bit(cron.hours, c.hour)
            && bit(cron.months, c.month)
            && cron.day_matches(c.year, c.month, c.day)
    }

    /// The instant a wall-clock time runs at, by jiff's "compatible" disambiguation.
    pub fn instant(tz: &TimeZone, local: i64) -> i64 {
        let dt = Civil::from_local(local)
            .to_jiff()
            .expect("a year jiff knows");
        let ts = tz.to_ambiguous_timestamp(dt).compatible();
        ts.expect("an instant jiff knows").as_second()
    }

    /// The wall-clock reading of an instant, as local seconds.
    pub fn local_at(tz: &TimeZone, at: i64) -> i64 {
        let ts = Timestamp::from_second(at).expect("an instant jiff knows");
        at + secs(tz.to_offset(ts))
    }

    pub fn days(year: i32, month: u8, day: u8) -> i64 {
        days_from_civil(year, month, day)
    }

    pub fn date(days: i64) -> (i32, u8, u8) {
        civil_from_days(days)
    }

    pub fn weekday_of(year: i32, month: u8, day: u8) -> u8 {
        weekday(year, month, day)
    }
}
