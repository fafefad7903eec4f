//! The HTTP contract's errors, and the one function that turns each into Rocket.Chat's body.

use lambda_http::http::StatusCode;
use serde_json::{json, Value};

use crate::store::StoreError;

/// Every way a request can fail. Causes are kept for the log, never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: a header missing, an unknown or expired token, or a token of another user.
    #[error("not authenticated")]
    Unauthorized,
    /// 400: the message as Rocket.Chat writes it, without the ` [invalid-params]` suffix.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// 403: the caller lacks `view-livechat-manager`.
    #[error("forbidden")]
    Forbidden,
    /// 404: any other path or method.
    #[error("not found")]
    NotFound,
    /// 503: the range could not be read within the time budget.
    #[error("time budget exceeded")]
    Timeout(#[source] StoreError),
    /// 503: DynamoDB throttled or unreachable after bounded retries.
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    /// 500: anything else (malformed stored item, misconfiguration, bug).
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BudgetExceeded(_) => ApiError::Timeout(e),
            StoreError::Unavailable(_) => ApiError::Unavailable(e),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl ApiError {
    /// Status and body, exactly as documented in the README's API section.
    pub fn status_and_body(&self) -> (StatusCode, Value) {
        match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"status": "error", "message": "You must be logged in to do this."}),
            ),
            ApiError::InvalidParams(message) => (
                StatusCode::BAD_REQUEST,
                json!({
                    "success": false,
                    "error": format!("{message} [invalid-params]"),
                    "errorType": "invalid-params"
                }),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({
                    "success": false,
                    "error": "User does not have the permissions required for this action [error-unauthorized]"
                }),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                json!({"success": false, "error": "Not found [error-not-found]", "errorType": "error-not-found"}),
            ),
            ApiError::Timeout(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "success": false,
                    "error": "The range took too long to read; ask for a shorter range [error-timeout]",
                    "errorType": "error-timeout"
                }),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "success": false,
                    "error": "The service is busy; retry shortly [error-unavailable]",
                    "errorType": "error-unavailable"
                }),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({
                    "success": false,
                    "error": "Internal error [error-internal]",
                    "errorType": "error-internal"
                }),
            ),
        }
    }
}
