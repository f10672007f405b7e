//! Dependencies at submit (README, "Workflows"): `depends_on` names tasks, in any queue, that
//! must finish before this one runs, and `on_dependency_failure` what it does if one fails.
//! For a single submit and a batch item alike.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::extract::body::Problems;
use crate::http::extract::body::field::Id;
use crate::http::extract::body::list::{List, Queue};
use crate::model::{DEPENDS_ON_MAX, DependencyRef, OnDependencyFailure};

/// One task a submitted task waits for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"queue": "thumbnails", "id": "01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e"}))]
pub struct ParentRef {
    /// The parent's queue (any queue, this one included).
    #[schema(inline)]
    queue: Queue,
    /// The parent's task id.
    #[schema(inline)]
    id: Id,
}

/// 1 to 100 parents, each named once.
pub type DependsOn = List<ParentRef, 1, DEPENDS_ON_MAX>;

/// The rules between the dependency fields and the others: each parent once, a mode only with
/// parents, and no debounce (a debounced task is updated while it waits for its run time; one
/// that waits for parents has none yet).
pub(super) fn dependency_rules(
    depends_on: Option<&DependsOn>,
    on_failure: Option<OnDependencyFailure>,
    debounced: bool,
    problems: &mut Problems,
) {
    let Some(parents) = depends_on else {
        if on_failure.is_some() {
            problems.fail(
                "on_dependency_failure",
                "only with depends_on: a task without dependencies has none to fail",
            );
        }
        return;
    };
    for (at, parent) in parents.0.iter().enumerate() {
        if let Some(first) = parents.0[..at]
            .iter()
            .position(|p| p.queue == parent.queue && p.id == parent.id)
        {
            problems.fail(
                &format!("depends_on[{at}]"),
                format!("names the same task as depends_on[{first}]: name each parent once"),
            );
        }
    }
    if debounced {
        problems.fail(
            "debounce",
            "not with depends_on: a debounced task is updated while it waits for its run time, \
             and a task that waits for its parents has none yet",
        );
    }
}

/// The parents a body names, if any.
pub(super) fn parents(depends_on: Option<DependsOn>) -> Option<Vec<DependencyRef>> {
    depends_on.map(|list| {
        list.0
            .into_iter()
            .map(|parent| DependencyRef {
                queue: parent.queue.0,
                id: parent.id.0,
            })
            .collect()
    })
}
