//! What batch calls share: reading a list of items where one bad item is that item's problem,
//! not the whole call's, and answering with one result per item, in request order.

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::http::extract::body::{Fields, RequestBody};
use crate::http::problem::{ApiError, Problem};
use crate::model::{FieldError, Task};

/// Most items one batch call takes.
pub const BATCH_MAX: usize = 1000;

/// The checked items of a batch: each one's value, or its problems.
pub type Items<T> = Vec<Result<T, Vec<FieldError>>>;

/// Reads the list `name` of 1 to `BATCH_MAX` objects, each read by `T` on its own. A list that
/// is missing, too long or not a list is a problem of the whole call (`f` records it).
pub fn read_items<T: RequestBody>(
    f: &mut Fields<'_>,
    name: &'static str,
    what: &str,
) -> Items<T::Checked> {
    let Some(raw) = f.present(name) else {
        f.required::<()>(name, None);
        return Vec::new();
    };
    let items = match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
        Ok(items) if (1..=BATCH_MAX).contains(&items.len()) => items,
        Ok(_) => {
            f.fail(name, format!("must list 1 to {BATCH_MAX} {what}"));
            return Vec::new();
        }
        Err(_) => {
            f.fail(name, format!("must be a list of {what}"));
            return Vec::new();
        }
    };
    items
        .into_iter()
        .map(|item| {
            let mut fields = f.item(item).map_err(problems)?;
            let value = T::read(&mut fields);
            fields.finish().map_err(problems)?;
            Ok(value)
        })
        .collect()
}

fn problems(error: ApiError) -> Vec<FieldError> {
    match error {
        ApiError::Validation(errors) => errors,
        other => vec![FieldError::new("", other.problem().detail)],
    }
}

/// One item's outcome in a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// The item's position in the request (from 0).
    pub index: usize,
    /// As the single call would answer: 201 created, 200 done (or replayed), or a 4xx.
    pub status: u16,
    /// True when this item repeats one that was already applied (the single call's
    /// `Idempotent-Replayed: true`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
    /// The task, when the item was applied or replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    /// The problem, when the item was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

impl BatchResult {
    pub fn done(index: usize, status: u16, task: Task, replayed: bool) -> Self {
        Self {
            index,
            status,
            replayed,
            task: Some(task),
            error: None,
        }
    }

    pub fn refused(index: usize, problem: &ApiError) -> Self {
        Self {
            index,
            status: problem.status().as_u16(),
            replayed: false,
            task: None,
            error: Some(problem.problem()),
        }
    }
}
