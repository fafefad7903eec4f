//! One request, in Rocket.Chat's order of checks: authentication (401), parameters (400),
//! permission (403), then the figure.

use std::time::Instant;

use lambda_http::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::error::ApiError;
use super::query::{parse_query, validate};
use crate::config::ReadSettings;
use crate::domain::aggregate::Row;
use crate::domain::clock::Clock;
use crate::domain::identity::{hash_token, CallerContext};
use crate::domain::range::{ReportingZone, UtcRange};
use crate::dynamo::capacity;
use crate::errors::error_chain;
use crate::signin::SignIn;
use crate::store::{ConversationStore, FoldStats, IdentityStore, RangeQuery};
use crate::telemetry::REQUEST_TARGET;

const ROUTE: &str = "/api/v1/livechat/analytics/agent-overview";

/// Longest header value that can be a real token or user id; longer ones are refused
/// without a lookup.
const MAX_CREDENTIAL_BYTES: usize = 256;

/// What a request needs: the store, its read settings, the clock, and sign-in with Rocket.Chat
/// (`None`: only sessions admit).
pub struct App<S> {
    pub store: S,
    pub reads: ReadSettings,
    pub clock: Clock,
    pub sign_in: Option<SignIn>,
}

/// The success body; field order is Rocket.Chat's (`head`, `data`, `success`).
#[derive(Debug, Serialize)]
struct Overview {
    head: [Head; 2],
    data: Vec<Row>,
    success: bool,
}

#[derive(Debug, Serialize)]
struct Head {
    name: &'static str,
}

/// What the log line of a request says (never the token or the user id).
#[derive(Debug, Default)]
struct RequestLog {
    tenant: Option<String>,
    figure: Option<&'static str>,
    range_days: Option<i64>,
    /// Session and directory reads (each one DynamoDB request).
    identity_reads: u64,
    stats: FoldStats,
}

impl<S: IdentityStore + ConversationStore + Sync> App<S> {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let mut outcome = RequestLog::default();
        // What the request's DynamoDB calls consumed, as DynamoDB reports it (dynamo::capacity).
        let (result, consumed) = capacity::measure(self.answer(&req, &mut outcome)).await;
        let retry_after = result.as_ref().err().and_then(ApiError::retry_after);
        let (status, body) = match result {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => {
                let (status, body) = e.status_and_body();
                if status.is_server_error() {
                    tracing::error!(
                        error = %e,
                        cause = std::error::Error::source(&e).map(error_chain),
                        tenant = outcome.tenant.as_deref(),
                        "request failed"
                    );
                }
                (status, body)
            }
        };
        // The request's one summary event: a log line, and (telemetry::emf) its metrics.
        // The rollup hit ratio is the share of the range's days answered from rollups (the rest
        // were partial days at the edges, read raw); it becomes the RollupHitRatio metric.
        let rollup_hit_ratio = outcome
            .range_days
            .filter(|days| *days > 0 && outcome.stats.requests > 0)
            .map(|days| (outcome.stats.rollup_days as f64 / days as f64).min(1.0));
        tracing::info!(
            target: REQUEST_TARGET,
            status = status.as_u16(),
            tenant = outcome.tenant.as_deref(),
            figure = outcome.figure,
            range_days = outcome.range_days,
            items_read = outcome.stats.items_read,
            dynamodb_requests = outcome.stats.requests,
            identity_reads = outcome.identity_reads,
            buckets = outcome.stats.buckets,
            rollup_items_read = outcome.stats.rollup_items_read,
            rollup_days = outcome.stats.rollup_days,
            rollup_hit_ratio,
            consumed_read_capacity = consumed.read_units,
            consumed_write_capacity = consumed.write_units,
            duration_ms = started.elapsed().as_millis() as u64,
            "agent-overview"
        );
        let mut response = json_response(status, body);
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }

    async fn answer(&self, req: &Request, outcome: &mut RequestLog) -> Result<String, ApiError> {
        // Routing before authentication, as a router in front of the function would do it.
        if !is_route(request_path(req)) {
            return Err(ApiError::NotFound);
        }
        if req.method() != Method::GET {
            return Err(ApiError::MethodNotAllowed);
        }
        let (token, user_id) = credentials(req.headers()).ok_or(ApiError::Unauthorized)?;
        let (tenant, caller) = self.authenticate(req, token, user_id, outcome).await?;

        let raw = parse_query(query_string(req)).map_err(ApiError::InvalidParams)?;
        if !caller.can_view_livechat_manager() {
            return Err(ApiError::Forbidden);
        }
        let query = validate(raw, self.reads.max_range_days).map_err(ApiError::InvalidParams)?;
        outcome.figure = Some(query.figure.name());
        outcome.range_days = Some(query.days);

        let utc_offset = caller.user.as_ref().and_then(|u| u.utc_offset);
        let zone = ReportingZone::resolve(&caller.settings.reporting_timezone, utc_offset)
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        let range_query = RangeQuery {
            tenant,
            figure: query.figure,
            range: UtcRange::from_days(query.from, query.to, &zone),
            department_id: query.department_id,
        };
        let (aggregator, stats) = self.store.fold(&range_query).await?;
        outcome.stats = stats;
        let body = Overview {
            head: [
                Head { name: "Agent" },
                Head {
                    name: query.figure.head_name(),
                },
            ],
            data: aggregator.into_rows(),
            success: true,
        };
        serde_json::to_string(&body).map_err(|e| ApiError::Internal(Box::new(e)))
    }
}

