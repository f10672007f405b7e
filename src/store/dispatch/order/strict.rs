//! `strict`: the queues in the order given; the first with work is drained first.

use futures_util::future::BoxFuture;

use super::QueueOrder;
use crate::model::QueueName;
use crate::store::{Engine, StoreError};

/// In the order given.
pub struct Strict;

impl QueueOrder for Strict {
    fn candidates<'a>(
        &'a self,
        _: &'a Engine,
        queues: &'a [QueueName],
    ) -> BoxFuture<'a, Result<Vec<(QueueName, u32)>, StoreError>> {
        Box::pin(async move { Ok(queues.iter().map(|q| (q.clone(), 1)).collect()) })
    }

    fn pick(&self, _: &[QueueName], _: &[(QueueName, u32)]) -> usize {
        0
    }
}
