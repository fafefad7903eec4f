//! DynamoDB refusing reads, through a real SDK client with the function's retry policy
//! (`fake_dynamo`): throttling is retried a bounded number of times, then answered with the
//! documented 503; errors no retry can fix are 500 at once.

use std::time::{Duration, Instant};

use agent_overview::domain::identity::hash_token;
use agent_overview::dynamo::MAX_ATTEMPTS;

use crate::support::api::{as_user, call};
use crate::support::fake_dynamo::{table_missing, throttled, FakeDynamo};
use crate::support::fake_reads::{fake_app, healthy, QUERY, TOKEN, UNAVAILABLE, USER_ID};
use crate::support::harness;
use crate::support::logs::capture;

const INTERNAL: &str =
    r#"{"success":false,"error":"Internal error [error-internal]","errorType":"error-internal"}"#;

#[tokio::test]
async fn a_throttled_session_read_is_503_after_the_sdks_attempts() {
    let (log, _guard) = capture("trace");
    let fake = FakeDynamo::new(|op, body, n| match op {
        "GetItem" => throttled(),
        _ => healthy(op, body, n),
    });
    let started = Instant::now();
    let answer = call(&fake_app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
    assert_eq!(answer, (503, UNAVAILABLE.to_string()));
    assert_eq!(fake.calls("GetItem"), MAX_ATTEMPTS as usize);
    assert_eq!(
        fake.total_calls(),
        MAX_ATTEMPTS as usize,
        "nothing after it"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The SDK's own TRACE output included: the token hash goes to DynamoDB, never to the log.
    log.assert_absent(&[TOKEN, &hash_token(TOKEN), USER_ID]);
    let error = log
        .lines()
        .into_iter()
        .find(|l| l["fields"]["message"] == "request failed")
        .expect("a 5xx logs its cause");
    assert_eq!(error["fields"]["error"], "storage unavailable");
    let cause = error["fields"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("ProvisionedThroughputExceededException"),
        "the cause names DynamoDB's error: {cause}"
    );
}

#[tokio::test]
async fn a_throttled_query_is_503_after_the_sdks_attempts() {
    let fake = FakeDynamo::new(|op, body, n| match op {
        "Query" => throttled(),
        _ => healthy(op, body, n),
    });
    let answer = call(&fake_app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
    assert_eq!(answer, (503, UNAVAILABLE.to_string()));
    assert_eq!(fake.calls("GetItem"), 1);
    assert_eq!(fake.calls("BatchGetItem"), 1);
    // One month bucket, retried to the limit.
    assert_eq!(fake.calls("Query"), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn throttling_that_clears_within_the_attempts_is_answered() {
    let fake = FakeDynamo::new(|op, body, n| match op {
        "Query" if n < 2 => throttled(),
        _ => healthy(op, body, n),
    });
    let answer = call(&fake_app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
    assert_eq!(
        answer,
        (200, r#"{"head":[{"name":"Agent"},{"name":"%_of_conversations"}],"data":[{"name":"kim","value":"66.67%"},{"name":"jane","value":"33.33%"}],"success":true}"#.to_string())
    );
    assert_eq!(fake.calls("Query"), 3);
}

#[tokio::test]
async fn an_error_no_retry_can_fix_is_500_at_once() {
    let fake = FakeDynamo::new(|op, body, n| match op {
        "GetItem" => table_missing(),
        _ => healthy(op, body, n),
    });
    let answer = call(&fake_app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
    assert_eq!(answer, (500, INTERNAL.to_string()));
    assert_eq!(fake.calls("GetItem"), 1, "not retried");
}

#[tokio::test]
async fn directory_keys_left_unprocessed_are_503_after_bounded_rounds() {
    let table = harness::table_names().directory;
    let fake = FakeDynamo::new(move |op, body, n| match op {
        // DynamoDB's answer to a throttled batch: nothing read, every key handed back.
        "BatchGetItem" => (
            200,
            serde_json::json!({
                "Responses": { table.as_str(): [] },
                "UnprocessedKeys": body["RequestItems"].clone(),
            }),
        ),
        _ => healthy(op, body, n),
    });
    let answer = call(&fake_app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
    assert_eq!(answer, (503, UNAVAILABLE.to_string()));
    assert_eq!(fake.calls("BatchGetItem"), 6);
    assert_eq!(fake.calls("Query"), 0);
}
