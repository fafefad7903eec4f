//! A scripted DynamoDB behind a real SDK client: the client's HTTP connector answers each call
//! with the status and JSON body a script gives for its operation, as DynamoDB would send them.
//! Everything above the connector is the production path: the SDK's deserializers, its retry
//! classifier and standard retry mode (`dynamo::retry_config`), our error classification.
//!
//! Why not `aws-smithy-mocks`: it enables `aws-smithy-http-client/test-util`, which turns on
//! `serde_json/preserve_order` for the whole test build, so the tests would serialize response
//! bodies with another key order than the function (seven exact-body contract tests failed), and
//! CI would build the AWS SDK twice (test and release feature sets).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_overview::dynamo::items::Item;
use agent_overview::dynamo::retry_config;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};

/// A DynamoDB answer: HTTP status and JSON body.
pub type Answer = (u16, Value);

/// Decides the answer to one call from its operation (`GetItem`, `Query`, ...), its JSON body
/// and how many calls of that operation came before it.
pub type Script = dyn Fn(&str, &Value, usize) -> Answer + Send + Sync;

#[derive(Clone)]
pub struct FakeDynamo {
    script: Arc<Script>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for FakeDynamo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDynamo").finish_non_exhaustive()
    }
}

impl FakeDynamo {
    pub fn new(script: impl Fn(&str, &Value, usize) -> Answer + Send + Sync + 'static) -> Self {
        Self {
            script: Arc::new(script),
            calls: Arc::default(),
        }
    }

    /// How many HTTP calls of `operation` the client made (every retry is one).
    pub fn calls(&self, operation: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|op| *op == operation)
            .count()
    }

    pub fn total_calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// An SDK client with the function's retry policy, but back-off shortened to milliseconds
    /// so the tests do not wait out real seconds.
    pub fn client(&self) -> Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "fake"))
            .retry_config(
                retry_config()
                    .with_initial_backoff(Duration::from_millis(1))
                    .with_max_backoff(Duration::from_millis(5)),
            )
            .http_client(self.clone());
        Client::from_conf(agent_overview::dynamo::capacity::with_meter(config).build())
    }
}

impl HttpConnector for FakeDynamo {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or("")
            .to_string();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let before = self.calls(&operation);
        self.calls.lock().unwrap().push(operation.clone());
        let (status, answer) = (self.script)(&operation, &body, before);
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).expect("a valid status"),
            SdkBody::from(answer.to_string()),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for FakeDynamo {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// DynamoDB's answer when a table or index is over its throughput (HTTP 400; the SDK's
/// standard retry mode treats it as throttling and retries it).
pub fn throttled() -> Answer {
    (
        400,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded."
        }),
    )
}

/// A client error no retry can fix.
pub fn table_missing() -> Answer {
    (
        400,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "message": "Requested resource not found"
        }),
    )
}

/// An item as DynamoDB's JSON wire format writes it.
pub fn wire_item(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), wire_value(v)))
            .collect(),
    )
}

fn wire_value(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(wire_value).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": wire_item(m) }),
        other => panic!("not needed by these tests: {other:?}"),
    }
}

pub fn get_item_answer(item: Option<&Item>) -> Answer {
    match item {
        Some(item) => (200, json!({ "Item": wire_item(item) })),
        None => (200, json!({})),
    }
}

pub fn batch_get_answer(table: &str, items: &[Item]) -> Answer {
    let items: Vec<Value> = items.iter().map(wire_item).collect();
    (
        200,
        json!({ "Responses": { table: items }, "UnprocessedKeys": {} }),
    )
}

pub fn query_answer(items: &[Item]) -> Answer {
    let wire: Vec<Value> = items.iter().map(wire_item).collect();
    (
        200,
        json!({ "Items": wire, "Count": items.len(), "ScannedCount": items.len() }),
    )
}
