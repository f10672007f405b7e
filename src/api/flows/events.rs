//! A flow's progress as Server-Sent Events: first the flow, then one `task` event per task
//! whose state changed, then `finished` with the flow once every task has finished. The stream
//! re-reads the flow (a read per queue it spans, writing nothing) every `FLOW_EVENTS_EVERY`,
//! and ends after `--event-stream-max-ms` with a `reconnect` event, as a task's stream does.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::http::extract::auth::Caller;
use crate::http::extract::{FlowParams, FlowPath};
use crate::http::limits::{Slot, Waiting};
use crate::http::problem::ApiError;
use crate::http::responses::FlowReadErrors;
use crate::http::state::{EventStreamMax, Shutdown};
use crate::model::{Flow, FlowId, TaskState};
use crate::store::flows::Flows;

/// How often a flow's stream re-reads it.
const FLOW_EVENTS_EVERY: Duration = Duration::from_secs(1);

/// Follow a flow's events
///
/// A `text/event-stream` of the flow: a `flow` event with the flow as `GET` answers it, then a
/// `task` event (`{"ref", "queue", "id", "state"}`) for each task whose state changes, read once
/// a second, and a `finished` event with the flow once every task has finished, which ends the
/// stream. A stream lives at most the server's `TASKGATE_EVENT_STREAM_MAX_MS`, then ends with a
/// `reconnect` event; `EventSource` connects again by itself and gets the flow first.
#[utoipa::path(
    get,
    path = "/v1/flows/{id}/events",
    security(("bearer" = ["producer", "admin"])),
    tag = "flows",
    params(FlowParams),
    responses(
        (status = 200, description = "The flow's events, until every task has finished", content_type = "text/event-stream", body = String,
            example = json!("event: flow\ndata: {\"id\":\"thumbnails~01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e\",...}\n\nevent: task\ndata: {\"ref\":\"zip\",\"queue\":\"archives\",\"id\":\"01936f1e-6b20-7c3a-9d2e-4f5a6b7c8d03\",\"state\":\"ready\"}\n\n")),
        FlowReadErrors,
    )
)]
pub async fn get_flow_events(
    _caller: Caller,
    State(flows): State<Flows>,
    State(shutdown): State<Shutdown>,
    State(stream_max): State<EventStreamMax>,
    FlowPath(id): FlowPath,
    slot: Slot,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let waiting = slot.wait()?;
    let Some(first) = flows.read(&id).await? else {
        return Err(ApiError::NotFound(format!("no flow {id}")));
    };
    let watch = FlowWatch {
        flows,
        id,
        shutdown: shutdown.0.clone(),
        pending: vec![event("flow", &first)],
        last: states(&first),
        done: false,
        ends_at: Instant::now() + stream_max.0,
        _waiting: waiting,
    };
    let events = futures_util::stream::unfold(watch, |mut watch| async move {
        let event = watch.next_event().await?;
        Some((Ok(event), watch))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One stream's state: the events read but not sent, and each task's last state sent.
struct FlowWatch {
    flows: Flows,
    id: FlowId,
    shutdown: CancellationToken,
    pending: Vec<Event>,
    last: HashMap<String, Option<TaskState>>,
    done: bool,
    ends_at: Instant,
    _waiting: Waiting,
}

impl FlowWatch {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if !self.pending.is_empty() {
                return Some(self.pending.remove(0));
            }
            if self.done {
                return None;
            }
            tokio::select! {
                () = tokio::time::sleep(FLOW_EVENTS_EVERY) => {}
                () = tokio::time::sleep_until(self.ends_at) => {
                    self.done = true;
                    return Some(crate::api::events::reconnect("flow"));
                }
                () = self.shutdown.cancelled() => return None,
            }
            let flow = self.flows.read(&self.id).await.ok()??;
            for task in &flow.tasks {
                if self.last.get(&task.id) != Some(&task.state) {
                    self.last.insert(task.id.clone(), task.state);
                    self.pending.push(event("task", task));
                }
            }
            if flow.finished {
                self.pending.push(event("finished", &flow));
                self.done = true;
            }
        }
    }
}

fn states(flow: &Flow) -> HashMap<String, Option<TaskState>> {
    flow.tasks
        .iter()
        .map(|task| (task.id.clone(), task.state))
        .collect()
}

fn event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default())
}
