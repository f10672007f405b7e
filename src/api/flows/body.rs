//! The body of `POST /v1/flows`: its tasks, each a submit's body plus its queue and its local
//! reference, and the references it waits for; and the checks between them (each reference
//! once, every one named known, no cycle), which turn it into what the store takes.

use std::collections::HashMap;

use serde::de::{self, Deserialize, Deserializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::api::tasks::submit::{SubmitTaskRequest, one_start};
use crate::http::batch::{BatchItem, Items};
use crate::http::extract::body::field::{
    DelayMs, Group, JsonText, LeaseMs, MaxAttempts, Priority, StartWithinMs, Time,
};
use crate::http::extract::body::list::{List, Queue};
use crate::http::extract::body::{Check, Problems};
use crate::http::state::BodyLimits;
use crate::model::{
    FLOW_REF_MAX, FLOW_REF_PATTERN, FLOW_TASKS_MAX, FieldError, OnDependencyFailure, Requires,
};
use crate::store::flows::NewFlowTask;

/// A task's local reference in its flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowRef(pub String);

impl<'de> Deserialize<'de> for FlowRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A `{queue, id}` here is the commonest slip: a flow's tasks wait only for each other.
        let text = match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(text) => text,
            _ => {
                return Err(de::Error::custom(
                    "must be the `ref` of another task of this flow (a string): a flow's tasks \
                     wait only for each other; to wait for a task outside it, submit that task \
                     with depends_on by id",
                ));
            }
        };
        let fits = (1..=FLOW_REF_MAX).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:_@-".contains(&b));
        if fits {
            Ok(Self(text))
        } else {
            Err(de::Error::custom(format!(
                "must be 1 to {FLOW_REF_MAX} characters of A-Z a-z 0-9 . _ : @ -"
            )))
        }
    }
}

impl PartialSchema for FlowRef {
    fn schema() -> RefOr<Schema> {
        let mut schema = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some(FLOW_REF_PATTERN))
            .build();
        schema.example = Some(serde_json::json!("thumb-1"));
        RefOr::T(Schema::Object(schema))
    }
}

impl ToSchema for FlowRef {}

/// One task of a flow: a submit's body, plus where it goes, its name in the flow, and which of
/// the flow's tasks it waits for.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowTaskRequest {
    /// Its name in the flow (1 to 128 characters of `A-Z a-z 0-9 . _ : @ -`), unique in it:
    /// what other tasks' `depends_on` name.
    #[serde(rename = "ref")]
    #[schema(inline)]
    reference: FlowRef,
    /// The queue it goes to (any queue; a flow spans as many as it likes).
    #[schema(inline)]
    queue: Queue,
    /// Any JSON value, stored and returned exactly as sent, as for a single submit.
    #[schema(inline)]
    payload: JsonText,
    /// -1000 to 1000, default 0.
    #[schema(inline, default = 0)]
    priority: Option<Priority>,
    /// Once its parents have finished, wait until this long (0 to 31536000000 ms) after the
    /// flow was submitted. Not with `run_at`.
    #[schema(inline)]
    delay_ms: Option<DelayMs>,
    /// RFC 3339 time before which it does not run, even once its parents have finished. Not
    /// with `delay_ms`.
    #[schema(inline)]
    run_at: Option<Time>,
    /// Attempts allowed for this task (1 to 1000).
    #[schema(inline)]
    max_attempts: Option<MaxAttempts>,
    /// Lease length for this task (1000 to 86400000 ms).
    #[schema(inline)]
    lease_ms: Option<LeaseMs>,
    /// The task's group, as for a single submit.
    #[schema(inline)]
    group: Option<Group>,
    /// Start deadline (1 to 31536000000 ms), counted from when it becomes ready.
    #[schema(inline)]
    start_within_ms: Option<StartWithinMs>,
    /// Labels a worker must have to lease this task, as for a single submit.
    requires: Option<Requires>,
    /// The `ref`s of the tasks of this flow (1 to 1000) it waits for.
    #[schema(inline)]
    depends_on: Option<List<FlowRef, 1, { FLOW_TASKS_MAX }>>,
    /// What it does if one of them fails: `dead` (default), `cancel`, or `run`.
    on_dependency_failure: Option<OnDependencyFailure>,
}

impl Check for FlowTaskRequest {
    const DEEP: &'static [&'static str] = &["payload"];

    fn check(&self, _limits: &BodyLimits, problems: &mut Problems) {
        one_start(self.delay_ms.is_some(), self.run_at.is_some(), problems);
        let parents = self.depends_on.as_ref().map_or(&[][..], |list| &list.0[..]);
        if parents.is_empty() && self.on_dependency_failure.is_some() {
            problems.fail(
                "on_dependency_failure",
                "only with depends_on: a task without dependencies has none to fail",
            );
        }
        for (at, parent) in parents.iter().enumerate() {
            if parents[..at].contains(parent) {
                problems.fail(&format!("depends_on[{at}]"), "names a task twice");
            }
            if *parent == self.reference {
                problems.fail(
                    &format!("depends_on[{at}]"),
                    "a task cannot wait for itself",
                );
            }
        }
    }
}

impl BatchItem for FlowTaskRequest {
    const PLURAL: &'static str = "tasks";
}

/// Body of `POST /v1/flows`.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::flow_request)]
pub struct FlowRequest {
    /// The flow's tasks (1 to 1000), in any order.
    #[schema(inline)]
    tasks: Items<FlowTaskRequest>,
}

