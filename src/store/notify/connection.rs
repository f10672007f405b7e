//! The pub/sub connection's life: connect, subscribe to every wanted channel, then serve
//! subscribe commands and dispatch messages until the connection is lost; then again, after a
//! pause that grows with each failure in a row (a refused `SUBSCRIBE` counts: an ACL without
//! channel rights, a node that drops us), so trouble never turns into a storm of connections.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Command, Inner};
use crate::store::endpoint::Endpoint;

/// Pause before the first attempt to reopen the pub/sub connection after a failure; it doubles
/// with each failure in a row (a refused subscription included), up to `RECONNECT_MAX`.
const RECONNECT_FIRST: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// Runs the connection until the notifier is dropped.
pub(super) async fn run(
    endpoint: Arc<Endpoint>,
    inner: Weak<Inner>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    // Failures in a row; also picks the cluster node to try (each failure moves to the next).
    let mut failures: u32 = 0;
    loop {
        if failures > 0 {
            tokio::time::sleep(reconnect_pause(failures)).await;
        }
        let Some(live) = inner.upgrade() else { return };
        let connection = match endpoint.pubsub(failures as usize).await {
            Ok(connection) => connection,
            Err(_) => {
                failures = failures.saturating_add(1);
                continue;
            }
        };
        let (mut sink, mut stream) = connection.split();
        let wanted = live.wanted();
        if !wanted.is_empty() && sink.subscribe(&wanted).await.is_err() {
            failures = failures.saturating_add(1);
            continue;
        }
        failures = 0;
        live.up(&wanted);
        drop(live);
        loop {
            let command = tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => command,
                    None => return,
                },
                message = stream.next() => {
                    let Some(message) = message else { break };
                    let channel = message.get_channel_name().to_owned();
                    let payload: String = message.get_payload().unwrap_or_default();
                    if let Some(live) = inner.upgrade() {
                        live.dispatch(&channel, &payload);
                    }
                    continue;
                }
            };
            let result = match &command {
                Command::Subscribe(channel, _) => sink.subscribe(channel).await,
                Command::Unsubscribe(channel) => {
                    let still_wanted = inner.upgrade().is_some_and(|i| i.has_listeners(channel));
                    if still_wanted {
                        Ok(())
                    } else {
                        sink.unsubscribe(channel).await
                    }
                }
            };
            match (result, command) {
                (Ok(()), Command::Subscribe(channel, ack)) => {
                    if let Some(live) = inner.upgrade() {
                        live.subscribed(std::slice::from_ref(&channel));
                    }
                    let _ = ack.send(());
                }
                (Ok(()), Command::Unsubscribe(_)) => {}
                // The connection failed: reconnect; a subscription still wanted is renewed
                // from the listeners, and its waiters are woken then.
                (Err(_), _) => break,
            }
        }
        if let Some(live) = inner.upgrade() {
            live.down();
        }
        failures = failures.saturating_add(1);
    }
}

/// The pause before the next attempt after `failures` failures in a row.
fn reconnect_pause(failures: u32) -> Duration {
    let doubled = RECONNECT_FIRST.saturating_mul(1 << failures.saturating_sub(1).min(16));
    doubled.min(RECONNECT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_pauses_double_up_to_a_cap() {
        let pauses: Vec<u64> = (1..=9)
            .map(|n| reconnect_pause(n).as_millis() as u64)
            .collect();
        assert_eq!(
            pauses,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(reconnect_pause(u32::MAX), RECONNECT_MAX);
    }
}
