//! The sync fan-out function's entry point (`agent-overview-sync-fanout`): invoked by the
//! schedule; enqueues one job per connected tenant (`sync::scheduled::fan_out`), then writes
//! every tenant's lag as EMF (`sync::lag`).

use serde_json::{json, Value};

use crate::config::FanOutConfig;
use crate::domain::clock::Clock;
use crate::errors::error_chain;
use crate::sync::lag::{emf_lines, tenant_lags};
use crate::sync::scheduled::fan_out;

/// The fan-out function's clients, settings and clock, made at INIT.
pub struct FanOutFunction {
    pub dynamo: crate::dynamo::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub config: FanOutConfig,
    pub clock: Clock,
}

/// The minute of `now_ms`: a retried invocation in the same minute enqueues duplicates the
/// FIFO queue drops (the slot is in each job's deduplication id).
pub fn slot_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(60_000)
}

/// One scheduled invocation: the jobs enqueued, then every connected tenant's lag measured and
/// written as EMF lines. Answers how many jobs were sent.
pub async fn handle_event(function: &FanOutFunction) -> Result<Value, lambda_runtime::Error> {
    let FanOutFunction {
        dynamo,
        sqs,
        config,
        clock,
    } = function;
    let names = &config.tables;
    let done = fan_out(dynamo, names, sqs, &config.queue_url, slot_of(clock()))
        .await
        .inspect_err(|e| tracing::error!(error = %error_chain(e), "fan-out failed"))?;
    tracing::info!(
        jobs = done.sent,
        malformed = done.malformed,
        "sync jobs enqueued"
    );
    let now_ms = clock();
    let lags = tenant_lags(dynamo, names, now_ms).await.inspect_err(
        |e| tracing::error!(error = %error_chain(e), "measuring the tenants' lag failed"),
    )?;
    let threshold_s = config.sync.lag_alarm_seconds;
    for line in emf_lines(&config.metrics, &lags, threshold_s, done.malformed, now_ms) {
        line.emit();
    }
    Ok(json!({ "jobs": done.sent }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_a_minute() {
        let minute = 1_700_000_040_000_i64; // a whole minute
        assert_eq!(slot_of(minute), slot_of(minute + 59_999));
        assert_eq!(slot_of(minute) + 1, slot_of(minute + 60_000));
        assert_eq!(slot_of(minute), minute / 1000 / 60, "as epoch seconds / 60");
    }
}
