//! The stream function's entry point (`agent-overview-rollups`): a batch of the conversations table's stream (`NEW_AND_OLD_IMAGES`)
//! becomes the set of (tenant, UTC day) rebuilds it calls for, each rebuilding `All` and the
//! departments of the old and new images, deduplicated per batch.
//!
//! Failures are reported per record (`ReportBatchItemFailures`): the answer names the first
//! record whose change was not applied, and Lambda retries the batch from there. Rebuilds are
//! idempotent, so records after it that did succeed are simply rebuilt again. A record whose
//! image cannot be read is such a failure too (never skipped): the event source's bisection,
//! retry limit and on-failure queue isolate it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::NaiveDate;
use futures::StreamExt;
use tracing::Instrument;

use crate::config::MetricsConfig;
use crate::domain::clock::Clock;
use crate::domain::conversation::Conversation;
use crate::domain::range::utc_day_of;
use crate::dynamo::capacity::{self, ConsumedCapacity};
use crate::dynamo::items::MalformedItem;
use crate::dynamo::stream_change::read_change;
use crate::errors::error_chain;
use crate::rollups::rebuild::RebuildSummary;
use crate::rollups::RollupMaintenance;
use crate::telemetry::emf::{Document, Unit};

/// Day rebuilds of one batch in flight at once.
const REBUILDS_IN_FLIGHT: usize = 4;

/// One (tenant, day) to mark and rebuild: the conversations the batch changed on it, and the
/// first record that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayWork {
    pub pks: BTreeSet<String>,
    pub first_record: usize,
}

/// What a batch calls for.
#[derive(Debug, Default)]
pub struct BatchWork {
    pub days: BTreeMap<(String, NaiveDate), DayWork>,
    /// The first record that could not be read; records from it on are not in the work.
    pub unreadable: Option<(usize, MalformedItem)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("stream record {index} failed and has no SequenceNumber to report")]
    NoSequenceNumber { index: usize },
}

/// Reads a batch's records in order. Stops at the first unreadable record: the records before
/// it are applied, it and the rest are reported as failed.
pub fn plan_batch(records: &[EventRecord]) -> BatchWork {
    let mut work = BatchWork::default();
    for (index, record) in records.iter().enumerate() {
        let change = match read_change(record) {
            Ok(change) => change,
            Err(e) => {
                work.unreadable = Some((index, e));
                break;
            }
        };
        if figures_unchanged(change.old.as_ref(), change.new.as_ref()) {
            continue;
        }
        for c in change.old.iter().chain(change.new.iter()) {
            let Some(day) = utc_day_of(c.ts_ms) else {
                work.unreadable = Some((
                    index,
                    MalformedItem {
                        key: change.pk.clone(),
                        problem: format!("ts {} is out of range", c.ts_ms),
                    },
                ));
                return work;
            };
            let entry = work
                .days
                .entry((change.tenant.clone(), day))
                .or_insert_with(|| DayWork {
                    pks: BTreeSet::new(),
                    first_record: index,
                });
            entry.pks.insert(change.pk.clone());
        }
    }
    work
}

/// A change that touches nothing a figure reads (e.g. only `open`) needs no rebuild.
fn figures_unchanged(old: Option<&Conversation>, new: Option<&Conversation>) -> bool {
    match (old, new) {
        (Some(a), Some(b)) => a.same_figures(b),
        _ => false,
    }
}

/// What a batch did: the answer to Lambda, and the (tenant, day) rebuilds that failed.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub response: DynamoDbEventResponse,
    pub failed_days: u64,
    /// What the batch's marks and rebuilds consumed, as DynamoDB reported it.
    pub consumed: ConsumedCapacity,
}

