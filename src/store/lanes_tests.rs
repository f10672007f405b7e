//! The lanes on their own, with a carrier that answers each call with its own first argument
//! (no Redis): who leaves together, in what order, who is left out, and what a failure does.

use std::sync::Mutex as StdMutex;

use super::*;
use crate::store::outage::{Cause, Unavailable};

/// Sends nothing: records each batch's first arguments and answers each call with its own.
#[derive(Default)]
struct Echo {
    batches: StdMutex<Vec<Vec<String>>>,
}

impl Carrier for Echo {
    fn carry(self: Arc<Self>, turn: Turn, calls: Vec<Call>) -> BoxFuture<'static, Sent> {
        let firsts: Vec<String> = calls
            .iter()
            .map(|c| String::from_utf8_lossy(&c.args[0]).into_owned())
            .collect();
        self.batches.lock().expect("batches").push(firsts.clone());
        drop(turn.script_ran::<()>(&Ok(())));
        let replies = firsts
            .into_iter()
            .map(|f| Value::BulkString(f.into_bytes()))
            .collect();
        Box::pin(async move { Ok((replies, 0)) })
    }
}

fn lane() -> LaneKey {
    LaneKey {
        script: &crate::store::dispatch::HEARTBEAT,
        queue: QueueName::parse("lanes").expect("name"),
        replication: None,
    }
}

fn call(first: &str, weight: usize) -> Call {
    Call {
        args: vec![first.as_bytes().to_vec()],
        weight,
    }
}

fn lead(joined: Joined) -> Turn {
    match joined {
        Joined::Lead(turn, _) => turn,
        Joined::Wait(_) => panic!("the lane was empty: the call should lead"),
    }
}

fn wait(joined: Joined) -> Waiter {
    match joined {
        Joined::Wait(waiter) => waiter,
        Joined::Lead(..) => panic!("a call was on its way: the call should wait"),
    }
}

fn mine(answer: Answer) -> String {
    match answer.expect("an answer") {
        (Value::BulkString(bytes), _) => String::from_utf8(bytes).expect("utf-8"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn waiting_calls_leave_together_in_arrival_order_each_with_its_own_reply() {
    let (lanes, echo) = (Arc::new(Lanes::default()), Arc::new(Echo::default()));
    let turn = lead(lanes.join(echo.clone(), lane(), call("leader", 1)));
    let waiters: Vec<Waiter> = ["a", "b", "c"]
        .iter()
        .map(|name| wait(lanes.join(echo.clone(), lane(), call(name, 1))))
        .collect();
    drop(turn);
    for (waiter, name) in waiters.into_iter().zip(["a", "b", "c"]) {
        assert_eq!(mine(waiter.answer().await), name);
    }
    assert_eq!(*echo.batches.lock().expect("batches"), [["a", "b", "c"]]);
    // The lane is gone once nothing waits: the next call leads again.
    lead(lanes.join(echo.clone(), lane(), call("next", 1)));
}

#[tokio::test]
async fn a_caller_gone_before_its_batch_left_is_left_out() {
    let (lanes, echo) = (Arc::new(Lanes::default()), Arc::new(Echo::default()));
    let turn = lead(lanes.join(echo.clone(), lane(), call("leader", 1)));
    let gone = wait(lanes.join(echo.clone(), lane(), call("gone", 1)));
    let stays = wait(lanes.join(echo.clone(), lane(), call("stays", 1)));
    drop(gone);
    drop(turn);
    assert_eq!(mine(stays.answer().await), "stays");
    assert_eq!(*echo.batches.lock().expect("batches"), [["stays"]]);
}

#[tokio::test]
async fn a_batch_holds_at_most_its_bound_of_items() {
    let (lanes, echo) = (Arc::new(Lanes::default()), Arc::new(Echo::default()));
    let turn = lead(lanes.join(echo.clone(), lane(), call("leader", 1)));
    let waiters: Vec<Waiter> = ["a", "b", "c"]
        .iter()
        .map(|name| wait(lanes.join(echo.clone(), lane(), call(name, 60))))
        .collect();
    drop(turn);
    for waiter in waiters {
        waiter.answer().await.expect("an answer");
    }
    // 60 + 60 passes BATCH_WEIGHT_MAX (100): each leaves in a batch of its own.
    assert_eq!(
        *echo.batches.lock().expect("batches"),
        [["a"], ["b"], ["c"]]
    );
}

#[tokio::test]
async fn calls_waiting_behind_an_unavailable_redis_get_its_error_at_once() {
    let (lanes, echo) = (Arc::new(Lanes::default()), Arc::new(Echo::default()));
    let turn = lead(lanes.join(echo.clone(), lane(), call("leader", 1)));
    let waiter = wait(lanes.join(echo.clone(), lane(), call("a", 1)));
    let down = StoreError::Unavailable(Unavailable {
        cause: Cause::Timeout,
        detail: "test".into(),
    });
    drop(turn.script_ran::<()>(&Err(down)));
    assert!(matches!(
        waiter.answer().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(
        echo.batches.lock().expect("batches").is_empty(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn a_leader_dropped_mid_call_still_hands_the_lane_on() {
    let (lanes, echo) = (Arc::new(Lanes::default()), Arc::new(Echo::default()));
    let joined = lanes.join(echo.clone(), lane(), call("leader", 1));
    let waiter = wait(lanes.join(echo.clone(), lane(), call("a", 1)));
    // The leader's future is dropped (its client went away) while its call is on its way.
    let leader = tokio::spawn(async move {
        let _turn = lead(joined);
        std::future::pending::<()>().await;
    });
    leader.abort();
    assert_eq!(mine(waiter.answer().await), "a");
}

#[tokio::test]
async fn at_most_two_batches_of_a_lane_wait_for_replicas_with_the_lane_handed_on() {
    let (lanes, echo) = (Arc::new(Lanes::default()), Arc::new(Echo::default()));
    let replicated = LaneKey {
        replication: Some(Replication {
            replicas: 1,
            timeout: std::time::Duration::from_secs(1),
        }),
        ..lane()
    };
    let ran: Result<(), StoreError> = Ok(());
    let after_script = |name: &str| {
        let joined = lanes.join(echo.clone(), replicated.clone(), call(name, 1));
        lead(joined).script_ran(&ran)
    };
    // Two batches wait for their replicas with the lane handed on (each next call leads)...
    let first = after_script("first");
    let second = after_script("second");
    // ... a third keeps the turn through its wait, so the call behind it waits.
    let third = after_script("third");
    let behind = wait(lanes.join(echo.clone(), replicated.clone(), call("behind", 1)));
    drop(first);
    tokio::task::yield_now().await;
    assert!(
        echo.batches.lock().expect("batches").is_empty(),
        "a wait that ended handed on a turn it did not hold"
    );
    drop(third);
    assert_eq!(mine(behind.answer().await), "behind");
    drop(second);
    assert!(unpoisoned(&lanes.replica_waits).is_empty());
}
