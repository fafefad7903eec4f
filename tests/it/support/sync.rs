//! One sync cycle against the stand-in, the truth the import gives, and callers' sessions.

use std::collections::BTreeMap;
use std::time::Duration;

use agent_overview::admin::import::{import_export, ImportOptions};
use agent_overview::admin::session::{mint_session, revoke_session};
use agent_overview::config::TableNames;
use agent_overview::domain::conversation::Conversation;
use agent_overview::dynamo::items::{attr, read_conversation};
use agent_overview::sync::client::{AuthToken, RestClient, RetryPolicy};
use agent_overview::sync::cycle::{sync_tenant, SyncError, SyncOptions, SyncSummary};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::{json, Value};

use crate::support::export::{fixture_dir, replay_cases};
use crate::support::harness;
use crate::support::rc_standin::{iso, Workspace, TOKEN, USER_ID};

pub const EXPIRED: &str = "expired session";

/// Short back-offs: the tests wait for real.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        timeout: Duration::from_secs(5),
        max_retries: 3,
        base_backoff: Duration::from_millis(20),
        max_rate_limit_wait: Duration::from_secs(5),
        max_rate_limit_waits: 10,
    }
}

pub fn rest(url: &str, token: &str) -> RestClient {
    RestClient::new(
        url,
        USER_ID,
        AuthToken::new(token).unwrap(),
        fast_policy(),
        agent_overview::domain::clock::system_clock(),
    )
    .unwrap()
}

pub async fn run(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    url: &str,
    options: SyncOptions,
) -> Result<SyncSummary, SyncError> {
    let rc = rest(url, TOKEN);
    sync_tenant(
        client,
        names,
        &harness::tid(tenant),
        &rc,
        &SyncOptions {
            rebuild_rollups: true,
            ..options
        },
        chrono::Utc::now().timestamp_millis(),
    )
    .await
}

/// One incremental cycle with the default options, which must succeed.
pub async fn sync_ok(client: &Client, names: &TableNames, tenant: &str, url: &str) -> SyncSummary {
    run(client, names, tenant, url, SyncOptions::default())
        .await
        .expect("the sync cycle succeeds")
}

/// The tenant's conversations by room id, `pk` and tenant aside.
pub async fn conversations(
    client: &Client,
    names: &TableNames,
    tenant: &str,
) -> BTreeMap<String, Conversation> {
    harness::tenant_items(client, &names.conversations, tenant)
        .await
        .iter()
        .map(|item| {
            let key = match item.get(attr::PK) {
                Some(AttributeValue::S(pk)) => pk.clone(),
                _ => String::new(),
            };
            let c = read_conversation(item, &key).unwrap();
            (c.room_id.clone(), c)
        })
        .collect()
}

pub async fn imported(
    client: &Client,
    names: &TableNames,
    folder: &str,
) -> BTreeMap<String, Conversation> {
    // The import writes the export's sessions: not while a replay runs on minted ones.
    let _exports = harness::exports_lock().await;
    let tenant = harness::unique_tenant("sync-truth");
    let options = ImportOptions {
        skip_malformed: false,
        show_progress: false,
        ..ImportOptions::at(chrono::Utc::now())
    };
    import_export(
        client,
        names,
        &harness::tid(&tenant),
        &fixture_dir(folder),
        &options,
    )
    .await
    .expect("the export imports");
    conversations(client, names, &tenant).await
}

/// Sessions for the cases' callers, with their own tokens (REST never exposes tokens).
pub async fn mint_callers(client: &Client, names: &TableNames, tenant: &str, folder: &str) {
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir(folder).join("cases.json")).unwrap(),
    )
    .unwrap();
    let mut done = std::collections::HashSet::new();
    for case in cases.iter().filter(|c| c["label"] != EXPIRED) {
        let token = case["headers"]["X-Auth-Token"]
            .as_str()
            .unwrap()
            .to_string();
        let user = case["headers"]["X-User-Id"].as_str().unwrap().to_string();
        if done.insert((token.clone(), user.clone())) {
            // An import of the same export may hold this token for its own tenant.
            revoke_session(client, names, &token).await.unwrap();
            mint_session(
                client,
                names,
                &harness::tid(tenant),
                &user,
                Some(token),
                chrono::Utc::now(),
            )
            .await
            .unwrap_or_else(|e| panic!("minting a session for {user}: {e}"));
        }
    }
}

/// Takes the tenant's lease as a sync would once the current one expired, and gives it up.
pub async fn expire_lease(client: &Client, names: &TableNames, tenant: &str) {
    let later =
        chrono::Utc::now().timestamp_millis() + agent_overview::sync::lease::LEASE_MS + 60_000;
    agent_overview::sync::lease::Lease::take(client, names, tenant, later, later + 1)
        .await
        .unwrap()
        .release(client, names)
        .await
        .unwrap();
}

/// A workspace of exactly `rooms` closed livechat rooms of 2024-06-01, one a minute, all served
/// by kim, the first with `messages` agent messages.
pub fn generated(rooms: usize, messages: usize) -> Workspace {
    let base = 1_717_200_000_000i64; // 2024-06-01
    let mut w = Workspace::from_export(&fixture_dir("custom-zone-relaxed"));
    w.rooms.clear();
    w.messages.clear();
    for i in 0..rooms {
        w.rooms.push(json!({
            "_id": format!("room{i:04}"), "t": "l", "ts": iso(base + i as i64 * 60_000),
            "_updatedAt": iso(base + i as i64 * 60_000), "open": false,
            "servedBy": {"_id": "a", "username": "kim"}, "responseBy": {"_id": "a", "username": "kim"},
            "metrics": {"chatDuration": 10 + i, "response": {"ft": 1.5, "avg": 2}, "reaction": {"ft": 3}},
        }));
    }
    for j in 0..messages {
        w.messages.push(json!({"_id": format!("m{j}"), "rid": "room0000", "msg": "hi",
            "ts": iso(base + j as i64), "_updatedAt": iso(base + j as i64), "u": {"_id": "a", "username": "kim"}}));
    }
    w
}

/// The tenant's conversations are what an import of `folder` stores, and the folder's cases
/// (the expired session's aside) answer as expected for callers with minted sessions.
pub async fn assert_matches_the_export(
    client: &Client,
    names: &TableNames,
    tenant: &str,
    folder: &str,
) {
    assert_eq!(
        conversations(client, names, tenant).await,
        imported(client, names, folder).await
    );
    let _exports = harness::exports_lock().await;
    mint_callers(client, names, tenant, folder).await;
    let failures = replay_cases(client.clone(), names.clone(), folder, |label| {
        label != EXPIRED
    })
    .await;
    assert!(failures.is_empty(), "{folder}:\n{}", failures.join("\n"));
}
