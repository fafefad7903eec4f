//! Per-tenant freshness, measured by the fan-out every minute (not by the jobs, which a tenant
//! that crashes, times out or never finishes a cycle would never report): each connected
//! tenant's lag is now minus the start of its last complete cycle or, before its first, minus
//! the moment it was connected. A tenant is lagging past the alarm's threshold; the count of
//! lagging tenants is the alarmed metric, so one broken tenant cannot hide another (the
//! count rises), and each tenant's lag is in its own EMF line with the tenant as a property.

use crate::config::{MetricsConfig, TableNames};
use crate::dynamo::sync::lag::{connected_tenants, last_complete};
use crate::dynamo::{Client, StoreError};
use crate::telemetry::emf::{Document, Unit};

#[derive(Debug, Clone, PartialEq)]
pub struct TenantLag {
    pub tenant: String,
    pub lag_s: f64,
    /// False: the tenant never completed a cycle (measured from its connection).
    pub ever_complete: bool,
}

/// Every connected tenant's lag at `now_ms`.
pub async fn tenant_lags(
    client: &Client,
    names: &TableNames,
    now_ms: i64,
) -> Result<Vec<TenantLag>, StoreError> {
    let connected = connected_tenants(client, names).await?;
    let mut lags = Vec::with_capacity(connected.len());
    for chunk in connected.chunks(100) {
        let tenants = chunk.iter().map(|(t, _)| t.as_str());
        let completed = last_complete(client, names, tenants).await?;
        for (tenant, connected_at) in chunk {
            let done = completed
                .iter()
                .find(|(t, _)| t == tenant)
                .and_then(|(_, at)| *at);
            let since = done.or(*connected_at).unwrap_or(now_ms);
            lags.push(TenantLag {
                tenant: tenant.clone(),
                lag_s: (now_ms.max(since) - since) as f64 / 1000.0,
                ever_complete: done.is_some(),
            });
        }
    }
    Ok(lags)
}

/// The fan-out's EMF lines: one per tenant (`SyncLagSeconds`, the tenant a property), then
/// one with `SyncLaggingTenants` (lag over `threshold_s`) and `SyncMalformedConnections`.
pub fn emf_lines(
    metrics: &MetricsConfig,
    lags: &[TenantLag],
    threshold_s: f64,
    malformed: u64,
    now_ms: i64,
) -> Vec<Document> {
    let mut lines: Vec<Document> = lags
        .iter()
        .map(|l| {
            Document::new(metrics, now_ms)
                .property("tenant", l.tenant.as_str())
                .metric("SyncLagSeconds", Unit::Seconds, l.lag_s)
                .property("everComplete", l.ever_complete)
                .property("lagging", l.lag_s > threshold_s)
        })
        .collect();
    let lagging = lags.iter().filter(|l| l.lag_s > threshold_s).count();
    lines.push(
        Document::new(metrics, now_ms)
            .metric("SyncLaggingTenants", Unit::Count, lagging)
            .metric("SyncMalformedConnections", Unit::Count, malformed)
            .property("connectedTenants", lags.len()),
    );
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lagging_tenants_are_counted_and_each_is_named() {
        let lags = vec![
            TenantLag {
                tenant: "ok".into(),
                lag_s: 30.0,
                ever_complete: true,
            },
            TenantLag {
                tenant: "never".into(),
                lag_s: 3600.0,
                ever_complete: false,
            },
            TenantLag {
                tenant: "broken".into(),
                lag_s: 900.0,
                ever_complete: true,
            },
        ];
        let lines: Vec<_> = emf_lines(&MetricsConfig::default(), &lags, 600.0, 1, 7)
            .iter()
            .map(Document::to_value)
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1]["tenant"], "never");
        assert_eq!(lines[1]["SyncLagSeconds"], 3600.0);
        assert_eq!(
            lines[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stage"]])
        );
        assert_eq!(lines[3]["SyncLaggingTenants"], 2);
        assert_eq!(lines[3]["SyncMalformedConnections"], 1);
        assert_eq!(lines[3]["connectedTenants"], 3);
        let units = |l: &serde_json::Value| l["_aws"]["CloudWatchMetrics"][0]["Metrics"].clone();
        assert_eq!(
            units(&lines[0]),
            json!([{"Name": "SyncLagSeconds", "Unit": "Seconds"}])
        );
        assert_eq!(
            units(&lines[3]),
            json!([{"Name": "SyncLaggingTenants", "Unit": "Count"},
                   {"Name": "SyncMalformedConnections", "Unit": "Count"}])
        );
    }
}
