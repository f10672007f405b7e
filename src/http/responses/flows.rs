//! The error responses of the flow operations (`api/flows`).

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::RefOr;
use utoipa::openapi::response::Response;

use super::{internal, invalid, malformed, problems, too_large, unavailable};
use crate::http::problem::ApiError;

fn unknown_flow() -> ApiError {
    ApiError::NotFound("no flow thumbnails~01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e".into())
}

error_set!(
    /// Errors of submitting a flow.
    FlowSubmitErrors: [
        malformed(),
        ApiError::Conflict(
            "this Idempotency-Key names flow thumbnails~01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e, \
             which is still being stored by another call: repeat this request with the same key \
             in a moment to get it (a flow that failed lets its key go)"
                .into()
        ),
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid(
            "tasks",
            "the tasks wait for each other in a cycle, so none could ever run: zip → thumb-1 → zip",
        ),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of reading, following or cancelling a flow.
    FlowReadErrors: [
        unknown_flow(),
        invalid("id", "must be a flow id (`<queue>~<uuid>`)"),
        unavailable(),
        internal(),
    ]
);
