//! Clients generated from the committed OpenAPI document (`clients/generate`), in Python
//! (openapi-python-client) and TypeScript (openapi-typescript + openapi-fetch), each driving a
//! real server through a full lifecycle and a fail → retry → dead path. A generator that
//! cannot handle the document, or a TypeScript caller that no longer compiles, fails here.

use std::process::Command;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::harness::queue;
use crate::support::{
    ADMIN_KEY, at_root, keyed_app, require, require_node_package, run, succeeded,
};

const WITHIN: Duration = Duration::from_secs(120);

/// Generates both clients once for this binary (both tests need them).
async fn generated() {
    static GENERATED: OnceCell<()> = OnceCell::const_new();
    GENERATED
        .get_or_init(|| async {
            require(
                "openapi-python-client",
                "python3 -m pip install openapi-python-client",
            );
            require_node_package("openapi-typescript");
            let output = run(Command::new(at_root("clients/generate")), WITHIN).await;
            succeeded("clients/generate", &output);
        })
        .await;
}

async fn client_test(language: &str, mut command: Command) {
    generated().await;
    let api = keyed_app().await;
    let q = queue(language);
    command
        .env("TASKGATE_URL", api.base())
        .env("TASKGATE_KEY", ADMIN_KEY)
        .env("TASKGATE_QUEUE", &q);
    let stdout = succeeded(language, &run(command, WITHIN).await);
    assert!(stdout.contains("passed"), "{stdout}");
}

#[tokio::test]
async fn the_generated_python_client_completes_a_lifecycle() {
    let mut command = Command::new("python3");
    command.arg(at_root("clients/python/lifecycle_test.py"));
    client_test("python-client", command).await;
}

#[tokio::test]
async fn the_generated_typescript_client_compiles_and_completes_a_lifecycle() {
    require_node_package("typescript");
    require_node_package("openapi-fetch");
    generated().await;
    let mut compile = Command::new(at_root("node_modules/.bin/tsc"));
    compile
        .args(["-p", "clients/typescript/tsconfig.json"])
        .current_dir(at_root(""));
    succeeded("tsc", &run(compile, WITHIN).await);
    let mut command = Command::new("node");
    command.arg(at_root("clients/typescript/build/lifecycle_test.js"));
    client_test("ts-client", command).await;
}
