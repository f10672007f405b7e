//! The `taskgate` binary: reads the configuration and runs its command. `taskgate openapi`
//! prints the document without starting anything; `taskgate healthcheck` runs on a one-thread
//! runtime; the server (`run::serve`) on the multi-thread one. Start-up problems are one clear
//! line on stderr and a non-zero exit, never a backtrace.

use std::process::ExitCode;

/// mimalloc rather than the system allocator: a request allocates and frees many small
/// buffers, and glibc's malloc showed as the largest single cost in the server's profile
/// (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use taskgate::config::{Command, Config, ConfigError};
use taskgate::run::fail;

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(config) => config,
        Err(ConfigError::Clap(err)) => err.exit(),
        Err(err) => return fail(&format!("invalid configuration: {err}")),
    };
    match config.command {
        Some(Command::Openapi) => {
            print!("{}", taskgate::openapi_json());
            ExitCode::SUCCESS
        }
        Some(Command::Healthcheck { live }) => healthcheck(&config, live),
        None => serve(config),
    }
}

fn healthcheck(config: &Config, live: bool) -> ExitCode {
    let Ok(addr) = config.listen_addr() else {
        return fail(&format!("cannot resolve {}", config.listen));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) if runtime.block_on(taskgate::healthcheck::check(addr, live)) => {
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::FAILURE,
        Err(err) => fail(&format!("cannot start the runtime: {err}")),
    }
}

fn serve(config: Config) -> ExitCode {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.worker_threads(config.request_threads(cores));
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(taskgate::run::serve(config)),
        Err(err) => fail(&format!("cannot start the runtime: {err}")),
    }
}
