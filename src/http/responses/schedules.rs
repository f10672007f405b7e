//! The error responses of the schedule operations (`api/schedules`).

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::RefOr;
use utoipa::openapi::response::Response;

use super::{internal, invalid, malformed, problems, too_large, unavailable};
use crate::http::problem::ApiError;

error_set!(
    /// Errors of reading a schedule.
    ScheduleReadErrors: [
        ApiError::NotFound("no schedule nightly in queue emails".into()),
        invalid("name", "must be 1-128 characters of A-Z a-z 0-9 . _ -"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of listing a queue's schedules.
    ScheduleListErrors: [
        invalid("limit", "must be a whole number from 1 to 100"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of writing a schedule.
    ScheduleWriteErrors: [
        malformed(),
        ApiError::NotFound("no schedule nightly in queue emails".into()),
        ApiError::Conflict("queue emails holds 10000 schedules, the most a queue may hold".into()),
        ApiError::PreconditionFailed(
            "the definition of schedule nightly of queue emails is at version 1764896957123, \
             not the one in If-Match: read it again and re-apply your change"
                .into()
        ),
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("cron", "the hour field: 24 is out of range 0-23"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of deleting a schedule.
    ScheduleDeleteErrors: [
        ApiError::NotFound("no schedule nightly in queue emails".into()),
        ApiError::PreconditionFailed(
            "the definition of schedule nightly of queue emails is at version 1764896957123, \
             not the one in If-Match: read it again and re-apply your change"
                .into()
        ),
        invalid("name", "must be 1-128 characters of A-Z a-z 0-9 . _ -"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of triggering a schedule.
    ScheduleTriggerErrors: [
        ApiError::NotFound("no schedule nightly in queue emails".into()),
        too_large("payload"),
        invalid("name", "must be 1-128 characters of A-Z a-z 0-9 . _ -"),
        unavailable(),
        internal(),
    ]
);
