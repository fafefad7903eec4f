//! One Embedded Metric Format line per sign-in that reached the check: `SignInChecks` (a `/me`
//! call made), `SignInCacheHits` (answered from the cache, or by a check already in flight),
//! `SignInFailures` (with the failure `Kind` as a dimension too) and `SignInUnreachable`
//! (timeout, connection failure, 5xx: the alarm's metric). The tenant is a property, never a
//! dimension; no token, hash or user id is ever on the line.

use serde_json::{json, Value};

use super::me::Failure;
use crate::config::MetricsConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Checked,
    CacheHit,
    /// Not asked: the tenant is backed off after a 429.
    BackedOff,
}

pub fn document(
    config: &MetricsConfig,
    tenant: &str,
    outcome: Outcome,
    failure: Option<Failure>,
    now_ms: i64,
) -> Value {
    let flag = |b: bool| if b { 1 } else { 0 };
    let mut doc = json!({
        "Stage": config.stage,
        "tenant": tenant,
        "SignInChecks": flag(outcome == Outcome::Checked),
        "SignInCacheHits": flag(outcome == Outcome::CacheHit),
        "SignInFailures": flag(failure.is_some()),
        "SignInUnreachable": flag(failure.is_some_and(|f| f.unreachable())),
    });
    let mut directives = vec![json!({
        "Namespace": config.namespace,
        "Dimensions": [["Stage"]],
        "Metrics": [
            {"Name": "SignInChecks", "Unit": "Count"},
            {"Name": "SignInCacheHits", "Unit": "Count"},
            {"Name": "SignInFailures", "Unit": "Count"},
            {"Name": "SignInUnreachable", "Unit": "Count"},
        ],
    })];
    if let Some(f) = failure {
        doc["Kind"] = json!(f.kind());
        directives.push(json!({
            "Namespace": config.namespace,
            "Dimensions": [["Stage", "Kind"]],
            "Metrics": [{"Name": "SignInFailures", "Unit": "Count"}],
        }));
    }
    doc["_aws"] = json!({"Timestamp": now_ms, "CloudWatchMetrics": directives});
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_counts_by_kind_and_the_tenant_is_a_property() {
        let doc = document(
            &MetricsConfig::default(),
            "acme",
            Outcome::Checked,
            Some(Failure::Timeout),
            7,
        );
        assert_eq!(doc["tenant"], "acme");
        assert_eq!(doc["Kind"], "timeout");
        assert_eq!(
            (
                doc["SignInChecks"].as_i64(),
                doc["SignInFailures"].as_i64(),
                doc["SignInUnreachable"].as_i64()
            ),
            (Some(1), Some(1), Some(1))
        );
        let dims = &doc["_aws"]["CloudWatchMetrics"];
        assert_eq!(dims[0]["Dimensions"], json!([["Stage"]]));
        assert_eq!(dims[1]["Dimensions"], json!([["Stage", "Kind"]]));
        let hit = document(
            &MetricsConfig::default(),
            "acme",
            Outcome::CacheHit,
            None,
            7,
        );
        assert_eq!(hit["SignInCacheHits"], 1);
        assert_eq!(hit["SignInFailures"], 0);
        assert!(hit.get("Kind").is_none());
    }
}
