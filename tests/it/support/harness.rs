//! Shared helpers for the tests against a local DynamoDB (dynalite, which `scripts/test.sh`
//! starts). The endpoint comes from the SDK's standard `AWS_ENDPOINT_URL_DYNAMODB`; the tables
//! are created once per process from `template.yaml`, with the same code as
//! `agent-overview-admin create-tables`; each test works in a tenant of its own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use agent_overview::admin::tables::create_tables_from_template;
use agent_overview::config::TableNames;
use agent_overview::dynamo::items::Item;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use tokio::sync::OnceCell;

pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The local endpoint; the tests never run against a real account.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: run ./scripts/test.sh, which starts dynalite"
        ),
    }
}

/// The local defaults, one copy for the scripts and the tests: `scripts/local.env`.
const LOCAL_ENV: &str = include_str!("../../../scripts/local.env");

/// `name` from the environment, else its `scripts/local.env` default.
pub fn env_or_local_default(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            LOCAL_ENV
                .lines()
                .filter_map(|line| line.split_once('='))
                .find(|(key, _)| key.trim() == name)
                .map(|(_, value)| value.trim().to_string())
        })
        .unwrap_or_else(|| panic!("{name} is neither set nor in scripts/local.env"))
}

/// Table names as the function reads them, with the local defaults of `scripts/local.env`.
pub fn table_names() -> TableNames {
    TableNames {
        sessions: env_or_local_default("SESSIONS_TABLE"),
        directory: env_or_local_default("DIRECTORY_TABLE"),
        conversations: env_or_local_default("CONVERSATIONS_TABLE"),
        by_month_index: env_or_local_default("BY_MONTH_INDEX"),
        by_department_month_index: env_or_local_default("BY_DEPARTMENT_MONTH_INDEX"),
        rollups: env_or_local_default("ROLLUPS_TABLE"),
        attention_index: env_or_local_default("ATTENTION_INDEX"),
        sessions_by_user_index: env_or_local_default("SESSIONS_BY_USER_INDEX"),
    }
}

/// Region and credentials for the child processes and the SDK: dummies unless set.
pub fn region() -> String {
    env_or_local_default("AWS_REGION")
}

/// A client for one test. Each `#[tokio::test]` has its own runtime, and a client's
/// connections belong to the runtime that opened them, so clients are never shared.
pub async fn client() -> Client {
    endpoint();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region()))
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .load()
        .await;
    agent_overview::dynamo::client(&config)
}

static TABLES: OnceCell<()> = OnceCell::const_new();

/// A client, with the tables created (once per process; idempotent across processes too,
/// since an existing table is left alone).
pub async fn ready() -> (Client, TableNames) {
    let client = client().await;
    let names = table_names();
    TABLES
        .get_or_init(|| async {
            if let Err(e) = create_tables_from_template(&client, TEMPLATE, &names).await {
                panic!(
                    "creating the tables failed: {}",
                    agent_overview::errors::error_chain(&e)
                );
            }
        })
        .await;
    (client, names)
}

static EXPORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Held by a test while it imports a fixture export and checks the result. A login token is
/// one user's session for life, so an import of a fixture into a second tenant is refused
/// (issue 10): on taking the lock, the fixtures' sessions left by earlier tests are deleted.
pub async fn exports_lock() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = EXPORTS.lock().await;
    let (client, names) = ready().await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for dir in [
        "small-export",
        "rocketchat-export/custom-zone-relaxed",
        "rocketchat-export/user-zone-canonical",
    ] {
        let users = std::fs::read_to_string(fixtures.join(dir).join("users.json")).unwrap();
        for line in users.lines().filter(|l| !l.trim().is_empty()) {
            let doc: serde_json::Value = serde_json::from_str(line).unwrap();
            let tokens = doc
                .pointer("/services/resume/loginTokens")
                .and_then(|t| t.as_array())
                .cloned()
                .unwrap_or_default();
            for token in tokens {
                let hash = match (token.get("hashedToken"), token.get("token")) {
                    (Some(serde_json::Value::String(h)), _) => h.clone(),
                    (_, Some(serde_json::Value::String(raw))) => {
                        agent_overview::domain::identity::hash_token(raw)
                    }
                    _ => continue,
                };
                client
                    .delete_item()
                    .table_name(&names.sessions)
                    .key("tokenHash", s(&hash))
                    .send()
                    .await
                    .expect("DeleteItem");
            }
        }
    }
    guard
}

/// A tenant id no other test (or earlier run against the same dynalite) uses.
pub fn unique_tenant(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    static STARTED: OnceLock<u128> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{started}-{n}", std::process::id())
}

/// A tenant id the admin functions take (the tests' ids are always valid).
pub fn tid(tenant: &str) -> agent_overview::domain::identity::TenantId {
    tenant.parse().expect("a valid tenant id")
}

pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

pub async fn get(client: &Client, table: &str, key: &[(&str, &str)]) -> Option<Item> {
    let key: Item = key.iter().map(|(k, v)| (k.to_string(), s(v))).collect();
    client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

/// Every item of a table whose `tenant` (or, in the directory, `pk`) is `tenant`.
pub async fn tenant_items(client: &Client, table: &str, tenant: &str) -> Vec<Item> {
    let attribute = if table == table_names().directory {
        "pk"
    } else {
        "tenant"
    };
    client
        .scan()
        .table_name(table)
        .filter_expression("#a = :t")
        .expression_attribute_names("#a", attribute)
        .expression_attribute_values(":t", s(tenant))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("Scan")
}

/// Fault injection: index lag. Puts a conversation as the base table holds it but without the
/// month-bucket attributes, so the GSIs do not show it yet (as when their propagation lags);
/// [`index_now`] makes it visible. A DynamoDB GSI lags like this for ms to minutes.
pub async fn put_unindexed(
    client: &Client,
    tenant: &str,
    c: &agent_overview::domain::conversation::Conversation,
) {
    let mut item = agent_overview::dynamo::items::conversation_item(tenant, c).unwrap();
    item.remove("month");
    item.remove("deptMonth");
    client
        .put_item()
        .table_name(table_names().conversations)
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem");
}

/// Ends the simulated index lag of [`put_unindexed`]: the GSIs now show the conversation.
pub async fn index_now(
    client: &Client,
    tenant: &str,
    c: &agent_overview::domain::conversation::Conversation,
) {
    client
        .put_item()
        .table_name(table_names().conversations)
        .set_item(Some(
            agent_overview::dynamo::items::conversation_item(tenant, c).unwrap(),
        ))
        .send()
        .await
        .expect("PutItem");
}
