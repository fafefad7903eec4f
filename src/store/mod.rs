//! Storage: traits returning domain types, a DynamoDB adapter and an in-memory one.

use std::future::Future;

use crate::domain::aggregate::Aggregator;
use crate::domain::figure::Figure;
use crate::domain::identity::{CallerContext, Session};
use crate::domain::range::UtcRange;

pub mod admin;
pub mod dynamo;
pub mod items;
pub mod memory;
pub mod rebuild;
pub mod rollups;
pub mod writer;

/// `Ok(true)` when a call succeeded, `Ok(false)` when DynamoDB refused it for the reason the
/// caller expects (a condition not met, a table that already exists), the error otherwise.
pub fn succeeded_unless<O, E, R>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<E, R>>,
    expected_refusal: impl Fn(&E) -> bool,
) -> Result<bool, aws_sdk_dynamodb::error::SdkError<E, R>> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(expected_refusal) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A DynamoDB call of the operators' paths (admin store, rollup rebuilds) that failed, naming
/// the operation and table; the SDK's error is kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on {table} failed")]
pub struct CallFailed {
    pub operation: &'static str,
    pub table: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl CallFailed {
    pub fn new<E>(operation: &'static str, table: &str, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self {
            operation,
            table: table.to_string(),
            source: Box::new(source),
        }
    }
}

/// Why a read failed. Each variant maps to one documented HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled or unreachable after the SDK's bounded retries.
    #[error("DynamoDB is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request's time budget ran out before every page was read.
    #[error("time budget of {0:?} exceeded")]
    BudgetExceeded(std::time::Duration),
    /// A stored item is not what its table promises (the error names its key).
    #[error(transparent)]
    Malformed(#[from] items::MalformedItem),
    /// Anything else: a bug, a permission missing in IAM, a table missing.
    #[error("DynamoDB request failed")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Sessions, users, settings and permissions.
pub trait IdentityStore {
    /// The session stored under `base64(sha256(token))`, if any.
    fn session(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// The caller's user, the tenant's settings and its permission override, in one read.
    fn caller(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<CallerContext, StoreError>> + Send;
}

/// What a figure is computed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub tenant: String,
    pub figure: Figure,
    pub range: UtcRange,
    /// `None`: every department (and conversations without one). The HTTP layer has already
    /// turned Rocket.Chat's "no filter" spellings (`""`, `"undefined"`) into `None`.
    pub department_id: Option<String>,
}

/// Work a fold did, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldStats {
    /// Raw conversation items read.
    pub items_read: u64,
    /// DynamoDB requests (query pages), raw and rollup.
    pub requests: u64,
    /// Raw month-bucket query chains.
    pub buckets: u64,
    /// Rollup items read (one per figure, scope and UTC day, tombstones included).
    pub rollup_items_read: u64,
    /// Whole UTC days answered from rollups.
    pub rollup_days: u64,
}

impl FoldStats {
    pub fn add(&mut self, other: &FoldStats) {
        self.items_read += other.items_read;
        self.requests += other.requests;
        self.buckets += other.buckets;
        self.rollup_items_read += other.rollup_items_read;
        self.rollup_days += other.rollup_days;
    }
}

/// Conversations of a tenant, folded into a figure's tallies as they are read.
pub trait ConversationStore {
    fn fold(
        &self,
        query: &RangeQuery,
    ) -> impl Future<Output = Result<(Aggregator, FoldStats), StoreError>> + Send;
}
