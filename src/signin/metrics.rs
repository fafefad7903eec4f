//! One Embedded Metric Format line per sign-in that reached the check: `SignInChecks` (a `/me`
//! call made), `SignInCacheHits` (answered from the cache, or by a check already in flight),
//! `SignInFailures` (with the failure `Kind` as a dimension too) and `SignInUnreachable`
//! (timeout, connection failure, 5xx: the alarm's metric). The tenant is a property, never a
//! dimension; no token, hash or user id is ever on the line.

use super::me::Failure;
use crate::config::MetricsConfig;
use crate::telemetry::emf::{Document, Unit};

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
) -> Document {
    let flag = |b: bool| if b { 1 } else { 0 };
    let doc = Document::new(config, now_ms)
        .property("tenant", tenant)
        .metric(
            "SignInChecks",
            Unit::Count,
            flag(outcome == Outcome::Checked),
        )
        .metric(
            "SignInCacheHits",
            Unit::Count,
            flag(outcome == Outcome::CacheHit),
        )
        .metric("SignInFailures", Unit::Count, flag(failure.is_some()))
        .metric(
            "SignInUnreachable",
            Unit::Count,
            flag(failure.is_some_and(|f| f.unreachable())),
        );
    match failure {
        Some(f) => doc
            .dimension("Kind", f.kind())
            .also_by(&[&["Stage", "Kind"]], &["SignInFailures"]),
        None => doc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failure_counts_by_kind_and_the_tenant_is_a_property() {
        let doc = document(
            &MetricsConfig::default(),
            "acme",
            Outcome::Checked,
            Some(Failure::Timeout),
            7,
        )
        .to_value();
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
        assert_eq!(
            dims[1]["Metrics"],
            json!([{"Name": "SignInFailures", "Unit": "Count"}])
        );
        assert_eq!(dims[0]["Metrics"].as_array().map(Vec::len), Some(4));
        let hit = document(
            &MetricsConfig::default(),
            "acme",
            Outcome::CacheHit,
            None,
            7,
        )
        .to_value();
        assert_eq!(hit["SignInCacheHits"], 1);
        assert_eq!(hit["SignInFailures"], 0);
        assert!(hit.get("Kind").is_none());
    }
}
