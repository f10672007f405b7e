//! The `taskgate` binary: read configuration, set up logging, bind, serve until a signal.
//! Start-up problems are one clear line on stderr and a non-zero exit, never a backtrace.

use std::process::ExitCode;

/// mimalloc rather than the system allocator: a request allocates and frees many small
/// buffers, and glibc's malloc showed as the largest single cost in the server's profile
/// (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use taskgate::config::{Command, Config, ConfigError};
use taskgate::local_redis::Redis;
use tokio::net::TcpListener;

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(config) => config,
        Err(ConfigError::Clap(err)) => err.exit(),
        Err(err) => return fail(&format!("invalid configuration: {err}")),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        runtime.worker_threads(config.worker_threads);
    }
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(err) => fail(&format!("cannot start the runtime: {err}")),
    }
}

async fn run(config: Config) -> ExitCode {
    match config.command {
        Some(Command::Openapi) => {
            print!("{}", taskgate::openapi_json());
            ExitCode::SUCCESS
        }
        Some(Command::Healthcheck { live }) => {
            let Ok(addr) = config.listen_addr() else {
                return fail(&format!("cannot resolve {}", config.listen));
            };
            if taskgate::healthcheck::check(addr, live).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        None => serve(config).await,
    }
}

async fn serve(mut config: Config) -> ExitCode {
    taskgate::telemetry::init(&config.log_format);
    let redis = match Redis::resolve(&config).await {
        Ok(redis) => redis,
        Err(err) => return fail(&err),
    };
    config.redis_url = Some(redis.url.clone());
    let code = serve_with(&config).await;
    redis.stop().await;
    code
}

async fn serve_with(config: &Config) -> ExitCode {
    let state = match taskgate::state_from_config(config) {
        Ok(state) => state,
        Err(err) => return fail(&err),
    };
    let addr = match config.listen_addr() {
        Ok(addr) => addr,
        Err(err) => return fail(&format!("cannot resolve {}: {err}", config.listen)),
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            return fail(&format!(
                "cannot listen on {addr}: {err} (is another taskgate or another program using \
                 it? set TASKGATE_LISTEN)"
            ));
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    if config.keys.is_empty() {
        if config.insecure_no_auth && !bound.ip().is_loopback() {
            tracing::warn!(
                listen = %bound,
                "running WITHOUT API KEYS on a non-loopback address (--insecure-no-auth): \
                 anyone who can reach {bound} can submit, lease and delete tasks"
            );
        } else {
            tracing::info!("no API keys configured: the API is open to local callers");
        }
    }
    tracing::info!(
        listen = %bound,
        redis = %taskgate::redact::url(config.redis_url.as_deref().unwrap_or_default()),
        keys = config.keys.len(),
        "taskgate serving; API docs at http://{bound}/docs/"
    );
    if let Err(err) = taskgate::serve(listener, state, config, shutdown_signal()).await {
        return fail(&format!("serving stopped: {err}"));
    }
    tracing::info!("taskgate stopped");
    ExitCode::SUCCESS
}

/// One line on stderr, exit code 2.
fn fail(message: &str) -> ExitCode {
    eprintln!("taskgate: {message}");
    ExitCode::from(2)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
