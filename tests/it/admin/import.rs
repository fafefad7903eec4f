//! Importing Rocket.Chat exports into the local DynamoDB: the hand-written small export (every
//! shape of room, message, user and setting), idempotency, malformed lines both ways, and the
//! two shared fixture exports.

use std::path::PathBuf;

use agent_overview::admin::import::{
    import_export, ImportError, ImportOptions, ImportSummary, MESSAGES, PERMISSIONS, ROOMS,
    SETTINGS, USERS,
};
use agent_overview::config::{ReadSettings, TableNames};
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::identity::{hash_token, ReportingZoneSetting, Session, User};
use agent_overview::dynamo::items::{attr, conversation_pk, read_conversation, Item};
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::IdentityStore;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::support::harness::{exports_lock, get, ready, tenant_items, tid, unique_tenant};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The small export's clock: its login tokens (30 days from 2024-05-01) are current.
fn skipping() -> ImportOptions {
    ImportOptions {
        skip_malformed: true,
        now: "2024-05-02T00:00:00Z".parse().unwrap(),
        ..ImportOptions::at(chrono::Utc::now())
    }
}

async fn conversation(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &str,
    room: &str,
) -> Conversation {
    let pk = conversation_pk(tenant, room);
    let item = get(client, table, &[(attr::PK, &pk)])
        .await
        .unwrap_or_else(|| panic!("no conversation {pk}"));
    read_conversation(&item, &pk).expect("a readable conversation")
}

fn n(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.clone(),
        other => panic!("{name} is not a number: {other:?}"),
    }
}

fn counts(summary: &ImportSummary, collection: &str) -> (u64, Vec<(String, u64)>) {
    let c = summary
        .collection(collection)
        .expect("collection in summary");
    (
        c.lines,
        c.skipped.iter().map(|(k, v)| (k.clone(), *v)).collect(),
    )
}

