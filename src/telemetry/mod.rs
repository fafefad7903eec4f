//! What the function writes to its log (stdout, which Lambda sends to CloudWatch Logs): JSON log
//! lines through `tracing`, level from `RUST_LOG` (default `info`), and one CloudWatch Embedded
//! Metric Format line per request ([`emf`]), whatever the level.
//!
//! Neither ever carries a token, a token hash or an `X-User-Id` value: the handler does not put
//! them in any event, and [`filter`] keeps the dependencies that would (at TRACE) at DEBUG at
//! most, whatever `RUST_LOG` says.

pub mod emf;

use tracing::Subscriber;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::config::MetricsConfig;

/// Target of the handler's one summary event per request: a JSON log line, and the source of
/// the request's metrics.
pub const REQUEST_TARGET: &str = "agent_overview::request";

/// Name of the span around one Lambda invocation; its `request_id` field goes into the metrics.
pub const INVOCATION_SPAN: &str = "invocation";

/// Added after `RUST_LOG`, whatever it says: these dependencies log whole requests and
/// responses at TRACE. `lambda_runtime` writes each raw invocation event, headers included (so
/// the `X-Auth-Token`); the AWS SDK writes DynamoDB requests and responses (token hashes, user
/// ids) and what it signs; hyper and h2 what goes over the wire.
const REDACTIONS: [&str; 14] = [
    "lambda_runtime=debug",
    "lambda_runtime_api_client=debug",
    "lambda_http=debug",
    "aws_smithy_runtime=debug",
    "aws_smithy_runtime_api=debug",
    "aws_smithy_http_client=debug",
    "aws_sigv4=debug",
    "aws_runtime=debug",
    "aws_config=debug",
    "aws_sdk_dynamodb=debug",
    "hyper=debug",
    "hyper_util=debug",
    "h2=debug",
    "rustls=debug",
];

/// The log filter for `RUST_LOG`-style directives (an invalid string means `info`), with the
/// redactions that no level may lift.
pub fn filter(directives: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    for directive in REDACTIONS {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// JSON logs filtered by `filter`, and EMF lines for every request regardless of the level,
/// both written to `writer` (stdout in Lambda; a buffer in the tests).
pub fn subscriber<W>(
    filter: EnvFilter,
    metrics: MetricsConfig,
    writer: W,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    // Lambda adds its own timestamps; keep lines compact and machine-readable.
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_target(false)
        .with_writer(writer.clone())
        .with_filter(filter);
    let emf = emf::EmfLayer::new(metrics, writer).with_filter(filter_fn(|meta| {
        meta.target() == REQUEST_TARGET || (meta.is_span() && meta.name() == INVOCATION_SPAN)
    }));
    tracing_subscriber::registry().with(logs).with(emf)
}

/// Installs the subscriber for the process, writing to stdout.
pub fn init(metrics: MetricsConfig) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing::subscriber::set_global_default(subscriber(
        filter(&directives),
        metrics,
        std::io::stdout,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_filter_means_info_and_keeps_the_redactions() {
        let shown = filter("not a [filter").to_string();
        assert!(shown.split(',').any(|d| d == "info"), "{shown}");
        assert!(shown.contains("aws_smithy_runtime=debug"), "{shown}");
    }

    #[test]
    fn every_redaction_parses() {
        for directive in REDACTIONS {
            assert!(
                directive
                    .parse::<tracing_subscriber::filter::Directive>()
                    .is_ok(),
                "{directive}"
            );
        }
    }
}