/// Applies a batch: marks each (tenant, day) it changed, then rebuilds it (the mark first, so
/// a crash or a failed rebuild leaves the day dirty, read raw, until a rebuild succeeds).
/// Answers which record to retry from, if any.
pub async fn handle_batch(
    rebuilder: &impl RollupMaintenance,
    event: Event,
) -> Result<BatchOutcome, StreamError> {
    let started = Instant::now();
    let records = event.records;
    let work = plan_batch(&records);
    let sequence_number = |index: usize| {
        records
            .get(index)
            .and_then(|r| r.change.sequence_number.as_deref())
    };
    let mut failed_days = 0;
    let mut first_failed = work.unreadable.as_ref().map(|(index, e)| {
        failed_days += 1;
        tracing::error!(
            record = index,
            sequence_number = sequence_number(*index),
            key = %e.key,
            error = %error_chain(e),
            "unreadable stream record"
        );
        *index
    });
    let (results, consumed): (Vec<_>, _) = capacity::measure(
        futures::stream::iter(&work.days)
            .map(|((tenant, day), w)| async move {
                let result = match rebuilder.mark_day(tenant, *day, &w.pks).await {
                    Ok(()) => rebuilder.rebuild_day(tenant, *day).await,
                    Err(e) => Err(e),
                };
                (tenant, day, w.first_record, result)
            })
            .buffer_unordered(REBUILDS_IN_FLIGHT)
            .collect(),
    )
    .await;
    let mut total = RebuildSummary::default();
    for (tenant, day, first_record, result) in results {
        match result {
            Ok(rebuilt) => total.add(&rebuilt.summary),
            Err(e) => {
                failed_days += 1;
                tracing::error!(
                    tenant = %tenant,
                    day = %day,
                    sequence_number = sequence_number(first_record),
                    error = %error_chain(&e),
                    "rollup rebuild failed"
                );
                first_failed = Some(first_failed.map_or(first_record, |f| f.min(first_record)));
            }
        }
    }
    tracing::info!(
        records = records.len(),
        days = work.days.len(),
        failed_days,
        conversations_read = total.conversations_read,
        items_written = total.items_written,
        items_superseded = total.items_superseded,
        days_left_dirty = total.days_left_dirty,
        retry_from_record = first_failed,
        consumed_write_capacity = consumed.write_units,
        consumed_read_capacity = consumed.read_units,
        duration_ms = started.elapsed().as_millis() as u64,
        "rollups batch"
    );
    let mut response = DynamoDbEventResponse::default();
    if let Some(index) = first_failed {
        let sequence_number = records
            .get(index)
            .and_then(|r| r.change.sequence_number.clone())
            .ok_or(StreamError::NoSequenceNumber { index })?;
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence_number);
        response.batch_item_failures.push(failure);
    }
    Ok(BatchOutcome {
        response,
        failed_days,
        consumed,
    })
}

/// The EMF document of a batch (dimension `Stage`): its failed rebuilds
/// (`RollupRebuildFailures`; a failed rebuild is retried through `batchItemFailures`, which
/// Lambda's `Errors` never counts) and the capacity its marks and rebuilds consumed.
pub fn batch_document(
    config: &MetricsConfig,
    failed_days: u64,
    consumed: &ConsumedCapacity,
    timestamp_ms: i64,
) -> Document {
    Document::new(config, timestamp_ms)
        .metric("RollupRebuildFailures", Unit::Count, failed_days)
        .metric("ConsumedWriteCapacity", Unit::Count, consumed.write_units)
        .metric("ConsumedReadCapacity", Unit::Count, consumed.read_units)
}

