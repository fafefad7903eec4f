//! The rollups function (`agent-overview-rollups`): wiring only. Triggered by the
//! conversations table's stream; the work is in `agent_overview::rollup_stream`.

use agent_overview::config::RollupTables;
use agent_overview::http::handler::system_clock;
use agent_overview::rollup_stream::handle_event;
use agent_overview::store::rebuild::Rebuilder;
use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    agent_overview::telemetry::init();
    let tables = RollupTables::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    // Standard retry mode: bounded attempts with exponential back-off and jitter.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(4))
        .load()
        .await;
    let rebuilder = Rebuilder::new(aws_sdk_dynamodb::Client::new(&sdk), tables, system_clock());
    let rebuilder = &rebuilder;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        handle_event(rebuilder, event).await
    }))
    .await
}
