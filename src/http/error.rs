//! The HTTP contract's errors, and the one function that turns each into Rocket.Chat's body.

use lambda_http::http::StatusCode;
use serde::Serialize;

use crate::store::ReadError;

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
    /// 404: any other path.
    #[error("not found")]
    NotFound,
    /// 405: the endpoint's path with a method other than GET (sent with `Allow: GET`).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 503: the range could not be read within the time budget.
    #[error("time budget exceeded")]
    Timeout(#[source] ReadError),
    /// 503: DynamoDB throttled or unreachable after bounded retries.
    #[error("storage unavailable")]
    Unavailable(#[source] ReadError),
    /// 503: the tenant's Rocket.Chat could not check a sign-in (or asked us to wait); sent with
    /// `Retry-After`, never as a 401.
    #[error("sign-in check unavailable")]
    SignInUnavailable {
        #[source]
        cause: crate::signin::SignInError,
        retry_after_s: u64,
    },
    /// 500: anything else (malformed stored item, misconfiguration, bug).
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::BudgetExceeded(_) => ApiError::Timeout(e),
            ReadError::Unavailable(_) => ApiError::Unavailable(e),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<crate::signin::SignInError> for ApiError {
    fn from(e: crate::signin::SignInError) -> Self {
        use crate::signin::SignInError;
        match e {
            SignInError::Refused => ApiError::Unauthorized,
            SignInError::Store(s) => s.into(),
            SignInError::Unavailable { retry_after_s, .. } => ApiError::SignInUnavailable {
                cause: e,
                retry_after_s,
            },
        }
    }
}

/// Rocket.Chat's 401 body, keys in its order.
#[derive(Serialize)]
struct NotLoggedIn {
    status: &'static str,
    message: &'static str,
}

/// Rocket.Chat's failure body, keys in its order: `success`, `error`, then `errorType` when
/// there is one (a struct, because serde_json's map would sort the keys).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Failure<'a> {
    success: bool,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<&'static str>,
}

/// `{"success":false,"error":…,"errorType":…}` (no `errorType` when `None`).
pub fn failure_body(error: &str, error_type: Option<&'static str>) -> String {
    let body = Failure {
        success: false,
        error,
        error_type,
    };
    serde_json::to_string(&body).expect("a struct of strings serializes")
}

impl ApiError {
    /// Seconds for the `Retry-After` header, on the answers that carry one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::SignInUnavailable { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }

    /// Status and body, exactly as documented in the README's API section.
    pub fn status_and_body(&self) -> (StatusCode, String) {
        let failure =
            |status, error: &str, error_type| (status, failure_body(error, Some(error_type)));
        match self {
            ApiError::Unauthorized => {
                let body = NotLoggedIn {
                    status: "error",
                    message: "You must be logged in to do this.",
                };
                let body = serde_json::to_string(&body).expect("a struct of strings serializes");
                (StatusCode::UNAUTHORIZED, body)
            }
            ApiError::InvalidParams(message) => failure(
                StatusCode::BAD_REQUEST,
                &format!("{message} [invalid-params]"),
                "invalid-params",
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                failure_body(
                    "User does not have the permissions required for this action [error-unauthorized]",
                    None,
                ),
            ),
            ApiError::NotFound => failure(
                StatusCode::NOT_FOUND,
                "Not found [error-not-found]",
                "error-not-found",
            ),
            ApiError::MethodNotAllowed => failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed; the endpoint answers GET [error-method-not-allowed]",
                "error-method-not-allowed",
            ),
            ApiError::Timeout(_) => failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "The range took too long to read; ask for a shorter range [error-timeout]",
                "error-timeout",
            ),
            ApiError::Unavailable(_) | ApiError::SignInUnavailable { .. } => failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is busy; retry shortly [error-unavailable]",
                "error-unavailable",
            ),
            ApiError::Internal(_) => failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error [error-internal]",
                "error-internal",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_error() -> ReadError {
        ReadError::Unavailable("throttled".into())
    }

    /// Exact bytes: Rocket.Chat's key order (`status`, `message`; `success`, `error`,
    /// `errorType`), not serde_json's alphabetical map order.
    #[test]
    fn every_body_is_in_rocket_chats_key_order() {
        let cases = [
            (
                ApiError::Unauthorized,
                401,
                r#"{"status":"error","message":"You must be logged in to do this."}"#,
            ),
            (
                ApiError::InvalidParams("must be string".into()),
                400,
                r#"{"success":false,"error":"must be string [invalid-params]","errorType":"invalid-params"}"#,
            ),
            (
                ApiError::Forbidden,
                403,
                r#"{"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"}"#,
            ),
            (
                ApiError::NotFound,
                404,
                r#"{"success":false,"error":"Not found [error-not-found]","errorType":"error-not-found"}"#,
            ),
            (
                ApiError::MethodNotAllowed,
                405,
                r#"{"success":false,"error":"Method not allowed; the endpoint answers GET [error-method-not-allowed]","errorType":"error-method-not-allowed"}"#,
            ),
            (
                ApiError::Timeout(store_error()),
                503,
                r#"{"success":false,"error":"The range took too long to read; ask for a shorter range [error-timeout]","errorType":"error-timeout"}"#,
            ),
            (
                ApiError::Unavailable(store_error()),
                503,
                r#"{"success":false,"error":"The service is busy; retry shortly [error-unavailable]","errorType":"error-unavailable"}"#,
            ),
            (
                ApiError::SignInUnavailable {
                    cause: crate::signin::SignInError::Refused,
                    retry_after_s: 5,
                },
                503,
                r#"{"success":false,"error":"The service is busy; retry shortly [error-unavailable]","errorType":"error-unavailable"}"#,
            ),
            (
                ApiError::Internal(Box::new(store_error())),
                500,
                r#"{"success":false,"error":"Internal error [error-internal]","errorType":"error-internal"}"#,
            ),
        ];
        for (error, status, body) in cases {
            let (s, b) = error.status_and_body();
            assert_eq!((s.as_u16(), b.as_str()), (status, body));
        }
    }
}
