//! The sync fan-out function (`agent-overview-sync-fanout`): wiring only. Invoked by the
//! schedule; enqueues one job per connected tenant (`agent_overview::sync::scheduled`), then
//! writes every tenant's lag as EMF (`agent_overview::sync::lag`).

use agent_overview::config::{MetricsConfig, SyncConfig, TableNames};
use agent_overview::errors::error_chain;
use agent_overview::sync::lag::{emf_lines, tenant_lags};
use agent_overview::sync::scheduled::fan_out;
use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = MetricsConfig::from_env().unwrap_or_default();
    agent_overview::telemetry::init(metrics.clone());
    let names =
        TableNames::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let config =
        SyncConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let queue_url = std::env::var("SYNC_QUEUE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or("SYNC_QUEUE_URL is not set")
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let dynamo = agent_overview::store::dynamo::client(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (dynamo, sqs, names, queue_url) = (&dynamo, &sqs, &names, &queue_url);
    let (metrics, config) = (&metrics, &config);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        // One slot per minute: a retried invocation enqueues duplicates the queue drops.
        let slot = chrono::Utc::now().timestamp() / 60;
        let done = fan_out(dynamo, names, sqs, queue_url, slot)
            .await
            .inspect_err(|e| tracing::error!(error = %error_chain(e), "fan-out failed"))?;
        tracing::info!(
            jobs = done.sent,
            malformed = done.malformed,
            "sync jobs enqueued"
        );
        let now_ms = chrono::Utc::now().timestamp_millis();
        let lags = tenant_lags(dynamo, names, now_ms).await.inspect_err(
            |e| tracing::error!(error = %error_chain(e), "measuring the tenants' lag failed"),
        )?;
        for line in emf_lines(
            metrics,
            &lags,
            config.lag_alarm_seconds,
            done.malformed,
            now_ms,
        ) {
            println!("{line}");
        }
        Ok::<_, Error>(serde_json::json!({ "jobs": done.sent }))
    }))
    .await
}
