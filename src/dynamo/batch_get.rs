//! BatchGetItem, with one bounded policy for the keys DynamoDB leaves unprocessed (it does so
//! under throttling or when an answer passes 16 MB). Every reader of items by key goes through
//! [`batch_get`], so no reader can wait for ever on a table that keeps throttling.

use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{BuildError, SdkError};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemError;
use aws_sdk_dynamodb::types::builders::KeysAndAttributesBuilder;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use aws_sdk_dynamodb::Client;

use super::items::Item;
use super::{classify, ReadError, StoreError};

/// BatchGetItem's limit of keys per call.
pub const MAX_KEYS: usize = 100;

/// Calls per chunk of keys: the first and up to five asks for what is left, after 20, 40, 80,
/// 160 and 320 ms (0.62 s of waiting at most, on top of the SDK's own retries of each call).
const ATTEMPTS: u32 = 6;

/// Why a batch read failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchGetError {
    #[error("BatchGetItem could not be built")]
    Build(#[from] BuildError),
    #[error("BatchGetItem failed")]
    Call(#[from] Box<SdkError<BatchGetItemError, HttpResponse>>),
    #[error("{keys} keys still unprocessed after {ATTEMPTS} BatchGetItem calls")]
    Unprocessed { keys: usize },
}

impl BatchGetError {
    /// For the operators' paths: a failed call named by operation and table.
    pub fn on(self, table: &str) -> StoreError {
        StoreError::call("BatchGetItem", table, self)
    }
}

/// For the request path: throttling and keys left unprocessed are "unavailable" (503).
impl From<BatchGetError> for ReadError {
    fn from(err: BatchGetError) -> Self {
        match err {
            BatchGetError::Call(e) => classify(*e),
            e @ BatchGetError::Unprocessed { .. } => ReadError::Unavailable(Box::new(e)),
            e @ BatchGetError::Build(_) => ReadError::Internal(Box::new(e)),
        }
    }
}

/// A strongly consistent read.
pub fn consistent(keys: KeysAndAttributesBuilder) -> KeysAndAttributesBuilder {
    keys.consistent_read(true)
}

/// An eventually consistent read (half the read capacity of a consistent one).
pub fn eventual(keys: KeysAndAttributesBuilder) -> KeysAndAttributesBuilder {
    keys
}

/// The items of `table` under `keys` (any number: asked [`MAX_KEYS`] at a time), in no
/// particular order; a key without an item is left out. `shape` sets the read's consistency and
/// projection, e.g. [`consistent`].
pub async fn batch_get(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    shape: impl Fn(KeysAndAttributesBuilder) -> KeysAndAttributesBuilder,
) -> Result<Vec<Item>, BatchGetError> {
    let mut found = Vec::new();
    for chunk in keys.chunks(MAX_KEYS) {
        let mut pending = chunk.to_vec();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
            let wanted = shape(KeysAndAttributes::builder().set_keys(Some(pending))).build()?;
            let out = client
                .batch_get_item()
                .request_items(table, wanted)
                .send()
                .await
                .map_err(Box::new)?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(table))
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
        }
        if !pending.is_empty() {
            return Err(BatchGetError::Unprocessed {
                keys: pending.len(),
            });
        }
    }
    Ok(found)
}
