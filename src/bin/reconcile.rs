//! The reconciliation function (`agent-overview-reconcile`): wiring only. Invoked every 5
//! minutes by EventBridge; the work is in `agent_overview::functions::reconcile`.

use agent_overview::config::RollupsConfig;
use agent_overview::domain::clock::system_clock;
use agent_overview::dynamo::{client as dynamo_client, sdk_config};
use agent_overview::functions::{init, reconcile::handle_event};
use agent_overview::reconcile::{scheduled::AttentionIndex, verify::Verifier};
use agent_overview::rollups::rebuild::Rebuilder;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = init(RollupsConfig::from_env(), |c| &c.metrics)?;
    let (client, clock) = (dynamo_client(&sdk_config().await), system_clock());
    let tables = &config.tables;
    let rebuilder = Rebuilder::new(client.clone(), tables.clone(), clock.clone());
    let verifier = Verifier::new(client.clone(), tables.clone(), rebuilder, clock.clone());
    let source = AttentionIndex::new(client, tables);
    let (verifier, source, metrics, clock) = (&verifier, &source, &config.metrics, &clock);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            handle_event(verifier, source, metrics, clock).await
        },
    ))
    .await
}
