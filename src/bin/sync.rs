//! The sync function (`agent-overview-sync`): wiring only. Triggered by the sync queue, one job
//! (tenant) per message; the work is in `agent_overview::sync::scheduled`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_overview::config::{MetricsConfig, SyncConfig, TableNames};
use agent_overview::sync::scheduled::{run_job, Job, BUDGET_MARGIN};
use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = MetricsConfig::from_env().unwrap_or_default();
    agent_overview::telemetry::init(metrics.clone());
    let names =
        TableNames::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let config =
        SyncConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let dynamo = agent_overview::store::dynamo::client(&sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let (dynamo, secrets, names, metrics, config) = (&dynamo, &secrets, &names, &metrics, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        // The function's own deadline, less the margin the last writes and the checkpoint need.
        let left = Duration::from_millis(event.context.deadline)
            .checked_sub(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())
            .unwrap_or_default()
            .saturating_sub(BUDGET_MARGIN);
        let deadline = tokio::time::Instant::now() + left;
        let mut response = SqsBatchResponse::default();
        for record in event.payload.records {
            let id = record.message_id.clone().unwrap_or_default();
            if tokio::time::Instant::now() >= deadline {
                // No time left for this job: back to the queue.
                response.add_failure(id);
                continue;
            }
            let job: Job = match record.body.as_deref().map(serde_json::from_str) {
                Some(Ok(job)) => job,
                _ => {
                    tracing::error!(message_id = %id, "a sync job that is not {{\"tenant\": …}}; dropped");
                    continue;
                }
            };
            let now_ms = chrono::Utc::now().timestamp_millis();
            run_job(dynamo, names, secrets, config, metrics, &job, deadline, now_ms).await;
        }
        Ok::<_, Error>(response)
    }))
    .await
}
