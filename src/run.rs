//! `taskgate` with no subcommand: the server. Resolves Redis (starting a local one when none is
//! configured), binds, says where it serves, and serves until SIGINT or SIGTERM. Every
//! start-up problem is returned as one line for the binary to print.

use std::process::ExitCode;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::state::AppState;
use crate::local_redis::Redis;

/// Runs the server until a signal stops it. What went wrong is one line on stderr, said as
/// soon as it is known (before a local Redis is stopped, which can take a while), and exit
/// code 2.
pub async fn serve(mut config: Config) -> ExitCode {
    crate::telemetry::init(&config.log_format);
    let redis = match Redis::resolve(&config).await {
        Ok(redis) => redis,
        Err(err) => return fail(&err),
    };
    config.redis_url = Some(redis.url.clone());
    let code = match serve_with(&config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    };
    redis.stop().await;
    code
}

/// One line on stderr, exit code 2.
pub fn fail(message: &str) -> ExitCode {
    eprintln!("taskgate: {message}");
    ExitCode::from(2)
}

async fn serve_with(config: &Config) -> Result<(), String> {
    let state = match AppState::from_config(config) {
        Ok(state) => state,
        Err(err) => return Err(err),
    };
    let addr = match config.listen_addr() {
        Ok(addr) => addr,
        Err(err) => return Err(format!("cannot resolve {}: {err}", config.listen)),
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            return Err(format!(
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
        redis = %crate::redact::url(config.redis_url.as_deref().unwrap_or_default()),
        keys = config.keys.len(),
        "taskgate serving; API docs at http://{bound}/docs/"
    );
    crate::http::serve(
        listener,
        crate::api::routes(),
        state,
        config,
        shutdown_signal(),
    )
    .await
    .map_err(|err| format!("serving stopped: {err}"))?;
    tracing::info!("taskgate stopped");
    Ok(())
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
