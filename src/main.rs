//! The API function: wiring only (tracing, config, client, warm connection, sign-in, run).

use agent_overview::config::Config;
use agent_overview::domain::clock::system_clock;
use agent_overview::dynamo::{client as dynamo_client, sdk_config};
use agent_overview::functions::{api::handle_event, api::warm_up_at_init, init};
use agent_overview::{http::App, signin::SignIn, store::dynamo::DynamoStore};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = init(Config::from_env(), |c| &c.metrics)?;
    let client = dynamo_client(&sdk_config().await);
    let store = DynamoStore::new(client, config.tables.clone(), config.reads.clone());
    warm_up_at_init(&store, std::time::Duration::from_secs(2)).await;
    // Sign-in's HTTP client is built on the first check, not here: INIT stays as it was.
    let clock = system_clock();
    let sign_in = Some(SignIn::new(config.sign_in, clock.clone(), config.metrics));
    let app = &App {
        store,
        reads: config.reads,
        clock,
        sign_in,
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle_event(app, event).await
    }))
    .await
}
