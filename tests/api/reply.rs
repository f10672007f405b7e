//! An HTTP answer read whole, and the check every problem+json answer passes. Shared by the
//! test binaries that talk HTTP (`tests/api` over sockets, `tests/shapes` in process).

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// An HTTP answer, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        Self::from_parts(status, headers, &bytes)
    }

    /// An answer from its parts (the body as JSON, or `null` when it is not JSON).
    pub fn from_parts(status: StatusCode, headers: HeaderMap, bytes: &[u8]) -> Self {
        let body = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts this is a problem+json of `status` and `kind`, and returns its body.
    pub fn assert_problem(&self, status: u16, kind: &str) -> &Value {
        let shown: String = self.body.to_string().chars().take(600).collect();
        assert_eq!(self.status.as_u16(), status, "status; body: {shown}");
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.body["type"], kind, "problem type; body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        &self.body
    }
}
