//! Tasks, for producers: submit, read and cancel.

use super::{CancelOutcome, GetOutcome, NewTask, Store, StoreError, SubmitOutcome, ops};
use crate::model::{QueueName, TaskId};

impl Store {
    /// Adds a task, unless its payload is over the queue's `max_payload_bytes`.
    pub async fn submit(
        &self,
        queue: &QueueName,
        task: NewTask,
    ) -> Result<SubmitOutcome, StoreError> {
        let id = TaskId::new_v7();
        let outcome = self.run(queue, ops::Submit { id, task }).await?;
        if matches!(outcome, SubmitOutcome::Created(_)) {
            self.note_queue(queue);
        }
        Ok(outcome)
    }

    /// Reads a task, settling what the Redis clock says is already due.
    pub async fn get(&self, queue: &QueueName, id: TaskId) -> Result<GetOutcome, StoreError> {
        self.run(queue, ops::Get { id }).await
    }

    /// Cancels a scheduled, ready or leased task; a leased task's lease ends at once.
    pub async fn cancel(&self, queue: &QueueName, id: TaskId) -> Result<CancelOutcome, StoreError> {
        self.run(queue, ops::Cancel { id }).await
    }
}
