//! The reconciliation function (`agent-overview-reconcile`): wiring only. Invoked every 5
//! minutes by EventBridge; the work is in `agent_overview::reconcile::scheduled`.

use agent_overview::config::RollupsConfig;
use agent_overview::domain::clock::system_clock;
use agent_overview::functions::start;
use agent_overview::reconcile::scheduled::{emf_document, run_once, AttentionIndex};
use agent_overview::reconcile::verify::Verifier;
use agent_overview::store::dynamo::sdk_config;
use agent_overview::store::rebuild::Rebuilder;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = start(RollupsConfig::from_env(), |c| &c.metrics)?;
    let client = agent_overview::store::dynamo::client(&sdk_config().await);
    let clock = system_clock();
    let rebuilder = Rebuilder::new(client.clone(), config.tables.clone(), clock.clone());
    let verifier = Verifier::new(
        client.clone(),
        config.tables.clone(),
        rebuilder,
        clock.clone(),
    );
    let source = AttentionIndex::new(client, &config.tables.rollups);
    let (config, clock, verifier, source) = (&config, &clock, &verifier, &source);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let now = (clock.as_ref())();
        let run = run_once(verifier, source, now).await?;
        // The EMF line: CloudWatch Logs turns it into the RollupDriftDays metric.
        println!("{}", emf_document(&config.metrics, &run, now));
        Ok::<_, Error>(json!({
            "daysChecked": run.days_checked,
            "driftDays": run.drift_days,
            "repairedDays": run.repaired_days,
            "failedDays": run.failed_days,
        }))
    }))
    .await
}
