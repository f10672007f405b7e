//! The `window` query parameter of a queue's history: `1h` (the default) or `24h`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use utoipa::IntoParams;

use super::QueryArgs;
use crate::http::problem::ApiError;
use crate::model::FieldError;

/// How many minutes of history to answer.
pub struct HistoryWindow {
    pub name: &'static str,
    pub minutes: i64,
}

/// The windows a history may be asked for, with their minutes.
const WINDOWS: [(&str, i64); 2] = [("1h", 60), ("24h", 1440)];

/// Query parameters of a history read (OpenAPI only).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HistoryWindowParams {
    /// `1h` (the default: 60 minutes) or `24h` (1440 minutes), ending with the current minute.
    #[param(pattern = "^(1h|24h)$", default = "1h")]
    window: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for HistoryWindow {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let mut query = QueryArgs::read(parts, state, &["window"]).await?;
        let named = query.take("window").unwrap_or_else(|| "1h".to_owned());
        let window = WINDOWS.into_iter().find(|(name, _)| *name == named);
        if window.is_none() {
            query
                .errors
                .push(FieldError::new("window", "must be 1h or 24h"));
        }
        query.finish()?;
        let (name, minutes) =
            window.ok_or_else(|| ApiError::field("window", "must be 1h or 24h"))?;
        Ok(Self { name, minutes })
    }
}
