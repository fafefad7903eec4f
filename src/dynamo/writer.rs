//! Bulk writes: `BatchWriteItem` in batches of 25, several batches in flight, with
//! `UnprocessedItems` retried under exponential back-off for a bounded number of attempts.
//!
//! Puts are idempotent (same key, same item), so a batch that is retried or re-run after a
//! failure leaves the table as one clean run would.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{BuildError, SdkError};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use rand::Rng;
use tokio::task::JoinSet;

use super::items::Item;

/// DynamoDB's limit of requests in one `BatchWriteItem` call.
pub const MAX_BATCH: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Batches being written at once.
    pub max_in_flight: usize,
    /// Calls per batch, the first included, before its unprocessed items are an error.
    pub max_attempts: u32,
    /// Back-off before the second call; doubles per attempt up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            max_in_flight: 4,
            max_attempts: 10,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("BatchWriteItem on {table} failed")]
    Call {
        table: String,
        #[source]
        source: Box<SdkError<BatchWriteItemError>>,
    },
    #[error("cannot build a put request for {table}")]
    Build {
        table: String,
        #[source]
        source: BuildError,
    },
    #[error("{remaining} items for {table} were still unprocessed after {attempts} attempts")]
    Unprocessed {
        table: String,
        remaining: usize,
        attempts: u32,
    },
    #[error("a batch write task ended abnormally")]
    Task(#[source] tokio::task::JoinError),
    #[error("marking the rollups of the days a batch writes failed")]
    MarkDays(#[source] super::StoreError),
    #[error("deleting a conversation failed")]
    Delete(#[source] super::StoreError),
}

/// Where batches go: DynamoDB in production, a fake in the writer's own tests.
pub trait BatchSink: Clone + Send + Sync + 'static {
    /// Puts up to [`MAX_BATCH`] items into `table`; returns the items left unprocessed.
    fn write_batch(
        &self,
        table: &str,
        items: Vec<Item>,
    ) -> impl Future<Output = Result<Vec<Item>, WriteError>> + Send;
}

impl BatchSink for Client {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<Item>, WriteError> {
        let requests = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| WriteError::Build {
                table: table.to_string(),
                source,
            })?;
        let output = self
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(|source| WriteError::Call {
                table: table.to_string(),
                source: Box::new(source),
            })?;
        Ok(output
            .unprocessed_items
            .and_then(|mut by_table| by_table.remove(table))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|request| request.put_request.map(|put| put.item))
            .collect())
    }
}

/// A writer whose buffered writes can be flushed and waited for.
pub trait Flush {
    /// Writes what is buffered, waits for every batch, and returns how many items were written.
    fn finish(self) -> impl Future<Output = Result<u64, WriteError>> + Send;
}

impl<S: BatchSink> Flush for BatchWriter<S> {
    fn finish(self) -> impl Future<Output = Result<u64, WriteError>> + Send {
        BatchWriter::finish(self)
    }
}

/// Buffers puts for one table and writes them in concurrent batches. Call [`finish`] to flush
/// and to learn whether everything was written; dropping the writer aborts batches in flight.
///
/// [`finish`]: BatchWriter::finish
pub struct BatchWriter<S: BatchSink = Client> {
    sink: S,
    table: String,
    key_attrs: Vec<String>,
    options: WriterOptions,
    pending: Vec<Item>,
    in_flight: JoinSet<Result<usize, WriteError>>,
    written: u64,
}

impl<S: BatchSink> BatchWriter<S> {
    /// `key_attrs` are the table's key attributes: DynamoDB rejects a batch that holds one key
    /// twice, so a second put of a key still in the buffer replaces the first.
    pub fn new(
        sink: S,
        table: impl Into<String>,
        key_attrs: &[&str],
        options: WriterOptions,
    ) -> Self {
        Self {
            sink,
            table: table.into(),
            key_attrs: key_attrs.iter().map(|k| k.to_string()).collect(),
            options: WriterOptions {
                max_in_flight: options.max_in_flight.max(1),
                max_attempts: options.max_attempts.max(1),
                ..options
            },
            pending: Vec::with_capacity(MAX_BATCH),
            in_flight: JoinSet::new(),
            written: 0,
        }
    }

    pub async fn put(&mut self, item: Item) -> Result<(), WriteError> {
        self.collect_finished()?;
        let same_key = self.pending.iter().position(|p| {
            self.key_attrs
                .iter()
                .all(|k| p.get(k).is_some() && p.get(k) == item.get(k))
        });
        match same_key {
            Some(i) => self.pending[i] = item,
            None => self.pending.push(item),
        }
        if self.pending.len() >= MAX_BATCH {
            self.send_pending().await?;
        }
        Ok(())
    }

    /// The sink the batches go to.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Writes what is buffered, waits for every batch, and returns how many items were written.
    pub async fn finish(mut self) -> Result<u64, WriteError> {
        if !self.pending.is_empty() {
            self.send_pending().await?;
        }
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        Ok(self.written)
    }

    async fn send_pending(&mut self) -> Result<(), WriteError> {
        while self.in_flight.len() >= self.options.max_in_flight {
            self.join_one().await?;
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(MAX_BATCH));
        // The batch runs on its own task: it carries the capacity scope there.
        self.in_flight
            .spawn(super::capacity::carry(write_with_retries(
                self.sink.clone(),
                self.table.clone(),
                batch,
                self.options,
            )));
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), WriteError> {
        if let Some(done) = self.in_flight.join_next().await {
            self.written += done.map_err(WriteError::Task)?? as u64;
        }
        Ok(())
    }

