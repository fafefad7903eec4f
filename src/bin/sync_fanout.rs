//! The sync fan-out function (`agent-overview-sync-fanout`): wiring only. Invoked by the
//! schedule; enqueues one job per connected tenant (`agent_overview::sync::scheduled`).

use agent_overview::config::TableNames;
use agent_overview::sync::scheduled::fan_out;
use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    agent_overview::telemetry::init(Default::default());
    let names =
        TableNames::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let queue_url = std::env::var("SYNC_QUEUE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or("SYNC_QUEUE_URL is not set")
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (dynamo, sqs, names, queue_url) = (&dynamo, &sqs, &names, &queue_url);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        // One slot per minute: a retried invocation enqueues duplicates the queue drops.
        let slot = chrono::Utc::now().timestamp() / 60;
        let sent = fan_out(dynamo, names, sqs, queue_url, slot)
            .await
            .inspect_err(|e| {
                tracing::error!(error = %agent_overview::errors::error_chain(e), "fan-out failed")
            })?;
        tracing::info!(jobs = sent, "sync jobs enqueued");
        Ok::<_, Error>(serde_json::json!({ "jobs": sent }))
    }))
    .await
}
