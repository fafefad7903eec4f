//! The Lambda functions' entry points, generic over the store traits so whole invocations
//! (warm-ups included) run against the in-memory store in tests. The binaries only wire:
//! `main.rs` runs [`api`], `bin/rollups.rs` runs [`rollups`].

pub mod api;
pub mod rollups;

use crate::config::{ConfigError, MetricsConfig};

/// A function's INIT: logs first (with the configuration's metric settings, or the defaults
/// when it cannot be read, so the failure itself is logged), then the configuration or its
/// error, which stops start-up: a function never runs on settings it could not read.
pub fn start<C>(
    config: Result<C, ConfigError>,
    metrics: impl Fn(&C) -> &MetricsConfig,
) -> Result<C, ConfigError> {
    crate::telemetry::init(
        config
            .as_ref()
            .map(|c| metrics(c).clone())
            .unwrap_or_default(),
    );
    config.inspect_err(|e| tracing::error!(error = %e, "bad configuration"))
}
