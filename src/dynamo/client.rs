//! The one DynamoDB client: the SDK configuration every binary loads and the client built
//! from it, with the consumed-capacity meter.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::Client;

/// Attempts per DynamoDB call (the first and three retries): with the standard mode's
/// exponential back-off and jitter, a throttled read gives up within a few seconds, well inside
/// the query budget, and answers 503 error-unavailable.
pub const MAX_ATTEMPTS: u32 = 4;

/// The SDK's retry policy of every binary's client: standard mode, [`MAX_ATTEMPTS`].
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// The SDK configuration every binary loads: the standard sources (environment, profile,
/// Lambda's role) with [`retry_config`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retry_config())
        .load()
        .await
}

/// The DynamoDB client every binary, the benchmark and the tests use: `sdk`'s configuration
/// with the capacity meter ([`super::capacity`]).
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    Client::from_conf(super::capacity::with_meter(sdk.into()).build())
}