/// The Lambda invocation: one span per request id around [`handle_batch`]; failed rebuilds,
/// if any, become one EMF line stamped by `clock`. An error fails the whole batch (it happens
/// only when a failed record cannot be named).
pub async fn handle_event(
    rebuilder: &impl RollupMaintenance,
    metrics: &MetricsConfig,
    clock: &Clock,
    event: lambda_runtime::LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let (payload, context) = event.into_parts();
    let span = tracing::info_span!("invocation", request_id = %context.request_id);
    let outcome = handle_batch(rebuilder, payload).instrument(span).await?;
    // One line on stdout per batch: CloudWatch Logs turns it into the metrics.
    batch_document(metrics, outcome.failed_days, &outcome.consumed, clock()).emit();
    Ok(outcome.response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::items::conversation_item;
    use crate::rollups::rebuild::DayRebuild;
    use crate::store::StoreError;
    use serde_json::{json, Value};

    fn image(tenant: &str, c: &Conversation) -> Value {
        let item = conversation_item(tenant, c).unwrap();
        let as_json: serde_dynamo::Item = item.into();
        serde_json::to_value(as_json).unwrap()
    }

    fn record(seq: u32, old: Option<Value>, new: Option<Value>, pk: &str) -> Value {
        let name = match (&old, &new) {
            (None, Some(_)) => "INSERT",
            (Some(_), Some(_)) => "MODIFY",
            _ => "REMOVE",
        };
        let mut change = json!({
            "ApproximateCreationDateTime": 1_709_290_000.0,
            "Keys": {"pk": {"S": pk}},
            "SequenceNumber": format!("{seq:021}"),
            "SizeBytes": 200,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if let Some(o) = old {
            change["OldImage"] = o;
        }
        if let Some(n) = new {
            change["NewImage"] = n;
        }
        json!({
            "eventID": format!("e{seq}"),
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": change,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/c/stream/2024-01-01T00:00:00.000"
        })
    }

    fn records(values: Vec<Value>) -> Vec<EventRecord> {
        let event: Event = serde_json::from_value(json!({ "Records": values })).unwrap();
        event.records
    }

    const DAY1: i64 = 1_709_251_200_000; // 2024-03-01T00:00Z

    fn conv(room: &str, ts: i64, dept: Option<&str>, agent: &str) -> Conversation {
        Conversation {
            department_id: dept.map(str::to_string),
            agent: Some(agent.into()),
            open: Some(true),
            ..Conversation::new(room, ts)
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_transfer_marks_and_rebuilds_both_days_once_per_batch() {
        let before = conv("R1", DAY1 + 1000, Some("D1"), "kim");
        let after = conv("R1", DAY1 + 86_400_000, Some("D2"), "jane");
        let other = conv("R2", DAY1 + 5, None, "kim");
        let work = plan_batch(&records(vec![
            record(1, None, Some(image("acme", &other)), "acme#R2"),
            record(
                2,
                Some(image("acme", &before)),
                Some(image("acme", &after)),
                "acme#R1",
            ),
            record(3, None, Some(image("acme", &other)), "acme#R2"),
        ]));
        assert!(work.unreadable.is_none());
        let days: Vec<_> = work
            .days
            .iter()
            .map(|((t, d), w)| (t.as_str(), *d, w.pks.clone(), w.first_record))
            .collect();
        let pks = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            days,
            vec![
                ("acme", day("2024-03-01"), pks(&["acme#R1", "acme#R2"]), 0),
                ("acme", day("2024-03-02"), pks(&["acme#R1"]), 1),
            ]
        );
    }

    #[test]
    fn a_change_no_figure_reads_needs_no_rebuild() {
        let open = conv("R1", DAY1, Some("D1"), "kim");
        let closed = Conversation {
            open: Some(false),
            ..open.clone()
        };
        let work = plan_batch(&records(vec![record(
            1,
            Some(image("acme", &open)),
            Some(image("acme", &closed)),
            "acme#R1",
        )]));
        assert!(work.days.is_empty());
    }

    #[test]
    fn a_removal_marks_its_day() {
        let c = conv("R1", DAY1, None, "kim");
        let work = plan_batch(&records(vec![record(
            1,
            Some(image("t", &c)),
            None,
            "t#R1",
        )]));
        assert_eq!(work.days.len(), 1);
        assert!(work.days.values().all(|w| w.pks.contains("t#R1")));
    }

    #[test]
    fn an_unreadable_record_stops_the_plan_with_its_key() {
        let c = conv("R1", DAY1, None, "kim");
        let mut bad = image("t", &conv("R2", DAY1, None, "kim"));
        bad["agent"] = json!({"N": "7"});
        let work = plan_batch(&records(vec![
            record(1, None, Some(image("t", &c)), "t#R1"),
            record(2, None, Some(bad), "t#R2"),
            record(
                3,
                None,
                Some(image("t", &conv("R3", DAY1, None, "x"))),
                "t#R3",
            ),
        ]));
        let (index, err) = work.unreadable.unwrap();
        assert_eq!(index, 1);
        assert_eq!(err.key, "t#R2");
        assert!(work.days.values().all(|w| !w.pks.contains("t#R3")));
        let keys_only = records(vec![record(4, None, None, "t#R4")]);
        let (_, err) = plan_batch(&keys_only).unreadable.unwrap();
        assert_eq!(err.key, "t#R4");
        assert!(err.problem.contains("NEW_AND_OLD_IMAGES"));
    }

    /// What the handler asked of the store, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Call {
        Mark(String, NaiveDate, BTreeSet<String>),
        Rebuild(String, NaiveDate),
    }

    /// A store that records every call and refuses the marks or rebuilds of chosen days.
    #[derive(Default)]
    struct Recording {
        calls: std::sync::Mutex<Vec<Call>>,
        refuse_mark: BTreeSet<NaiveDate>,
        refuse_rebuild: BTreeSet<NaiveDate>,
    }

    impl Recording {
        fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap().clone()
        }

        fn answer(&self, call: Call, refused: bool) -> Result<(), StoreError> {
            self.calls.lock().unwrap().push(call);
            if refused {
                Err(StoreError::call(
                    "UpdateItem",
                    "rollups",
                    std::io::Error::other("refused"),
                ))
            } else {
                Ok(())
            }
        }
    }

    impl RollupMaintenance for Recording {
        async fn mark_day(
            &self,
            tenant: &str,
            day: NaiveDate,
            pks: &BTreeSet<String>,
        ) -> Result<(), StoreError> {
            let call = Call::Mark(tenant.to_string(), day, pks.clone());
            self.answer(call, self.refuse_mark.contains(&day))
        }

        async fn rebuild_day(
            &self,
            tenant: &str,
            day: NaiveDate,
        ) -> Result<DayRebuild, StoreError> {
            let call = Call::Rebuild(tenant.to_string(), day);
            self.answer(call, self.refuse_rebuild.contains(&day))?;
            Ok(DayRebuild {
                summary: RebuildSummary {
                    days: 1,
                    items_written: 7,
                    ..RebuildSummary::default()
                },
                version: 1,
                clean: true,
            })
        }
    }

    fn event(values: Vec<Value>) -> Event {
        serde_json::from_value(json!({ "Records": values })).unwrap()
    }

    fn sequence(seq: u32) -> String {
        format!("{seq:021}")
    }

    /// The sequence numbers Lambda is told to retry from.
    fn retried(applied: &BatchOutcome) -> Vec<String> {
        applied
            .response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone().unwrap())
            .collect()
    }

    fn position(calls: &[Call], wanted: &Call) -> usize {
        calls.iter().position(|c| c == wanted).unwrap()
    }

    fn keys(pks: &[&str]) -> BTreeSet<String> {
        pks.iter().map(|k| k.to_string()).collect()
    }

    /// Record 1: R2 on March 1; record 2: R1 on March 2; record 3: R3 on March 2.
    fn two_days() -> Vec<Value> {
        let on = |room: &str, ts| image("t", &conv(room, ts, None, "kim"));
        vec![
            record(1, None, Some(on("R2", DAY1 + 5)), "t#R2"),
            record(2, None, Some(on("R1", DAY1 + 86_400_000)), "t#R1"),
            record(3, None, Some(on("R3", DAY1 + 86_400_005)), "t#R3"),
        ]
    }

    #[tokio::test]
    async fn each_changed_day_is_marked_with_its_keys_before_its_one_rebuild() {
        let store = Recording::default();
        let applied = handle_batch(&store, event(two_days())).await.unwrap();
        assert!(retried(&applied).is_empty());
        assert_eq!(applied.failed_days, 0);
        let calls = store.calls();
        assert_eq!(calls.len(), 4, "{calls:?}");
        for (d, pks) in [
            ("2024-03-01", keys(&["t#R2"])),
            ("2024-03-02", keys(&["t#R1", "t#R3"])),
        ] {
            let mark = Call::Mark("t".into(), day(d), pks);
            let rebuild = Call::Rebuild("t".into(), day(d));
            assert!(
                position(&calls, &mark) < position(&calls, &rebuild),
                "{calls:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_rebuild_is_retried_from_the_first_record_of_its_day() {
        let store = Recording {
            refuse_rebuild: BTreeSet::from([day("2024-03-02")]),
            ..Recording::default()
        };
        let applied = handle_batch(&store, event(two_days())).await.unwrap();
        assert_eq!(retried(&applied), vec![sequence(2)]);
        assert_eq!(applied.failed_days, 1);
        // The other day was still rebuilt.
        assert!(store
            .calls()
            .contains(&Call::Rebuild("t".into(), day("2024-03-01"))));
    }

    #[tokio::test]
    async fn a_day_whose_mark_failed_is_not_rebuilt() {
        let store = Recording {
            refuse_mark: BTreeSet::from([day("2024-03-01")]),
            ..Recording::default()
        };
        let applied = handle_batch(&store, event(two_days())).await.unwrap();
        assert_eq!(retried(&applied), vec![sequence(1)]);
        assert_eq!(applied.failed_days, 1);
        let calls = store.calls();
        assert!(!calls.contains(&Call::Rebuild("t".into(), day("2024-03-01"))));
        assert!(calls.contains(&Call::Rebuild("t".into(), day("2024-03-02"))));
    }

    #[tokio::test]
    async fn an_unreadable_record_is_retried_from_and_only_the_records_before_it_applied() {
        let mut records = two_days();
        records[1]["dynamodb"]["NewImage"]["agent"] = json!({"N": "7"});
        let store = Recording::default();
        let applied = handle_batch(&store, event(records.clone())).await.unwrap();
        assert_eq!(retried(&applied), vec![sequence(2)]);
        assert_eq!(applied.failed_days, 1);
        assert_eq!(
            store.calls(),
            vec![
                Call::Mark("t".into(), day("2024-03-01"), keys(&["t#R2"])),
                Call::Rebuild("t".into(), day("2024-03-01")),
            ]
        );
        // With an earlier record's day failing too, Lambda retries from the earliest.
        let store = Recording {
            refuse_rebuild: BTreeSet::from([day("2024-03-01")]),
            ..Recording::default()
        };
        let applied = handle_batch(&store, event(records)).await.unwrap();
        assert_eq!(retried(&applied), vec![sequence(1)]);
        assert_eq!(applied.failed_days, 2);
    }

    #[tokio::test]
    async fn a_failure_that_cannot_be_named_fails_the_whole_batch() {
        let mut records = two_days();
        records[0]["dynamodb"]
            .as_object_mut()
            .unwrap()
            .remove("SequenceNumber");
        let store = Recording {
            refuse_rebuild: BTreeSet::from([day("2024-03-01")]),
            ..Recording::default()
        };
        let err = handle_batch(&store, event(records)).await.unwrap_err();
        assert!(matches!(err, StreamError::NoSequenceNumber { index: 0 }));
    }

    #[test]
    fn a_batch_is_one_emf_document_of_its_failures_and_capacity() {
        let config = MetricsConfig {
            namespace: "AgentOverview".into(),
            stage: "prod".into(),
        };
        let consumed = ConsumedCapacity {
            read_units: 6.5,
            write_units: 31.0,
        };
        let doc = batch_document(&config, 3, &consumed, 1_700_000_000_000).to_value();
        assert_eq!(doc["RollupRebuildFailures"], 3);
        assert_eq!(doc["ConsumedWriteCapacity"], 31.0);
        assert_eq!(doc["ConsumedReadCapacity"], 6.5);
        assert_eq!(doc["Stage"], "prod");
        let m = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "AgentOverview");
        assert_eq!(m["Dimensions"], json!([["Stage"]]));
        assert_eq!(m["Metrics"][0]["Name"], "RollupRebuildFailures");
        assert_eq!(m["Metrics"][0]["Unit"], "Count");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(m["Metrics"][1]["Name"], "ConsumedWriteCapacity");
        assert_eq!(m["Metrics"][2]["Name"], "ConsumedReadCapacity");
    }
}
