//! `history.lua`: a queue's per-minute history, worked out from the snapshots the reaper's sweep
//! keeps; `note_history.lua`: one snapshot written for a given minute.

use std::collections::BTreeMap;

use crate::model::{HISTORY_MINUTES, HistoryPoint, rfc3339_ms};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string};
use crate::store::script::{ScriptDef, script};

const MINUTE_MS: i64 = 60_000;

pub static HISTORY: ScriptDef = script!(
    "history" in "queues",
    " flags=no-writes",
    keys: ["history", "stats", "policy", "ready", "gready", "rready", "leased"],
    policy: [],
    prelude: ["history"],
);

pub static NOTE_HISTORY: ScriptDef = script!(
    "note_history" in "queues",
    " flags=allow-oom",
    keys: ["history", "stats", "ready", "gready", "rready", "leased"],
    policy: [],
    prelude: ["history"],
);

/// One snapshot: running totals (submitted, completed, failed, dead, expired), then the ready
/// and leased counts.
type Snapshot = [u64; 7];

pub struct History {
    /// Minutes to answer, the newest (the current one) last.
    pub minutes: i64,
}

impl Op for History {
    type Outcome = Option<Vec<HistoryPoint>>;

    fn script(&self) -> &'static ScriptDef {
        &HISTORY
    }

    fn args(&self, _: &mut Args<'_>) {}

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Self::Outcome, StoreError> {
        match reply.status.as_str() {
            "ok" => {}
            "not_found" => return Ok(None),
            _ => return Err(reply.unexpected()),
        }
        let mut ring = BTreeMap::new();
        for line in into_array(reply.next()?)? {
            // A slot that is not a snapshot (hand-edited) is left out, not an error.
            if let Some((minute, snapshot)) = parse_line(&into_string(line)?) {
                ring.insert(minute, snapshot);
            }
        }
        let now = reply.now_ms.div_euclid(MINUTE_MS);
        let live = parse_snapshot(&into_string(reply.next()?)?)
            .ok_or_else(|| StoreError::Corrupt("a history snapshot of another shape".into()))?;
        ring.insert(now, live);
        Ok(Some(points(&ring, now, self.minutes)))
    }
}

/// Writes the snapshot of `minute`, as the sweep does for the current one.
pub struct NoteHistory {
    pub minute: i64,
}

impl Op for NoteHistory {
    type Outcome = ();

    fn script(&self) -> &'static ScriptDef {
        &NOTE_HISTORY
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.minute);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        Ok(())
    }
}

fn parse_line(line: &str) -> Option<(i64, Snapshot)> {
    let (minute, rest) = line.split_once(' ')?;
    Some((minute.parse().ok()?, parse_snapshot(rest)?))
}

fn parse_snapshot(text: &str) -> Option<Snapshot> {
    let values: Vec<u64> = text
        .split(' ')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    values.try_into().ok()
}

/// The last `minutes` minutes up to `now`, each with its counts: the growth of the totals
/// since the snapshot before it. A minute no sweep saw has no counts of its own (they go to the
/// next minute that has a snapshot) and no backlog sample. Before the first minute shown, the
/// newest older snapshot is the baseline; a queue with none started from zero.
fn points(ring: &BTreeMap<i64, Snapshot>, now: i64, minutes: i64) -> Vec<HistoryPoint> {
    let first = now - minutes.clamp(1, HISTORY_MINUTES as i64) + 1;
    let mut previous = ring
        .range(..first)
        .next_back()
        .map_or([0; 7], |(_, snapshot)| *snapshot);
    (first..=now)
        .map(|minute| {
            let at = rfc3339_ms(minute * MINUTE_MS);
            match ring.get(&minute) {
                Some(snapshot) => {
                    let grew = |i: usize| snapshot[i].saturating_sub(previous[i]);
                    let point = HistoryPoint {
                        at,
                        submitted: grew(0),
                        completed: grew(1),
                        failed: grew(2),
                        dead: grew(3),
                        expired: grew(4),
                        backlog: Some(snapshot[5]),
                        in_flight: Some(snapshot[6]),
                    };
                    previous = *snapshot;
                    point
                }
                None => HistoryPoint::quiet(at),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_the_growth_between_snapshots_and_a_gap_carries_over() {
        let mut ring = BTreeMap::new();
        ring.insert(7, [5, 1, 0, 0, 0, 4, 0]); // before the window: the baseline
        ring.insert(10, [8, 3, 1, 0, 0, 4, 1]);
        ring.insert(12, [10, 9, 2, 1, 1, 0, 0]); // minute 11 was not seen
        let shown = points(&ring, 12, 3);
        assert_eq!(shown.len(), 3);
        assert_eq!(
            (shown[0].submitted, shown[0].completed, shown[0].backlog),
            (3, 2, Some(4))
        );
        assert_eq!((shown[1].submitted, shown[1].backlog), (0, None));
        assert_eq!(
            (shown[2].submitted, shown[2].completed, shown[2].dead),
            (2, 6, 1)
        );
        let total: u64 = shown.iter().map(|p| p.submitted).sum();
        assert_eq!(
            total,
            10 - 5,
            "the counts add up to the growth over the window"
        );
        assert_eq!(points(&BTreeMap::new(), 5, 60).len(), 60);
    }

    #[test]
    fn snapshots_of_another_shape_are_left_out() {
        assert!(parse_line("12 1 2 3 4 5 6 7").is_some());
        assert!(parse_line("12 1 2 3").is_none());
        assert!(parse_line("x 1 2 3 4 5 6 7").is_none());
        assert!(parse_line("").is_none());
    }
}
