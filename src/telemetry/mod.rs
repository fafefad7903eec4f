//! What the function writes to its log (stdout, which Lambda sends to CloudWatch Logs): JSON log
//! lines through `tracing`, level from `RUST_LOG` (default `info`), and one CloudWatch Embedded
//! Metric Format line per request ([`emf`]), whatever the level.
//!
//! Neither ever carries a token, a token hash or an `X-User-Id` value: the handler does not put
//! them in any event, and [`dependency_cap`] keeps the dependencies that would (at TRACE) at
//! DEBUG at most, whatever `RUST_LOG` says, without ever raising them above it.

pub mod emf;

use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::config::MetricsConfig;
use crate::domain::clock::Clock;

/// Target of the handler's one summary event per request: a JSON log line, and the source of
/// the request's metrics.
pub const REQUEST_TARGET: &str = "agent_overview::request";

/// Name of the span around one Lambda invocation; its `request_id` field goes into the metrics.
pub const INVOCATION_SPAN: &str = "invocation";

/// Dependencies that log whole requests and responses at TRACE. `lambda_runtime` writes each
/// raw invocation event, headers included (so the `X-Auth-Token`); the AWS SDK writes DynamoDB
/// requests and responses (token hashes, user ids) and what it signs; hyper and h2 what goes
/// over the wire; the Secrets Manager client what it fetched (the sync's tokens), the SQS client
/// the jobs. A target also covers the targets it prefixes (`hyper` covers `hyper_util`).
const REDACTED_TARGETS: [&str; 17] = [
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
    "aws_sdk_dynamodb",
    "aws_sdk_secretsmanager",
    "aws_sdk_sqs",
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

/// The log filter for `RUST_LOG`-style directives (an invalid string means `info`).
pub fn filter(directives: &str) -> EnvFilter {
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// A ceiling for [`REDACTED_TARGETS`], applied together with (`and`) the `RUST_LOG` filter, so
/// their level is min(`RUST_LOG`'s, DEBUG): at `info` they log nothing below INFO (added to the
/// filter instead, `hyper=debug` would raise them to DEBUG, ~130 lines per request), at `trace`
/// nothing below DEBUG. Every other target passes through to `RUST_LOG` unchanged.
pub fn dependency_cap() -> Targets {
    REDACTED_TARGETS.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |cap, target| cap.with_target(*target, LevelFilter::DEBUG),
    )
}

/// JSON logs filtered by `filter` under [`dependency_cap`], and EMF lines (stamped by `clock`)
/// for every request regardless of the level, both written to `writer` (stdout in Lambda; a
/// buffer in the tests).
pub fn subscriber<W>(
    filter: EnvFilter,
    metrics: MetricsConfig,
    clock: Clock,
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
        .with_filter(filter.and(dependency_cap()));
    let emf = emf::EmfLayer::new(metrics, writer, clock).with_filter(filter_fn(|meta| {
        meta.target() == REQUEST_TARGET || (meta.is_span() && meta.name() == INVOCATION_SPAN)
    }));
    tracing_subscriber::registry().with(logs).with(emf)
}

/// Installs the subscriber for the process, writing to stdout, filtered by `directives`
/// (`RUST_LOG`, read by `config::log_directives`).
pub fn init(directives: &str, metrics: MetricsConfig, clock: Clock) {
    let _ = tracing::subscriber::set_global_default(subscriber(
        filter(directives),
        metrics,
        clock,
        std::io::stdout,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn an_invalid_filter_means_info() {
        let shown = filter("not a [filter").to_string();
        assert_eq!(shown, "info");
    }

    #[test]
    fn the_cap_holds_the_dependencies_at_debug_and_leaves_the_rest() {
        let cap = dependency_cap();
        for target in REDACTED_TARGETS {
            assert!(cap.would_enable(target, &Level::DEBUG), "{target}");
            assert!(!cap.would_enable(target, &Level::TRACE), "{target}");
        }
        assert!(!cap.would_enable("hyper_util::client::legacy::pool", &Level::TRACE));
        // The sync's clients: tokens from Secrets Manager, jobs from SQS, REST calls.
        for target in [
            "aws_sdk_secretsmanager::operation::get_secret_value",
            "aws_sdk_sqs::operation::send_message_batch",
            "reqwest::connect",
        ] {
            assert!(!cap.would_enable(target, &Level::TRACE), "{target}");
        }
        assert!(cap.would_enable("agent_overview::request", &Level::TRACE));
        assert!(cap.would_enable("tokio", &Level::TRACE));
    }
}
