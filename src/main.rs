//! The `taskgate` binary: parse configuration, set up logging, bind, serve until a signal.

use anyhow::Context;
use clap::Parser;
use taskgate::config::{Command, Config};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    match config.command {
        Some(Command::Openapi) => {
            print!("{}", taskgate::openapi_json());
            return Ok(());
        }
        Some(Command::Healthcheck) => {
            std::process::exit(if taskgate::healthcheck::check(config.listen) {
                0
            } else {
                1
            });
        }
        None => {}
    }
    config.validate().map_err(anyhow::Error::msg)?;
    taskgate::telemetry::init(&config.log_format);
    let state = taskgate::state_from_config(&config).map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, redis = %redacted(&config.redis_url), "taskgate serving");
    taskgate::serve(listener, state, &config, shutdown_signal()).await?;
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

/// The Redis URL without its password, for logs.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
