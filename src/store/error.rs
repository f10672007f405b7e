//! Why the store could not answer. Domain outcomes (a lost lease, an unknown task) are not
//! errors: they are the services' outcome types; this is Redis not answering as it should.

use super::outage::Unavailable;

/// Why the store could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Redis is unreachable, slow, loading, busy, out of memory or read-only: retry later.
    #[error("{0}")]
    Unavailable(Unavailable),
    /// Redis answered with an error we do not expect.
    #[error("redis error: {0}")]
    Redis(String),
    /// Redis answered, but not in the shape the scripts promise.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// This process is at a limit of its own (Redis is fine): retry later.
    #[error("{0}")]
    Overloaded(String),
}

impl StoreError {
    /// Names the script an unexpected error came from, for the log.
    pub(super) fn in_script(self, script: &str) -> Self {
        match self {
            Self::Redis(why) => Self::Redis(format!("{script}.lua: {why}")),
            other => other,
        }
    }

    /// The kind, as the metrics label it (`taskgate_redis_errors_total{kind}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::Redis(_) => "error",
            Self::Corrupt(_) => "corrupt",
            Self::Overloaded(_) => "overloaded",
        }
    }
}
