//! The API function: wiring only (tracing, config, client, warm connection, sign-in, run).

use agent_overview::config::Config;
use agent_overview::domain::clock::system_clock;
use agent_overview::functions::api::{handle_event, warm_up_at_init};
use agent_overview::functions::start;
use agent_overview::http::App;
use agent_overview::signin::SignIn;
use agent_overview::store::dynamo::{sdk_config, DynamoStore};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = start(Config::from_env(), |c| &c.metrics)?;

    let store = DynamoStore::new(
        agent_overview::store::dynamo::client(&sdk_config().await),
        config.tables.clone(),
        config.limits.clone(),
    );
    warm_up_at_init(&store, Duration::from_secs(2)).await;

    // Sign-in's HTTP client is built on the first check, not here: INIT stays as it was.
    let clock = system_clock();
    let app = App {
        store,
        limits: config.limits,
        clock: clock.clone(),
        sign_in: Some(SignIn::new(config.sign_in, clock, config.metrics)),
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle_event(app, event).await
    }))
    .await
}
