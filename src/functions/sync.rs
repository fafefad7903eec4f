//! The sync function's entry point (`agent-overview-sync`): triggered by the sync queue, one
//! job (tenant) per message, each run by `sync::scheduled::run_job` within the invocation's
//! time. What Lambda retries: the records not started before the deadline (batch item
//! failures); a malformed job is dropped (it would fail the same way again).

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use tokio::time::Instant;

use crate::config::SyncFunctionConfig;
use crate::domain::clock::Clock;
use crate::sync::scheduled::{run_job, Job, BUDGET_MARGIN};

/// The sync function's clients, settings and clock, made at INIT.
pub struct SyncFunction {
    pub dynamo: crate::dynamo::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub config: SyncFunctionConfig,
    pub clock: Clock,
}

/// The time the jobs have: from `now_ms` to the invocation's deadline (`deadline_ms`, epoch
/// ms), less [`BUDGET_MARGIN`] for the last writes and the checkpoint; zero when past it.
pub fn time_for_jobs(deadline_ms: u64, now_ms: i64) -> Duration {
    let deadline_ms = i64::try_from(deadline_ms).unwrap_or(i64::MAX);
    let left = u64::try_from(deadline_ms.saturating_sub(now_ms)).unwrap_or(0);
    Duration::from_millis(left).saturating_sub(BUDGET_MARGIN)
}

/// A record's job, or `None` (logged by message id) when its body is not `{"tenant": …}`.
pub fn job_of(record: &SqsMessage) -> Option<Job> {
    match record.body.as_deref().map(serde_json::from_str::<Job>) {
        Some(Ok(job)) => Some(job),
        _ => {
            let id = record.message_id.as_deref().unwrap_or_default();
            tracing::error!(message_id = %id, "a sync job that is not {{\"tenant\": …}}; dropped");
            None
        }
    }
}

/// Runs each record's job in order with `run`; a record reached at or after `deadline` is not
/// started but answered as a batch item failure (back to the queue); a malformed job is dropped.
pub async fn run_records<F, Fut>(
    records: Vec<SqsMessage>,
    deadline: Instant,
    mut run: F,
) -> SqsBatchResponse
where
    F: FnMut(Job) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut response = SqsBatchResponse::default();
    for record in records {
        if Instant::now() >= deadline {
            // No time left for this job: back to the queue.
            response.add_failure(record.message_id.clone().unwrap_or_default());
            continue;
        }
        if let Some(job) = job_of(&record) {
            run(job).await;
        }
    }
    response
}

/// One invocation: the records' jobs until the invocation's deadline less the margin, each
/// at the clock's `now` when it starts.
pub async fn handle_event(
    function: &SyncFunction,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let SyncFunction {
        dynamo,
        secrets,
        config,
        clock,
    } = function;
    let deadline = Instant::now() + time_for_jobs(event.context.deadline, clock());
    let response = run_records(event.payload.records, deadline, |job| async move {
        let (names, metrics) = (&config.tables, &config.metrics);
        let now_ms = clock();
        // Boxed: a job's future is deep; inline, the runtime's would overflow rustc's limits.
        let job = run_job(
            dynamo,
            names,
            secrets,
            &config.sync,
            metrics,
            &job,
            deadline,
            now_ms,
        );
        Box::pin(job).await;
    })
    .await;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect()
    }

    #[test]
    fn the_jobs_have_the_time_to_the_deadline_less_the_margin() {
        let now = 1_700_000_000_000_i64;
        let margin = BUDGET_MARGIN.as_millis() as u64;
        let deadline = now as u64 + 900_000;
        assert_eq!(
            time_for_jobs(deadline, now),
            Duration::from_millis(900_000 - margin)
        );
        assert_eq!(time_for_jobs(now as u64 + margin - 1, now), Duration::ZERO);
        assert_eq!(
            time_for_jobs(now as u64 - 5_000, now),
            Duration::ZERO,
            "past"
        );
        assert!(!time_for_jobs(u64::MAX, now).is_zero());
    }

    #[test]
    fn a_job_is_a_tenant_and_anything_else_is_none() {
        assert_eq!(
            job_of(&record("m1", r#"{"tenant":"acme"}"#)),
            Some(Job {
                tenant: "acme".into()
            })
        );
        assert_eq!(job_of(&record("m2", "not json")), None);
        assert_eq!(job_of(&record("m3", r#"{"other":"acme"}"#)), None);
        assert_eq!(job_of(&SqsMessage::default()), None, "no body");
    }

    #[tokio::test]
    async fn the_jobs_run_in_order_and_a_malformed_one_is_dropped_not_retried() {
        let mut ran = Vec::new();
        let records = vec![
            record("m1", r#"{"tenant":"acme"}"#),
            record("m2", "{"),
            record("m3", r#"{"tenant":"globex"}"#),
        ];
        let deadline = Instant::now() + Duration::from_secs(3600);
        let response = run_records(records, deadline, |job| {
            ran.push(job.tenant);
            async {}
        })
        .await;
        assert_eq!(ran, ["acme", "globex"]);
        assert!(failed_ids(&response).is_empty(), "{response:?}");
    }

    #[tokio::test]
    async fn records_reached_after_the_deadline_go_back_to_the_queue() {
        let mut ran = Vec::new();
        let records = vec![
            record("m1", r#"{"tenant":"acme"}"#),
            record("m2", r#"{"tenant":"globex"}"#),
        ];
        let response = run_records(records, Instant::now(), |job| {
            ran.push(job.tenant);
            async {}
        })
        .await;
        assert!(ran.is_empty());
        assert_eq!(failed_ids(&response), ["m1", "m2"]);
    }
}
