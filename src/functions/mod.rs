//! The Lambda functions' entry points, one module per function, each with its typed
//! configuration in `config.rs`: [`api`] (`main.rs`), [`stream`] (`bin/stream.rs`),
//! [`reconcile`] (`bin/reconcile.rs`), [`sync`] (`bin/sync.rs`) and [`sync_fanout`]
//! (`bin/sync_fanout.rs`). The binaries only wire: [`init`], the clients (built from the one
//! SDK configuration, `dynamo::sdk_config`), the wall clock, then the runtime.

pub mod api;
pub mod reconcile;
pub mod stream;
pub mod sync;
pub mod sync_fanout;

use crate::config::{ConfigError, MetricsConfig};
use crate::domain::clock::system_clock;

/// A function's INIT: logs first (with the configuration's metric settings, or the defaults
/// when it cannot be read, so the failure itself is logged), then the configuration or its
/// error, which stops start-up: a function never runs on settings it could not read.
pub fn init<C>(
    config: Result<C, ConfigError>,
    metrics: impl Fn(&C) -> &MetricsConfig,
) -> Result<C, ConfigError> {
    crate::telemetry::init(
        &crate::config::log_directives(),
        config
            .as_ref()
            .map(|c| metrics(c).clone())
            .unwrap_or_default(),
        system_clock(),
    );
    config.inspect_err(|e| tracing::error!(error = %e, "bad configuration"))
}
