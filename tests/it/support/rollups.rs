//! The rollups' test tools: the store under a given plan, the plans compared with each other and
//! the in-memory computation, stream events shaped like DynamoDB's, and a clock a test moves.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use agent_overview::config::{QueryPlan, ReadSettings, RollupTables};
use agent_overview::domain::clock::Clock;
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::range::{ReportingZone, UtcRange};
use agent_overview::dynamo::items::conversation_item;
use agent_overview::functions::stream::handle_batch;
use agent_overview::rollups::rebuild::Rebuilder;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::memory::MemoryStore;
use agent_overview::store::{ConversationStore, RangeQuery};
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::Client;
use chrono::{FixedOffset, NaiveDate};
use serde_json::{json, Value};

use crate::support::harness;

pub fn store(client: &Client, query_plan: QueryPlan) -> DynamoStore {
    DynamoStore::new(
        client.clone(),
        harness::table_names(),
        ReadSettings {
            // Small pages: both plans also walk pagination.
            query_page_limit: Some(4),
            query_plan,
            ..ReadSettings::default()
        },
    )
}

pub fn zones() -> [(&'static str, ReportingZone); 5] {
    [
        ("UTC", ReportingZone::Utc),
        (
            "Asia/Kolkata",
            ReportingZone::Named("Asia/Kolkata".parse().unwrap()),
        ),
        (
            "Australia/Adelaide",
            ReportingZone::Named("Australia/Adelaide".parse().unwrap()),
        ),
        (
            "America/Sao_Paulo",
            ReportingZone::Named("America/Sao_Paulo".parse().unwrap()),
        ),
        (
            "UTC-03:00",
            ReportingZone::Fixed(FixedOffset::west_opt(3 * 3600).unwrap()),
        ),
    ]
}

/// Every figure of `query` under both plans and in memory: the rows must be identical.
/// Returns the rollup items read.
pub async fn assert_plans_agree(
    client: &Client,
    memory: &MemoryStore,
    tenant: &str,
    range: UtcRange,
    department_id: Option<String>,
    label: &str,
) -> u64 {
    let (raw, rollups) = (
        store(client, QueryPlan::Raw),
        store(client, QueryPlan::Rollups),
    );
    let mut rollup_items = 0;
    for figure in Figure::ALL {
        let q = RangeQuery {
            tenant: tenant.to_string(),
            figure,
            range,
            department_id: department_id.clone(),
        };
        let (by_raw, raw_stats) = raw.fold(&q).await.unwrap();
        let (by_rollups, stats) = rollups.fold(&q).await.unwrap();
        let (reference, _) = memory.fold(&q).await.unwrap();
        let expected = reference.into_rows();
        assert_eq!(by_raw.into_rows(), expected, "raw {figure:?} {label}");
        assert_eq!(
            by_rollups.into_rows(),
            expected,
            "rollups {figure:?} {label}"
        );
        assert_eq!(raw_stats.rollup_items_read, 0);
        let whole_days = range
            .split_utc_days()
            .whole_days
            .map_or(0, |(a, b)| (b - a).num_days() as u64 + 1);
        assert!(stats.rollup_days <= whole_days, "{label}");
        assert!(stats.rollup_items_read <= whole_days, "{label}: {stats:?}");
        rollup_items += stats.rollup_items_read;
    }
    rollup_items
}

/// A DynamoDB stream event of the conversations table, as Lambda delivers it.
pub fn stream_event(records: &[Value]) -> Event {
    serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event")
}

/// An image exactly as the importer stores the conversation (DynamoDB JSON).
pub fn image(tenant: &str, c: &Conversation) -> Value {
    let item: serde_dynamo::Item = conversation_item(tenant, c).unwrap().into();
    serde_json::to_value(item).unwrap()
}

/// One stream record; its event name follows the images it carries.
pub fn record(
    seq: u64,
    tenant: &str,
    old: Option<&Conversation>,
    new: Option<&Conversation>,
) -> Value {
    let room = old.or(new).map(|c| c.room_id.clone()).unwrap_or_default();
    let mut change = json!({
        "ApproximateCreationDateTime": 1_711_324_800.0,
        "Keys": {"pk": {"S": format!("{tenant}#{room}")}},
        "SequenceNumber": format!("{seq:021}"),
        "SizeBytes": 250,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if let Some(o) = old {
        change["OldImage"] = image(tenant, o);
    }
    if let Some(n) = new {
        change["NewImage"] = image(tenant, n);
    }
    let name = match (old, new) {
        (None, Some(_)) => "INSERT",
        (Some(_), Some(_)) => "MODIFY",
        _ => "REMOVE",
    };
    json!({
        "eventID": format!("event-{seq}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/agent-overview-conversations/stream/2024-03-25T00:00:00.000"
    })
}

pub fn rebuilder(client: &Client, tables: RollupTables) -> Rebuilder {
    let clock = Arc::new(|| chrono::Utc::now().timestamp_millis());
    Rebuilder::new(client.clone(), tables, clock)
}

/// Runs the stream function on `records`; every record must be applied.
pub async fn deliver(client: &Client, records: &[Value]) {
    let tables = harness::table_names().rollup_tables();
    let response = handle_batch(&rebuilder(client, tables), stream_event(records))
        .await
        .unwrap();
    assert!(
        response.response.batch_item_failures.is_empty(),
        "{response:?}"
    );
}

pub fn room(id: &str, ts: i64, dept: &str, agent: &str, first_response: f64) -> Conversation {
    Conversation {
        department_id: Some(dept.into()),
        open: Some(false),
        agent: Some(agent.into()),
        responder: Some(agent.into()),
        chat_duration: Some(first_response * 10.0),
        first_response: Some(first_response),
        avg_response: Some(first_response + 5.0),
        first_reaction: Some(3.5),
        agent_messages: 4,
        ..Conversation::new(id, ts)
    }
}

/// The rows of `figure` over one UTC day under `plan`, and how many days rollups answered.
pub async fn day_rows(
    client: &Client,
    plan: QueryPlan,
    tenant: &str,
    day: NaiveDate,
    figure: Figure,
    department: Option<&str>,
) -> (Vec<(String, String)>, u64) {
    let q = RangeQuery {
        tenant: tenant.to_string(),
        figure,
        range: UtcRange::utc_day(day),
        department_id: department.map(str::to_string),
    };
    let (agg, stats) = store(client, plan).fold(&q).await.unwrap();
    let rows = agg
        .into_rows()
        .into_iter()
        .map(|r| (r.name, r.value))
        .collect();
    (rows, stats.rollup_days)
}

/// A clock the test moves.
pub fn fake_clock(start_ms: i64) -> (Arc<AtomicI64>, Clock) {
    let now = Arc::new(AtomicI64::new(start_ms));
    let read = now.clone();
    (now, Arc::new(move || read.load(Ordering::SeqCst)))
}
