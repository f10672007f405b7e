//! Payload fidelity (SPEC §3.13): payloads and results come back as the exact JSON text sent,
//! never re-serialized, so producers can sign them and compare bytes.

use reqwest::StatusCode;

use crate::harness::{TestApp, queue};

/// Key order, a number too big for a float and a duplicate key all survive submit, read,
/// lease and ack, byte for byte.
#[tokio::test]
async fn payloads_and_results_round_trip_byte_for_byte() {
    let app = TestApp::start().await;
    let q = queue("fidelity");
    let payload =
        r#"{"z":1,"a":12345678901234567890123,"dup":1,"dup":2, "spaced" : [ 1.50 ,2e3 ]}"#;
    let result = r#"{"b":0.1000000000000000055511151231257827,"a":[],"b":"again"}"#;
    let submitted = post_raw(
        &app,
        &format!("/v1/queues/{q}/tasks"),
        &format!(r#"{{"payload":{payload}}}"#),
    )
    .await;
    assert_eq!(submitted.0, StatusCode::CREATED, "{}", submitted.1);
    assert!(
        submitted.1.contains(&format!(r#""payload":{payload}"#)),
        "submit: {}",
        submitted.1
    );

    let id = serde_json::from_str::<serde_json::Value>(&submitted.1).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let read = get_raw(&app, &q, &id).await;
    assert!(
        read.contains(&format!(r#""payload":{payload}"#)),
        "get: {read}"
    );

    let leased = post_raw(&app, &format!("/v1/queues/{q}/leases"), "{}").await;
    assert!(
        leased.1.contains(&format!(r#""payload":{payload}"#)),
        "lease: {}",
        leased.1
    );
    let lease_id = serde_json::from_str::<serde_json::Value>(&leased.1).expect("json")["leases"][0]
        ["lease_id"]
        .as_str()
        .expect("lease id")
        .to_owned();
    let acked = post_raw(
        &app,
        &format!("/v1/queues/{q}/tasks/{id}/ack"),
        &format!(r#"{{"lease_id":"{lease_id}","result":{result}}}"#),
    )
    .await;
    assert_eq!(acked.0, StatusCode::OK, "{}", acked.1);
    assert!(
        acked.1.contains(&format!(r#""result":{result}"#)),
        "ack: {}",
        acked.1
    );
    let read = get_raw(&app, &q, &id).await;
    assert!(
        read.contains(&format!(r#""result":{result}"#)),
        "get after ack: {read}"
    );
}

async fn get_raw(app: &TestApp, q: &str, id: &str) -> String {
    let response = app
        .client
        .get(format!("{}/v1/queues/{q}/tasks/{id}", app.base))
        .send()
        .await
        .expect("get");
    response.text().await.expect("body")
}

async fn post_raw(app: &TestApp, path: &str, body: &str) -> (StatusCode, String) {
    let response = app
        .client
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.text().await.expect("body"))
}
