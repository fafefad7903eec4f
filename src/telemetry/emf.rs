//! Per-request metrics as CloudWatch Embedded Metric Format (EMF): one JSON line on stdout per
//! request, which CloudWatch Logs turns into metrics without any API call from the function.
//!
//! Written by hand rather than with `metrics_cloudwatch_embedded`: that crate is a global
//! recorder for the `metrics` facade with its own Lambda runner, while here every request
//! already ends in one `tracing` event carrying all its numbers; turning that event into one
//! document keeps per-request properties (tenant, request id) on the line and needs no global
//! state in the tests.
//!
//! Dimensions are low-cardinality only (`Stage`, `StatusClass`, `Figure`); the tenant is a
//! property (searchable in Logs Insights, never a metric of its own).

use std::io::Write;

use serde_json::{json, Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::{INVOCATION_SPAN, REQUEST_TARGET};
use crate::config::MetricsConfig;

/// The numbers of one request, as the handler's summary event carries them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestRecord {
    pub status: Option<u64>,
    pub tenant: Option<String>,
    pub figure: Option<String>,
    pub range_days: Option<i64>,
    pub items_read: u64,
    /// Query pages read for the figure.
    pub dynamodb_requests: u64,
    /// Session and directory reads before the figure.
    pub identity_reads: u64,
    pub buckets: u64,
    pub duration_ms: u64,
    /// Share (0..=1) of the range's days answered from precomputed rollups, reported by the
    /// handler's summary event as `rollup_hit_ratio`; absent (no range read), no metric.
    pub rollup_hit_ratio: Option<f64>,
    /// Read and write capacity units the request's DynamoDB calls consumed, as DynamoDB
    /// reported them (`consumed_read_capacity`, `consumed_write_capacity`).
    pub consumed_read_capacity: f64,
    pub consumed_write_capacity: f64,
    /// The Lambda request id, from the invocation span.
    pub request_id: Option<String>,
}

impl RequestRecord {
    fn set_count(&mut self, name: &str, n: u64) {
        match name {
            "status" => self.status = Some(n),
            "items_read" => self.items_read = n,
            "dynamodb_requests" => self.dynamodb_requests = n,
            "identity_reads" => self.identity_reads = n,
            "buckets" => self.buckets = n,
            "duration_ms" => self.duration_ms = n,
            "range_days" => self.range_days = i64::try_from(n).ok(),
            _ => {}
        }
    }
}

impl Visit for RequestRecord {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set_count(field.name(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        match field.name() {
            "range_days" => self.range_days = Some(value),
            name => {
                if let Ok(n) = u64::try_from(value) {
                    self.set_count(name, n);
                }
            }
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        match field.name() {
            "rollup_hit_ratio" if (0.0..=1.0).contains(&value) => {
                self.rollup_hit_ratio = Some(value)
            }
            "consumed_read_capacity" if value >= 0.0 => self.consumed_read_capacity = value,
            "consumed_write_capacity" if value >= 0.0 => self.consumed_write_capacity = value,
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "tenant" => self.tenant = Some(value.to_string()),
            "figure" => self.figure = Some(value.to_string()),
            _ => {}
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// `2xx`, `4xx`, `5xx`: the `StatusClass` dimension.
pub fn status_class(status: Option<u64>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "other",
    }
}

/// The EMF document of one request.
pub fn document(config: &MetricsConfig, r: &RequestRecord, timestamp_ms: i64) -> Value {
    let mut metrics: Vec<(&str, &str, f64)> = vec![
        ("Requests", "Count", 1.0),
        ("Latency", "Milliseconds", r.duration_ms as f64),
        ("ItemsRead", "Count", r.items_read as f64),
        (
            "DynamoDbRequests",
            "Count",
            (r.identity_reads + r.dynamodb_requests) as f64,
        ),
        ("MonthBuckets", "Count", r.buckets as f64),
        // What the tenant's request cost: summed per tenant in Logs Insights (README).
        ("ConsumedReadCapacity", "Count", r.consumed_read_capacity),
        ("ConsumedWriteCapacity", "Count", r.consumed_write_capacity),
    ];
    if let Some(ratio) = r.rollup_hit_ratio {
        metrics.push(("RollupHitRatio", "Percent", ratio * 100.0));
    }
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": config.namespace,
                "Dimensions": [["Stage"], ["Stage", "StatusClass"], ["Stage", "Figure"]],
                "Metrics": definitions,
            }],
        }),
    );
    doc.insert("Stage".into(), json!(config.stage));
    doc.insert("StatusClass".into(), json!(status_class(r.status)));
    doc.insert(
        "Figure".into(),
        json!(r.figure.as_deref().unwrap_or("none")),
    );
    for (name, _, value) in &metrics {
        doc.insert((*name).into(), json!(value));
    }
    // Properties: on the line for Logs Insights, not metrics; absent ones are left out.
    let properties = [
        ("status", r.status.map(Value::from)),
        ("tenant", r.tenant.clone().map(Value::from)),
        ("rangeDays", r.range_days.map(Value::from)),
        ("queryPages", Some(Value::from(r.dynamodb_requests))),
        ("requestId", r.request_id.clone().map(Value::from)),
    ];
    for (name, value) in properties {
        if let Some(value) = value {
            doc.insert(name.into(), value);
        }
    }
    Value::Object(doc)
}

