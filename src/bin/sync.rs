//! The sync function (`agent-overview-sync`): wiring only. Triggered by the sync queue, one job
//! (tenant) per message; the work is in `agent_overview::functions::sync`.

use agent_overview::config::SyncFunctionConfig;
use agent_overview::domain::clock::system_clock;
use agent_overview::dynamo::{client as dynamo_client, sdk_config};
use agent_overview::functions::init;
use agent_overview::functions::sync::{handle_event, SyncFunction};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = init(SyncFunctionConfig::from_env(), |c| &c.metrics)?;
    let sdk = sdk_config().await;
    let function = &SyncFunction {
        dynamo: dynamo_client(&sdk),
        secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        config,
        clock: system_clock(),
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        handle_event(function, event).await
    }))
    .await
}
