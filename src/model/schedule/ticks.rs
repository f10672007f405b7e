//! When a schedule fires: its ticks within its window, and what a sweep does with a tick that
//! came due (`plan`), on time or after an outage.
//!
//! Ticks are instants (ms since the epoch). A cron schedule's come from its expression in its
//! zone (`cron`); an `every_ms` schedule's are `anchor + k * every_ms`, so they do not drift
//! however late each one fires.

use super::{CatchUp, MISSED_COUNTED_MAX, ON_TIME_MS};
use crate::model::{Cron, Zone};

/// How often a schedule ticks.
#[derive(Debug, Clone)]
pub enum Cadence {
    Cron(Box<(Cron, Zone)>),
    Every { every_ms: i64, anchor_ms: i64 },
}

/// The part of time a schedule ticks in: `[start_at, end_at]`, either end open.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub start_at: Option<i64>,
    pub end_at: Option<i64>,
}

impl Cadence {
    /// The first tick strictly after `after`, within `window`.
    pub fn next_after(&self, after: i64, window: Window) -> Option<i64> {
        let after = match window.start_at {
            Some(start) => after.max(start - 1),
            None => after,
        };
        let tick = match self {
            Self::Cron(cron) => cron.0.next_after(after, &cron.1)?,
            Self::Every {
                every_ms,
                anchor_ms,
            } => {
                let steps = (after - anchor_ms).div_euclid(*every_ms) + 1;
                anchor_ms.checked_add(steps.checked_mul(*every_ms)?)?
            }
        };
        match window.end_at {
            Some(end) if tick > end => None,
            _ => Some(tick),
        }
    }

    /// The newest tick at or before `bound`, no older than `oldest` (itself a tick).
    fn latest_until(&self, oldest: i64, bound: i64, window: Window) -> i64 {
        let bound = window.end_at.map_or(bound, |end| bound.min(end));
        if let Self::Every {
            every_ms,
            anchor_ms,
        } = self
        {
            let tick = anchor_ms + (bound - anchor_ms).div_euclid(*every_ms) * every_ms;
            return tick.max(oldest);
        }
        // A cron expression only searches forward: look back from `bound` over growing spans
        // (a second, a minute, ... the whole outage) for the first span that holds a tick,
        // then walk forward through that span, which holds few ticks for it was the first.
        const SPANS_MS: [i64; 6] = [
            1_000,
            60_000,
            3_600_000,
            86_400_000,
            2_764_800_000,
            i64::MAX,
        ];
        for span in SPANS_MS {
            let from = bound.saturating_sub(span).max(oldest);
            let Some(mut tick) = self.next_after(from, window).filter(|t| *t <= bound) else {
                continue;
            };
            // Bounded: the span before this one held no tick.
            for _ in 0..10_000 {
                match self.next_after(tick, window) {
                    Some(next) if next <= bound => tick = next,
                    _ => break,
                }
            }
            return tick;
        }
        oldest
    }

    /// How many ticks fall in `[from, to]` (`from` a tick), counted up to `MISSED_COUNTED_MAX`.
    fn count(&self, from: i64, to: i64, window: Window) -> u64 {
        if let Self::Every { every_ms, .. } = self {
            return (((to - from) / every_ms) as u64 + 1).min(MISSED_COUNTED_MAX);
        }
        let mut n = 1;
        let mut tick = from;
        while n < MISSED_COUNTED_MAX {
            match self.next_after(tick, window) {
                Some(next) if next <= to => (tick, n) = (next, n + 1),
                _ => break,
            }
        }
        n
    }
}

/// The next `n` ticks strictly after `after`, within `window` (a schedule's `next_runs`).
pub fn runs_after(cadence: &Cadence, window: Window, after: i64, n: usize) -> Vec<i64> {
    let mut runs = Vec::with_capacity(n);
    let mut at = after;
    while runs.len() < n {
        match cadence.next_after(at, window) {
            Some(tick) => {
                runs.push(tick);
                at = tick;
            }
            None => break,
        }
    }
    runs
}

/// What to do with a schedule whose tick `due` has come (`due <= now`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The tick to submit a task for, if any.
    pub fire: Option<i64>,
    /// Ticks that came and went without a task.
    pub missed: u64,
    /// The next tick to wait for; `None` when the schedule has ended.
    pub next: Option<i64>,
}

