//! The background sweep. Every instance runs it: each sweep of a queue is one atomic script
//! (`store/scripts/reap.lua`), so any number of instances sweeping at once never handle a task
//! twice. It reclaims expired leases even when no worker calls that queue again, promotes due
//! retries and delayed tasks, and purges terminal tasks past their retention.

use std::time::Duration;

use crate::store::Store;

/// Sweeps every known queue every `every`, until the task is aborted.
pub async fn run(store: Store, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    // After a slow sweep, wait a full interval rather than firing a burst of catch-up sweeps.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = sweep(&store).await {
            // Redis trouble is logged and retried next tick; the reaper never gives up.
            tracing::warn!(error = %err, "reaper sweep failed");
        }
    }
}

/// One pass over every queue; a queue with more work than one batch is swept again at once.
pub async fn sweep(store: &Store) -> Result<(), crate::store::StoreError> {
    for queue in store.queues().await? {
        loop {
            let report = store.reap(&queue).await?;
            if report.reclaimed + report.promoted + report.purged > 0 {
                tracing::debug!(
                    queue = %queue,
                    reclaimed = report.reclaimed,
                    promoted = report.promoted,
                    purged = report.purged,
                    "reaper sweep"
                );
            }
            if !report.more {
                break;
            }
        }
    }
    Ok(())
}
