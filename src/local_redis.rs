//! One command on a fresh machine: when no Redis URL is configured, taskgate uses the Redis
//! answering at `--local-redis-probe` (127.0.0.1:6379), and when nothing answers there it starts
//! a `redis-server` child of its own in `--data-dir`: AOF persistence, `noeviction`, and a Unix
//! socket only (no TCP port), so nothing else on the network can reach it.
//!
//! The child runs under a tiny shell that holds the read end of a pipe from taskgate. However
//! taskgate ends (a clean exit, a panic, SIGKILL), the pipe's write end closes with it, the
//! shell reads end-of-file and stops Redis with SIGTERM, which flushes the AOF. So the child
//! never outlives taskgate. A second taskgate started with the same data directory finds the
//! socket answering and shares that Redis (which stops when the first taskgate stops).
//!
//! All of this runs on the async runtime, so files and processes are handled with `tokio::fs`
//! and `tokio::process`: nothing here blocks a runtime thread.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};

use crate::config::Config;

/// How long the child may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a probe's answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// The file that says which taskgate owns the data directory's redis-server (its pid).
const LOCK: &str = "taskgate.lock";
/// Longest Unix socket path (`sun_path` is 108 bytes on Linux, with a terminating NUL).
const SOCKET_PATH_MAX: usize = 100;

/// Which Redis taskgate uses, and the child it started, if it did.
pub struct Redis {
    pub url: String,
    child: Option<LocalRedis>,
}

struct LocalRedis {
    watchdog: Child,
    /// Closing this (dropping it) tells the watchdog to stop Redis.
    pipe: Option<ChildStdin>,
    dir: PathBuf,
}

/// The watchdog: runs redis-server, stops it when stdin closes, and exits when Redis exits.
/// (A background job's stdin is /dev/null in a non-interactive shell, so the pipe is passed to
/// it as fd 3.)
const WATCHDOG: &str = r#"exec 3<&0
"$@" & redis=$!
(cat <&3 >/dev/null; kill -TERM $redis 2>/dev/null) &
wait $redis"#;

