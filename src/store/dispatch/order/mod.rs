//! How a multi-queue lease orders its queues: one trait, one file per way of ordering, and one
//! registration line (`Dispatch::order`). A new way is a file here, a `Strategy` variant and
//! that line.

mod strict;
mod weighted;

use futures_util::future::BoxFuture;

pub use strict::Strict;
pub use weighted::Weighted;

use crate::model::QueueName;
use crate::store::{Engine, StoreError};

/// A way of picking, call after call, which of a lease's queues to try next.
pub trait QueueOrder: Send + Sync {
    /// The queues worth trying now, each with what the order weighs it by.
    fn candidates<'a>(
        &'a self,
        engine: &'a Engine,
        queues: &'a [QueueName],
    ) -> BoxFuture<'a, Result<Vec<(QueueName, u32)>, StoreError>>;

    /// Which of `candidates` (what is left of them) to try next; `asked` is the call's list.
    fn pick(&self, asked: &[QueueName], candidates: &[(QueueName, u32)]) -> usize;
}
