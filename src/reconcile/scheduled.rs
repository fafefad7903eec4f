//! The scheduled reconciliation (`agent-overview-reconcile`, every 5 minutes): the days the
//! rollups' own bookkeeping says may be wrong or changed lately are verified against their
//! conversations and repaired, so a fault the stream missed heals without an operator. Each
//! run publishes `RollupDriftDays` (EMF): days that differed, an alarm when above zero.

use std::future::Future;

use crate::dynamo::Client;
use chrono::NaiveDate;
use futures::StreamExt;

use super::verify::Verifier;
use crate::config::{MetricsConfig, RollupTables};
use crate::dynamo::capacity::{self, ConsumedCapacity};
use crate::errors::error_chain;
use crate::rollups::state::days_needing_attention;
use crate::store::StoreError;
use crate::telemetry::emf::{Document, Unit};

/// Days verified at once.
const DAYS_IN_FLIGHT: usize = 4;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconcileRun {
    /// Days verified.
    pub days_checked: u64,
    /// Days whose rollups differed from their conversations.
    pub drift_days: u64,
    /// Of those, days rebuilt and found equal afterwards.
    pub repaired_days: u64,
    /// Days that could not be verified or repaired (DynamoDB errors, a sum out of range).
    pub failed_days: u64,
    /// What the run's reads and repairs consumed, as DynamoDB reported it.
    pub consumed: ConsumedCapacity,
}

/// How far back a run looks for days that changed: the "at least the last 48 hours".
pub const WINDOW_MS: i64 = 48 * 3_600_000;

/// Where a run learns which days to verify: the days marked as needing a rebuild, and the days
/// changed since `since_ms` (in AWS the rollups table's sparse index; never a `Scan`).
pub trait DaysToReconcile {
    fn days(
        &self,
        since_ms: i64,
    ) -> impl Future<Output = Result<Vec<(String, NaiveDate)>, StoreError>> + Send;
}

/// One scheduled invocation: the days `source` names for the last [`WINDOW_MS`] before
/// `now_ms`, verified and repaired. Fails whole only when the days cannot be listed.
pub async fn run_once(
    verifier: &Verifier,
    source: &impl DaysToReconcile,
    now_ms: i64,
) -> Result<ReconcileRun, StoreError> {
    let (run, consumed) = capacity::measure(async {
        let days = source.days(now_ms - WINDOW_MS).await?;
        Ok::<_, StoreError>(reconcile_days(verifier, &days).await)
    })
    .await;
    Ok(ReconcileRun { consumed, ..run? })
}

/// The days the rollups table's sparse attention index (`byAttention`) lists: every dirty
/// day, and the clean days changed since `since_ms` (keys-only queries, never a `Scan`).
pub struct AttentionIndex {
    client: Client,
    table: String,
    index: String,
}

impl AttentionIndex {
    pub fn new(client: Client, tables: &RollupTables) -> Self {
        Self {
            client,
            table: tables.rollups.clone(),
            index: tables.attention_index.clone(),
        }
    }
}

impl DaysToReconcile for AttentionIndex {
    async fn days(&self, since_ms: i64) -> Result<Vec<(String, NaiveDate)>, StoreError> {
        days_needing_attention(&self.client, &self.table, &self.index, since_ms).await
    }
}

/// Verifies and repairs each (tenant, day); logs every day that differed (tenant, day, what
/// differed, whether repaired) and every day that failed. A failed day does not stop the run.
pub async fn reconcile_days(verifier: &Verifier, days: &[(String, NaiveDate)]) -> ReconcileRun {
    let outcomes: Vec<_> =
        futures::stream::iter(days)
            .map(|(tenant, day)| async move {
                (tenant, day, verifier.verify_day(tenant, *day, true).await)
            })
            .buffer_unordered(DAYS_IN_FLIGHT)
            .collect()
            .await;
    let mut run = ReconcileRun::default();
    for (tenant, day, outcome) in outcomes {
        match outcome {
            Ok(report) => {
                run.days_checked += 1;
                for d in &report.drifted {
                    run.drift_days += 1;
                    let differences: usize = d.drifts.iter().map(|x| x.differences.len()).sum();
                    let first = d
                        .drifts
                        .first()
                        .map(|x| format!("{} {}: {}", x.scope, x.figure, x.differences.join("; ")));
                    if d.repaired {
                        run.repaired_days += 1;
                        tracing::warn!(tenant = %tenant, day = %day, differences, first = first.unwrap_or_default(), "rollup day repaired");
                    } else {
                        tracing::error!(tenant = %tenant, day = %day, differences, first = first.unwrap_or_default(), "rollup day still differs after a rebuild");
                    }
                }
            }
            Err(e) => {
                run.failed_days += 1;
                tracing::error!(tenant = %tenant, day = %day, error = %error_chain(&e), "rollup reconciliation failed");
            }
        }
    }
    run
}

/// The run's EMF document (namespace and `Stage` as the other functions'): `RollupDriftDays`
/// (alarmed above zero), `RollupDaysVerified`, `RollupReconcileFailures`, and the capacity the
/// run consumed (`ConsumedReadCapacity`, `ConsumedWriteCapacity`).
pub fn emf_document(config: &MetricsConfig, run: &ReconcileRun, timestamp_ms: i64) -> Document {
    Document::new(config, timestamp_ms)
        .metric("RollupDriftDays", Unit::Count, run.drift_days)
        .metric("RollupDaysVerified", Unit::Count, run.days_checked)
        .metric("RollupReconcileFailures", Unit::Count, run.failed_days)
        .metric("ConsumedReadCapacity", Unit::Count, run.consumed.read_units)
        .metric(
            "ConsumedWriteCapacity",
            Unit::Count,
            run.consumed.write_units,
        )
        .property("repairedDays", run.repaired_days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_document_declares_the_drift_metric_with_its_value() {
        let config = MetricsConfig {
            namespace: "AgentOverview".into(),
            stage: "prod".into(),
        };
        let run = ReconcileRun {
            days_checked: 12,
            drift_days: 2,
            repaired_days: 2,
            failed_days: 1,
            consumed: ConsumedCapacity {
                read_units: 40.5,
                write_units: 3.0,
            },
        };
        let doc = emf_document(&config, &run, 1_700_000_000_000).to_value();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "AgentOverview");
        assert_eq!(directive["Dimensions"], json!([["Stage"]]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "RollupDriftDays",
                "RollupDaysVerified",
                "RollupReconcileFailures",
                "ConsumedReadCapacity",
                "ConsumedWriteCapacity"
            ]
        );
        assert_eq!(doc["RollupDriftDays"], 2);
        assert_eq!(doc["RollupDaysVerified"], 12);
        assert_eq!(doc["RollupReconcileFailures"], 1);
        assert_eq!(doc["ConsumedReadCapacity"], 40.5);
        assert_eq!(doc["ConsumedWriteCapacity"], 3.0);
        assert_eq!(doc["Stage"], "prod");
        assert_eq!(doc["repairedDays"], 2, "a property");
        assert!(directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["Unit"] == "Count"));
    }
}
