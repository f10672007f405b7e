//! `weighted`: turns among the queues with work, in proportion to each queue's policy `weight`,
//! so a light queue is never starved; paused queues and queues with nothing ready sit out.

use std::collections::HashMap;
use std::sync::Mutex;

use deadpool_redis::redis;
use futures_util::future::BoxFuture;

use super::QueueOrder;
use crate::model::{Field, QueueName};
use crate::store::{Engine, StoreError};

/// Whose turn it is in weighted multi-queue leasing, per list of queues asked for: smooth
/// weighted round-robin (as nginx balances upstreams), so over any stretch of calls each queue
/// gets its weight's share almost exactly and the lightest still gets its turns; a new list
/// starts at a random point, so instances do not move in step.
#[derive(Default)]
pub struct Weighted {
    credit: Mutex<HashMap<Vec<QueueName>, HashMap<QueueName, i64>>>,
}

/// Lists of queues remembered; beyond, the memory starts over (fairness resumes at once).
const TURNS_REMEMBERED: usize = 1000;

impl Weighted {
    /// The index in `candidates` (queues with work, and their weights) to lease from next.
    fn next(&self, asked: &[QueueName], candidates: &[(QueueName, u32)]) -> usize {
        let Ok(mut all) = self.credit.lock() else {
            return 0;
        };
        if all.len() >= TURNS_REMEMBERED && !all.contains_key(asked) {
            all.clear();
        }
        let total: i64 = candidates.iter().map(|(_, w)| i64::from(*w)).sum();
        let credit = all.entry(asked.to_vec()).or_insert_with(|| {
            candidates
                .iter()
                .map(|(q, _)| (q.clone(), rand::random_range(0..total.max(1))))
                .collect()
        });
        let mut best = 0;
        let mut best_credit = i64::MIN;
        for (at, (queue, weight)) in candidates.iter().enumerate() {
            let c = credit.entry(queue.clone()).or_insert(0);
            *c += i64::from(*weight);
            if *c > best_credit {
                best_credit = *c;
                best = at;
            }
        }
        if let Some(c) = credit.get_mut(&candidates[best].0) {
            *c -= total;
        }
        best
    }
}

impl QueueOrder for Weighted {
    fn candidates<'a>(
        &'a self,
        engine: &'a Engine,
        queues: &'a [QueueName],
    ) -> BoxFuture<'a, Result<Vec<(QueueName, u32)>, StoreError>> {
        Box::pin(async move {
            let views =
                futures_util::future::try_join_all(queues.iter().map(|q| view(engine, q))).await?;
            Ok(queues
                .iter()
                .zip(views)
                .filter(|(_, (weight, ready))| *weight > 0 && *ready > 0)
                .map(|(q, (weight, _))| (q.clone(), weight))
                .collect())
        })
    }

    fn pick(&self, asked: &[QueueName], candidates: &[(QueueName, u32)]) -> usize {
        self.next(asked, candidates)
    }
}

/// What weighted leasing needs to know of a queue: its weight (0 when paused) and whether any
/// task is ready (non-zero when so).
async fn view(engine: &Engine, queue: &QueueName) -> Result<(u32, u64), StoreError> {
    let keys = engine.keys();
    let own: (Option<String>, Option<String>) = engine
        .query(
            redis::cmd("HMGET")
                .arg(keys.queue_key(queue, "policy"))
                .arg(Field::Weight.name())
                .arg(Field::Paused.name()),
        )
        .await?;
    // Whether anything is ready, with or without a group or requirements: an empty sorted set
    // does not exist, and the keys carry the queue's hash tag, so one EXISTS asks them all.
    let ready: u64 = engine
        .query(
            redis::cmd("EXISTS")
                .arg(keys.queue_key(queue, "ready"))
                .arg(keys.queue_key(queue, "gready"))
                .arg(keys.queue_key(queue, "rready")),
        )
        .await?;
    let number = |v: Option<String>| v.and_then(|v| v.parse::<f64>().ok());
    let defaults = engine.defaults();
    let paused = number(own.1).map_or(defaults.paused, |p| p != 0.0);
    let weight = number(own.0).map_or(defaults.weight, |w| w.max(0.0) as u32);
    Ok((if paused { 0 } else { weight }, ready))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_turns_follow_the_weights_closely() {
        let q = |n: &str| QueueName::parse(n).expect("name");
        let asked = [q("heavy"), q("light"), q("idle")];
        let candidates = [(q("heavy"), 3), (q("light"), 1)];
        let turns = Weighted::default();
        let picks: Vec<usize> = (0..400).map(|_| turns.next(&asked, &candidates)).collect();
        let heavy = picks.iter().filter(|p| **p == 0).count();
        assert!((298..=302).contains(&heavy), "{heavy} of 400");
        // The light queue never waits more than a round for its turn.
        assert!(picks.windows(5).all(|w| w.contains(&1)), "{picks:?}");
    }
}