    /// Surfaces a failed batch at the next put instead of at the end of a long import.
    fn collect_finished(&mut self) -> Result<(), WriteError> {
        while let Some(done) = self.in_flight.try_join_next() {
            self.written += done.map_err(WriteError::Task)?? as u64;
        }
        Ok(())
    }
}

async fn write_with_retries<S: BatchSink>(
    sink: S,
    table: String,
    mut items: Vec<Item>,
    options: WriterOptions,
) -> Result<usize, WriteError> {
    let total = items.len();
    for attempt in 1..=options.max_attempts {
        items = sink.write_batch(&table, items).await?;
        if items.is_empty() {
            return Ok(total);
        }
        if attempt < options.max_attempts {
            tokio::time::sleep(backoff(attempt, &options)).await;
        }
    }
    Err(WriteError::Unprocessed {
        table,
        remaining: items.len(),
        attempts: options.max_attempts,
    })
}

/// Exponential back-off with jitter in its upper half, so concurrent batches that were
/// throttled together do not all come back at the same instant.
fn backoff(attempt: u32, options: &WriterOptions) -> Duration {
    let exp = options
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(options.max_delay);
    let half = exp / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// Keeps what it is given; leaves the last `refuse` items of each call unprocessed while
    /// `refusals` lasts.
    #[derive(Clone, Default)]
    struct FakeSink {
        stored: Arc<Mutex<HashMap<String, Item>>>,
        calls: Arc<Mutex<Vec<usize>>>,
        refusals: Arc<Mutex<u32>>,
        refuse: usize,
    }

    impl BatchSink for FakeSink {
        async fn write_batch(
            &self,
            _table: &str,
            mut items: Vec<Item>,
        ) -> Result<Vec<Item>, WriteError> {
            assert!(items.len() <= MAX_BATCH);
            self.calls.lock().unwrap().push(items.len());
            let mut refusals = self.refusals.lock().unwrap();
            let keep = if *refusals > 0 {
                *refusals -= 1;
                items.len().saturating_sub(self.refuse)
            } else {
                items.len()
            };
            let unprocessed = items.split_off(keep);
            let mut stored = self.stored.lock().unwrap();
            for item in items {
                if let Some(AttributeValue::S(k)) = item.get("pk") {
                    stored.insert(k.clone(), item);
                }
            }
            Ok(unprocessed)
        }
    }

    fn item(key: &str, v: &str) -> Item {
        Item::from([
            ("pk".to_string(), AttributeValue::S(key.into())),
            ("v".to_string(), AttributeValue::S(v.into())),
        ])
    }

    fn fast() -> WriterOptions {
        WriterOptions {
            max_in_flight: 3,
            max_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        }
    }

    #[tokio::test]
    async fn writes_everything_in_batches_of_25() {
        let sink = FakeSink::default();
        let mut w = BatchWriter::new(sink.clone(), "t", &["pk"], fast());
        for i in 0..103 {
            w.put(item(&format!("k{i}"), "x")).await.unwrap();
        }
        assert_eq!(w.finish().await.unwrap(), 103);
        assert_eq!(sink.stored.lock().unwrap().len(), 103);
        let mut calls = sink.calls.lock().unwrap().clone();
        calls.sort();
        assert_eq!(calls, vec![3, 25, 25, 25, 25]);
    }

    #[tokio::test]
    async fn unprocessed_items_are_retried() {
        let sink = FakeSink {
            refusals: Arc::new(Mutex::new(3)),
            refuse: 10,
            ..FakeSink::default()
        };
        let mut w = BatchWriter::new(sink.clone(), "t", &["pk"], fast());
        for i in 0..50 {
            w.put(item(&format!("k{i}"), "x")).await.unwrap();
        }
        assert_eq!(w.finish().await.unwrap(), 50);
        assert_eq!(sink.stored.lock().unwrap().len(), 50);
        assert_eq!(sink.calls.lock().unwrap().len(), 2 + 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_bounded_attempts() {
        let sink = FakeSink {
            refusals: Arc::new(Mutex::new(u32::MAX)),
            refuse: 1,
            ..FakeSink::default()
        };
        let mut w = BatchWriter::new(sink.clone(), "t", &["pk"], fast());
        w.put(item("a", "x")).await.unwrap();
        w.put(item("b", "x")).await.unwrap();
        match w.finish().await {
            Err(WriteError::Unprocessed {
                remaining: 1,
                attempts: 5,
                ..
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(sink.calls.lock().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn a_repeated_key_in_one_batch_keeps_the_last_put() {
        let sink = FakeSink::default();
        let mut w = BatchWriter::new(sink.clone(), "t", &["pk"], fast());
        w.put(item("a", "first")).await.unwrap();
        w.put(item("a", "second")).await.unwrap();
        assert_eq!(w.finish().await.unwrap(), 1);
        assert_eq!(
            sink.stored.lock().unwrap()["a"]["v"],
            AttributeValue::S("second".into())
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let o = WriterOptions {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..WriterOptions::default()
        };
        let d1 = backoff(1, &o);
        assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
        let d3 = backoff(3, &o);
        assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
        let d20 = backoff(20, &o);
        assert!(d20 >= Duration::from_millis(500) && d20 <= Duration::from_millis(1000));
    }
}