/// The invocation's request id, kept on its span for the events inside it.
struct RequestId(String);

#[derive(Default)]
struct RequestIdVisitor(Option<String>);

impl Visit for RequestIdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "request_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// Turns each request summary event into one EMF line.
pub struct EmfLayer<W> {
    config: MetricsConfig,
    writer: W,
}

impl<W> EmfLayer<W> {
    pub fn new(config: MetricsConfig, writer: W) -> Self {
        Self { config, writer }
    }
}

impl<S, W> Layer<S> for EmfLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != INVOCATION_SPAN {
            return;
        }
        let mut visitor = RequestIdVisitor::default();
        attrs.record(&mut visitor);
        if let (Some(request_id), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != REQUEST_TARGET {
            return;
        }
        let mut record = RequestRecord::default();
        event.record(&mut record);
        record.request_id = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<RequestId>().map(|r| r.0.clone()))
        });
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut line = document(&self.config, &record, now_ms).to_string();
        line.push('\n');
        // One write per line, so concurrent lines never interleave; a failed log write has
        // nowhere better to be reported.
        let _ = self.writer.make_writer().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MetricsConfig {
        MetricsConfig {
            namespace: "AgentOverview".into(),
            stage: "prod".into(),
        }
    }

    #[test]
    fn a_document_declares_every_metric_it_carries() {
        let r = RequestRecord {
            status: Some(200),
            tenant: Some("acme".into()),
            figure: Some("Total_messages".into()),
            range_days: Some(31),
            items_read: 1200,
            dynamodb_requests: 3,
            identity_reads: 2,
            buckets: 2,
            duration_ms: 85,
            rollup_hit_ratio: None,
            consumed_read_capacity: 2.5,
            consumed_write_capacity: 0.0,
            request_id: Some("req-1".into()),
        };
        let doc = document(&config(), &r, 1_700_000_000_000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "AgentOverview");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        for set in directive["Dimensions"].as_array().unwrap() {
            for dim in set.as_array().unwrap() {
                let name = dim.as_str().unwrap();
                assert!(doc[name].is_string(), "dimension {name} is a string member");
            }
        }
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "metric {name} is a number member");
        }
        assert_eq!(doc["Stage"], "prod");
        assert_eq!(doc["StatusClass"], "2xx");
        assert_eq!(doc["Figure"], "Total_messages");
        assert_eq!(doc["ItemsRead"], 1200.0);
        assert_eq!(doc["DynamoDbRequests"], 5.0);
        assert_eq!(doc["ConsumedReadCapacity"], 2.5);
        assert_eq!(doc["ConsumedWriteCapacity"], 0.0);
        assert_eq!(doc["tenant"], "acme");
        assert_eq!(doc["requestId"], "req-1");
        assert!(doc.get("RollupHitRatio").is_none());
    }

    #[test]
    fn the_tenant_is_never_a_dimension() {
        let doc = document(&config(), &RequestRecord::default(), 0);
        let dims = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"].to_string();
        assert!(!dims.contains("tenant"), "{dims}");
        assert_eq!(doc["Figure"], "none");
        assert_eq!(doc["StatusClass"], "other");
        assert!(
            doc.get("tenant").is_none(),
            "absent properties are left out"
        );
    }

    #[test]
    fn a_rollup_hit_ratio_becomes_a_percentage_metric() {
        let r = RequestRecord {
            rollup_hit_ratio: Some(0.75),
            ..RequestRecord::default()
        };
        let doc = document(&config(), &r, 0);
        assert_eq!(doc["RollupHitRatio"], 75.0);
        let names = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string();
        assert!(names.contains("RollupHitRatio"));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(Some(200)), "2xx");
        assert_eq!(status_class(Some(401)), "4xx");
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(None), "other");
    }
}