impl Redis {
    /// The configured URL; or the Redis at the probe address; or a child started now.
    pub async fn resolve(config: &Config) -> Result<Self, String> {
        if let Some(url) = &config.redis_url {
            return Ok(Self {
                url: url.clone(),
                child: None,
            });
        }
        if answers_tcp(&config.local_redis_probe).await {
            tracing::info!(
                redis = %config.local_redis_probe,
                "TASKGATE_REDIS_URL is not set; using the Redis answering at {}",
                config.local_redis_probe
            );
            return Ok(Self {
                url: format!("redis://{}", config.local_redis_probe),
                child: None,
            });
        }
        let dir = data_dir(&config.data_dir).await?;
        let socket = dir.join("redis.sock");
        let url = format!("unix://{}", socket.display());
        if answers_unix(&socket).await {
            tracing::info!(
                data_dir = %dir.display(),
                "using the local redis-server another taskgate started in {}; it stops when \
                 that taskgate stops",
                dir.display()
            );
            return Ok(Self { url, child: None });
        }
        if let Some(owner) = take_lock(&dir).await? {
            // Another taskgate is starting its child right now: wait for it, then share it.
            let started = Instant::now();
            while !answers_unix(&socket).await {
                if started.elapsed() > START_TIMEOUT {
                    return Err(format!(
                        "another taskgate (pid {owner}) holds {} but its redis-server does \
                         not answer; stop it, or choose another TASKGATE_DATA_DIR",
                        dir.join(LOCK).display()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return Ok(Self { url, child: None });
        }
        let child = match LocalRedis::start(&config.redis_server, &dir, &socket).await {
            Ok(child) => child,
            Err(err) => {
                let _ = tokio::fs::remove_file(dir.join(LOCK)).await;
                return Err(err);
            }
        };
        tracing::info!(
            data_dir = %dir.display(),
            "TASKGATE_REDIS_URL is not set and no Redis answers at {}: started a local \
             redis-server (AOF persistence in {}, Unix socket {}); it stops when taskgate stops",
            config.local_redis_probe,
            dir.display(),
            socket.display()
        );
        Ok(Self {
            url,
            child: Some(child),
        })
    }

    /// Stops the child, if taskgate started one, and waits for it to exit.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.pipe.take());
            match tokio::time::timeout(Duration::from_secs(10), child.watchdog.wait()).await {
                Ok(_) => tracing::info!("local redis-server stopped"),
                Err(_) => {
                    tracing::warn!("local redis-server did not stop within 10 s; killing it");
                    let _ = child.watchdog.kill().await;
                }
            }
            let _ = tokio::fs::remove_file(child.dir.join(LOCK)).await;
        }
    }
}

impl LocalRedis {
    async fn start(program: &str, dir: &Path, socket: &Path) -> Result<Self, String> {
        let log = dir.join("redis.log");
        let args: Vec<String> = vec![
            program.to_owned(),
            "--port".into(),
            "0".into(),
            "--unixsocket".into(),
            socket.display().to_string(),
            "--unixsocketperm".into(),
            "700".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--appendonly".into(),
            "yes".into(),
            "--save".into(),
            String::new(),
            "--maxmemory-policy".into(),
            "noeviction".into(),
            "--logfile".into(),
            log.display().to_string(),
            "--pidfile".into(),
            dir.join("redis.pid").display().to_string(),
            "--daemonize".into(),
            "no".into(),
        ];
        if which(program).await.is_none() {
            return Err(format!(
                "no Redis to use: TASKGATE_REDIS_URL is not set, nothing answers at the probe \
                 address, and `{program}` is not installed. Install Redis (Debian/Ubuntu: \
                 `sudo apt-get install redis-server`; macOS: `brew install redis`), or set \
                 TASKGATE_REDIS_URL=redis://host:6379"
            ));
        }
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("taskgate-redis")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C meant for taskgate must not stop Redis while
            // taskgate still finishes its in-flight requests; the pipe stops it afterwards.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let pipe = watchdog.stdin.take();
        let mut child = Self {
            watchdog,
            pipe,
            dir: dir.to_owned(),
        };
        let started = Instant::now();
        while !answers_unix(socket).await {
            if let Ok(Some(status)) = child.watchdog.try_wait() {
                return Err(format!(
                    "the local redis-server exited at once ({status}); its log, {}, says: {}",
                    log.display(),
                    last_line(&log).await
                ));
            }
            if started.elapsed() > START_TIMEOUT {
                drop(child.pipe.take());
                return Err(format!(
                    "the local redis-server did not answer within {} s; see {}",
                    START_TIMEOUT.as_secs(),
                    log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(child)
    }
}

/// Takes the data directory's lock, so two taskgates started at once cannot start two
/// redis-servers on one AOF. `Some(pid)` when a live taskgate holds it; a lock left by a
/// taskgate that is gone (killed) is taken over.
async fn take_lock(dir: &Path) -> Result<Option<u32>, String> {
    let path = dir.join(LOCK);
    for _ in 0..3 {
        match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
        {
            Ok(mut file) => {
                let _ = file
                    .write_all(std::process::id().to_string().as_bytes())
                    .await;
                let _ = file.flush().await;
                return Ok(None);
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = tokio::fs::read_to_string(&path)
                    .await
                    .ok()
                    .and_then(|pid| pid.trim().parse::<u32>().ok());
                match owner {
                    Some(pid) if pid != std::process::id() && alive(pid).await => {
                        return Ok(Some(pid));
                    }
                    _ => {
                        let _ = tokio::fs::remove_file(&path).await;
                    }
                }
            }
            Err(err) => return Err(format!("{}: {err}", path.display())),
        }
    }
    Err(format!("cannot take {}", path.display()))
}

/// Whether process `pid` exists (`kill -0`, which works on every Unix).
async fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// The data directory, created if needed, as an absolute path short enough for a socket.
async fn data_dir(dir: &Path) -> Result<PathBuf, String> {
    let created = match tokio::fs::create_dir_all(dir).await {
        Ok(()) => tokio::fs::canonicalize(dir).await,
        Err(err) => Err(err),
    };
    created
        .map_err(|e| format!("TASKGATE_DATA_DIR {}: {e}", dir.display()))
        .and_then(|dir| {
            if dir.join("redis.sock").as_os_str().len() > SOCKET_PATH_MAX {
                Err(format!(
                    "TASKGATE_DATA_DIR {} is too long a path for Redis's Unix socket; choose a \
                     shorter one",
                    dir.display()
                ))
            } else {
                Ok(dir)
            }
        })
}

/// Whether a Redis answers PING at `addr` (any reply in the Redis protocol counts: a server
/// that wants a password is still a Redis).
async fn answers_tcp(addr: &str) -> bool {
    answers(tokio::net::TcpStream::connect(addr)).await
}

async fn answers_unix(socket: &Path) -> bool {
    answers(tokio::net::UnixStream::connect(socket)).await
}

/// Whether what `connect` reaches answers PING, within `PROBE_TIMEOUT`.
async fn answers<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    connect: impl std::future::Future<Output = std::io::Result<S>>,
) -> bool {
    let probe = async { ping(&mut connect.await.ok()?).await };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, probe).await,
        Ok(Some(()))
    )
}

async fn ping<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
) -> Option<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"PING\r\n").await.ok()?;
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).await.ok()?;
    matches!(first[0], b'+' | b'-').then_some(())
}

/// The program's path, if it can be run.
async fn which(program: &str) -> Option<PathBuf> {
    let candidate = Path::new(program);
    let candidates: Vec<PathBuf> = if candidate.components().count() > 1 {
        vec![candidate.to_owned()]
    } else {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(program))
            .collect()
    };
    for path in candidates {
        if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
            return Some(path);
        }
    }
    None
}

/// The log's last line, for a start-up failure.
async fn last_line(log: &Path) -> String {
    let text = tokio::fs::read_to_string(log).await.unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(empty)")
        .to_owned()
}
