//! What can go wrong talking to DynamoDB, and how a failure is classified: [`ReadError`] for the
//! request path (each variant one documented HTTP answer), [`StoreError`] for the operators'
//! paths and the rollup rebuilds (admin store, stream function, reconciliation).

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use chrono::NaiveDate;

use super::items::MalformedItem;
use crate::domain::exact_sum::SumOutOfRange;

/// Why a read failed. Each variant maps to one documented HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Throttled or unreachable after the SDK's bounded retries.
    #[error("DynamoDB is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request's time budget ran out before every page was read.
    #[error("time budget of {0:?} exceeded")]
    BudgetExceeded(std::time::Duration),
    /// A stored item is not what its table promises (the error names its key).
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    /// Anything else: a bug, a permission missing in IAM, a table missing.
    #[error("DynamoDB request failed")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Throttling and transport failures (after the SDK's own retries) are "unavailable";
/// everything else is internal.
pub fn classify<E, R>(err: SdkError<E, R>) -> ReadError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    const TRANSIENT: [&str; 6] = [
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    ];
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => e.err().code().is_some_and(|c| TRANSIENT.contains(&c)),
        _ => false,
    };
    if transient {
        ReadError::Unavailable(Box::new(err))
    } else {
        ReadError::Internal(Box::new(err))
    }
}

/// `Ok(true)` when a call succeeded, `Ok(false)` when DynamoDB refused it for the reason the
/// caller expects (a condition not met, a table that already exists), the error otherwise.
pub fn succeeded_unless<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    expected_refusal: impl Fn(&E) -> bool,
) -> Result<bool, SdkError<E, R>> {
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

/// Why an operation of the operators' paths or a rollup rebuild failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Call(#[from] CallFailed),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    #[error("the conversations of tenant {tenant} on {day} overflow a metric sum")]
    Sum {
        tenant: String,
        day: NaiveDate,
        #[source]
        source: SumOutOfRange,
    },
    #[error("{from}..{to} is not a range of days a rebuild can cover")]
    Days { from: NaiveDate, to: NaiveDate },
}

impl StoreError {
    /// A failed SDK call of `operation` on `table`.
    pub fn call<E>(operation: &'static str, table: &str, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        CallFailed::new(operation, table, source).into()
    }
}
