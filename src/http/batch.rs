//! What batch calls share: a list of items where one bad item is that item's problem,
//! not the whole call's, and answering with one result per item, in request order.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};

use crate::http::extract::body::ReadBody;
use crate::http::problem::{ApiError, Problem};
use crate::http::state::BodyLimits;
use crate::model::{FieldError, Task};

/// Most items one batch call takes.
pub const BATCH_MAX: usize = 1000;

/// An item of a batch body: read on its own, so that one bad item is that item's problem.
pub trait BatchItem: ReadBody + ToSchema {
    /// What the items are called in messages ("tasks").
    const PLURAL: &'static str;
}

/// A batch's list of 1 to `BATCH_MAX` items, each kept as its JSON text until `read_each`
/// reads it. A list that is missing, too long or not a list is a problem of the whole call.
pub struct Items<T> {
    raw: Vec<Box<RawValue>>,
    item: PhantomData<fn() -> T>,
}

impl<T: BatchItem> Items<T> {
    /// Each item read on its own: its value, or its problems.
    pub fn read_each(&self, limits: &BodyLimits) -> Vec<Result<T, Vec<FieldError>>> {
        self.raw
            .iter()
            .map(|item| T::read_body(item.get().as_bytes(), limits).map_err(problems))
            .collect()
    }
}

impl<'de, T: BatchItem> Deserialize<'de> for Items<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Box::<RawValue>::deserialize(deserializer)?;
        let raw: Vec<Box<RawValue>> = serde_json::from_str(list.get())
            .map_err(|_| de::Error::custom(format!("must be a list of {}", T::PLURAL)))?;
        if !(1..=BATCH_MAX).contains(&raw.len()) {
            return Err(de::Error::custom(format!(
                "must list 1 to {BATCH_MAX} {}",
                T::PLURAL
            )));
        }
        Ok(Self {
            raw,
            item: PhantomData,
        })
    }
}

// utoipa gives a generic type its schema through this (hidden) trait, and `PartialSchema`
// from it: an array of references to `T`'s component.
impl<T: BatchItem> utoipa::__dev::ComposeSchema for Items<T> {
    fn compose(_generics: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Ref::from_schema_name(T::name()))
            .min_items(Some(1))
            .max_items(Some(BATCH_MAX))
            .into()
    }
}

impl<T: BatchItem> ToSchema for Items<T> {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

fn problems(error: ApiError) -> Vec<FieldError> {
    match error {
        ApiError::Validation(errors) => errors,
        other => vec![FieldError::new("", other.problem().detail)],
    }
}

/// A batch's checked items sorted out, in request order: a result slot per item (already
/// filled for a refused one) and the valid items with their places, for the store.
pub fn sort_out<T>(
    items: impl IntoIterator<Item = Result<T, ApiError>>,
) -> (Vec<Option<BatchResult>>, Vec<(usize, T)>) {
    let (mut results, mut valid) = (Vec::new(), Vec::new());
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Ok(item) => {
                valid.push((index, item));
                results.push(None);
            }
            Err(problem) => results.push(Some(BatchResult::refused(index, &problem))),
        }
    }
    (results, valid)
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