impl Check for FlowRequest {}

impl FlowRequest {
    /// The flow's tasks, checked one by one (each problem named `tasks[i].<field>`) and
    /// between them (`tasks[i].depends_on[j]` for an unknown reference, `tasks` for a cycle).
    pub(super) fn into_tasks(
        self,
        limits: &BodyLimits,
    ) -> Result<Vec<NewFlowTask>, Vec<FieldError>> {
        let mut problems = Vec::new();
        let mut items = Vec::new();
        for (at, item) in self.tasks.read_each(limits).into_iter().enumerate() {
            match item {
                Ok(item) => items.push(item),
                Err(errors) => problems.extend(
                    errors
                        .into_iter()
                        .map(|e| FieldError::new(format!("tasks[{at}].{}", e.field), e.message)),
                ),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let after = graph(&items)?;
        Ok(items
            .into_iter()
            .zip(after)
            .map(|(item, after)| NewFlowTask {
                reference: item.reference.0.clone(),
                queue: item.queue.0.clone(),
                after,
                task: SubmitTaskRequest {
                    payload: item.payload,
                    priority: item.priority,
                    delay_ms: item.delay_ms,
                    run_at: item.run_at,
                    max_attempts: item.max_attempts,
                    lease_ms: item.lease_ms,
                    group: item.group,
                    start_within_ms: item.start_within_ms,
                    requires: item.requires,
                    debounce: None,
                    depends_on: None,
                    on_dependency_failure: item.on_dependency_failure,
                }
                .into_task(),
            })
            .collect())
    }
}

/// Each task's parents as places in the list: every reference once, every one named known,
/// and no cycle (named, `a → b → a`).
fn graph(items: &[FlowTaskRequest]) -> Result<Vec<Vec<usize>>, Vec<FieldError>> {
    let mut place: HashMap<&str, usize> = HashMap::new();
    let mut problems = Vec::new();
    for (at, item) in items.iter().enumerate() {
        if let Some(first) = place.insert(item.reference.0.as_str(), at) {
            problems.push(FieldError::new(
                format!("tasks[{at}].ref"),
                format!(
                    "{:?} is the ref of tasks[{first}] too: each ref once",
                    item.reference.0
                ),
            ));
        }
    }
    let mut after = Vec::with_capacity(items.len());
    for (at, item) in items.iter().enumerate() {
        let parents = item.depends_on.as_ref().map_or(&[][..], |list| &list.0[..]);
        let mut places = Vec::with_capacity(parents.len());
        for (n, parent) in parents.iter().enumerate() {
            match place.get(parent.0.as_str()) {
                Some(&p) => places.push(p),
                None => problems.push(FieldError::new(
                    format!("tasks[{at}].depends_on[{n}]"),
                    format!("no task of this flow has the ref {:?}", parent.0),
                )),
            }
        }
        after.push(places);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    match cycle(&after) {
        Some(path) => {
            let names: Vec<&str> = path
                .iter()
                .map(|&p| items[p].reference.0.as_str())
                .collect();
            Err(vec![FieldError::new(
                "tasks",
                format!(
                    "the tasks wait for each other in a cycle, so none could ever run: {}",
                    names.join(" → ")
                ),
            )])
        }
        None => Ok(after),
    }
}

/// A cycle among the tasks (each waits for the next, the last for the first, which is
/// repeated at the end), if there is one. Kahn's algorithm finds whether one exists in linear
/// time; a walk among the tasks it could not order then finds one.
fn cycle(after: &[Vec<usize>]) -> Option<Vec<usize>> {
    let mut waiting: Vec<usize> = after.iter().map(Vec::len).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); after.len()];
    for (child, parents) in after.iter().enumerate() {
        for &parent in parents {
            children[parent].push(child);
        }
    }
    let mut free: Vec<usize> = (0..after.len()).filter(|&t| waiting[t] == 0).collect();
    while let Some(task) = free.pop() {
        for &child in &children[task] {
            waiting[child] -= 1;
            if waiting[child] == 0 {
                free.push(child);
            }
        }
    }
    // Every task left waits for another one left: walk parents until one repeats.
    let start = (0..after.len()).find(|&t| waiting[t] > 0)?;
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut path = Vec::new();
    let mut task = start;
    while !seen.contains_key(&task) {
        seen.insert(task, path.len());
        path.push(task);
        task = *after[task].iter().find(|&&p| waiting[p] > 0)?;
    }
    let mut cycle = path.split_off(seen[&task]);
    cycle.push(task);
    // The walk followed "waits for"; show it in run order: parent → child.
    cycle.reverse();
    Some(cycle)
}

#[cfg(test)]
mod tests {
    use super::cycle;

    #[test]
    fn a_cycle_is_found_and_named_in_order() {
        assert_eq!(cycle(&[vec![], vec![0], vec![0, 1]]), None);
        // 0 waits for 2, 2 for 1, 1 for 0: run order 0 → 1 → 2 → 0.
        let found = cycle(&[vec![2], vec![0], vec![1], vec![]]).expect("a cycle");
        assert_eq!(found.first(), found.last());
        assert_eq!(found.len(), 4);
        assert_eq!(
            cycle(&[vec![0]]),
            Some(vec![0, 0]),
            "a task waiting for itself"
        );
        // A task behind a cycle is not in it.
        let behind = cycle(&[vec![1], vec![0], vec![0]]).expect("a cycle");
        assert!(!behind.contains(&2), "{behind:?}");
    }
}
