//! Consumed capacity (`store::capacity`) against dynalite: what a request's summary and EMF line
//! report is what its DynamoDB calls consumed, computed by DynamoDB's rules from the items read;
//! writes on spawned batch tasks are counted; outside a scope nothing is asked or counted.

use std::collections::HashMap;

use agent_overview::config::{Limits, QueryPlan};
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::identity::{hash_token, ReportingTimezone, TenantSettings};
use agent_overview::domain::range::{ReportDate, ReportingZone, UtcRange};
use agent_overview::store::capacity::{self, dynamo_item_size, read_units, ConsumedCapacity};
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::items::{self, attr};
use agent_overview::store::writer::{BatchWriter, WriterOptions};
use agent_overview::store::{ConversationStore, IdentityStore, RangeQuery};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use aws_sdk_dynamodb::Client;

use crate::dynamo::{
    dynamo_app, get, put_conversations, random_rooms, rebuild_rollups, seed_tenant,
};
use crate::harness;
use crate::telemetry::capture;

/// 2024-03-01T00:00:00Z.
const DAY_MS: i64 = 1_709_251_200_000;
const ONE_DAY: &str = "name=Total_conversations&from=2024-03-01&to=2024-03-01";

/// The byMonth index's projection (template.yaml): table and index keys and these attributes.
const PROJECTED: [&str; 8] = [
    attr::AGENT,
    attr::RESPONDER,
    attr::CHAT_DURATION,
    attr::FIRST_RESPONSE,
    attr::AVG_RESPONSE,
    attr::FIRST_REACTION,
    attr::AGENT_MESSAGES,
    attr::DEPARTMENT_ID,
];

/// The index entry DynamoDB keeps for `c` in byMonth, and so charges a Query for.
fn by_month_entry(tenant: &str, c: &Conversation) -> HashMap<String, AttributeValue> {
    let keys = [attr::PK, attr::SK, attr::MONTH, attr::TS];
    items::conversation_item(tenant, c)
        .unwrap()
        .into_iter()
        .filter(|(name, _)| keys.contains(&name.as_str()) || PROJECTED.contains(&name.as_str()))
        .collect()
}

/// `n` conversations inside 2024-03-01 (UTC).
fn one_day_of(n: usize) -> Vec<Conversation> {
    random_rooms(21, n, DAY_MS, 86_400_000 - 1)
}

async fn tenant_with(client: &Client, prefix: &str, rooms: &[Conversation]) -> (String, String) {
    let tenant = harness::unique_tenant(prefix);
    let settings = TenantSettings {
        reporting_timezone: ReportingTimezone::Custom("UTC".into()),
        login_expiration_days: 90,
    };
    let token = seed_tenant(client, &tenant, settings, None).await;
    put_conversations(client, &tenant, rooms).await;
    (tenant, token)
}

fn day_query(tenant: &str) -> RangeQuery {
    let day = ReportDate::parse("2024-03-01").unwrap();
    RangeQuery {
        tenant: tenant.into(),
        figure: Figure::TotalConversations,
        range: UtcRange::from_days(day, day, &ReportingZone::Utc),
        department_id: None,
    }
}

fn limits(query_plan: QueryPlan) -> Limits {
    Limits {
        query_plan,
        ..Limits::default()
    }
}

#[tokio::test]
async fn a_raw_day_read_consumes_what_dynamodb_charges_for_its_index_entries() {
    let (client, tables) = harness::ready().await;
    let rooms = one_day_of(120);
    let (tenant, _) = tenant_with(&client, "cap-raw", &rooms).await;
    let store = DynamoStore::new(client, tables, limits(QueryPlan::Raw));

    let (folded, consumed) = capacity::measure(store.fold(&day_query(&tenant))).await;
    let (_, stats) = folded.unwrap();

    // One eventually consistent Query page: the entries' sizes summed, in 4 KB units, halved.
    assert_eq!(stats.requests, 1);
    let bytes: usize = rooms
        .iter()
        .map(|c| dynamo_item_size(&by_month_entry(&tenant, c)))
        .sum();
    assert!(
        bytes > 3 * 4096,
        "several units, so rounding is tested: {bytes} bytes"
    );
    assert_eq!(
        consumed,
        ConsumedCapacity {
            read_units: read_units(bytes, false),
            write_units: 0.0,
        },
        "{bytes} bytes read"
    );
}

