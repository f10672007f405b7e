//! What handlers and extractors can reach: the store's services, and the few settings requests
//! need. Handlers take the one service they use (`State<Tasks>`, ...) and extractors the one
//! setting they read, through `FromRef`, as the axum examples pass sub-state; nothing takes
//! the whole state for one field.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use crate::access::Access;
use crate::config::Config;
use crate::http::extract::auth::Rules;
use crate::store::dispatch::Dispatch;
use crate::store::flows::Flows;
use crate::store::groups::Groups;
use crate::store::policies::Policies;
use crate::store::queues::Queues;
use crate::store::schedules::Schedules;
use crate::store::tasks::Tasks;
use crate::store::waiting::Waiting;
use crate::store::{self, Engine, PoolSettings, Replication, Services};

/// The API's operations, with their OpenAPI descriptions (`api::routes()`): the edge serves
/// and documents them, and knows none of them by name.
pub type ApiRoutes = utoipa_axum::router::OpenApiRouter<RouterState>;

/// The application's state: every service and the settings requests read. The router holds
/// it behind one `Arc` (`RouterState`).
#[derive(Clone)]
pub struct AppState {
    pub store: Services,
    pub limits: BodyLimits,
    /// Cancelled when the server begins to shut down: long-polls and event streams end at once.
    pub shutdown: Shutdown,
    /// The API keys, and who may read `/metrics`.
    pub access: Arc<Access>,
    /// Which roles each operation needs, read from the OpenAPI document by `app()`.
    pub rules: Arc<Rules>,
    /// What `Taskgate-Durability: replicated` waits for.
    pub replication: Replication,
    /// Longest a task's event stream stays open before it asks the client to reconnect.
    pub event_stream_max: EventStreamMax,
}

/// The state the router holds: the application's state behind one `Arc`. Axum clones the
/// router's state for every request; cloned whole, `AppState` is a reference count per
/// service and per setting (a profile of the server under load showed its clones and drops
/// at 8-9% of the server's CPU, BENCHMARKS.md), where this is one. Handlers still take only the part they use
/// (`FromRef`, below).
#[derive(Clone)]
pub struct RouterState(Arc<AppState>);

impl RouterState {
    pub fn new(state: AppState) -> Self {
        Self(Arc::new(state))
    }
}

impl std::ops::Deref for RouterState {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.0
    }
}

/// What a request body's payload or result may be.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest payload or result, in bytes of JSON text.
    pub max_payload_bytes: u64,
    /// Deepest nesting of arrays and objects a payload or result may have.
    pub max_json_depth: usize,
}

/// Cancelled when the server begins to shut down.
#[derive(Clone, Default)]
pub struct Shutdown(pub CancellationToken);

/// Longest a task's event stream stays open.
#[derive(Debug, Clone, Copy)]
pub struct EventStreamMax(pub Duration);

impl AppState {
    /// Builds the store and the state from configuration. Connects to nothing yet.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let pool = PoolSettings {
            url: config
                .redis_url
                .clone()
                .ok_or("no Redis URL: set TASKGATE_REDIS_URL")?,
            ca_file: config.redis_ca_file.clone(),
            max_size: config.redis_pool_size,
            wait_timeout: Duration::from_millis(config.redis_wait_timeout_ms),
            connect_timeout: Duration::from_millis(config.redis_connect_timeout_ms),
            response_timeout: Duration::from_millis(config.redis_response_timeout_ms),
        };
        Ok(Self {
            store: store::open(&pool, &config.key_prefix, &config.default_policy())?,
            limits: BodyLimits {
                max_payload_bytes: config.max_payload_bytes,
                max_json_depth: config.max_json_depth,
            },
            shutdown: Shutdown::default(),
            access: Arc::new(config.access()),
            rules: Arc::default(),
            replication: Replication {
                replicas: config.durable_replicas,
                timeout: config.replica_wait(),
            },
            event_stream_max: EventStreamMax(config.event_stream_max()),
        })
    }
}

/// `FromRef<RouterState>` for each part a handler or extractor takes on its own.
macro_rules! parts {
    ($($part:ty => |$state:ident| $get:expr),* $(,)?) => {
        $(impl FromRef<RouterState> for $part {
            fn from_ref($state: &RouterState) -> Self {
                $get
            }
        })*
    };
}

parts! {
    Tasks => |state| state.store.tasks.clone(),
    Dispatch => |state| state.store.dispatch.clone(),
    Policies => |state| state.store.policies.clone(),
    Groups => |state| state.store.groups.clone(),
    Schedules => |state| state.store.schedules.clone(),
    Flows => |state| state.store.flows.clone(),
    Queues => |state| state.store.queues.clone(),
    Waiting => |state| state.store.waiting.clone(),
    Engine => |state| state.store.engine.clone(),
    BodyLimits => |state| state.limits,
    Shutdown => |state| state.shutdown.clone(),
    Arc<Access> => |state| state.access.clone(),
    Arc<Rules> => |state| state.rules.clone(),
    Replication => |state| state.replication,
    EventStreamMax => |state| state.event_stream_max,
}