impl<S: IdentityStore + Sync> App<S> {
    /// The caller's tenant and context: from its session, as always; a token without a session
    /// may sign in with the Rocket.Chat of the tenant its host names.
    async fn authenticate(
        &self,
        req: &Request,
        token: &str,
        user_id: &str,
        outcome: &mut RequestLog,
    ) -> Result<(String, CallerContext), ApiError> {
        outcome.identity_reads += 1;
        match self.store.session(&hash_token(token)).await? {
            Some(session) => {
                if session.user_id != user_id {
                    return Err(ApiError::Unauthorized);
                }
                outcome.tenant = Some(session.tenant.clone());
                outcome.identity_reads += 1;
                let caller = self.store.caller(&session.tenant, user_id).await?;
                if !caller.admits(&session, (self.clock)()) {
                    return Err(ApiError::Unauthorized);
                }
                Ok((session.tenant, caller))
            }
            None => {
                let sign_in = self.sign_in.as_ref().ok_or(ApiError::Unauthorized)?;
                let host = request_host(req);
                let signed_in = sign_in
                    .admit(
                        &self.store,
                        host,
                        token,
                        user_id,
                        &mut outcome.identity_reads,
                    )
                    .await?;
                outcome.tenant = Some(signed_in.tenant.to_string());
                Ok((signed_in.tenant.to_string(), signed_in.caller))
            }
        }
    }
}

/// The host the request was sent to: API Gateway's `requestContext.domainName` when present
/// (the custom domain, or the default execute-api one), else the `Host` header.
fn request_host(req: &Request) -> Option<&str> {
    use lambda_http::request::RequestContext;
    let from_context = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => c.domain_name.as_deref(),
        Some(RequestContext::ApiGatewayV1(c)) => c.domain_name.as_deref(),
        _ => None,
    };
    from_context.filter(|d| !d.is_empty()).or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    })
}

/// The request's query string as the client sent it, when the Lambda entry point carried it
/// beside the request (see `functions::api::http_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawQueryString(pub String);

/// The query string: the raw one from the event if any, else the URI's.
fn query_string(req: &Request) -> &str {
    match req.extensions().get::<RawQueryString>() {
        Some(RawQueryString(query)) => query,
        None => req.uri().query().unwrap_or(""),
    }
}

/// The path without API Gateway's stage prefix.
fn request_path(req: &Request) -> &str {
    let raw = req.raw_http_path();
    if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    }
}

/// The route itself, or the route under one stage segment (`/prod/api/v1/...`).
fn is_route(path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    match path.strip_suffix(ROUTE) {
        Some("") => true,
        Some(prefix) => prefix.starts_with('/') && !prefix[1..].contains('/'),
        None => false,
    }
}

/// Both headers, matched case-insensitively, as UTF-8, non-empty and of plausible length.
fn credentials(headers: &HeaderMap) -> Option<(&str, &str)> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL_BYTES)
    };
    Some((get("x-auth-token")?, get("x-user-id")?))
}

/// Every answer: JSON, and never stored by a cache (the URL does not name the tenant, so a
/// shared cache keyed on it would hand one tenant's answer to another).
pub fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut res = Response::new(Body::Text(body));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::is_route;

    #[test]
    fn route_matches_with_or_without_a_stage() {
        assert!(is_route("/api/v1/livechat/analytics/agent-overview"));
        assert!(is_route("/api/v1/livechat/analytics/agent-overview/"));
        assert!(is_route("/prod/api/v1/livechat/analytics/agent-overview"));
        assert!(!is_route("/a/b/api/v1/livechat/analytics/agent-overview"));
        assert!(!is_route("/api/v1/livechat/analytics/agent-overviews"));
        assert!(!is_route("/xapi/v1/livechat/analytics/agent-overview"));
        assert!(!is_route("/"));
    }
}
