//! The stream function (`agent-overview-rollups`): wiring only. Triggered by the
//! conversations table's stream; the work is in `agent_overview::functions::stream`.

use agent_overview::config::RollupsConfig;
use agent_overview::domain::clock::system_clock;
use agent_overview::dynamo::{client as dynamo_client, sdk_config};
use agent_overview::functions::{init, stream::handle_event};
use agent_overview::rollups::rebuild::Rebuilder;
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = init(RollupsConfig::from_env(), |c| &c.metrics)?;
    let client = dynamo_client(&sdk_config().await);
    let clock = system_clock();
    let rebuilder = Rebuilder::new(client, config.tables.clone(), clock.clone());
    let (rebuilder, metrics, clock) = (&rebuilder, &config.metrics, &clock);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        handle_event(rebuilder, metrics, clock, event).await
    }))
    .await
}
