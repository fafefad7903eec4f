//! The sync fan-out function (`agent-overview-sync-fanout`): wiring only. Invoked by the
//! schedule; the work is in `agent_overview::functions::sync_fanout`.

use agent_overview::config::FanOutConfig;
use agent_overview::domain::clock::system_clock;
use agent_overview::dynamo::{client as dynamo_client, sdk_config};
use agent_overview::functions::init;
use agent_overview::functions::sync_fanout::{handle_event, FanOutFunction};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = init(FanOutConfig::from_env(), |c| &c.metrics)?;
    let sdk = sdk_config().await;
    let function = &FanOutFunction {
        dynamo: dynamo_client(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        config,
        clock: system_clock(),
    };
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        handle_event(function).await
    }))
    .await
}
