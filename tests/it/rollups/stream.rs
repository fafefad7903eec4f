//! Daily rollups against dynalite: the rollup plan answers exactly what the raw plan answers on
//! random data in zones whose midnights are not UTC's, and the stream function keeps the
//! rollups right through inserts, duplicate deliveries, transfers, a rising minimum, deletes and
//! GSI lag. Stream events are built here, shaped like DynamoDB's, from the items the importer
//! writes (dynalite has no streams).

use agent_overview::config::{QueryPlan, ReadSettings, RollupTables};
use agent_overview::domain::conversation::Conversation;
use agent_overview::domain::figure::Figure;
use agent_overview::domain::range::{ReportDate, ReportingZone, UtcRange};
use agent_overview::dynamo::items::{conversation_item, read_conversation_image, Item};
use agent_overview::functions::stream::handle_batch;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::memory::MemoryStore;
use agent_overview::store::{ConversationStore, RangeQuery};
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::Client;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

use crate::support::harness;
use crate::support::rollups::{
    assert_plans_agree, deliver, rebuilder, record, room, store, stream_event, zones,
};
use crate::support::seed::{put_conversations, random_rooms, rebuild_rollups};

const DAY_MS: i64 = 86_400_000;

/// Conversations whose agents come from a skewed pool of twelve: rare agents first appear in
/// the middle of a range, inside the rollup days, so the tie-break (first counted `ts`) is
/// really merged across rollups and raw edges. Half the durations pass an hour, so the sort
/// by hours ties less often.
fn skewed_rooms(seed: u64, n: usize, start_ms: i64, span_ms: i64) -> Vec<Conversation> {
    let mut x = seed ^ 0x2545_f491_4f6c_dd1d;
    let mut next = move |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    random_rooms(seed, n, start_ms, span_ms)
        .into_iter()
        .map(|mut c| {
            let mut pick = || format!("agent{:02}", (next(144) as f64).sqrt() as u64);
            c.agent = c.agent.map(|_| pick());
            c.responder = c.responder.map(|_| pick());
            if next(2) == 0 {
                c.chat_duration = c.chat_duration.map(|d| d + 3600.0);
            }
            c
        })
        .collect()
}

/// Random conversations over 40 days around Adelaide's DST change (2024-04-07) and two month
/// boundaries; random ranges, departments and zones; a few dozen cases in all.
#[tokio::test]
async fn the_rollup_plan_answers_exactly_what_the_raw_plan_answers() {
    let client = harness::ready().await.0;
    let start = 1_711_324_800_000; // 2024-03-25T00:00Z
    let first_day = NaiveDate::from_ymd_opt(2024, 3, 25).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    let mut rollup_items = 0;
    for seed in [11, 12, 13] {
        let tenant = harness::unique_tenant("equiv");
        let rooms = skewed_rooms(seed, 220, start, 40 * DAY_MS);
        put_conversations(&client, &tenant, &rooms).await;
        rebuild_rollups(&client, &tenant, &rooms).await;
        let memory = MemoryStore::new();
        rooms
            .iter()
            .for_each(|c| memory.put_conversation(&tenant, c.clone()));
        for case in 0..10 {
            let (zone_name, zone) = zones()[next(5) as usize];
            let from = first_day + Duration::days(next(44) as i64 - 3);
            let to = from + Duration::days(next(30) as i64);
            let department_id = match next(6) {
                0 | 1 => None,
                5 => Some("D9".to_string()),
                d => Some(format!("D{}", d - 1)),
            };
            let range = UtcRange::from_days(ReportDate(from), ReportDate(to), &zone);
            let label =
                format!("seed {seed} case {case}: {from}..{to} {zone_name} {department_id:?}");
            rollup_items +=
                assert_plans_agree(&client, &memory, &tenant, range, department_id, &label).await;
        }
    }
    assert!(rollup_items > 100, "the rollups were read: {rollup_items}");
}

// --- The stream function ---------------------------------------------------------------------

/// The conversations as they stand, the table and the reference in step.
struct Tenant {
    client: Client,
    name: String,
    memory: Vec<Conversation>,
    seq: u64,
}

const DAY: i64 = 1_711_929_600_000; // 2024-04-01T00:00Z

impl Tenant {
    async fn new(client: &Client) -> Self {
        Self {
            client: client.clone(),
            name: harness::unique_tenant("stream"),
            memory: Vec::new(),
            seq: 0,
        }
    }