#[tokio::test]
async fn a_request_summary_and_its_emf_line_carry_the_read_capacity_consumed() {
    let (client, tables) = harness::ready().await;
    let rooms = one_day_of(120);
    let (tenant, token) = tenant_with(&client, "cap-req", &rooms).await;
    rebuild_rollups(&client, &tenant, &rooms).await;

    let mut consumed = HashMap::new();
    for plan in [QueryPlan::Raw, QueryPlan::Rollups] {
        // What the request's reads consume, each measured on its own.
        let store = DynamoStore::new(client.clone(), tables.clone(), limits(plan));
        let (session, session_units) = capacity::measure(store.session(&hash_token(&token))).await;
        assert!(session.unwrap().is_some());
        let (caller, caller_units) = capacity::measure(store.caller(&tenant, "u-manager")).await;
        caller.unwrap();
        let (fold, fold_units) = capacity::measure(store.fold(&day_query(&tenant))).await;
        fold.unwrap();
        let expected = session_units.read_units + caller_units.read_units + fold_units.read_units;
        assert!(session_units.read_units > 0.0 && caller_units.read_units > 0.0);

        let app = dynamo_app(client.clone(), limits(plan));
        let (log, guard) = capture("info");
        let (status, _) = get(&app, ONE_DAY, &token).await;
        drop(guard);
        assert_eq!(status, 200);
        let summary = &log.request_logs()[0]["fields"];
        assert_eq!(
            summary["consumed_read_capacity"], expected,
            "{plan:?}: {summary}"
        );
        assert_eq!(summary["consumed_write_capacity"], 0.0, "{plan:?}");
        let emf = &log.metrics()[0];
        assert_eq!(emf["ConsumedReadCapacity"], expected, "{plan:?}: {emf}");
        assert_eq!(emf["tenant"], tenant.as_str());
        let declared = emf["_aws"]["CloudWatchMetrics"][0].to_string();
        assert!(declared.contains("\"ConsumedReadCapacity\""), "{declared}");
        assert!(!declared.contains("tenant"), "the tenant is no dimension");
        consumed.insert(format!("{plan:?}"), fold_units.read_units);
    }
    // The day's rollup items are fewer bytes than its 120 conversations.
    assert!(
        consumed["Rollups"] < consumed["Raw"],
        "rollups {} < raw {}",
        consumed["Rollups"],
        consumed["Raw"]
    );
}

#[tokio::test]
async fn batch_writes_on_their_own_tasks_are_counted_in_the_scope() {
    let (client, tables) = harness::ready().await;
    let tenant = harness::unique_tenant("cap-batch");
    let rooms = one_day_of(60);
    let (written, consumed) = capacity::measure(async {
        let mut writer = BatchWriter::new(
            client.clone(),
            tables.conversations.clone(),
            &[attr::PK, attr::SK],
            WriterOptions::default(),
        );
        for c in &rooms {
            writer
                .put(items::conversation_item(&tenant, c).unwrap())
                .await
                .unwrap();
        }
        writer.finish().await.unwrap()
    })
    .await;
    assert_eq!(written, 60);
    // Each item is under 1 KB: one unit each on the table (dynalite does not count the GSIs'
    // writes; DynamoDB would add one per index entry, see docs/capacity.md).
    assert_eq!(
        consumed,
        ConsumedCapacity {
            read_units: 0.0,
            write_units: 60.0
        }
    );
}

#[tokio::test]
async fn outside_a_scope_nothing_is_asked_or_counted_and_a_callers_choice_stands() {
    let (client, tables) = harness::ready().await;
    let key = |v: &str| {
        HashMap::from([
            (attr::PK.to_string(), AttributeValue::S(v.into())),
            (attr::SK.to_string(), AttributeValue::S(v.into())),
        ])
    };
    let out = client
        .get_item()
        .table_name(&tables.directory)
        .set_key(Some(key("cap-none")))
        .send()
        .await
        .unwrap();
    assert!(out.consumed_capacity.is_none(), "no scope: not asked for");

    let (out, consumed) = capacity::measure(
        client
            .get_item()
            .table_name(&tables.directory)
            .set_key(Some(key("cap-none")))
            .return_consumed_capacity(ReturnConsumedCapacity::None)
            .send(),
    )
    .await;
    assert!(out.unwrap().consumed_capacity.is_none());
    assert_eq!(
        consumed,
        ConsumedCapacity::default(),
        "the caller's NONE stands"
    );

    let (out, consumed) = capacity::measure(
        client
            .get_item()
            .table_name(&tables.directory)
            .set_key(Some(key("cap-none")))
            .send(),
    )
    .await;
    assert!(
        out.unwrap().consumed_capacity.is_some(),
        "in a scope: asked for"
    );
    // A missing item read eventually consistently: DynamoDB's minimum, half a unit.
    assert_eq!(consumed.read_units, 0.5);
}
