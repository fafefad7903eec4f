//! The reconciliation function's entry point (`agent-overview-reconcile`, every 5 minutes):
//! one run of `reconcile::scheduled` at the clock's `now`, its EMF line, and its reply.

use serde_json::{json, Value};

use crate::config::MetricsConfig;
use crate::domain::clock::Clock;
use crate::reconcile::scheduled::{emf_document, run_once, DaysToReconcile, ReconcileRun};
use crate::reconcile::verify::Verifier;

/// What the function answers (the invocation's result, in its log and the console).
pub fn reply(run: &ReconcileRun) -> Value {
    json!({
        "daysChecked": run.days_checked,
        "driftDays": run.drift_days,
        "repairedDays": run.repaired_days,
        "failedDays": run.failed_days,
    })
}

/// One scheduled invocation: verifies and repairs the days `source` names, writes the run's
/// EMF line (CloudWatch Logs turns it into `RollupDriftDays`, the alarm's metric) and answers
/// the run's counts. Fails whole only when the days cannot be listed.
pub async fn handle_event(
    verifier: &Verifier,
    source: &impl DaysToReconcile,
    metrics: &MetricsConfig,
    clock: &Clock,
) -> Result<Value, lambda_runtime::Error> {
    let now = clock();
    let run = run_once(verifier, source, now).await?;
    emf_document(metrics, &run, now).emit();
    Ok(reply(&run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_counts_the_run() {
        let run = ReconcileRun {
            days_checked: 12,
            drift_days: 2,
            repaired_days: 1,
            failed_days: 3,
            ..ReconcileRun::default()
        };
        assert_eq!(
            reply(&run),
            json!({"daysChecked": 12, "driftDays": 2, "repairedDays": 1, "failedDays": 3})
        );
    }
}
