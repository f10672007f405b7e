//! The dashboard at `/ui`, in a real headless Chromium driven by playwright-core
//! (`dashboard/test/dashboard.test.mjs`): a queue appears after a submit, pause and resume,
//! the policy editor's `If-Match` flow, a task group paused, resumed and edited, a dead task
//! redriven, a task followed to `completed` with its worker's progress, a real `EventSource`
//! hearing a `progress` event,
//! a flow followed on its page and cancelled, a task's parents,
//! a screenshot of each page (in `target/dashboard-screenshots/`), and every API call the page
//! made checked against the OpenAPI document. And: the committed bundle (`dashboard/dist/`)
//! is what its TypeScript sources compile to.

use std::process::Command;
use std::time::Duration;

use crate::harness::{RedisServer, TempDir, TestApp, queue};
use crate::support::{
    ADMIN_KEY, WORKER_KEY, at_root, keyed_app, require, require_node_package, run, succeeded,
};

#[tokio::test]
async fn the_dashboard_works_in_a_real_browser() {
    require("chromium", "apt-get install chromium");
    require_node_package("playwright-core");
    let api = keyed_app().await;
    // EventSource cannot send a key: its check runs against a server that requires none.
    let open = TestApp::start_with(RedisServer::shared(), &[]).await;
    let mut command = Command::new("node");
    command
        .arg(at_root("dashboard/test/dashboard.test.mjs"))
        .env("TASKGATE_URL", api.base())
        .env("TASKGATE_ADMIN_KEY", ADMIN_KEY)
        .env("TASKGATE_WORKER_KEY", WORKER_KEY)
        .env("TASKGATE_QUEUE", queue("ui"))
        .env("TASKGATE_OPEN_URL", &open.base)
        .env("SCREENSHOT_DIR", at_root("target/dashboard-screenshots"));
    let stdout = succeeded(
        "the dashboard test",
        &run(command, Duration::from_secs(180)).await,
    );
    assert!(stdout.contains("dashboard: all checks passed"), "{stdout}");
    for shot in [
        "1-queues",
        "2-queue",
        "3-dead",
        "4-task",
        "5-workers",
        "6-flow",
    ] {
        let path = at_root(&format!("target/dashboard-screenshots/{shot}.png"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is missing or blank", path.display());
    }
}

#[tokio::test]
async fn the_committed_bundle_is_built_from_its_sources() {
    require_node_package("typescript");
    let out = TempDir::new("dashboard-build");
    let mut compile = Command::new(at_root("node_modules/.bin/tsc"));
    compile
        .args(["-p", "dashboard/tsconfig.json", "--outDir"])
        .arg(&out.0)
        .current_dir(at_root(""));
    succeeded("tsc", &run(compile, Duration::from_secs(120)).await);
    let committed = at_root("dashboard/dist");
    let mut names: Vec<_> = std::fs::read_dir(&out.0)
        .expect("built")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    let mut committed_names: Vec<_> = std::fs::read_dir(&committed)
        .expect("dashboard/dist")
        .map(|e| e.expect("entry").file_name())
        .collect();
    committed_names.sort();
    assert_eq!(names, committed_names, "rebuild: npm run build:dashboard");
    for name in names {
        let built = std::fs::read(out.0.join(&name)).expect("built file");
        let kept = std::fs::read(committed.join(&name)).expect("committed file");
        assert!(
            built == kept,
            "dashboard/dist/{} is stale: run `npm run build:dashboard` and commit it",
            name.to_string_lossy()
        );
    }
}
