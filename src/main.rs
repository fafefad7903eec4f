//! The Lambda function: wiring only (tracing, config, client, warm connection, run).

use agent_overview::config::Config;
use agent_overview::http::{handler::system_clock, App};
use agent_overview::lambda::handle_event;
use agent_overview::store::dynamo::{retry_config, DynamoStore};
use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env();
    // Logs first, so a bad configuration is logged (with the default metric settings).
    agent_overview::telemetry::init(
        config
            .as_ref()
            .map(|c| c.metrics.clone())
            .unwrap_or_default(),
    );
    let config = config.inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;

    // Standard retry mode: bounded attempts with exponential back-off and jitter.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .load()
        .await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.tables.clone(),
        config.limits.clone(),
    );
    // Open the connection during INIT so the first request does not pay the TLS handshake.
    match tokio::time::timeout(Duration::from_secs(2), store.warm_up()).await {
        Ok(Ok(())) => tracing::info!("DynamoDB connection opened during INIT"),
        Ok(Err(e)) => tracing::warn!(error = %e, "DynamoDB warm-up during INIT failed"),
        Err(_) => tracing::warn!("DynamoDB warm-up during INIT timed out"),
    }

    let app = App {
        store,
        limits: config.limits,
        clock: system_clock(),
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle_event(app, event).await
    }))
    .await
}