/// Decides a due tick. On time (fired before the following tick is due and within
/// `ON_TIME_MS` of its time), it fires. Otherwise the ticks from `due` to `now` were missed:
/// `skip` fires none of them, `latest` fires the newest one. Either way the schedule then waits
/// for its first tick after `now`, so an outage never causes a burst of runs.
pub fn plan(cadence: &Cadence, window: Window, catch_up: CatchUp, due: i64, now: i64) -> Plan {
    let following = cadence.next_after(due, window);
    let on_time = following.is_none_or(|f| f > now) && now - due <= ON_TIME_MS;
    if on_time {
        return Plan {
            fire: Some(due),
            missed: 0,
            next: following,
        };
    }
    let latest = cadence.latest_until(due, now, window);
    let late = cadence.count(due, latest, window);
    let next = cadence.next_after(now.max(latest), window);
    match catch_up {
        CatchUp::Skip => Plan {
            fire: None,
            missed: late,
            next,
        },
        CatchUp::Latest => Plan {
            fire: Some(latest),
            missed: late - 1,
            next,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;

    fn every(ms: i64) -> Cadence {
        Cadence::Every {
            every_ms: ms,
            anchor_ms: 0,
        }
    }

    fn cron(expr: &str, zone: &str) -> Cadence {
        Cadence::Cron(Box::new((
            Cron::parse(expr).expect("cron"),
            Zone::parse(zone).expect("zone"),
        )))
    }

    #[test]
    fn every_ms_ticks_count_from_the_anchor_and_never_drift() {
        let c = Cadence::Every {
            every_ms: 10 * S,
            anchor_ms: 3 * S,
        };
        let w = Window::default();
        assert_eq!(c.next_after(3 * S, w), Some(13 * S));
        assert_eq!(c.next_after(12_999, w), Some(13 * S));
        assert_eq!(runs_after(&c, w, 0, 3), vec![3 * S, 13 * S, 23 * S]);
    }

    #[test]
    fn the_window_bounds_the_ticks() {
        let w = Window {
            start_at: Some(20 * S),
            end_at: Some(40 * S),
        };
        assert_eq!(
            runs_after(&every(10 * S), w, 0, 5),
            vec![20 * S, 30 * S, 40 * S]
        );
        assert_eq!(every(10 * S).next_after(40 * S, w), None);
    }

    #[test]
    fn an_on_time_tick_fires_and_waits_for_the_next() {
        let p = plan(
            &every(S),
            Window::default(),
            CatchUp::Skip,
            5 * S,
            5 * S + 400,
        );
        assert_eq!(
            p,
            Plan {
                fire: Some(5 * S),
                missed: 0,
                next: Some(6 * S)
            }
        );
    }

    #[test]
    fn after_an_outage_skip_fires_none_and_latest_fires_the_newest_once() {
        // Due at 5 s, found at 10.3 s: ticks 5, 6, 7, 8, 9 and 10 s came and went.
        let c = every(S);
        let skip = plan(&c, Window::default(), CatchUp::Skip, 5 * S, 10_300);
        assert_eq!(
            skip,
            Plan {
                fire: None,
                missed: 6,
                next: Some(11 * S)
            }
        );
        let latest = plan(&c, Window::default(), CatchUp::Latest, 5 * S, 10_300);
        assert_eq!(
            latest,
            Plan {
                fire: Some(10 * S),
                missed: 5,
                next: Some(11 * S)
            }
        );
    }

    #[test]
    fn a_lone_tick_found_past_the_grace_is_missed() {
        // A daily tick found two hours late: the following tick is not due, but it is late.
        let c = cron("0 9 * * *", "UTC");
        let due = 9 * 3_600 * S;
        let p = plan(
            &c,
            Window::default(),
            CatchUp::Skip,
            due,
            due + 2 * 3_600 * S,
        );
        assert_eq!(p.fire, None);
        assert_eq!(p.missed, 1);
        assert_eq!(p.next, Some(due + 86_400 * S));
        let p = plan(
            &c,
            Window::default(),
            CatchUp::Latest,
            due,
            due + 2 * 3_600 * S,
        );
        assert_eq!(p.fire, Some(due));
        assert_eq!(p.missed, 0);
    }

    #[test]
    fn the_latest_cron_tick_is_found_across_a_long_outage() {
        // Every 15 minutes; down from 00:00 to 03:07 on day 0 (UTC).
        let c = cron("*/15 * * * *", "UTC");
        let now = (3 * 3_600 + 7 * 60) * S;
        let p = plan(&c, Window::default(), CatchUp::Latest, 0, now);
        assert_eq!(p.fire, Some(3 * 3_600 * S));
        assert_eq!(p.missed, 12);
        assert_eq!(p.next, Some((3 * 3_600 + 15 * 60) * S));
        // A year of every-second ticks is counted up to the cap, and found at once.
        let c = cron("* * * * * *", "UTC");
        let year = 365 * 86_400 * S;
        let p = plan(&c, Window::default(), CatchUp::Latest, 0, year + 500);
        assert_eq!(p.fire, Some(year));
        assert_eq!(p.missed, MISSED_COUNTED_MAX - 1);
    }

    #[test]
    fn an_ended_schedule_has_no_next_tick() {
        let w = Window {
            start_at: None,
            end_at: Some(10 * S),
        };
        let p = plan(&every(S), w, CatchUp::Latest, 5 * S, 30 * S);
        assert_eq!(p.fire, Some(10 * S));
        assert_eq!(p.next, None);
        let p = plan(&every(S), w, CatchUp::Skip, 10 * S, 10 * S + 1);
        assert_eq!(p.fire, Some(10 * S));
        assert_eq!(p.next, None);
    }
}
