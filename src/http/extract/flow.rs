//! The `{id}` path parameter of a flow's routes, checked (`<queue>~<uuid>`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use utoipa::IntoParams;

use super::path_params;
use crate::http::problem::ApiError;
use crate::model::FlowId;

/// The `{id}` path parameter, checked.
pub struct FlowPath(pub FlowId);

/// Path parameters of flow routes (OpenAPI only).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct FlowParams {
    /// Flow id, as `POST /v1/flows` answered it: `<queue>~<uuid>`.
    #[param(
        example = "thumbnails~01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e",
        pattern = "^[A-Za-z0-9._-]{1,128}~[0-9a-fA-F-]{36}$"
    )]
    id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for FlowPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        let raw = params.get("id").map_or("", String::as_str);
        FlowId::parse(raw)
            .map(FlowPath)
            .map_err(|e| ApiError::Validation(vec![e]))
    }
}
