//! The shared Rocket.Chat export fixtures, and their `cases.json` replayed through the handler.

use std::path::PathBuf;

use agent_overview::config::ReadSettings;
use agent_overview::domain::clock::system_clock;
use agent_overview::http::App;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::{ConversationStore, IdentityStore};
use lambda_http::Body;
use serde_json::Value;

use crate::support::api::request;

pub fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rocketchat-export")
        .join(name)
}

pub fn query_string(query: &serde_json::Map<String, Value>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            query
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default())),
        )
        .finish()
}

/// Replays the folder's cases (those `include` keeps) through the handler over what is stored;
/// returns the cases that differ.
pub async fn replay_cases(
    client: aws_sdk_dynamodb::Client,
    names: agent_overview::config::TableNames,
    folder: &str,
    include: impl Fn(&str) -> bool,
) -> Vec<String> {
    // Small pages: the replay also walks pagination.
    let reads = ReadSettings {
        query_page_limit: Some(5),
        ..ReadSettings::default()
    };
    let app = App {
        store: DynamoStore::new(client, names, reads.clone()),
        reads,
        clock: system_clock(),
        sign_in: None,
    };
    replay_cases_through(&app, folder, include, &[]).await
}

/// Replays the folder's cases (those `include` keeps) through `app`, each request with the
/// case's headers and `extra` ones (e.g. a `Host`); returns the cases that differ.
pub async fn replay_cases_through<S: IdentityStore + ConversationStore + Sync>(
    app: &App<S>,
    folder: &str,
    include: impl Fn(&str) -> bool,
    extra: &[(&str, &str)],
) -> Vec<String> {
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir(folder).join("cases.json")).unwrap(),
    )
    .unwrap();
    assert!(cases.len() > 60, "{folder}: every case is replayed");
    let mut failures = Vec::new();
    for case in &cases {
        let label = case["label"].as_str().unwrap();
        if !include(label) {
            continue;
        }
        let mut headers: Vec<(&str, &str)> = case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        headers.extend_from_slice(extra);
        let res = app
            .handle(request(
                &query_string(case["query"].as_object().unwrap()),
                &headers,
            ))
            .await;
        let status = res.status().as_u16();
        let body: Value = match res.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        };
        let invalid_params = status == 400
            && body["errorType"] == "invalid-params"
            && body["success"] == false
            && body["error"]
                .as_str()
                .is_some_and(|e| e.ends_with(" [invalid-params]"));
        let ok = if case["or_invalid_params"] == true && invalid_params {
            true
        } else if case["body"].is_null() {
            status == case["status"] && invalid_params
        } else {
            status == case["status"] && body == case["body"]
        };
        if !ok {
            failures.push(format!(
                "{label}\n   expected {} {}\n   got      {status} {body}",
                case["status"], case["body"]
            ));
        }
    }
    failures
}
