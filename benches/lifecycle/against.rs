//! `--against <git rev>`: the same workload on that revision's build and on this one, in pairs
//! run back to back in one window (alternating which goes first), so that a change's cost shows
//! on a machine whose speed drifts from hour to hour. Prints both runs of each pair and their
//! ratio, then the median ratio.
//!
//! The revision is exported with `git archive` into `target/against/<commit>/` and built there
//! (release, offline, its own Cargo.lock) into `target/against/target/`; a build is kept and
//! reused for the same commit.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Http, HttpRun};
use crate::support::{Options, Processes};

/// Runs `options.pairs` pairs against `rev` and prints the comparison.
pub async fn compare(options: &Options, rev: &str) {
    let commit = resolve(rev);
    let theirs = build(&commit);
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_taskgate"));
    println!("{}", options.describe());
    println!(
        "against {rev} ({commit}): {} pairs, alternating",
        options.pairs
    );
    let mut ratios = Vec::new();
    for pair in 0..options.pairs {
        let order = if pair % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        let (mut this, mut that) = (None, None);
        for is_ours in order {
            let label = if is_ours { "this build" } else { rev };
            println!("-- pair {}: {label}", pair + 1);
            let side = Options {
                server: Some(if is_ours {
                    ours.clone()
                } else {
                    theirs.clone()
                }),
                ..options.clone()
            };
            let processes = Processes::start(&side).await;
            let run = Http::run(&side, &processes).await;
            if is_ours {
                this = Some(run)
            } else {
                that = Some(run)
            }
        }
        let (this, that) = (this.expect("ran"), that.expect("ran"));
        let ratio = this.rate / that.rate;
        println!(
            "== pair {}: this build {:.0} cycles/s, {rev} {:.0}: {ratio:.2}x{}",
            pair + 1,
            this.rate,
            that.rate,
            latency_ratios(&this, &that)
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    // Of an even number of pairs, the mean of the middle two (the upper one alone flatters).
    let middle = ratios.len() / 2;
    let median = if ratios.len() % 2 == 0 {
        (ratios[middle - 1] + ratios[middle]) / 2.0
    } else {
        ratios[middle]
    };
    println!(
        "== median of {} pairs: {median:.2}x the cycles/s of {rev} (each pair: {})",
        ratios.len(),
        ratios
            .iter()
            .map(|r| format!("{r:.2}x"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// p50 and p99 of each call, this build against the other, and the server's CPU per task.
fn latency_ratios(this: &HttpRun, that: &HttpRun) -> String {
    let mut parts = Vec::new();
    for ((name, ours), (_, theirs)) in this.latencies.iter().zip(&that.latencies) {
        parts.push(format!(
            "{name} p50 {:.2}/{:.2} p99 {:.2}/{:.2} ms",
            ours[0], theirs[0], ours[1], theirs[1]
        ));
    }
    if let (Some(ours), Some(theirs)) = (this.server_us, that.server_us) {
        parts.push(format!("server {ours:.0}/{theirs:.0} µs/task"));
    }
    format!("; {}", parts.join("; "))
}

/// The full commit id of `rev`.
fn resolve(rev: &str) -> String {
    let out = git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")]);
    String::from_utf8_lossy(&out).trim().to_owned()
}

/// The release `taskgate` of `commit`, built once.
fn build(commit: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/against");
    let binary = root.join(format!("taskgate-{commit}"));
    if binary.exists() {
        return binary;
    }
    let source = root.join(commit);
    if !source.join("Cargo.toml").exists() {
        std::fs::create_dir_all(&source).expect("create the source folder");
        let archive = git(&["archive", "--format=tar", commit]);
        let mut tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&source)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("tar");
        use std::io::Write;
        tar.stdin
            .take()
            .expect("tar's stdin")
            .write_all(&archive)
            .expect("unpack the revision");
        assert!(tar.wait().expect("tar").success(), "unpacking {commit}");
    }
    println!("building {commit} (release) in {}", source.display());
    let target = root.join("target");
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            // Not --offline: an older revision may lock crates this checkout never fetched.
            "--locked",
            "--bin",
            "taskgate",
            "--manifest-path",
        ])
        .arg(source.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("cargo build");
    assert!(built.success(), "building {commit}");
    std::fs::copy(target.join("release/taskgate"), &binary).expect("keep the build");
    binary
}

fn git(args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
