//! Consumed capacity (`dynamo::capacity`) against dynalite: what a request's summary and EMF line
//! report is what its DynamoDB calls consumed, computed by DynamoDB's rules from the items read;
//! writes on spawned batch tasks are counted; outside a scope nothing is asked or counted.

use std::collections::HashMap;
use std::path::PathBuf;

use agent_overview::admin::import::{import_export, ImportOptions};

use agent_overview::config::{QueryPlan, ReadSettings};
use agent_overview::domain::clock::system_clock;
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::identity::{hash_token, ReportingZoneSetting, TenantSettings};
use agent_overview::domain::range::{ReportDate, ReportingZone, UtcRange};
use agent_overview::dynamo::capacity::{self, dynamo_item_size, read_units, ConsumedCapacity};
use agent_overview::dynamo::items::{self, attr};
use agent_overview::dynamo::writer::{BatchWriter, WriterOptions};
use agent_overview::functions::stream::handle_batch;
use agent_overview::reconcile::scheduled::{run_once, DaysToReconcile};
use agent_overview::reconcile::verify::Verifier;
use agent_overview::rollups::rebuild::Rebuilder;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::{ConversationStore, IdentityStore, RangeQuery, StoreError};
use agent_overview::sync::cycle::SyncOptions;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use aws_sdk_dynamodb::Client;
use chrono::NaiveDate;

use crate::support::api::{dynamo_app, get};
use crate::support::harness;
use crate::support::logs::capture;
use crate::support::rc_standin::StandIn;
use crate::support::seed::{put_conversations, random_rooms, rebuild_rollups, seed_tenant};
use crate::support::sync::generated;

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
        reporting_timezone: ReportingZoneSetting::Custom("UTC".into()),
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

fn read_settings(query_plan: QueryPlan) -> ReadSettings {
    ReadSettings {
        query_plan,
        ..ReadSettings::default()
    }
}

#[tokio::test]
async fn a_raw_day_read_consumes_what_dynamodb_charges_for_its_index_entries() {
    let (client, tables) = harness::ready().await;
    let rooms = one_day_of(120);
    let (tenant, _) = tenant_with(&client, "cap-raw", &rooms).await;
    let store = DynamoStore::new(client, tables, read_settings(QueryPlan::Raw));

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
        let store = DynamoStore::new(client.clone(), tables.clone(), read_settings(plan));
        let (session, session_units) = capacity::measure(store.session(&hash_token(&token))).await;
        assert!(session.unwrap().is_some());
        let (caller, caller_units) = capacity::measure(store.caller(&tenant, "u-manager")).await;
        caller.unwrap();
        let (fold, fold_units) = capacity::measure(store.fold(&day_query(&tenant))).await;
        fold.unwrap();
        let expected = session_units.read_units + caller_units.read_units + fold_units.read_units;
        assert!(session_units.read_units > 0.0 && caller_units.read_units > 0.0);

        let app = dynamo_app(client.clone(), read_settings(plan));
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

#[tokio::test]
async fn an_import_summary_carries_at_least_a_write_unit_per_item_written() {
    let _exports = harness::exports_lock().await;
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("cap-import");
    let options = ImportOptions {
        skip_malformed: true,
        now: "2024-05-02T00:00:00Z".parse().unwrap(),
        ..ImportOptions::at(chrono::Utc::now())
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-export");
    let summary = import_export(&client, &names, &harness::tid(&tenant), &dir, &options)
        .await
        .expect("import");
    let written: u64 = summary
        .collections
        .iter()
        .flat_map(|c| c.written.values())
        .sum::<u64>()
        + summary.rollups.items_written;
    assert!(written > 10, "{written} items");
    assert!(
        summary.consumed.write_units >= written as f64,
        "{} write units for {written} items",
        summary.consumed.write_units
    );
    // The rollup rebuild reads the conversations it just wrote.
    assert!(summary.consumed.read_units > 0.0);
    assert!(
        summary.to_string().contains("consumed capacity: "),
        "{summary}"
    );
}

#[tokio::test]
async fn a_sync_summary_carries_at_least_a_write_unit_per_item_written() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("cap-sync");
    let standin = StandIn::start(generated(30, 5)).await;
    let summary = crate::support::sync::run(
        &client,
        &names,
        &tenant,
        &standin.url,
        SyncOptions::default(),
    )
    .await
    .expect("the sync cycle succeeds");
    assert_eq!(summary.rooms_added, 30);
    let written = summary.rooms_added + summary.users_written + summary.rollup_days;
    assert!(
        summary.consumed.write_units >= written as f64,
        "{} write units for {written} items",
        summary.consumed.write_units
    );
    // The lease and the state are read consistently before anything is written.
    assert!(summary.consumed.read_units >= 1.0);
    assert!(
        summary.to_string().contains("consumed capacity: "),
        "{summary}"
    );
}

#[tokio::test]
async fn the_stream_function_reports_what_its_marks_and_rebuilds_consumed() {
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("cap-stream");
    let rooms = one_day_of(20);
    put_conversations(&client, &tenant, &rooms).await;
    let records: Vec<_> = rooms
        .iter()
        .enumerate()
        .map(|(i, c)| crate::support::rollups::record(i as u64 + 1, &tenant, None, Some(c)))
        .collect();
    let rebuilder = Rebuilder::with_clock(&client, &names, system_clock());
    let applied = handle_batch(&rebuilder, crate::support::rollups::stream_event(&records))
        .await
        .unwrap();
    assert_eq!(applied.failed_days, 0);
    // The day's mark and its rollup items are written; its conversations read.
    assert!(
        applied.consumed.write_units >= 2.0,
        "{:?}",
        applied.consumed
    );
    assert!(applied.consumed.read_units > 0.0, "{:?}", applied.consumed);
}

/// The days to verify, as given.
struct Days(Vec<(String, NaiveDate)>);

impl DaysToReconcile for Days {
    async fn days(&self, _since_ms: i64) -> Result<Vec<(String, NaiveDate)>, StoreError> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn a_reconcile_run_reports_what_its_verification_read() {
    let (client, names) = harness::ready().await;
    let rooms = one_day_of(120);
    let (tenant, _) = tenant_with(&client, "cap-reconcile", &rooms).await;
    rebuild_rollups(&client, &tenant, &rooms).await;
    let verifier = Verifier::new(
        client.clone(),
        names.rollup_tables(),
        Rebuilder::with_clock(&client, &names, system_clock()),
        system_clock(),
    );
    let day = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
    let run = run_once(&verifier, &Days(vec![(tenant, day)]), DAY_MS)
        .await
        .unwrap();
    assert_eq!((run.days_checked, run.drift_days), (1, 0));
    // Verifying reads the day's 120 conversations (several 4 KB units) and its rollups.
    assert!(run.consumed.read_units >= 1.5, "{:?}", run.consumed);
}
