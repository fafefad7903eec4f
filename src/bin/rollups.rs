//! The rollups function (`agent-overview-rollups`): wiring only. Triggered by the
//! conversations table's stream; the work is in `agent_overview::functions::rollups`.

use agent_overview::config::RollupsConfig;
use agent_overview::domain::clock::system_clock;
use agent_overview::functions::rollups::handle_event;
use agent_overview::functions::start;
use agent_overview::store::dynamo::sdk_config;
use agent_overview::store::rebuild::Rebuilder;
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = start(RollupsConfig::from_env(), |c| &c.metrics)?;
    let client = agent_overview::store::dynamo::client(&sdk_config().await);
    let rebuilder = Rebuilder::new(client, config.tables.clone(), system_clock());
    let (rebuilder, metrics) = (&rebuilder, &config.metrics);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        handle_event(rebuilder, metrics, event).await
    }))
    .await
}