    fn record(&mut self, old: Option<&Conversation>, new: Option<&Conversation>) -> Value {
        self.seq += 1;
        record(self.seq, &self.name, old, new)
    }

    /// Writes (or deletes) in the table and in the reference.
    async fn store(&mut self, room: &str, now: Option<&Conversation>) {
        let table = harness::table_names().conversations;
        self.memory.retain(|c| c.room_id != room);
        match now {
            Some(c) => {
                put_conversations(&self.client, &self.name, std::slice::from_ref(c)).await;
                self.memory.push(c.clone());
            }
            None => {
                self.client
                    .delete_item()
                    .table_name(table)
                    .key("pk", harness::s(&format!("{}#{room}", self.name)))
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    async fn deliver(&self, records: &[Value]) {
        deliver(&self.client, records).await
    }

    /// The rollup plan equals the reference (and the raw plan) for the first week of April,
    /// in every scope used here; returns the rows of one figure and scope for spot checks.
    async fn check(&self, figure: Figure, department: Option<&str>) -> Vec<(String, String)> {
        let memory = MemoryStore::new();
        self.memory
            .iter()
            .for_each(|c| memory.put_conversation(&self.name, c.clone()));
        let range = UtcRange::from_days(
            ReportDate::parse("2024-04-01").unwrap(),
            ReportDate::parse("2024-04-07").unwrap(),
            &ReportingZone::Utc,
        );
        for dept in [None, Some("D1"), Some("D2")] {
            assert_plans_agree(
                &self.client,
                &memory,
                &self.name,
                range,
                dept.map(str::to_string),
                &format!("{dept:?}"),
            )
            .await;
        }
        let (agg, _) = store(&self.client, QueryPlan::Rollups)
            .fold(&RangeQuery {
                tenant: self.name.clone(),
                figure,
                range,
                department_id: department.map(str::to_string),
            })
            .await
            .unwrap();
        agg.into_rows()
            .into_iter()
            .map(|r| (r.name, r.value))
            .collect()
    }
}

fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn the_stream_keeps_rollups_right_through_every_kind_of_change() {
    let client = harness::ready().await.0;
    let mut t = Tenant::new(&client).await;
    let r1 = room("R1", DAY + 3_600_000, "D1", "kim", 30.0);
    let r2 = room("R2", DAY + 7_200_000, "D2", "jane", 50.0);
    let r3 = room("R3", DAY + DAY_MS + 60_000, "D2", "jane", 10.0);

    // Insert.
    for c in [&r1, &r2, &r3] {
        t.store(&c.room_id, Some(c)).await;
    }
    let inserts = [
        t.record(None, Some(&r1)),
        t.record(None, Some(&r2)),
        t.record(None, Some(&r3)),
    ];
    t.deliver(&inserts).await;
    assert_eq!(
        t.check(Figure::TotalConversations, None).await,
        rows(&[("jane", "66.67%"), ("kim", "33.33%")])
    );

    // The same batch again (a retry, or a duplicate delivery) counts nothing twice.
    t.deliver(&inserts).await;
    assert_eq!(
        t.check(Figure::TotalMessages, None).await,
        rows(&[("jane", "8"), ("kim", "4")])
    );

    // Transfer: R1 moves to another agent and department; D1 is left empty.
    let r1_moved = Conversation {
        department_id: Some("D2".into()),
        agent: Some("omar".into()),
        responder: Some("omar".into()),
        ..r1.clone()
    };
    t.store("R1", Some(&r1_moved)).await;
    let transfer = t.record(Some(&r1), Some(&r1_moved));
    t.deliver(&[transfer]).await;
    assert_eq!(
        t.check(Figure::TotalConversations, Some("D1")).await,
        rows(&[])
    );
    assert_eq!(
        t.check(Figure::TotalConversations, Some("D2")).await,
        rows(&[("jane", "66.67%"), ("omar", "33.33%")])
    );

    // A metric change that raises jane's best first response from 10 s to R2's 50 s.
    let r3_slower = Conversation {
        first_response: Some(70.0),
        ..r3.clone()
    };
    t.store("R3", Some(&r3_slower)).await;
    let change = t.record(Some(&r3), Some(&r3_slower));
    t.deliver(&[change]).await;
    assert_eq!(
        t.check(Figure::BestFirstResponseTime, None).await,
        rows(&[("omar", "00:00:30"), ("jane", "00:00:50")])
    );

    // Delete: R2 goes, and jane's minimum is R3's 70 s.
    t.store("R2", None).await;
    let delete = t.record(Some(&r2), None);
    t.deliver(&[delete]).await;
    assert_eq!(
        t.check(Figure::BestFirstResponseTime, Some("D2")).await,
        rows(&[("omar", "00:00:30"), ("jane", "00:01:10")])
    );
}

#[tokio::test]
async fn the_table_not_the_lagging_gsi_decides_what_a_rebuild_counts() {
    let client = harness::ready().await.0;
    let mut t = Tenant::new(&client).await;
    let r1 = room("R1", DAY + 1000, "D1", "kim", 30.0);
    let r2 = room("R2", DAY + 2000, "D1", "jane", 40.0);
    t.store("R1", Some(&r1)).await;
    t.store("R2", Some(&r2)).await;
    let inserts = [t.record(None, Some(&r1)), t.record(None, Some(&r2))];
    t.deliver(&inserts).await;

    // R3 is in the table but the GSI does not show it yet; R2 is deleted. The rebuild reads the
    // keys the batch marked from the table itself.
    let r3 = room("R3", DAY + 3000, "D1", "omar", 20.0);
    harness::put_unindexed(&client, &t.name, &r3).await;
    t.memory.push(r3.clone());
    t.store("R2", None).await;
    let batch = [t.record(None, Some(&r3)), t.record(Some(&r2), None)];
    t.deliver(&batch).await;
    let range = UtcRange::utc_day(NaiveDate::from_ymd_opt(2024, 4, 1).unwrap());
    let (agg, stats) = store(&client, QueryPlan::Rollups)
        .fold(&RangeQuery {
            tenant: t.name.clone(),
            figure: Figure::TotalConversations,
            range,
            department_id: None,
        })
        .await
        .unwrap();
    assert_eq!(
        (stats.items_read, stats.rollup_items_read, stats.rollup_days),
        (0, 1, 1)
    );
    let names: Vec<_> = agg.into_rows().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["kim", "omar"]);

    // Once the index catches up, both plans agree.
    harness::index_now(&client, &t.name, &r3).await;
    t.check(Figure::TotalConversations, None).await;
}

#[tokio::test]
async fn failures_name_the_first_record_to_retry_from() {
    let client = harness::ready().await.0;
    let mut t = Tenant::new(&client).await;
    let r1 = room("R1", DAY, "D1", "kim", 30.0);
    let r2 = room("R2", DAY + DAY_MS, "D1", "kim", 30.0);
    t.store("R1", Some(&r1)).await;
    let good = t.record(None, Some(&r1));
    let mut unreadable = t.record(None, Some(&r2));
    unreadable["dynamodb"]["NewImage"]["ts"] = json!({"S": "yesterday"});
    let tables = harness::table_names().rollup_tables();
    let response = handle_batch(
        &rebuilder(&client, tables.clone()),
        stream_event(&[good.clone(), unreadable]),
    )
    .await
    .unwrap();
    let failed: Vec<_> = response
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(failed, [format!("{:021}", 2)], "the unreadable record");
    // The record before it was applied.
    t.check(Figure::TotalConversations, None).await;

    // A rebuild that fails (here: no such rollups table) names the first record of its day.
    let broken = RollupTables {
        rollups: "no-such-table".into(),
        ..tables
    };
    let response = handle_batch(&rebuilder(&client, broken), stream_event(&[good]))
        .await
        .unwrap();
    assert_eq!(response.response.batch_item_failures.len(), 1);
    assert_eq!(
        response.response.batch_item_failures[0]
            .item_identifier
            .as_deref(),
        Some(format!("{:021}", 1).as_str())
    );
}

/// `events/dynamodb-stream.json` (the fixture for `sam local invoke RollupsFunction` and
/// `cargo lambda invoke`) holds items exactly as the importer writes them, and goes through the
/// handler: an insert in each department, then a transfer of the first to the second.
#[tokio::test]
async fn the_stream_event_fixture_is_applied() {
    let client = harness::ready().await.0;
    let event: Event = serde_json::from_str(include_str!("../../../events/dynamodb-stream.json"))
        .expect("the fixture is a DynamoDB stream event");
    assert_eq!(event.records.len(), 3);
    for r in &event.records {
        for image in [&r.change.old_image, &r.change.new_image] {
            if image.inner().is_empty() {
                continue;
            }
            let item: Item = image.clone().into();
            let (tenant, _, c) = read_conversation_image(&item).unwrap();
            assert_eq!(
                conversation_item(&tenant, &c).unwrap(),
                item,
                "the importer's shape"
            );
        }
    }
    // The table holds what the batch's last images say (the fixture's tenant is its own).
    for r in &event.records {
        let item: Item = r.change.new_image.clone().into();
        let key = r.change.keys.clone();
        let table = harness::table_names().conversations;
        if item.is_empty() {
            let key: Item = key.into();
            client
                .delete_item()
                .table_name(&table)
                .set_key(Some(key))
                .send()
                .await
                .unwrap();
        } else {
            client
                .put_item()
                .table_name(&table)
                .set_item(Some(item))
                .send()
                .await
                .unwrap();
        }
    }
    let tables = harness::table_names().rollup_tables();
    let response = handle_batch(&rebuilder(&client, tables), event)
        .await
        .unwrap();
    assert!(response.response.batch_item_failures.is_empty());
    let day = UtcRange::utc_day(NaiveDate::from_ymd_opt(2024, 3, 1).unwrap());
    for (department, expected) in [
        (Some("D2"), rows(&[("omar", "50.00%"), ("jane", "50.00%")])),
        (Some("D1"), rows(&[])),
        (None, rows(&[("omar", "50.00%"), ("jane", "50.00%")])),
    ] {
        let (agg, _) = store(&client, QueryPlan::Rollups)
            .fold(&RangeQuery {
                tenant: "stream-fixture".into(),
                figure: Figure::TotalConversations,
                range: day,
                department_id: department.map(str::to_string),
            })
            .await
            .unwrap();
        let got: Vec<_> = agg
            .into_rows()
            .into_iter()
            .map(|r| (r.name, r.value))
            .collect();
        assert_eq!(got, expected, "{department:?}");
    }
}

#[test]
fn the_rollups_function_stops_on_invalid_metric_settings() {
    use std::os::unix::ffi::OsStrExt;
    // A namespace that is not UTF-8 cannot be read; falling back to the default namespace
    // would publish the function's metrics where no alarm looks.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agent-overview-rollups"))
        .env_clear()
        .env("CONVERSATIONS_TABLE", "conversations")
        .env("ROLLUPS_TABLE", "rollups")
        .env("RUST_LOG", "info")
        .env(
            "METRICS_NAMESPACE",
            std::ffi::OsStr::from_bytes(b"Agent\xffOverview"),
        )
        .output()
        .expect("the rollups binary runs");
    let logs =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{logs}");
    assert!(
        logs.contains("bad configuration") && logs.contains("METRICS_NAMESPACE"),
        "{logs}"
    );
}

/// Issue 9's "speed is kept": coverage costs one Query of the day states for the whole range,
/// not one per month (nor a read per day). A year of whole UTC days whose rollups are built
/// answers from 12 month queries of rollup items and one of states: 13 requests.
#[tokio::test]
async fn a_year_from_rollups_reads_the_day_states_with_one_query() {
    let client = harness::ready().await.0;
    let tenant = harness::unique_tenant("state-query");
    let jan_1 = 1_704_067_200_000; // 2024-01-01T00:00Z
    let rooms = vec![
        room("R1", jan_1 + 1000, "D1", "kim", 10.0),
        room("R2", jan_1 + 200 * DAY_MS, "D2", "jane", 20.0),
    ];
    put_conversations(&client, &tenant, &rooms).await;
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    rebuilder(&client, harness::table_names().rollup_tables())
        .rebuild_days(&tenant, day("2024-01-01"), day("2024-12-31"))
        .await
        .unwrap();
    let store = DynamoStore::new(
        client.clone(),
        harness::table_names(),
        ReadSettings::default(),
    );
    let (agg, stats) = store
        .fold(&RangeQuery {
            tenant: tenant.clone(),
            figure: Figure::TotalConversations,
            range: UtcRange::from_days(
                ReportDate::parse("2024-01-01").unwrap(),
                ReportDate::parse("2024-12-31").unwrap(),
                &ReportingZone::Utc,
            ),
            department_id: None,
        })
        .await
        .unwrap();
    assert_eq!(agg.into_rows().len(), 2);
    assert_eq!((stats.rollup_days, stats.items_read), (366, 0), "{stats:?}");
    assert_eq!(stats.requests, 12 + 1, "{stats:?}");
}
