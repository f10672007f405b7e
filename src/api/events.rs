//! A task's life as Server-Sent Events, for web pages: `new EventSource(url)` follows a task to
//! its result. One event per state change, named after it, and one per progress report, with
//! the task as JSON; the stream
//! ends when the task is finished, or after `--event-stream-max-ms` with a `reconnect` event
//! (`EventSource` then connects again by itself and gets the current state first).
//!
//! A stream reads the task when it is told of a change and, lest a notification was lost, on a
//! timer; those re-reads write nothing (`Store::peek`), so an idle stream never writes.

use std::convert::Infallible;
use std::time::Duration;

use tokio::time::Instant;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio_util::sync::CancellationToken;

use crate::http::extract::auth::Caller;
use crate::http::extract::{TaskParams, TaskPath};
use crate::http::limits::{Slot, Waiting};
use crate::http::problem::ApiError;
use crate::http::responses::ReadErrors;
use crate::http::state::EventStreamMax;
use crate::http::state::Shutdown;
use crate::model::{QueueName, Task, TaskId, TaskState};
use crate::store::Listener;
use crate::store::tasks::{GetOutcome, Tasks};
use crate::store::waiting::Waiting as Listeners;

/// Follow a task's events
///
/// A `text/event-stream` (Server-Sent Events) of the task's life: first its current state, then
/// one event per change, then the stream ends once the task is finished. Each event is named
/// after what happened — `scheduled`, `ready`, `leased`, `retrying` (a failed attempt that will
/// be tried again), `completed`, `dead` or `cancelled` — and carries the task as JSON; a
/// `progress` event carries the task when its worker reports `progress` with a heartbeat. A stream
/// lives at most the server's `TASKGATE_EVENT_STREAM_MAX_MS` (default 10 minutes): it then ends
/// with a `reconnect` event (`data: {"reason": ...}`, with an SSE `retry` of 1000 ms), and an
/// `EventSource` connects again by itself, getting the task's current state first.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/tasks/{id}/events",
    security(("bearer" = ["producer", "admin"])),
    tag = "tasks",
    params(TaskParams),
    responses(
        (status = 200, description = "The task's events, until it is finished", content_type = "text/event-stream", body = String,
            example = json!("event: leased\ndata: {\"id\":\"019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11\",\"state\":\"leased\",...}\n\nevent: completed\ndata: {\"id\":\"019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11\",\"state\":\"completed\",...}\n\n")),
        ReadErrors,
    )
)]
pub async fn get_task_events(
    _caller: Caller,
    State(tasks): State<Tasks>,
    State(listeners): State<Listeners>,
    State(shutdown): State<Shutdown>,
    State(stream_max): State<EventStreamMax>,
    path: TaskPath,
    slot: Slot,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let waiting = slot.wait()?;
    // Listen before the first read, so no change after it can pass unseen.
    let listener = listeners.listen_task(&path.queue, path.id).await;
    let first = match tasks.get(&path.queue, path.id).await? {
        GetOutcome::Found(task) => *task,
        GetOutcome::NotFound => return Err(path.not_found()),
        GetOutcome::Quarantined => return Err(path.quarantined()),
    };
    let watch = Watch {
        tasks: tasks.clone(),
        queue: path.queue,
        id: path.id,
        listener,
        shutdown: shutdown.0.clone(),
        next: Some(first),
        last: None,
        last_progress: None,
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

/// One stream's state: what it last sent, and how to hear of the next change.
struct Watch {
    tasks: Tasks,
    queue: QueueName,
    id: TaskId,
    listener: Listener,
    shutdown: CancellationToken,
    /// The stream's waiting slot, given back when the stream ends.
    _waiting: Waiting,
    /// A read not yet sent.
    next: Option<Task>,
    /// The (state, attempts) last sent, to send each change once.
    last: Option<(TaskState, u32)>,
    /// When the progress last sent was reported, to send each report once.
    last_progress: Option<String>,
    done: bool,
    /// When the stream ends with a `reconnect` event, if the task is not finished by then.
    ends_at: Instant,
}

impl Watch {
    /// The next event, or `None` when the stream is over (finished, gone, shutting down).
    async fn next_event(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            if let Some(task) = self.next.take() {
                let seen = (task.state, task.attempts);
                let name = if self.last != Some(seen) {
                    Some(event_name(&task))
                } else if task.progress_at.is_some() && task.progress_at != self.last_progress {
                    Some("progress")
                } else {
                    None
                };
                if let Some(name) = name {
                    self.last = Some(seen);
                    self.last_progress.clone_from(&task.progress_at);
                    self.done = task.state.is_terminal();
                    let data = serde_json::to_string(&task).ok()?;
                    return Some(Event::default().event(name).data(data));
                }
            }
            tokio::select! {
                () = self.listener.notified() => {}
                () = tokio::time::sleep(crate::store::waiting::recheck_after(&self.listener)) => {}
                () = tokio::time::sleep_until(self.ends_at) => {
                    self.done = true;
                    return Some(reconnect("task"));
                }
                () = self.shutdown.cancelled() => return None,
            }
            match self.tasks.peek(&self.queue, self.id).await {
                Ok(GetOutcome::Found(task)) => self.next = Some(*task),
                _ => return None,
            }
        }
    }
}

/// The last event of a stream that reached its lifetime: the client should connect again to
/// follow `what` (`task`, `flow`).
pub(crate) fn reconnect(what: &str) -> Event {
    Event::default()
        .event("reconnect")
        .retry(Duration::from_millis(1000))
        .data(format!(r#"{{"reason":"this stream reached the server's longest stream time; connect again to follow the {what} (EventSource does so by itself)"}}"#))
}

/// What happened, as the event's name.
fn event_name(task: &Task) -> &'static str {
    match task.state {
        TaskState::Scheduled | TaskState::Ready if task.attempts > 0 => "retrying",
        state => state.name(),
    }
}
