//! DynamoDB refusing reads, through a real SDK client with the function's retry policy
//! (`fake_dynamo`): throttling is retried a bounded number of times, then answered with the
//! documented 503; errors no retry can fix are 500 at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_overview::config::{Limits, QueryPlan};
use agent_overview::domain::identity::{hash_token, Session, User};
use agent_overview::http::App;
use agent_overview::store::dynamo::{DynamoStore, MAX_ATTEMPTS};
use agent_overview::store::items::{self, Item};
use serde_json::Value;

use crate::contract::{as_user, call, worked_example, NOW_MS};
use crate::fake_dynamo::{
    batch_get_answer, get_item_answer, query_answer, table_missing, throttled, Answer, FakeDynamo,
};
use crate::harness;
use crate::telemetry::capture;

pub const TOKEN: &str = "tok-throttle-3f9a";
pub const USER_ID: &str = "uid-throttle-77";
pub const QUERY: &str = "name=Total_conversations&from=2024-03-01&to=2024-03-01";
pub const UNAVAILABLE: &str = r#"{"success":false,"error":"The service is busy; retry shortly [error-unavailable]","errorType":"error-unavailable"}"#;
const INTERNAL: &str =
    r#"{"success":false,"error":"Internal error [error-internal]","errorType":"error-internal"}"#;

pub fn session_item() -> Item {
    let session = Session {
        tenant: "acme".into(),
        user_id: USER_ID.into(),
        issued_at_ms: NOW_MS,
        generation: None,
    };
    items::session_item(&hash_token(TOKEN), &session, NOW_MS / 1000 + 86_400)
}

fn manager_item() -> Item {
    items::user_item(
        "acme",
        &User {
            id: USER_ID.into(),
            username: "manager".into(),
            roles: vec!["livechat-manager".into()],
            utc_offset: None,
            generation: None,
        },
    )
}

/// The worked example's rooms of 2024-03-01 (R1..R4), as the query's one bucket returns them.
fn rooms() -> Vec<Item> {
    worked_example()
        .iter()
        .take(4)
        .map(|c| items::conversation_item("acme", c).unwrap())
        .collect()
}

/// A DynamoDB that answers every read of the request path.
pub fn healthy(operation: &str, _body: &Value, _before: usize) -> Answer {
    match operation {
        "GetItem" => get_item_answer(Some(&session_item())),
        "BatchGetItem" => batch_get_answer(&harness::table_names().directory, &[manager_item()]),
        "Query" => query_answer(&rooms()),
        _ => table_missing(),
    }
}

pub fn app(fake: &FakeDynamo) -> App<DynamoStore> {
    App {
        store: DynamoStore::new(fake.client(), harness::table_names(), raw_plan()),
        limits: raw_plan(),
        clock: Arc::new(|| NOW_MS),
        sign_in: None,
    }
}

#[tokio::test]
async fn a_throttled_session_read_is_503_after_the_sdks_attempts() {
    let (log, _guard) = capture("trace");
    let fake = FakeDynamo::new(|op, body, n| match op {
        "GetItem" => throttled(),
        _ => healthy(op, body, n),
    });
    let started = Instant::now();
    let answer = call(&app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
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
    let answer = call(&app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
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
    let answer = call(&app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
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
    let answer = call(&app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
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
    let answer = call(&app(&fake), QUERY, &as_user(TOKEN, USER_ID)).await;
    assert_eq!(answer, (503, UNAVAILABLE.to_string()));
    assert_eq!(fake.calls("BatchGetItem"), 6);
    assert_eq!(fake.calls("Query"), 0);
}

/// These tests put conversations (or fake Query pages) straight into the conversations table,
/// with no rollups rebuilt: they exercise the raw plan.
fn raw_plan() -> Limits {
    Limits {
        query_plan: QueryPlan::Raw,
        ..Limits::default()
    }
}
