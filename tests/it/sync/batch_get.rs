//! BatchGetItem's unprocessed keys: every reader asks again a bounded number of times, then fails
//! with a named error instead of waiting for ever on a table that keeps throttling.

use std::time::Duration;

use serde_json::json;

use crate::support::fake_dynamo::FakeDynamo;
use crate::support::harness::table_names;

/// A table that never serves a key: every BatchGetItem answers all its keys back as unprocessed.
fn never_processed() -> FakeDynamo {
    FakeDynamo::new(|operation, body, _| {
        assert_eq!(operation, "BatchGetItem", "only BatchGetItem is expected");
        let requested = body["RequestItems"].clone();
        (
            200,
            json!({ "Responses": {}, "UnprocessedKeys": requested }),
        )
    })
}

#[tokio::test]
async fn the_sync_gives_up_on_keys_dynamodb_never_processes() {
    let fake = never_processed();
    let names = table_names();
    let ids = vec!["room-1".to_string(), "room-2".to_string()];
    let client = fake.client();
    let read = agent_overview::dynamo::sync::stored_rooms(&client, &names, "acme", &ids);
    let outcome = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the read ends instead of retrying for ever");
    let err = outcome.expect_err("unprocessed keys are an error once the retries are spent");
    let text = agent_overview::errors::error_chain(&err);
    assert!(text.contains("BatchGetItem"), "names the operation: {text}");
    assert!(
        text.contains(&names.conversations),
        "names the table: {text}"
    );
    let calls = fake.calls("BatchGetItem");
    assert!(
        (2..=8).contains(&calls),
        "a bounded number of asks: {calls}"
    );
}
