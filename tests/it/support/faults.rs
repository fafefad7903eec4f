//! Fault injection for the tests: a client that fails DynamoDB calls on purpose, so a test can
//! stop a command part-way through its writes. Nothing of this is in the production paths.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The operations that write to a table.
pub const WRITES: &[&str] = &[
    "BatchWriteItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
];

/// Fails every call of the `targets` operations, counted together, from the `nth` (1-based)
/// on, before it is sent.
#[derive(Debug)]
struct FailFrom {
    targets: Vec<String>,
    nth: usize,
    seen: Arc<AtomicUsize>,
}

impl Intercept for FailFrom {
    fn name(&self) -> &'static str {
        "FailFrom"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(target) = context.request().headers().get("x-amz-target") else {
            return Ok(());
        };
        if self.targets.iter().any(|t| target.ends_with(t.as_str())) {
            let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= self.nth {
                return Err(format!("injected failure of {target}, call {n}").into());
            }
        }
        Ok(())
    }
}

/// `client`, except that its `nth` call of `operation` and every later one fail.
pub fn fail_nth(client: &Client, operation: &str, nth: usize) -> Client {
    fail_nth_of(client, &[operation], nth)
}

/// `client`, except that its `nth` call of any of `operations` (counted together) and every
/// later one fail.
pub fn fail_nth_of(client: &Client, operations: &[&str], nth: usize) -> Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(FailFrom {
            targets: operations.iter().map(|o| format!(".{o}")).collect(),
            nth,
            seen: Arc::default(),
        })
        .build();
    Client::from_conf(config)
}