#[tokio::test]
async fn small_export_imports_every_shape() {
    let _exports = exports_lock().await;
    let (client, names) = ready().await;
    let tenant = unique_tenant("small");
    let summary = import_export(
        &client,
        &names,
        &tid(&tenant),
        &fixture("small-export"),
        &skipping(),
    )
    .await
    .expect("import");

    // The summary: per collection, lines read, items written, skipped and why.
    let rooms = summary.collection(ROOMS).unwrap();
    assert_eq!(rooms.lines, 10);
    assert_eq!(rooms.written("conversations"), 6);
    assert_eq!(
        counts(&summary, ROOMS).1,
        vec![
            ("malformed".to_string(), 1),
            ("rooms of type c".to_string(), 1),
            ("rooms of type d".to_string(), 1),
            ("rooms of type p".to_string(), 1),
        ]
    );
    assert_eq!(rooms.malformed.len(), 1);
    assert!(
        rooms.malformed[0].starts_with("rocketchat_room.json line 7: ts is missing"),
        "{:?}",
        rooms.malformed
    );
    let messages = summary.collection(MESSAGES).unwrap();
    assert_eq!(messages.lines, 20);
    assert_eq!(messages.counted.get("agent messages"), Some(&10));
    assert_eq!(
        counts(&summary, MESSAGES).1,
        vec![
            ("malformed".to_string(), 1),
            ("not in a livechat room".to_string(), 3),
            ("system messages".to_string(), 3),
            ("visitor messages".to_string(), 3),
        ]
    );
    assert!(messages.malformed[0].starts_with("rocketchat_message.json line 19: not valid JSON"));
    let users = summary.collection(USERS).unwrap();
    assert_eq!((users.written("users"), users.written("sessions")), (4, 2));
    assert_eq!(users.skipped("users without a username"), 1);
    assert_eq!(users.skipped("personal access tokens"), 1);
    assert_eq!(
        summary
            .collection(PERMISSIONS)
            .unwrap()
            .written("permissions"),
        2
    );
    let settings = summary.collection(SETTINGS).unwrap();
    assert_eq!(settings.written("settings"), 1);
    assert_eq!(settings.skipped("other settings"), 1);
    let text = summary.to_string();
    assert!(
        text.contains("rocketchat_room.json: 10 lines read; written: 6 conversations"),
        "{text}"
    );

    // Conversations: the worked example's rooms and their message counts.
    let table = &names.conversations;
    let r1 = conversation(&client, table, &tenant, "R1").await;
    assert_eq!(
        r1,
        Conversation {
            room_id: "R1".into(),
            ts_ms: 1_709_287_200_000,
            department_id: Some("D1".into()),
            open: Some(false),
            agent: Some("kim".into()),
            responder: Some("kim".into()),
            chat_duration: Some(100.0),
            first_response: Some(30.0),
            avg_response: Some(40.0),
            first_reaction: Some(5.0),
            agent_messages: 3,
        }
    );
    let r2 = conversation(&client, table, &tenant, "R2").await;
    assert_eq!(
        (r2.ts_ms, r2.chat_duration, r2.first_reaction),
        (1_709_290_800_000, Some(7300.0), Some(0.0))
    );
    assert_eq!(
        r2.agent_messages, 0,
        "null t with a visitor token is a visitor message"
    );
    let r3 = conversation(&client, table, &tenant, "R3").await;
    assert_eq!(
        (r3.agent.as_deref(), r3.responder.as_deref()),
        (Some("kim"), Some("jane"))
    );
    assert_eq!(
        (r3.chat_duration, r3.first_reaction, r3.agent_messages),
        (Some(0.0), None, 2)
    );
    let r4 = conversation(&client, table, &tenant, "R4").await;
    assert_eq!(
        r4,
        Conversation {
            open: Some(true),
            ..Conversation::new("R4", 1_709_298_000_000)
        }
    );
    assert_eq!(
        conversation(&client, table, &tenant, "R5")
            .await
            .agent_messages,
        1
    );
    let r6 = conversation(&client, table, &tenant, "R6").await;
    assert_eq!(r6.ts_ms, 1_710_547_199_999);
    assert_eq!(
        r6.department_id, None,
        "an explicit null department is none"
    );
    assert_eq!(r6.avg_response, None, "an explicit null metric is absent");
    assert_eq!(r6.agent_messages, 4);

    // Stored numbers keep Rocket.Chat's exact decimals; the GSI keys follow the data model.
    let item = get(
        &client,
        table,
        &[(attr::PK, &conversation_pk(&tenant, "R6"))],
    )
    .await
    .unwrap();
    assert_eq!(n(&item, attr::CHAT_DURATION), "1585.352");
    assert_eq!(n(&item, attr::FIRST_RESPONSE), "89.995");
    assert_eq!(n(&item, attr::FIRST_REACTION), "2.675");
    assert_eq!(item.get(attr::DEPT_MONTH), None);
    assert_eq!(
        item.get(attr::MONTH),
        Some(&AttributeValue::S(format!("{tenant}#2024-03")))
    );
    let item = get(
        &client,
        table,
        &[(attr::PK, &conversation_pk(&tenant, "R1"))],
    )
    .await
    .unwrap();
    assert_eq!(
        item.get(attr::DEPT_MONTH),
        Some(&AttributeValue::S(format!("{tenant}#2024-03#D1")))
    );
    for other in ["C1", "P1", "DM1", "BAD1"] {
        let pk = conversation_pk(&tenant, other);
        assert!(
            get(&client, table, &[(attr::PK, &pk)]).await.is_none(),
            "{other}"
        );
    }
    assert_eq!(tenant_items(&client, table, &tenant).await.len(), 6);

    // Users, settings, permission override and sessions, read back as the handler reads them.
    let store = DynamoStore::new(client.clone(), names.clone(), ReadSettings::default());
    let mia = store.caller(&tenant, "u-mia").await.expect("caller");
    let generation = mia.user.as_ref().and_then(|u| u.generation.clone());
    assert!(generation.is_some(), "a new user gets a generation");
    assert_eq!(
        mia.user,
        Some(User {
            id: "u-mia".into(),
            username: "mia".into(),
            roles: vec!["user".into(), "livechat-manager".into()],
            utc_offset: Some(2.0),
            generation: generation.clone(),
        })
    );
    assert_eq!(
        mia.settings.reporting_timezone,
        ReportingZoneSetting::Custom("Europe/Berlin".into())
    );
    assert_eq!(mia.settings.login_expiration_days, 30);
    assert_eq!(
        mia.view_livechat_manager_roles,
        Some(vec![
            "admin".into(),
            "livechat-manager".into(),
            "supervisor".into()
        ])
    );
    let sam = store.caller(&tenant, "u-sam").await.expect("caller");
    assert!(
        sam.can_view_livechat_manager(),
        "supervisor is granted by the override"
    );
    assert_eq!(sam.user.and_then(|u| u.utc_offset), Some(5.5));
    let jane = store.caller(&tenant, "u-jane").await.expect("caller");
    assert_eq!(jane.user.map(|u| u.utc_offset), Some(None));
    assert!(store
        .caller(&tenant, "u-nameless")
        .await
        .expect("caller")
        .user
        .is_none());

    let session = store
        .session(&hash_token("small-token-mia"))
        .await
        .expect("session read")
        .expect("the imported token is a session");
    assert_eq!(
        session,
        Session {
            tenant: tenant.clone(),
            user_id: "u-mia".into(),
            issued_at_ms: 1_714_550_400_000,
            generation,
        }
    );
    let item = get(
        &client,
        &names.sessions,
        &[(attr::TOKEN_HASH, &hash_token("small-token-sam"))],
    )
    .await
    .expect("sam's session");
    assert_eq!(n(&item, attr::ISSUED_AT), "1714550400000");
    assert_eq!(
        n(&item, attr::EXPIRES_AT),
        (1_714_550_400 + 30 * 86_400).to_string()
    );
    assert!(store
        .session(&hash_token("small-pat-sam"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        tenant_items(&client, &names.sessions, &tenant).await.len(),
        2
    );
    // 4 users, the settings, 2 permissions.
    assert_eq!(
        tenant_items(&client, &names.directory, &tenant).await.len(),
        7
    );
}

/// Every item of the tenant, per table, in key order.
async fn snapshot(
    client: &aws_sdk_dynamodb::Client,
    names: &TableNames,
    tenant: &str,
) -> Vec<Vec<Item>> {
    let mut all = Vec::new();
    for table in [&names.conversations, &names.directory, &names.sessions] {
        let mut items = tenant_items(client, table, tenant).await;
        items
            .sort_by_key(|i| format!("{:?}{:?}{:?}", i.get("pk"), i.get("sk"), i.get("tokenHash")));
        all.push(items);
    }
    all
}

#[tokio::test]
async fn importing_twice_writes_the_same_items() {
    let _exports = exports_lock().await;
    let (client, names) = ready().await;
    let tenant = unique_tenant("twice");
    let dir = fixture("small-export");
    let first = import_export(&client, &names, &tid(&tenant), &dir, &skipping())
        .await
        .unwrap();
    let after_first = snapshot(&client, &names, &tenant).await;
    let second = import_export(&client, &names, &tid(&tenant), &dir, &skipping())
        .await
        .unwrap();
    let after_second = snapshot(&client, &names, &tenant).await;
    // The same counts; the capacity differs (an overwrite is charged for the larger of the old
    // and new item, and the second rebuild supersedes what the first wrote).
    assert_eq!(
        ImportSummary {
            consumed: second.consumed,
            ..first
        },
        second
    );
    assert_eq!(
        after_first.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![6, 7, 2]
    );
    assert_eq!(after_first, after_second);
}

#[tokio::test]
async fn a_malformed_line_stops_the_import_unless_skipped() {
    let _exports = exports_lock().await;
    let (client, names) = ready().await;
    let tenant = unique_tenant("strict");
    let err = import_export(
        &client,
        &names,
        &tid(&tenant),
        &fixture("small-export"),
        &ImportOptions::at(chrono::Utc::now()),
    )
    .await
    .expect_err("the malformed room stops the import");
    match &err {
        ImportError::Malformed { file, line, .. } => {
            assert_eq!((file.as_str(), *line), ("rocketchat_room.json", 7));
        }
        other => panic!("unexpected error {other:?}"),
    }
    let text = agent_overview::errors::error_chain(&err);
    assert!(
        text.contains("rocketchat_room.json line 7") && text.contains("ts is missing"),
        "{text}"
    );
    // Rooms are validated in full before the first conversation is written.
    assert!(tenant_items(&client, &names.conversations, &tenant)
        .await
        .is_empty());

    let skipped = import_export(
        &client,
        &names,
        &tid(&tenant),
        &fixture("small-export"),
        &skipping(),
    )
    .await
    .expect("skipping malformed lines");
    assert_eq!(skipped.collection(ROOMS).unwrap().skipped("malformed"), 1);
    assert_eq!(
        skipped.collection(MESSAGES).unwrap().skipped("malformed"),
        1
    );
    assert_eq!(
        tenant_items(&client, &names.conversations, &tenant)
            .await
            .len(),
        6
    );
}

#[tokio::test]
async fn a_missing_required_file_fails_before_writing() {
    let _exports = exports_lock().await;
    let (client, names) = ready().await;
    let tenant = unique_tenant("missing");
    let dir = std::env::temp_dir().join(format!("it-missing-{tenant}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        fixture("small-export").join("users.json"),
        dir.join("users.json"),
    )
    .unwrap();
    let err = import_export(&client, &names, &tid(&tenant), &dir, &skipping())
        .await
        .expect_err("no rooms file");
    assert!(
        matches!(&err, ImportError::MissingFile { file, .. } if file == "rocketchat_room.json"),
        "{err:?}"
    );
    assert!(tenant_items(&client, &names.directory, &tenant)
        .await
        .is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

/// The shared exports: same shape of summary in both formats; figures' inputs stored exactly.
async fn import_shared(folder: &str, agent_messages: u64) -> (String, ImportSummary) {
    let _exports = exports_lock().await;
    let (client, names) = ready().await;
    let tenant = unique_tenant(folder);
    let summary = import_export(
        &client,
        &names,
        &tid(&tenant),
        &fixture(&format!("rocketchat-export/{folder}")),
        // The fixtures' clock: 4 of their 10 login tokens are current (3650 days), 6 expired.
        &ImportOptions {
            now: "2026-11-25T00:00:00Z".parse().unwrap(),
            ..ImportOptions::at(chrono::Utc::now())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{folder}: {}", agent_overview::errors::error_chain(&e)));
    let c = |name| summary.collection(name).unwrap();
    assert_eq!(c(ROOMS).lines, 66);
    assert_eq!(c(ROOMS).written("conversations"), 60);
    assert_eq!(
        c(ROOMS).skipped.values().sum::<u64>(),
        6,
        "other room types"
    );
    assert_eq!(
        c(MESSAGES).counted.get("agent messages"),
        Some(&agent_messages)
    );
    assert_eq!(c(MESSAGES).skipped("malformed"), 0);
    assert_eq!(
        (c(USERS).written("users"), c(USERS).written("sessions")),
        (11, 4)
    );
    assert_eq!(c(USERS).skipped("expired login tokens"), 6);
    assert_eq!(c(PERMISSIONS).written("permissions"), 2);
    assert_eq!(c(SETTINGS).written("settings"), 1);

    let stored = tenant_items(&client, &names.conversations, &tenant).await;
    assert_eq!(stored.len(), 60);
    let total: u64 = stored
        .iter()
        .map(|i| n(i, attr::AGENT_MESSAGES).parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, agent_messages);
    assert_eq!(
        tenant_items(&client, &names.sessions, &tenant).await.len(),
        4
    );
    assert_eq!(
        tenant_items(&client, &names.directory, &tenant).await.len(),
        11 + 1 + 2
    );
    (tenant, summary)
}

#[tokio::test]
async fn custom_zone_relaxed_export_imports() {
    let (tenant, summary) = import_shared("custom-zone-relaxed", 165).await;
    assert_eq!(
        summary.settings.reporting_timezone,
        ReportingZoneSetting::Custom("America/New_York".into())
    );
    assert_eq!(summary.settings.login_expiration_days, 3650);
    let (client, names) = ready().await;
    let c = conversation(&client, &names.conversations, &tenant, "7brLe0Vyhlr7HiKRk").await;
    assert_eq!(c.ts_ms, 1_710_734_399_999);
    assert_eq!(
        (c.chat_duration, c.first_response, c.avg_response),
        (Some(1585.352), Some(0.0), Some(2411.16))
    );
    // The README's token of user "root" authenticates after the import.
    let store = DynamoStore::new(client, names, ReadSettings::default());
    let session = store
        .session(&hash_token("gxgXWqb89Ishvk1GHyxL2qVIVimYIHT89g4BJePeBUZ"))
        .await
        .unwrap()
        .expect("root's session");
    assert_eq!(
        (session.tenant.as_str(), session.user_id.as_str()),
        (tenant.as_str(), "TX0zirsN0gL0Glac5")
    );
}

#[tokio::test]
async fn user_zone_canonical_export_imports() {
    let (tenant, summary) = import_shared("user-zone-canonical", 169).await;
    assert_eq!(
        summary.settings.reporting_timezone,
        ReportingZoneSetting::User
    );
    let (client, names) = ready().await;
    let c = conversation(&client, &names.conversations, &tenant, "PPSEfSlaN4ER85oPb").await;
    assert_eq!(c.ts_ms, 1_729_802_141_904);
    assert_eq!(c.agent.as_deref(), Some("o'neil"));
    assert_eq!(
        (c.chat_duration, c.first_response, c.first_reaction),
        (Some(2921.286), Some(8518.05), Some(6986.6))
    );
    let store = DynamoStore::new(client, names, ReadSettings::default());
    let root = store.caller(&tenant, "kXVVU5UNQXHqsC81v").await.unwrap();
    assert_eq!(root.user.and_then(|u| u.utc_offset), Some(-3.0));
}

/// A UTC day holds at most `MAX_DEPARTMENTS_PER_DAY` departments, as through the sync: the rooms
/// that would add more are refused as malformed (skipped with `--skip-malformed`).
#[tokio::test]
async fn a_day_takes_no_more_departments_than_it_can_hold() {
    use agent_overview::rocketchat::limits::MAX_DEPARTMENTS_PER_DAY;
    let _exports = exports_lock().await;
    let (client, names) = ready().await;
    let tenant = unique_tenant("depts");
    let dir = std::env::temp_dir().join(format!("it-depts-{tenant}"));
    std::fs::create_dir_all(&dir).unwrap();
    let rooms: Vec<String> = (0..MAX_DEPARTMENTS_PER_DAY + 2)
        .map(|i| {
            format!(
                r#"{{"_id":"r{i:04}","t":"l","ts":{{"$date":{}}},"departmentId":"d{i:04}","servedBy":{{"_id":"a","username":"kim"}}}}"#,
                1_717_200_000_000i64 + i as i64 * 1000
            )
        })
        .collect();
    std::fs::write(dir.join("rocketchat_room.json"), rooms.join("\n")).unwrap();
    std::fs::write(dir.join("rocketchat_message.json"), "").unwrap();
    std::fs::write(
        dir.join("users.json"),
        r#"{"_id":"a","username":"kim","roles":["livechat-agent"],"active":true}"#,
    )
    .unwrap();
    let strict = import_export(
        &client,
        &names,
        &tid(&tenant),
        &dir,
        &ImportOptions::at(chrono::Utc::now()),
    )
    .await
    .expect_err("one department too many");
    assert!(
        agent_overview::errors::error_chain(&strict).contains("departments"),
        "{strict:?}"
    );
    let summary = import_export(&client, &names, &tid(&tenant), &dir, &skipping())
        .await
        .expect("skipping the rooms past the cap");
    assert_eq!(summary.collection(ROOMS).unwrap().skipped("malformed"), 2);
    assert_eq!(
        tenant_items(&client, &names.conversations, &tenant)
            .await
            .len(),
        MAX_DEPARTMENTS_PER_DAY
    );
    std::fs::remove_dir_all(dir).unwrap();
}
