//! The `taskgate` binary as a child process, for what only a real process shows: start-up
//! refusals, signals, exit codes, and the local `redis-server` it may start.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_taskgate");

/// A running `taskgate`, killed when dropped.
pub struct Server {
    pub port: u16,
    pub base: String,
    child: Child,
    stderr: Arc<Mutex<String>>,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `taskgate` with only the given `TASKGATE_*` variables, none inherited.
pub fn command(env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("TASKGATE_")) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied()).args(args);
    command
}

impl Server {
    /// Starts `taskgate` listening on `listen` (a free port of 127.0.0.1 unless an env var sets
    /// it), with the given environment.
    pub fn spawn(env: &[(&str, &str)], args: &[&str]) -> Self {
        let given = env.iter().find(|(name, _)| *name == "TASKGATE_LISTEN");
        let port = given
            .and_then(|(_, listen)| listen.rsplit(':').next()?.parse().ok())
            .unwrap_or_else(free_port);
        let listen = format!("127.0.0.1:{port}");
        let mut env: Vec<(&str, &str)> = env.to_vec();
        if given.is_none() {
            env.push(("TASKGATE_LISTEN", &listen));
        }
        let mut child = command(&env, args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start taskgate");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                if let Ok(mut text) = sink.lock() {
                    text.push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }
        });
        Self {
            port,
            base: format!("http://127.0.0.1:{port}"),
            child,
            stderr,
        }
    }

    /// Everything the process wrote to stderr so far (its log).
    pub fn log(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether the process's log shows `text`, waiting up to 10 s for it: its stderr is read on
    /// a thread of its own, which may not have caught up when the port opens or the process
    /// exits.
    pub fn logged(&self, text: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(text) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Waits until `/healthz` answers (or the process exits, which fails the test).
    pub fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("taskgate exited ({status}): {}", self.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "taskgate did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{name}");
    }

    /// Waits for the process to exit, failing the test after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "taskgate did not exit within {within:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` exists.
pub fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
